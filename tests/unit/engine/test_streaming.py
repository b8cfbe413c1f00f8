"""harness.engine.streaming: SSE transcripts of both APIs -> Completion; the Client's stream path."""

# Table rows stay one case a line (`# fmt: skip`), so some lines run past 100 columns.

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from harness.engine.client import Attempt, Client, build_request, parse_response
from harness.engine.streaming import StreamParser, is_stream
from harness.errors import AuthError
from harness.models import Api, Completion, Message, Request, Usage

M = "zai-org/GLM-4.7-Flash"
U = Usage(12, 85, None)
U0 = Usage(12, 85, 0)
TOKEN = "sk-very-secret-token-123"


# --- Chat transcripts (vllm-shapes.md §1, Streaming) ------------------------------------------


def chunk(finish: str | None = None, **delta: Any) -> list[str]:
    """One ``chat.completion.chunk`` event: its data line and the blank line ending it."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    data = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": M, "choices": [choice]}  # fmt: skip
    return [f"data: {json.dumps(data)}", ""]


def usage_chunk(**extra: Any) -> list[str]:
    usage = {"prompt_tokens": 12, "completion_tokens": 85, "total_tokens": 97, **extra}
    data = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": M, "choices": [], "usage": usage}  # fmt: skip
    return [f"data: {json.dumps(data)}", ""]


DONE = ["data: [DONE]", ""]
ROLE = chunk(role="assistant", content="")
THINK = [*chunk(reasoning="2+2"), *chunk(reasoning="=4")]
ANSWER = [*chunk(content="4"), *chunk("stop")]
CHAT_OK = [*ROLE, *THINK, *ANSWER, *usage_chunk(), *DONE]
MID_ERROR = {"error": {"message": "engine died", "type": "InternalServerError", "param": None, "code": 500}}  # fmt: skip


def chat_lines(*parts: list[str]) -> list[str]:
    return [line for part in parts for line in part]


# --- Responses transcripts (vllm-shapes.md §2, Streaming) -------------------------------------


def event(kind: str, **fields: Any) -> list[str]:
    return [f"event: {kind}", f"data: {json.dumps({'type': kind, **fields})}", ""]


RS = {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "2+2=4"}]}  # fmt: skip
MSG = {"type": "message", "id": "m", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "4", "annotations": []}]}  # fmt: skip


def final(*output: dict[str, Any], status: str = "completed", out: int = 85, **top: Any) -> dict[str, Any]:  # fmt: skip
    usage = {"input_tokens": 12, "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 12 + out}  # fmt: skip
    return {"id": "resp_1", "object": "response", "status": status, "output": list(output), "usage": usage, **top}  # fmt: skip


START = [
    *event("response.created", response=final(status="in_progress")),
    *event("response.in_progress", response=final(status="in_progress")),
    *event("response.output_item.added", output_index=0, item={**RS, "content": []}),
    *event("response.content_part.added", output_index=0, part={"type": "reasoning_text"}),
    *event("response.reasoning_text.delta", output_index=0, delta="2+2"),
    *event("response.reasoning_text.delta", output_index=0, delta="=4"),
    *event("response.reasoning_text.done", output_index=0, text="2+2=4"),
    *event("response.output_item.done", output_index=0, item=RS),
]
TEXT = [
    *event("response.output_item.added", output_index=1, item={**MSG, "content": []}),
    *event("response.output_text.delta", output_index=1, delta="4"),
    *event("response.output_text.done", output_index=1, text="4"),
]
DONE_EVENT = event("response.completed", response=final(RS, MSG))


def resp_lines(*parts: list[str]) -> list[str]:
    return [line for part in parts for line in part]


# --- the parser, table-driven ------------------------------------------------------------------


def ok(answer: str, reasoning: str, finish: str = "stop", usage: Usage = U) -> dict[str, Any]:
    truncated = finish == "length"
    return {"answer": answer, "reasoning": reasoning, "finish": finish, "truncated": truncated, "usage": usage, "error": None}  # fmt: skip


def failed(message: str) -> dict[str, Any]:
    return {"answer": "", "reasoning": "", "finish": "error", "truncated": False, "usage": Usage(), "error": message}  # fmt: skip


def run(api: Api, lines: list[str], budget: int | None = None) -> Completion:
    parser = StreamParser(api, max_output_tokens=budget)
    for i, line in enumerate(lines):
        parser.feed(line, 10.0 * i)
    return parser.finish(200, 999.0)


def fields(c: Completion) -> dict[str, Any]:
    return {k: getattr(c, k) for k in ("answer", "reasoning", "finish", "truncated", "usage", "error")}  # fmt: skip


CUT = "stream ended before its end"
CHAT_CASES = [
    pytest.param(CHAT_OK, ok("4", "2+2=4"), id="reasoning, answer, usage"),
    pytest.param(chat_lines(ROLE, chunk(reasoning_content="2+2"), chunk(reasoning_content="=4"), ANSWER, DONE), ok("4", "2+2=4", usage=Usage()), id="reasoning_content only, no usage"),
    pytest.param(chat_lines(chunk(reasoning="2+2", reasoning_content="2+2"), chunk(reasoning="=4", reasoning_content="=4"), ANSWER, DONE), ok("4", "2+2=4", usage=Usage()), id="both keys counted once"),
    pytest.param(chat_lines(chunk(reasoning=None, reasoning_content="r"), ANSWER, DONE), ok("4", "r", usage=Usage()), id="reasoning null, content set"),
    pytest.param(chat_lines(ROLE, THINK, chunk("length", content=None), usage_chunk(), DONE), ok("", "2+2=4", "length"), id="content null + length"),
    pytest.param(chat_lines(THINK, ANSWER, usage_chunk(completion_tokens_details={"reasoning_tokens": 7}), DONE), ok("4", "2+2=4", usage=Usage(12, 85, 7)), id="reasoning_tokens"),
    pytest.param(chat_lines(chunk(content="I add.</think>"), chunk(content="\n\n4"), chunk("stop"), DONE), ok("4", "I add.", usage=Usage()), id="</think> leak"),
    pytest.param(chat_lines(THINK, ANSWER, usage_chunk()), ok("4", "2+2=4"), id="finish but no [DONE]"),
    pytest.param(chat_lines(THINK, chunk(content="4"), DONE), ok("4", "2+2=4", "unknown", Usage()), id="[DONE] but no finish"),
    pytest.param(chat_lines(THINK, chunk("tool_calls"), DONE), ok("", "2+2=4", "tool_calls", Usage()), id="other finish kept"),
    pytest.param([": keep-alive", "", "id: 7", "retry: 1000", *CHAT_OK[:4], ":ping", "", "", *CHAT_OK[4:]], ok("4", "2+2=4"), id="comments, ids, blank lines"),
    pytest.param(['data: {"choices": [{"index": 0,', 'data: "delta": {"content": "4"}, "finish_reason": "stop"}]}', "", *DONE], ok("4", "", usage=Usage()), id="data split over lines"),
    pytest.param(chat_lines(THINK, chunk(content="4"), [f"data: {json.dumps({'choices': [{'index': 1, 'delta': {'content': 'x'}}]})}", ""], chunk("stop"), DONE), ok("4", "2+2=4", usage=Usage()), id="other choice index ignored"),
    pytest.param(chat_lines(THINK, ANSWER, usage_chunk())[:-1], ok("4", "2+2=4"), id="last event without blank line"),
    # failures
    pytest.param(chat_lines(ROLE, THINK, [f"data: {json.dumps(MID_ERROR)}", ""], DONE), failed("InternalServerError: engine died"), id="error chunk mid-stream"),
    pytest.param(chat_lines(THINK, [f"data: {json.dumps({'object': 'error', 'message': 'm', 'type': 'T'})}", ""], ANSWER, DONE), failed("T: m"), id="flat error chunk"),
    pytest.param(chat_lines(THINK, chunk("error"), DONE), failed("server error: finish_reason 'error'"), id="finish_reason error"),
    pytest.param(chat_lines(ROLE, THINK, chunk(content="4")), failed(f"{CUT} (got 4 events)"), id="cut before [DONE]"),
    pytest.param([], failed(f"{CUT} (got 0 events)"), id="empty stream"),
    pytest.param(chat_lines(THINK, ['data: {"choices": [', ""], ANSWER, DONE), failed('malformed stream event: {"choices": ['), id="malformed JSON"),
    pytest.param(chat_lines(["data: [1, 2]", ""], DONE), failed("malformed stream event: [1, 2]"), id="JSON not an object"),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "expected"), CHAT_CASES)
def test_chat_stream(lines: list[str], expected: dict[str, Any]) -> None:
    completion = run("chat", lines)
    assert fields(completion) == expected
    assert (completion.status, completion.latency_ms) == (200, 999.0)


SUMMARY = [*event("response.reasoning_summary_text.delta", output_index=0, delta="sum"), *event("response.reasoning_summary_text.delta", output_index=0, delta="mary")]  # fmt: skip
EMPTY_RS = {"type": "reasoning", "id": "rs", "summary": [], "content": []}
FAILED = final(status="failed", error={"code": "server_error", "message": "boom"})

RESP_CASES = [
    pytest.param(resp_lines(START, TEXT, DONE_EVENT), None, ok("4", "2+2=4", usage=U0), id="completed"),
    pytest.param(resp_lines(START, TEXT, event("response.completed", response=final())), None, ok("4", "2+2=4", usage=U0), id="final without output: deltas"),
    pytest.param(resp_lines(START, TEXT, event("response.completed", response=final(EMPTY_RS, {**MSG, "content": []}))), None, ok("4", "2+2=4", usage=U0), id="final items without text: deltas"),
    pytest.param(resp_lines(START, event("response.output_text.delta", delta="5"), event("response.completed", response=final(RS, MSG))), None, ok("4", "2+2=4", usage=U0), id="final texts win over deltas"),
    pytest.param(resp_lines(START, event("response.completed", response=final(RS, status="incomplete", out=2048, incomplete_details={"reason": "max_output_tokens"}))), 2048, ok("", "2+2=4", "length", Usage(12, 2048, 0)), id="incomplete, no message item"),
    pytest.param(resp_lines(START, TEXT, event("response.incomplete", response=final(RS, MSG, status="incomplete"))), None, ok("4", "2+2=4", "length", U0), id="OpenAI response.incomplete"),
    pytest.param(resp_lines(START, event("response.incomplete", response={})), None, ok("", "2+2=4", "length", Usage()), id="incomplete event, bare response"),
    pytest.param(resp_lines(START, event("response.completed", response=final(RS, out=256))), 256, ok("", "2+2=4", "length", Usage(12, 256, 0)), id="old vLLM completed at budget"),
    pytest.param(resp_lines(SUMMARY, TEXT, event("response.completed", response=final(EMPTY_RS, MSG))), None, ok("4", "summary", usage=U0), id="OpenAI summary deltas"),
    pytest.param(resp_lines(event("response.mystery", x=1), START, event("response.reasoning_part.added", part={}), TEXT, event("response.future.thing"), DONE_EVENT), None, ok("4", "2+2=4", usage=U0), id="unknown events ignored"),
    pytest.param(["event: response.output_text.delta", 'data: {"delta": "4"}', "", "event: response.completed", f"data: {json.dumps({'response': final()})}", ""], None, ok("4", "", usage=U0), id="type from event: line only"),
    pytest.param([": hi", "", *resp_lines(START, TEXT), "id: 3", "", *DONE_EVENT, *DONE], None, ok("4", "2+2=4", usage=U0), id="comments, ids, stray [DONE]"),
    pytest.param(resp_lines(event("response.output_text.delta", delta="I add.</think>4"), event("response.completed", response=final())), None, ok("4", "I add.", usage=U0), id="</think> leak"),
    # failures
    pytest.param(resp_lines(START, event("response.failed", response=FAILED)), None, failed("server_error: boom"), id="OpenAI response.failed"),
    pytest.param(resp_lines(START, event("response.failed", response=final(status="failed"))), None, failed("server error: response status 'failed'"), id="failed, no error object"),
    pytest.param(resp_lines(START, event("error", code="ERR_RATE", message="slow down", param=None)), None, failed("ERR_RATE: slow down"), id="OpenAI error event"),
    pytest.param(resp_lines(START, event("error", code=None, message="oops")), None, failed("error: oops"), id="error event, no code"),
    pytest.param(resp_lines(START, [f"data: {json.dumps(MID_ERROR)}", ""]), None, failed("InternalServerError: engine died"), id="error chunk"),
    pytest.param(resp_lines(START, TEXT), None, failed(f"{CUT} (got 11 events)"), id="cut before response.completed"),
    pytest.param(resp_lines(START, ["event: response.output_text.delta", "data: {'delta': 4}", ""], DONE_EVENT), None, failed("malformed stream event: {'delta': 4}"), id="malformed JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "budget", "expected"), RESP_CASES)
def test_responses_stream(lines: list[str], budget: int | None, expected: dict[str, Any]) -> None:
    completion = run("responses", lines, budget)
    assert fields(completion) == expected
    assert (completion.status, completion.latency_ms) == (200, 999.0)


def timed(api: Api, pairs: list[tuple[str, float]]) -> Completion:
    parser = StreamParser(api, max_output_tokens=None)
    for line, ms in pairs:
        parser.feed(line, ms)
        parser.feed("", ms)
    return parser.finish(200, 500.0)


def data(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("data:"))


@pytest.mark.parametrize(
    ("api", "pairs", "first"),
    [
        ("chat", [(data(ROLE), 5.0), (data(chunk(reasoning="a")), 40.0), (data(chunk(reasoning="b")), 50.0), (data(chunk(content="4")), 120.0), (data(chunk("stop")), 130.0), (DONE[0], 131.0)], (40.0, 120.0)),
        ("chat", [(data(chunk(content="4")), 7.0), (data(chunk("length")), 8.0)], (None, 7.0)),
        ("chat", [(data(chunk(reasoning="r")), 0.0), (data(chunk("length")), 8.0)], (0.0, None)),
        ("chat", [(data(chunk(content="I add.")), 1.0), (data(chunk(content="</think>")), 2.0), (data(chunk(content="\n\n")), 3.0), (data(chunk(content="4", finish="stop")), 4.0)], (1.0, 4.0)),
        ("chat", [(data(chunk(reasoning="r")), 3.0), (data(chunk(content="</think>4", finish="stop")), 9.0)], (3.0, 9.0)),
        ("responses", [(data(START[i : i + 3]), 10.0 * i) for i in range(0, len(START), 3)] + [(data(TEXT[3:6]), 300.0), (data(DONE_EVENT), 310.0)], (120.0, 300.0)),
    ],
    ids=["chat", "answer only", "reasoning only", "leak: answer after </think>", "empty leak", "responses"],
)  # fmt: skip
def test_first_token_times(api: Api, pairs: list[tuple[str, float]], first: tuple[float | None, float | None]) -> None:  # fmt: skip
    completion = timed(api, pairs)
    assert completion.error is None
    assert (completion.first_reasoning_ms, completion.first_answer_ms) == first


def test_failures_ignore_later_lines_and_have_no_times() -> None:
    lines = chat_lines(
        THINK, [f"data: {json.dumps(MID_ERROR)}", ""], ["data: {oops", ""], ANSWER, DONE
    )
    completion = run("chat", lines)
    assert completion.error == "InternalServerError: engine died"
    assert (completion.first_reasoning_ms, completion.first_answer_ms) == (None, None)


def test_is_stream() -> None:
    assert is_stream(Request("chat", "/v1/chat/completions", {"stream": True}))
    for body in ({}, {"stream": False}, {"stream": "true"}):
        assert not is_stream(Request("chat", "/v1/chat/completions", body))


# --- Client over httpx.MockTransport ------------------------------------------------------------

PARAMS = {"temperature": 0.6, "top_p": 0.95, "max_output_tokens": 256}
USER = (Message("user", "What is 2+2?"),)
SSE = {"content-type": "text/event-stream; charset=utf-8"}
NON_STREAMED = {
    "chat": {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "4", "reasoning": "2+2=4"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 85, "total_tokens": 97},
    },
    "responses": final(RS, MSG),
}
STREAMED = {"chat": CHAT_OK, "responses": resp_lines(START, TEXT, DONE_EVENT)}


def streamed(api: Api) -> Request:
    return build_request(api, messages=USER, effort="low", params=PARAMS, model=M, stream=True)


class Body(httpx.AsyncByteStream):
    """A streamed body sent in pieces (cut mid-line), that may fail, and knows if closed."""

    def __init__(self, lines: list[str], fail: Exception | None = None) -> None:
        raw = "".join(f"{line}\n" for line in lines).encode()
        self.pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
        self.fail = fail
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        self.closed = True


def attempt(request: Request, respond: Callable[[], httpx.Response], **kw: Any) -> Attempt:
    async def go() -> Attempt:
        transport = httpx.MockTransport(lambda _req: respond())
        async with Client("http://h", api_key=kw.pop("api_key", None), transport=transport) as client:  # fmt: skip
            return await client.attempt(request)

    return asyncio.run(go())


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_client_stream_equals_non_streamed(api: Api) -> None:
    body = Body(STREAMED[api])
    got = attempt(streamed(api), lambda: httpx.Response(200, stream=body, headers=SSE))
    c = got.completion
    expected = parse_response(api, 200, json.dumps(NON_STREAMED[api]).encode(), 1.0, max_output_tokens=256)  # fmt: skip
    assert fields(c) == fields(expected)
    assert (got.retryable, c.status, c.error) == (False, 200, None)
    assert c.first_reasoning_ms is not None
    assert c.first_answer_ms is not None
    assert 0 <= c.first_reasoning_ms <= c.first_answer_ms <= c.latency_ms
    assert body.closed


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_client_stream_whole_bytes_body(api: Api) -> None:
    raw = "".join(f"{line}\n" for line in STREAMED[api]).encode()
    got = attempt(streamed(api), lambda: httpx.Response(200, content=raw, headers=SSE))
    assert (got.completion.answer, got.completion.reasoning, got.retryable) == ("4", "2+2=4", False)


def test_client_stream_non_200_handled_like_today() -> None:
    error = {"error": {"message": "m", "type": "T"}}
    got = attempt(streamed("chat"), lambda: httpx.Response(500, json=error, headers={"retry-after": "2"}))  # fmt: skip
    assert (got.completion.finish, got.completion.status, got.completion.error) == ("error", 500, "T: m")  # fmt: skip
    assert (got.retryable, got.retry_after) == (True, 2.0)
    got = attempt(streamed("chat"), lambda: httpx.Response(400, json=error, headers=SSE))
    assert (got.completion.error, got.retryable) == ("T: m", False)
    echo = {"error": {"message": f"token {TOKEN} rejected", "type": "T"}}
    with pytest.raises(AuthError) as info:
        attempt(streamed("chat"), lambda: httpx.Response(401, json=echo), api_key=TOKEN)
    assert (info.value.status, info.value.message) == (401, "T: token *** rejected")


def test_client_stream_json_200_parsed_as_non_streamed() -> None:
    got = attempt(streamed("chat"), lambda: httpx.Response(200, json=NON_STREAMED["chat"]))
    assert (got.completion.answer, got.completion.first_answer_ms, got.retryable) == ("4", None, False)  # fmt: skip


def test_client_stream_scrubs_token() -> None:
    lines = chat_lines(THINK, chunk(content=f"key {TOKEN}"), [f"data: {json.dumps({'error': {'message': f'bad {TOKEN}', 'type': 'T'}})}", ""], DONE)  # fmt: skip
    got = attempt(streamed("chat"), lambda: httpx.Response(200, stream=Body(lines), headers=SSE), api_key=TOKEN)  # fmt: skip
    assert (got.completion.error, got.retryable) == ("T: bad ***", True)
    ok_lines = chat_lines(THINK, chunk(content=f"key {TOKEN}"), chunk("stop"), DONE)
    got = attempt(streamed("chat"), lambda: httpx.Response(200, stream=Body(ok_lines), headers=SSE), api_key=TOKEN)  # fmt: skip
    assert got.completion.answer == "key ***"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_client_stream_early_end_is_retryable(api: Api) -> None:
    lines = STREAMED[api][:-6]
    got = attempt(streamed(api), lambda: httpx.Response(200, stream=Body(lines), headers=SSE))
    assert got.completion.finish == "error"
    assert got.completion.error is not None
    assert got.completion.error.startswith(CUT)
    assert got.retryable


@pytest.mark.parametrize(
    ("exc", "message", "retryable"),
    [
        (httpx.ReadError(""), "connection error: ReadError: the connection was reset or closed before the answer arrived", True),
        (httpx.RemoteProtocolError("peer closed connection"), "connection error: RemoteProtocolError: peer closed connection", True),
        (httpx.ReadTimeout("timed out"), "timeout after 180s", True),
    ],
)  # fmt: skip
def test_client_stream_transport_errors_close_the_response(exc: Exception, message: str, retryable: bool) -> None:  # fmt: skip
    body = Body(CHAT_OK[:6], fail=exc)
    got = attempt(streamed("chat"), lambda: httpx.Response(200, stream=body, headers=SSE))
    assert (got.completion.status, got.completion.error, got.retryable) == (0, message, retryable)
    assert body.closed
