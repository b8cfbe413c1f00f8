"""Retry policy: which failures are retried, Retry-After parsing, backoff delays."""

from __future__ import annotations

import email.utils
import itertools
import random
from datetime import UTC, datetime

import httpx
import pytest

from harness.engine.retry import AZURE_STATUS_HEADER, RetryPolicy, parse_retry_after, should_retry

# --- should_retry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        pytest.param(408, {}, True, id="408-request-timeout"),
        pytest.param(409, {}, True, id="409-conflict"),
        pytest.param(429, {}, True, id="429-too-many-requests"),
        pytest.param(500, {}, True, id="500"),
        pytest.param(502, {}, True, id="502"),
        pytest.param(503, {}, True, id="503"),
        pytest.param(504, {}, True, id="504"),
        pytest.param(424, {}, True, id="424-no-azure-header"),
        pytest.param(424, {AZURE_STATUS_HEADER: "503"}, True, id="424-azure-503"),
        pytest.param(424, {AZURE_STATUS_HEADER: "500"}, True, id="424-azure-500"),
        pytest.param(424, {AZURE_STATUS_HEADER: "400"}, False, id="424-azure-400"),
        pytest.param(424, {AZURE_STATUS_HEADER: "404"}, False, id="424-azure-404"),
        pytest.param(400, {}, False, id="400"),
        pytest.param(401, {}, False, id="401"),
        pytest.param(403, {}, False, id="403"),
        pytest.param(404, {}, False, id="404"),
        pytest.param(422, {}, False, id="422"),
        pytest.param(413, {}, False, id="413"),
        pytest.param(200, {}, True, id="200-error-body"),
    ],
)
def test_should_retry_failed_response(status: int, headers: dict[str, str], expected: bool) -> None:
    assert should_retry(status, headers, no_response=False, failed=True) is expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param("MS-AzureML-Model-Error-StatusCode", "503", True, id="mixed-case-503"),
        pytest.param("MS-AzureML-Model-Error-StatusCode", "400", False, id="mixed-case-400"),
    ],
)
def test_should_retry_azure_header_case_insensitive(name: str, value: str, expected: bool) -> None:
    headers = httpx.Headers({name: value})
    assert should_retry(424, headers, no_response=False, failed=True) is expected


@pytest.mark.parametrize(
    "status", [0, 200, 400, 401, 404, 429, 500, 503], ids=lambda s: f"status-{s}"
)
def test_no_response_is_always_retried(status: int) -> None:
    assert should_retry(status, {}, no_response=True, failed=False) is True
    assert should_retry(status, {}, no_response=True, failed=True) is True


@pytest.mark.parametrize("status", [200, 408, 409, 424, 429, 500, 503], ids=lambda s: f"status-{s}")
def test_not_failed_is_never_retried(status: int) -> None:
    assert should_retry(status, {}, no_response=False, failed=False) is False


# --- parse_retry_after ------------------------------------------------------------------

FIXED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
HTTP_DATE = email.utils.format_datetime(FIXED, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "now", "expected"),
    [
        pytest.param({"retry-after": "3"}, None, 3.0, id="seconds-int"),
        pytest.param({"retry-after": "0.5"}, None, 0.5, id="seconds-float"),
        pytest.param({"retry-after": " 2 "}, None, 2.0, id="seconds-padded"),
        pytest.param({"retry-after": "-1"}, None, 0.0, id="negative-clamped"),
        pytest.param(
            {"retry-after": HTTP_DATE}, FIXED.timestamp() - 30, 30.0, id="http-date-future"
        ),
        pytest.param({"retry-after": HTTP_DATE}, FIXED.timestamp() + 30, 0.0, id="http-date-past"),
        pytest.param({"retry-after": "soon"}, None, None, id="garbage"),
        pytest.param({"retry-after": ""}, None, None, id="empty"),
        pytest.param({"retry-after": "nan"}, None, None, id="nan-is-garbage"),
        pytest.param({}, None, None, id="absent"),
        pytest.param({"retry-after-ms": "1500"}, None, 1.5, id="ms"),
        pytest.param({"retry-after-ms": "-20"}, None, 0.0, id="ms-negative-clamped"),
        pytest.param({"retry-after-ms": "1500", "retry-after": "9"}, None, 1.5, id="ms-wins"),
        pytest.param({"retry-after-ms": "bad", "retry-after": "9"}, None, 9.0, id="bad-ms-ignored"),
        pytest.param({"retry-after-ms": "nan", "retry-after": "9"}, None, 9.0, id="nan-ms-ignored"),
    ],
)
def test_parse_retry_after(
    headers: dict[str, str], now: float | None, expected: float | None
) -> None:
    result = parse_retry_after(headers, now=now)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Retry-After": "7"}, 7.0, id="Retry-After"),
        pytest.param({"RETRY-AFTER": "7"}, 7.0, id="RETRY-AFTER"),
        pytest.param({"Retry-After-Ms": "250", "Retry-After": "7"}, 0.25, id="Retry-After-Ms"),
        pytest.param({"Retry-After": HTTP_DATE}, 30.0, id="Retry-After-date"),
    ],
)
def test_parse_retry_after_httpx_headers_case_insensitive(
    headers: dict[str, str], expected: float
) -> None:
    result = parse_retry_after(httpx.Headers(headers), now=FIXED.timestamp() - 30)
    assert result == pytest.approx(expected)


# --- RetryPolicy.delay ------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, 9), ids=lambda a: f"attempt-{a}")
def test_delay_backoff_within_jitter_bounds(attempt: int) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    ceiling = min(0.5 * 2 ** (attempt - 1), 8.0)
    random.seed(attempt)
    delays = [policy.delay(attempt, None) for _ in range(500)]
    assert all(0.75 * ceiling <= d <= ceiling for d in delays)
    # jitter actually jitters (all 500 equal would mean it was dropped)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("jitter", "factor"),
    [pytest.param(0.0, 1.0, id="no-jitter"), pytest.param(0.999999, 0.75, id="most-jitter")],
)
def test_delay_grows_until_cap(
    monkeypatch: pytest.MonkeyPatch, jitter: float, factor: float
) -> None:
    monkeypatch.setattr("harness.engine.retry.random.random", lambda: jitter)
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    delays = [policy.delay(attempt, None) for attempt in range(1, 9)]
    expected = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert delays == pytest.approx([e * factor for e in expected], rel=1e-5)
    assert all(a < b for a, b in itertools.pairwise(delays[:5]))  # grows...
    assert len(set(delays[4:])) == 1  # ...then stays at the cap


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(0.0, 0.0, id="zero"),
        pytest.param(2.5, 2.5, id="exact"),
        pytest.param(59.0, 59.0, id="below-cap"),
        pytest.param(60.0, 60.0, id="at-cap"),
        pytest.param(3600.0, 60.0, id="capped"),
        pytest.param(float("inf"), 60.0, id="infinite-capped"),
        pytest.param(-5.0, 0.0, id="negative-zero"),
    ],
)
@pytest.mark.parametrize("attempt", [1, 4, 8], ids=lambda a: f"attempt-{a}")
def test_delay_honours_retry_after(attempt: int, retry_after: float, expected: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0, retry_after_cap=60.0)
    assert policy.delay(attempt, retry_after) == expected


def test_delay_retry_after_cap_is_configurable() -> None:
    assert RetryPolicy(retry_after_cap=5.0).delay(1, 30.0) == 5.0
