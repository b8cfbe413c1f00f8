"""When to retry a request and how long to wait: one place for the policy and its constants.

Retried: 408, 409, 429, 5xx, 424 whose ``ms-azureml-model-error-statuscode`` header is 5xx
or absent (Azure's wrapper around a failed container), connection errors and read
timeouts, and a 200 whose body is an error (vLLM's retryable ``finish_reason: error``).
Never retried: 400, 401, 403, 404, 422 and every other 4xx. The rules mirror
openai-python's ``_should_retry``.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from harness.settings.values import DEFAULT_RETRIES

AZURE_STATUS_HEADER = "ms-azureml-model-error-statuscode"
RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; ``Retry-After`` honoured up to a cap."""

    retries: int = DEFAULT_RETRIES
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 60.0  # docs/reliability.md promises this

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        backoff = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        return backoff * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not crypto


def should_retry(
    status: int, headers: Mapping[str, str], *, no_response: bool, failed: bool
) -> bool:
    """Whether a failed attempt is worth another try.

    ``no_response`` means the request never got an HTTP answer (connection error, reset,
    timeout); ``failed`` that an HTTP answer arrived but was an error.
    """
    if no_response:
        return True
    if not failed:
        return False
    if status == 200:
        return True  # an error body on a 200: vLLM's internal, retryable failure
    if status == 424:
        inner = headers.get(AZURE_STATUS_HEADER, "").strip()
        return not inner.isdigit() or int(inner) >= 500
    return status in RETRY_STATUSES or status >= 500


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            seconds = float(millis) / 1000.0
        except ValueError:
            seconds = math.nan
        if not math.isnan(seconds):  # float() accepts "nan"; sleep(nan) would not wait
            return max(seconds, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
        seconds = when.timestamp() - (time.time() if now is None else now)
    except OverflowError:
        return math.inf  # a date beyond any calendar: wait as long as the cap allows
    except (TypeError, ValueError, IndexError, AttributeError):
        return None
    return max(seconds, 0.0)
