"""Streaming in the scripted server (tests/server), read with a raw httpx client.

``"stream": true`` answers as vLLM does: Chat ``data:`` chunks ending in ``[DONE]``,
Responses ``event:`` / ``data:`` pairs ending in ``response.completed``; plus the stream
faults (cut short, error mid-stream) and status faults answered as JSON before a stream.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.server.__main__ import load_rules
from tests.server.app import Fault, Rule, ScriptedServer

REASONING = "two plus two is four because we add them"
ANSWER = "The answer is four, of course."
DONE = "[DONE]"
RESPONSES_TYPES = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@dataclass
class Stream:
    status: int
    headers: httpx.Headers
    events: list[tuple[str | None, Any]] = field(default_factory=list)  # (event, data)
    times: list[float] = field(default_factory=list)  # perf_counter at each data line
    error: httpx.HTTPError | None = None  # how the read ended, if not cleanly

    @property
    def data(self) -> list[Any]:
        return [d for _, d in self.events]

    @property
    def types(self) -> list[str | None]:
        return [e for e, _ in self.events]


def request(api: str, prompt: str = "q", **extra: Any) -> tuple[str, dict[str, Any]]:
    if api == "chat":
        body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
        return "/v1/chat/completions", {**body, "stream": True, **extra}
    return "/v1/responses", {"model": "m", "input": prompt, "stream": True, **extra}


def read_stream(http: httpx.Client, api: str, prompt: str = "q", **extra: Any) -> Stream:
    """POST a stream request; parse the SSE events until the stream ends or breaks."""
    path, body = request(api, prompt, **extra)
    with http.stream("POST", path, json=body) as response:
        stream = Stream(response.status_code, response.headers)
        if response.status_code != 200:
            response.read()
            stream.events.append((None, response.json()))
            return stream
        event: str | None = None
        try:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    raw = line.removeprefix("data: ")
                    stream.events.append((event, raw if raw == DONE else json.loads(raw)))
                    stream.times.append(time.perf_counter())
                    event = None
                else:
                    assert line == "", line
        except httpx.RemoteProtocolError as exc:
            stream.error = exc
    return stream


def chat_text(chunks: list[Any], key: str) -> str:
    return "".join(
        c["choices"][0]["delta"].get(key) or "" for c in chunks if c != DONE and c["choices"]
    )


def responses_text(events: list[Any], delta_type: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == delta_type)


@pytest.fixture
def http(server: ScriptedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        yield client


# --- chat ----------------------------------------------------------------------------------


def test_chat_stream_sequence(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING, reasoning_tokens=7)]
    stream = read_stream(http, "chat")
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in stream.headers
    assert stream.error is None
    assert set(stream.types) == {None}

    chunks = stream.data
    assert chunks[-1] == DONE
    first, *deltas, finish, _ = chunks
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert {c["id"] for c in chunks[:-1]} == {first["id"]}
    assert first["id"].startswith("chatcmpl-")
    assert {c["model"] for c in chunks[:-1]} == {"m"}

    keys = [next(iter(c["choices"][0]["delta"])) for c in deltas]
    assert keys == sorted(keys, key=lambda k: k != "reasoning")  # all reasoning, then content
    assert 2 <= keys.count("reasoning") <= 4
    assert 2 <= keys.count("content") <= 4
    assert all(len(c["choices"][0]["delta"]) == 1 for c in deltas)
    assert all(c["choices"][0]["finish_reason"] is None for c in deltas)
    assert chat_text(deltas, "reasoning") == REASONING
    assert chat_text(deltas, "content") == ANSWER

    assert finish["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop", "stop_reason": None}
    ]
    assert "usage" not in finish
    assert all(c["choices"] for c in chunks[:-1])  # no usage chunk without include_usage


def test_chat_stream_usage_only_when_asked(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING, usage={"prompt_tokens": 11})]
    stream = read_stream(http, "chat", stream_options={"include_usage": True})
    *_, finish, usage, done = stream.data
    assert done == DONE
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == []
    assert usage["id"] == finish["id"]
    completion = len(f"{REASONING} {ANSWER}".split())
    assert usage["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": completion,
        "total_tokens": 11 + completion,
        "prompt_tokens_details": None,
    }
    asked_not = read_stream(http, "chat", stream_options={"include_usage": False})
    assert all(c["choices"] for c in asked_not.data[:-1])


@pytest.mark.parametrize(
    ("field_name", "keys"),
    [
        ("reasoning", {"reasoning"}),
        ("reasoning_content", {"reasoning_content"}),
        ("both", {"reasoning", "reasoning_content"}),
    ],
)
def test_chat_stream_reasoning_fields(
    server: ScriptedServer, http: httpx.Client, field_name: str, keys: set[str]
) -> None:
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING, reasoning_field=field_name)]
    chunks = read_stream(http, "chat").data
    thinking = [c for c in chunks[1:-2] if "content" not in c["choices"][0]["delta"]]
    assert thinking
    assert all(set(c["choices"][0]["delta"]) == keys for c in thinking)
    for key in keys:
        assert chat_text(chunks, key) == REASONING
    assert chat_text(chunks, "content") == ANSWER


def test_chat_stream_leaked_reasoning(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING, reasoning_field="none")]
    chunks = read_stream(http, "chat").data
    assert {k for c in chunks[:-1] for k in c["choices"][0]["delta"]} == {"role", "content"}
    assert chat_text(chunks, "content") == f"{REASONING}</think>{ANSWER}"


def test_chat_stream_content_null_and_length(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = [
        Rule(".", answer=ANSWER, reasoning=REASONING, content_null=True, finish="length")
    ]
    chunks = read_stream(http, "chat", max_tokens=50, stream_options={"include_usage": True}).data
    assert chat_text(chunks, "content") == ""
    assert chat_text(chunks, "reasoning") == REASONING
    assert chunks[-3]["choices"][0]["finish_reason"] == "length"
    assert chunks[-2]["usage"]["completion_tokens"] == 50


def test_stream_false_is_a_json_answer(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = [Rule(".", answer=ANSWER)]
    path, body = request("chat", stream=False)
    response = http.post(path, json=body)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["choices"][0]["message"]["content"] == ANSWER


# --- responses -----------------------------------------------------------------------------


def test_responses_stream_sequence(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING)]
    stream = read_stream(http, "responses", instructions="be brief")
    assert (stream.status, stream.error) == (200, None)
    assert stream.headers["content-type"] == "text/event-stream"
    events = stream.data
    assert DONE not in events
    assert stream.types == [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    collapsed = [t for i, t in enumerate(stream.types) if i == 0 or t != stream.types[i - 1]]
    assert collapsed == RESPONSES_TYPES
    assert 2 <= stream.types.count("response.reasoning_text.delta") <= 4
    assert 2 <= stream.types.count("response.output_text.delta") <= 4
    assert responses_text(events, "response.reasoning_text.delta") == REASONING
    assert responses_text(events, "response.output_text.delta") == ANSWER

    created, in_progress = events[0]["response"], events[1]["response"]
    assert created["status"] == in_progress["status"] == "in_progress"
    assert created["output"] == []
    final = events[-1]["response"]
    assert final["id"] == created["id"]
    assert final["status"] == "completed"
    reasoning, message = final["output"]
    assert reasoning["content"] == [{"type": "reasoning_text", "text": REASONING}]
    assert message["content"][0]["text"] == ANSWER
    done_items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done_items == final["output"]
    item_ids = {e["item_id"] for e in events if "item_id" in e}
    assert item_ids == {reasoning["id"], message["id"]}

    # The same response object a non-streamed request gets, apart from the fresh ids.
    path, body = request("responses", instructions="be brief", stream=False)
    plain = http.post(path, json=body).json()
    assert _without_ids(final) == _without_ids(plain)


def test_responses_stream_incomplete_without_message(
    server: ScriptedServer, http: httpx.Client
) -> None:
    server.rules = [
        Rule(".", answer=ANSWER, reasoning=REASONING, content_null=True, finish="length")
    ]
    events = read_stream(http, "responses", max_output_tokens=64).data
    types = [e["type"] for e in events]
    assert not any(t.startswith("response.output_text") for t in types)
    assert types.count("response.output_item.added") == 1
    assert responses_text(events, "response.reasoning_text.delta") == REASONING
    final = events[-1]
    assert final["type"] == "response.completed"
    assert final["response"]["status"] == "incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [i["type"] for i in final["response"]["output"]] == ["reasoning"]
    assert final["response"]["usage"]["output_tokens"] == 64


def test_responses_stream_leaked_reasoning(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING, reasoning_field="none")]
    events = read_stream(http, "responses").data
    assert not any(e["type"].startswith("response.reasoning_text") for e in events)
    assert responses_text(events, "response.output_text.delta") == f"{REASONING}</think>{ANSWER}"


# --- timing, faults ------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_delay_spreads_the_events(
    server: ScriptedServer, http: httpx.Client, api: str
) -> None:
    if api == "chat":  # role, 2 answer chunks, finish, [DONE]: 4 gaps
        server.rules = [Rule(".", answer="one two", stream_delay=0.05)]
    else:  # created, in_progress, message added ... completed: 7 gaps
        server.rules = [Rule(".", answer="one", stream_delay=0.05)]
    start = time.perf_counter()
    stream = read_stream(http, api)
    assert 5 <= len(stream.times) <= 10
    first, last = stream.times[0] - start, stream.times[-1] - start
    assert last - first >= 0.15  # the gaps add up to >= 0.2 s
    assert first < last / 2  # the first tokens arrive long before the end


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_cut_ends_without_the_end(
    server: ScriptedServer, http: httpx.Client, api: str
) -> None:
    rule = Rule(".", answer=ANSWER, reasoning=REASONING, faults=[Fault(kind="stream_cut")])
    server.rules = [rule]
    stream = read_stream(http, api, stream_options={"include_usage": True})
    assert stream.status == 200
    assert isinstance(stream.error, httpx.RemoteProtocolError)
    assert len(stream.data) >= 2
    if api == "chat":
        assert DONE not in stream.data
        assert all(c["choices"][0]["finish_reason"] is None for c in stream.data)
        whole = read_stream(http, api).data  # faults used up: the whole stream
        assert whole[-1] == DONE
        assert len(stream.data) < len(whole) - 2
    else:
        assert "response.completed" not in stream.types
        whole = read_stream(http, api).data
        assert whole[-1]["type"] == "response.completed"
        assert len(stream.data) < len(whole) - 1
    assert server.faults_served(rule) == 1


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_error_mid_stream(server: ScriptedServer, http: httpx.Client, api: str) -> None:
    fault = Fault(kind="stream_error", message="engine died", headers={"x-why": "boom"})
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING, faults=[fault])]
    stream = read_stream(http, api)
    assert (stream.status, stream.error) == (200, None)
    assert stream.headers["x-why"] == "boom"
    assert len(stream.data) >= 3
    if api == "chat":
        *before, error, done = stream.data
        assert done == DONE
        assert error == {
            "error": {"message": "engine died", "type": "InternalServerError", "code": 500}
        }
        assert before[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all(c["choices"][0]["finish_reason"] is None for c in before)
    else:
        *before, error = stream.data
        assert stream.types[-1] == "error"
        assert error["type"] == "error"
        assert (error["code"], error["message"]) == ("server_error", "engine died")
        assert error["sequence_number"] == len(before)
        assert "response.completed" not in stream.types


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_status_fault_on_a_stream_is_json(
    server: ScriptedServer, http: httpx.Client, api: str
) -> None:
    faults = [Fault(status=429, retry_after="2", message="Too many pending requests")]
    server.rules = [Rule(".", answer=ANSWER, faults=faults)]
    stream = read_stream(http, api)
    assert stream.status == 429
    assert stream.headers["content-type"] == "application/json"
    assert stream.headers["retry-after"] == "2"
    assert stream.data == [
        {
            "error": {
                "message": "Too many pending requests",
                "type": "RateLimitError",
                "param": None,
                "code": 429,
            }
        }
    ]
    assert read_stream(http, api).status == 200


def test_stream_faults_from_rules_json(server: ScriptedServer, http: httpx.Client) -> None:
    server.rules = load_rules(
        json.dumps(
            [{"match": ".", "answer": "x", "faults": [{"kind": "stream_error"}], "stream_delay": 0}]
        )
    )
    assert server.rules[0].faults == [Fault(kind="stream_error")]
    assert read_stream(http, "chat").data[-2]["error"]["message"] == "injected fault"


def test_streams_are_chunked_on_a_kept_alive_connection(server: ScriptedServer) -> None:
    server.rules = [Rule(".", answer=ANSWER, reasoning=REASONING)]
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        for api in ("chat", "responses"):  # one after the other on the same connection
            path, body = request(api)
            data = json.dumps(body).encode()
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
            sock.sendall(head.encode() + data)
            received = b""
            while not received.endswith(b"\r\n0\r\n\r\n"):
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection"
                received += chunk
            head_bytes, _, chunked = received.partition(b"\r\n\r\n")
            assert b"Transfer-Encoding: chunked" in head_bytes
            events = _unchunk(chunked)
            assert all(e.endswith(b"\n\n") for e in events)  # one event per chunk
            end = b"data: [DONE]" if api == "chat" else b"event: response.completed"
            assert events[-1].startswith(end)


# --- helpers -------------------------------------------------------------------------------


def _unchunk(data: bytes) -> list[bytes]:
    """The chunks of a chunked body ending in the zero-length chunk."""
    chunks = []
    while True:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n"
            return chunks
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        data = rest[size + 2 :]


def _without_ids(response: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in response.items() if k not in ("id", "created_at")}
    out["output"] = [{k: v for k, v in i.items() if k != "id"} for i in response["output"]]
    return out
