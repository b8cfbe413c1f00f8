"""Answer cache: stable keys, modes, only good answers stored, corrupt entries are misses."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.engine.cache import VERSION, Cache, cache_key, endpoint_identity
from harness.models import Completion, Request, ToolCall, Usage

ENDPOINT = "http://127.0.0.1:8000/v1"
BODY: dict[str, Any] = {
    "model": "glm-4.7-flash",
    "messages": [{"role": "user", "content": "2+2? ünïcødé"}],
    "temperature": 0.0,
    "max_tokens": 64,
}
REQUEST = Request(api="chat", path="/chat/completions", body=BODY)
GOOD = Completion(
    answer="4",
    reasoning="two and two",
    usage=Usage(input_tokens=12, output_tokens=3, reasoning_tokens=2),
    finish="stop",
    truncated=False,
    latency_ms=123.456,
    status=200,
)


def entries(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- cache_key --------------------------------------------------------------------------


def test_key_is_deterministic_and_hex() -> None:
    first = cache_key(ENDPOINT, REQUEST, 0)
    again = cache_key(ENDPOINT, Request(api="chat", path=REQUEST.path, body=dict(BODY)), 0)
    assert first == again
    assert len(first) == 64
    int(first, 16)


def test_key_ignores_body_key_order() -> None:
    reordered = dict(reversed(list(BODY.items())))
    assert list(reordered) != list(BODY)
    assert cache_key(ENDPOINT, replace(REQUEST, body=reordered), 0) == cache_key(
        ENDPOINT, REQUEST, 0
    )


@pytest.mark.parametrize(
    ("endpoint", "request_", "sample"),
    [
        pytest.param("http://127.0.0.1:8001/v1", REQUEST, 0, id="endpoint"),
        pytest.param(ENDPOINT, replace(REQUEST, path="/responses"), 0, id="path"),
        pytest.param(ENDPOINT, replace(REQUEST, body={**BODY, "model": "other"}), 0, id="model"),
        pytest.param(ENDPOINT, replace(REQUEST, body={**BODY, "temperature": 0.7}), 0, id="temp"),
        pytest.param(ENDPOINT, replace(REQUEST, body={**BODY, "max_tokens": 65}), 0, id="tokens"),
        pytest.param(
            ENDPOINT,
            replace(REQUEST, body={**BODY, "messages": [{"role": "user", "content": "2+3?"}]}),
            0,
            id="messages",
        ),
        pytest.param(ENDPOINT, replace(REQUEST, body={**BODY, "seed": 1}), 0, id="extra-field"),
        pytest.param(
            ENDPOINT,
            replace(REQUEST, body={k: v for k, v in BODY.items() if k != "temperature"}),
            0,
            id="missing-field",
        ),
        pytest.param(ENDPOINT, REQUEST, 1, id="sample-index"),
    ],
)
def test_key_differs_by(endpoint: str, request_: Request, sample: int) -> None:
    assert cache_key(endpoint, request_, sample) != cache_key(ENDPOINT, REQUEST, 0)


# --- modes ------------------------------------------------------------------------------


def test_use_roundtrip_marks_cached(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 0)
    assert cache.get(key) is None
    cache.put(key, REQUEST, GOOD)
    got = cache.get(key)
    assert got == replace(GOOD, cached=True)
    assert got is not None
    assert got.latency_ms == GOOD.latency_ms
    assert isinstance(got.usage, Usage)


def test_a_cached_completion_is_stored_uncached(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 0)
    cache.put(key, REQUEST, replace(GOOD, cached=True))
    stored = json.loads(cache.path(key).read_text(encoding="utf-8"))
    assert stored["completion"]["cached"] is False


@pytest.mark.parametrize(
    "completion",
    [
        pytest.param(
            replace(GOOD, answer="", finish="error", status=500, error="HTTP 500: boom"),
            id="error",
        ),
        pytest.param(replace(GOOD, error="vLLM error on a 200"), id="error-on-200"),
        pytest.param(replace(GOOD, finish="length", truncated=True), id="truncated"),
    ],
)
@pytest.mark.parametrize("mode", ["use", "refresh"])
def test_bad_answers_are_never_stored(tmp_path: Path, mode: str, completion: Completion) -> None:
    cache = Cache(tmp_path, mode)
    key = cache_key(ENDPOINT, REQUEST, 0)
    cache.put(key, REQUEST, completion)
    assert entries(tmp_path) == []
    assert Cache(tmp_path, "use").get(key) is None


@pytest.mark.parametrize(
    ("mode", "reads", "writes"),
    [
        pytest.param("use", True, True, id="use"),
        pytest.param("refresh", False, True, id="refresh"),
        pytest.param("off", False, False, id="off"),
        pytest.param("only", True, False, id="only"),
    ],
)
def test_mode_reads_and_writes(tmp_path: Path, mode: str, reads: bool, writes: bool) -> None:
    key = cache_key(ENDPOINT, REQUEST, 0)
    other = cache_key(ENDPOINT, REQUEST, 1)
    # an entry written beforehand by a "use" cache
    Cache(tmp_path, "use").put(key, REQUEST, GOOD)
    cache = Cache(tmp_path, mode)
    assert (cache.reads, cache.writes) == (reads, writes)

    got = cache.get(key)
    assert got == (replace(GOOD, cached=True) if reads else None)

    cache.put(other, REQUEST, replace(GOOD, answer="five"))
    assert cache.path(other).exists() is writes
    if writes:
        written = Cache(tmp_path, "use").get(other)
        assert written is not None
        assert written.answer == "five"


def test_refresh_overwrites_existing_entry(tmp_path: Path) -> None:
    key = cache_key(ENDPOINT, REQUEST, 0)
    Cache(tmp_path, "use").put(key, REQUEST, GOOD)
    refresh = Cache(tmp_path, "refresh")
    assert refresh.get(key) is None
    refresh.put(key, REQUEST, replace(GOOD, answer="fresh"))
    got = Cache(tmp_path, "use").get(key)
    assert got is not None
    assert got.answer == "fresh"


@pytest.mark.parametrize("mode", ["", "USE", "read", "on", None], ids=repr)
def test_invalid_mode(tmp_path: Path, mode: Any) -> None:
    with pytest.raises(ValueError, match="cache mode must be one of"):
        Cache(tmp_path, mode)


# --- corrupt entries --------------------------------------------------------------------


def good_entry() -> dict[str, Any]:
    return {
        "version": VERSION,
        "request": {"path": REQUEST.path, "body": BODY},
        "completion": {
            "answer": "4",
            "reasoning": "",
            "usage": {"input_tokens": 1, "output_tokens": 1, "reasoning_tokens": None},
            "finish": "stop",
            "truncated": False,
            "latency_ms": 1.0,
            "status": 200,
            "error": None,
            "cached": False,
        },
    }


def without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    target = copy
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return copy


def with_value(data: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


CORRUPT = [
    pytest.param("", id="empty-file"),
    pytest.param("{not json", id="invalid-json"),
    pytest.param('{"version": 1, "completion": {"answer"', id="truncated-json"),
    pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    pytest.param("null", id="json-null"),
    pytest.param("[1, 2, 3]", id="json-list"),
    pytest.param('"a string"', id="json-string"),
    pytest.param(with_value(good_entry(), VERSION + 1, "version"), id="newer-version"),
    pytest.param(with_value(good_entry(), 0, "version"), id="older-version"),
    pytest.param(without(good_entry(), "version"), id="no-version"),
    pytest.param(without(good_entry(), "completion"), id="no-completion"),
    pytest.param(without(good_entry(), "completion", "answer"), id="no-answer"),
    pytest.param(without(good_entry(), "completion", "usage"), id="no-usage"),
    pytest.param(with_value(good_entry(), None, "completion", "usage"), id="usage-null"),
    pytest.param(with_value(good_entry(), [], "completion"), id="completion-list"),
    pytest.param(with_value(good_entry(), "x", "completion"), id="completion-string"),
    pytest.param(
        with_value(good_entry(), 7, "completion", "usage", "cache_tokens"), id="usage-extra-field"
    ),
    pytest.param(with_value(good_entry(), "?", "completion", "logprobs"), id="other-schema"),
    pytest.param(
        {"version": VERSION, "key": "abc", "response": {"choices": []}}, id="foreign-entry"
    ),
]


@pytest.mark.parametrize("content", CORRUPT)
def test_corrupt_entry_is_a_miss_and_is_replaced(tmp_path: Path, content: Any) -> None:
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 0)
    path = cache.path(key)
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")

    assert cache.get(key) is None
    cache.put(key, REQUEST, GOOD)
    assert cache.get(key) == replace(GOOD, cached=True)


def test_good_entry_helper_is_readable(tmp_path: Path) -> None:
    # guards the corrupt-entry table: its base entry must be a hit
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 0)
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_text(json.dumps(good_entry()), encoding="utf-8")
    got = cache.get(key)
    assert got is not None
    assert (got.answer, got.cached) == ("4", True)


# --- files on disk ----------------------------------------------------------------------


def test_no_temporary_files_left_after_puts(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "use")
    keys = [cache_key(ENDPOINT, REQUEST, i) for i in range(10)]
    for key in keys:
        cache.put(key, REQUEST, GOOD)
        cache.put(key, REQUEST, replace(GOOD, answer="again"))  # overwrite too
    files = entries(tmp_path)
    assert files == sorted(cache.path(key) for key in keys)
    assert all(not p.name.startswith(".") and p.suffix == ".json" for p in files)


def test_stored_json_has_request_and_completion(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 3)
    cache.put(key, REQUEST, GOOD)
    path = cache.path(key)
    assert path == tmp_path / key[:2] / f"{key}.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert "ünïcødé" in text  # not \u-escaped
    stored = json.loads(text)
    assert stored["version"] == VERSION
    assert stored["request"] == {"path": "/chat/completions", "body": BODY}
    assert stored["completion"]["answer"] == "4"
    assert stored["completion"]["usage"] == {
        "input_tokens": 12,
        "output_tokens": 3,
        "reasoning_tokens": 2,
    }
    assert list(stored) == sorted(stored)


# --- what decides an answer besides the body: headers, the model file ------------------


def test_identity_covers_headers_and_the_model_file_but_never_credentials() -> None:
    blue = endpoint_identity(ENDPOINT, {"azureml-model-deployment": "blue"})
    keys = {
        "blue": cache_key(blue, REQUEST, 0),
        "green": cache_key(endpoint_identity(ENDPOINT, {"azureml-model-deployment": "green"}),
                           REQUEST, 0),
        "no header": cache_key(endpoint_identity(ENDPOINT, {}), REQUEST, 0),
        "model A": cache_key(endpoint_identity(ENDPOINT, {}, "a" * 64), REQUEST, 0),
        "model B": cache_key(endpoint_identity(ENDPOINT, {}, "b" * 64), REQUEST, 0),
    }  # fmt: skip
    assert len(set(keys.values())) == len(keys)
    # header names are case-insensitive in HTTP, values are trimmed like the ini's
    same = endpoint_identity(ENDPOINT, {"AzureML-Model-Deployment": " blue "})
    assert cache_key(same, REQUEST, 0) == keys["blue"]
    # credentials are not what the answer depends on, and must not be stored even hashed
    secret = "sk-do-not-store-1234"
    creds = {
        "azureml-model-deployment": "blue", "api-key": secret, "X-Api-Key": secret,
        "Ocp-Apim-Subscription-Key": secret, "Cookie": f"s={secret}",
        "Proxy-Authorization": f"Bearer {secret}", "x-auth-token": secret,
    }  # fmt: skip
    with_creds = endpoint_identity(ENDPOINT, creds)
    assert secret not in with_creds
    assert with_creds == blue
    assert cache_key(with_creds, REQUEST, 0) == keys["blue"]


def test_version_2_ignores_entries_keyed_the_old_way(tmp_path: Path) -> None:
    assert VERSION == 2
    key = cache_key(ENDPOINT, REQUEST, 0)
    path = Cache(tmp_path, "use").path(key)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**good_entry(), "version": 1}))
    assert Cache(tmp_path, "use").get(key) is None


def test_an_entry_that_cannot_be_written_is_counted_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("harness.engine.cache.write_atomic", full)
    cache = Cache(tmp_path, "use")
    cache.put(cache_key(ENDPOINT, REQUEST, 0), REQUEST, GOOD)
    cache.put(cache_key(ENDPOINT, REQUEST, 1), REQUEST, GOOD)
    assert (cache.unwritten, cache.unwritten_reason) == (2, "No space left on device")


# --- tool calls -------------------------------------------------------------------------

CALLED = replace(
    GOOD,
    answer="",
    finish="tool_calls",
    tool_calls=(
        ToolCall("call_1", "get_weather", {"unit": "c", "city": "Paris"}, '{"unit": "c", "city": "Paris"}'),
        ToolCall("call_2", "get_time", None, "{oops", "not JSON: Expecting property name enclosed in double quotes (char 1)"),
    ),
)  # fmt: skip


def test_tool_calls_round_trip_exactly(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 0)
    cache.put(key, REQUEST, CALLED)
    got = cache.get(key)
    assert got == replace(CALLED, cached=True)
    assert got is not None
    assert all(isinstance(call, ToolCall) for call in got.tool_calls)
    assert list(got.tool_calls[0].arguments) == ["unit", "city"]  # as the model wrote them
    stored = json.loads(entries(tmp_path)[0].read_text(encoding="utf-8"))
    assert stored["completion"]["tool_calls"][1]["raw"] == "{oops"


def test_an_entry_from_before_tool_calls_loads_with_none(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 0)
    cache.put(key, REQUEST, GOOD)
    [path] = entries(tmp_path)
    entry = json.loads(path.read_text(encoding="utf-8"))
    del entry["completion"]["tool_calls"]  # what a version-2 entry of before held
    assert entry["version"] == VERSION == 2
    path.write_text(json.dumps(entry), encoding="utf-8")
    assert cache.get(key) == replace(GOOD, cached=True)


def test_a_stored_call_of_another_shape_is_a_miss(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "use")
    key = cache_key(ENDPOINT, REQUEST, 0)
    cache.put(key, REQUEST, CALLED)
    [path] = entries(tmp_path)
    entry = json.loads(path.read_text(encoding="utf-8"))
    entry["completion"]["tool_calls"] = [{"name": "f", "color": "red"}]
    path.write_text(json.dumps(entry), encoding="utf-8")
    assert cache.get(key) is None
