"""Tool calls read from both APIs, whole and streamed (harness.engine.toolcalls, parse,
streaming): joined, parsed, bounded."""

# Table rows stay one case a line (`# fmt: skip`), so some lines run past 100 columns.

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harness.engine.parse import parse_response
from harness.engine.streaming import StreamParser
from harness.engine.toolcalls import (
    DEEP,
    MAX_CALLS,
    MAX_DEPTH,
    MAX_NAME,
    TOO_MANY,
    ChatPieces,
    ResponsesPieces,
    decode,
    scrubbed,
)
from harness.models import Api, Completion, ToolCall

PARIS = '{"city": "Paris"}'


def chat_reply(*calls: Any, content: str | None = None, finish: str = "tool_calls") -> bytes:
    message = {
        "role": "assistant",
        "content": content,
        "reasoning": None,
        "tool_calls": list(calls),
    }
    choice = {"index": 0, "message": message, "finish_reason": finish}
    return json.dumps(
        {"choices": [choice], "usage": {"prompt_tokens": 9, "completion_tokens": 7}}
    ).encode()


def chat_call(
    name: Any = "get_weather", arguments: Any = PARIS, call_id: Any = "call_1"
) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def fc(
    name: str = "get_weather", arguments: Any = PARIS, call_id: Any = "call_1", **more: Any
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_1",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
        **more,
    }


MSG = {
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Looking."}],
}


def responses_reply(*output: dict[str, Any], status: str = "completed") -> bytes:
    usage = {"input_tokens": 9, "output_tokens": 7}
    return json.dumps({"status": status, "output": list(output), "usage": usage}).encode()


def parse(api: Api, body: bytes) -> Completion:
    return parse_response(api, 200, body, 5.0, max_output_tokens=None)


def seen(done: Completion) -> dict[str, Any]:
    return {
        "answer": done.answer, "finish": done.finish, "truncated": done.truncated, "error": done.error,
        "calls": [(c.id, c.name, c.arguments, c.raw, c.error) for c in done.tool_calls],
    }  # fmt: skip


def calls(
    *made: tuple[str, str, Any, str, str | None], answer: str = "", finish: str = "tool_calls"
) -> dict[str, Any]:
    return {
        "answer": answer,
        "finish": finish,
        "truncated": finish == "length",
        "error": None,
        "calls": list(made),
    }


W = ("call_1", "get_weather", {"city": "Paris"}, PARIS, None)
DEEP_TEXT = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
VERY_DEEP = "[" * 100_000 + "]" * 100_000
LONG = "n" * 10_000

CHAT_CASES = [
    pytest.param(chat_reply(chat_call()), calls(W), id="a call, content null"),
    pytest.param(chat_reply(chat_call(), content="Looking."), calls(W, answer="Looking."), id="text and a call"),
    pytest.param(chat_reply(chat_call(), chat_call("get_time", '{"city": "Oslo"}', "call_2")), calls(W, ("call_2", "get_time", {"city": "Oslo"}, '{"city": "Oslo"}', None)), id="two calls, in order"),
    pytest.param(chat_reply(chat_call(arguments='{"city": "Paris" "x": 1}')), calls(("call_1", "get_weather", None, '{"city": "Paris" "x": 1}', "not JSON: Expecting ',' delimiter (char 17)")), id="arguments that are not JSON"),
    pytest.param(chat_reply(chat_call(arguments="")), calls(("call_1", "get_weather", {}, "", None)), id="empty arguments: {}"),
    pytest.param(chat_reply(chat_call(arguments={"city": "Paris"})), calls(W), id="arguments sent as an object"),
    pytest.param(chat_reply(chat_call(arguments='{"n": NaN}')), calls(("call_1", "get_weather", None, '{"n": NaN}', "not JSON: NaN is not valid JSON")), id="NaN is not JSON"),
    pytest.param(chat_reply(chat_call(arguments=DEEP_TEXT)), calls(("call_1", "get_weather", None, DEEP_TEXT, DEEP)), id="arguments one level too deep"),
    pytest.param(chat_reply(chat_call(arguments=VERY_DEEP)), calls(("call_1", "get_weather", None, VERY_DEEP, DEEP)), id="arguments 100,000 deep"),
    pytest.param(chat_reply(chat_call(LONG, call_id=LONG)), calls((LONG[:MAX_NAME] + f"... [{10_000 - MAX_NAME} more chars]", LONG[:MAX_NAME] + f"... [{10_000 - MAX_NAME} more chars]", {"city": "Paris"}, PARIS, None)), id="a long name and id are cut"),
    pytest.param(chat_reply(chat_call(None, call_id=7), "junk"), calls(("", "", {"city": "Paris"}, PARIS, None)), id="odd types"),
    pytest.param(chat_reply(finish="stop", content="4"), calls(answer="4", finish="stop"), id="no calls"),
    pytest.param(chat_reply(chat_call(arguments='{"city": "Pa'), finish="length"), calls(("call_1", "get_weather", None, '{"city": "Pa', "not JSON: Unterminated string starting at (char 9)"), finish="length"), id="a call cut at the token cap"),
    pytest.param(chat_reply(*[chat_call(call_id=f"c{n}") for n in range(MAX_CALLS + 1)]), {"answer": "", "finish": "error", "truncated": False, "error": TOO_MANY, "calls": []}, id="65 calls: an error"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), CHAT_CASES)
def test_chat_calls(body: bytes, expected: dict[str, Any]) -> None:
    assert seen(parse("chat", body)) == expected


def test_64_calls_are_read() -> None:
    body = chat_reply(*[chat_call(call_id=f"c{n}") for n in range(MAX_CALLS)])
    assert [c.id for c in parse("chat", body).tool_calls] == [f"c{n}" for n in range(MAX_CALLS)]


RESPONSES_CASES = [
    pytest.param(responses_reply(fc()), calls(W), id="a call, no message"),
    pytest.param(responses_reply(MSG, fc()), calls(W, answer="Looking."), id="text and a call"),
    pytest.param(responses_reply(fc(call_id=None)), calls(("fc_1", "get_weather", {"city": "Paris"}, PARIS, None)), id="no call_id: the item id"),
    pytest.param(responses_reply(fc(), fc("get_time", "{", "call_2")), calls(W, ("call_2", "get_time", None, "{", "not JSON: Expecting property name enclosed in double quotes (char 1)")), id="two calls, one not JSON"),
    pytest.param(responses_reply(fc(), status="incomplete"), calls(W, finish="length"), id="incomplete"),
    pytest.param(responses_reply(MSG), calls(answer="Looking.", finish="stop"), id="no calls"),
    pytest.param(responses_reply(*[fc(call_id=f"c{n}") for n in range(MAX_CALLS + 1)]), {"answer": "", "finish": "error", "truncated": False, "error": TOO_MANY, "calls": []}, id="65 calls: an error"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), RESPONSES_CASES)
def test_responses_calls(body: bytes, expected: dict[str, Any]) -> None:
    assert seen(parse("responses", body)) == expected


def test_a_huge_or_deep_arguments_text_decodes_in_linear_time() -> None:
    for text in (
        "[" * 2_000_000,
        '{"a": "' + "x" * 10_000_000 + '"}',
        "[" * 5_000_000 + "]" * 5_000_000,
    ):
        started = time.perf_counter()
        value, error = decode(text)
        assert time.perf_counter() - started < 2
        assert (value is None) == (error is not None)


# --- streamed -----------------------------------------------------------------------------


def stream(api: Api, events: list[dict[str, Any]]) -> Completion:
    parser = StreamParser(api, max_output_tokens=None)
    for payload in events:
        kind = payload.get("type")
        if api == "responses" and isinstance(kind, str):
            parser.feed(f"event: {kind}", 1.0)
        parser.feed(f"data: {json.dumps(payload)}", 1.0)
        parser.feed("", 1.0)
    if api == "chat":
        parser.feed("data: [DONE]", 1.0)
        parser.feed("", 1.0)
    return parser.finish(200, 9.0)


def delta(finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


def piece(
    index: Any = 0,
    call_id: str | None = None,
    name: str | None = None,
    arguments: str | None = None,
) -> dict[str, Any]:
    function = {k: v for k, v in (("name", name), ("arguments", arguments)) if v is not None}
    out: dict[str, Any] = {"index": index, "function": function}
    if call_id is not None:
        out |= {"id": call_id, "type": "function"}
    return out if index is not None else {k: v for k, v in out.items() if k != "index"}


END = delta("tool_calls")
CHAT_STREAMS = [
    pytest.param([delta(role="assistant", content=""), delta(tool_calls=[piece(0, "call_1", "get_weather", "")]), delta(tool_calls=[piece(arguments='{"city": ')]), delta(tool_calls=[piece(arguments='"Paris"}')]), END], calls(W), id="pieces joined"),
    pytest.param([delta(content="Looking."), delta(tool_calls=[piece(0, "call_1", "get_weather", PARIS)]), END], calls(W, answer="Looking."), id="text, then a call"),
    pytest.param([delta(tool_calls=[piece(0, "call_1", "get_weather"), piece(1, "call_2", "get_time")]), delta(tool_calls=[piece(1, arguments="{}")]), delta(tool_calls=[piece(0, arguments=PARIS)]), END], calls(W, ("call_2", "get_time", {}, "{}", None)), id="two calls interleaved, joined by index"),
    pytest.param([delta(tool_calls=[piece(0, arguments="{")]), delta(tool_calls=[piece(0, "call_1", "get_weather", '"city": "Paris"}')]), delta(tool_calls=[piece(0, "other", "other")]), END], calls(W), id="id and name from the first piece that has them"),
    pytest.param([delta(tool_calls=[piece(None, "call_1", "get_weather", PARIS)]), END], calls(W), id="no index: 0"),
    pytest.param([delta(tool_calls=[piece(0, "call_1", "get_weather", '{"city": "Paris" "x": 1}')]), END], calls(("call_1", "get_weather", None, '{"city": "Paris" "x": 1}', "not JSON: Expecting ',' delimiter (char 17)")), id="arguments that are not JSON"),
    pytest.param([delta(tool_calls="junk"), delta(tool_calls=[7, piece(True, "call_1", "get_weather", PARIS)]), END], calls(W), id="junk pieces ignored"),
    pytest.param([delta(tool_calls=[piece(n * 1000, f"c{n}", "f", "{}") for n in range(MAX_CALLS + 1)]), END], {"answer": "", "finish": "error", "truncated": False, "error": TOO_MANY, "calls": []}, id="65 indexes: an error"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "expected"), CHAT_STREAMS)
def test_chat_streamed_calls(events: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert seen(stream("chat", events)) == expected


def added(
    index: int, item_id: str = "fc_1", call_id: str = "call_1", name: str = "get_weather"
) -> dict[str, Any]:
    item = {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": "",
        "status": "in_progress",
    }
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def args_delta(index: int, text: str, item_id: str | None = "fc_1") -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.delta",
        "output_index": index,
        "delta": text,
        **({"item_id": item_id} if item_id else {}),
    }


def args_done(index: int, text: str, item_id: str = "fc_1") -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.done",
        "output_index": index,
        "item_id": item_id,
        "arguments": text,
    }


def completed(*output: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "response.completed",
        "response": {
            "status": "completed",
            "output": list(output),
            "usage": {"input_tokens": 9, "output_tokens": 7},
        },
    }


RESPONSES_STREAMS = [
    pytest.param([added(0), args_delta(0, '{"city": '), args_delta(0, '"Paris"}'), args_done(0, PARIS), {"type": "response.output_item.done", "output_index": 0, "item": fc()}, completed(fc())], calls(W), id="vLLM's events, final output"),
    pytest.param([added(0), args_delta(0, '{"city": '), args_delta(0, '"Paris"}'), completed()], calls(W), id="final without the items: the deltas"),
    pytest.param([added(0), args_delta(0, "{"), args_done(0, PARIS), completed()], calls(W), id=".done's text wins over the deltas"),
    pytest.param([added(0), args_delta(0, "{"), {"type": "response.output_item.done", "output_index": 0, "item": fc()}, completed()], calls(W), id="output_item.done's item wins"),
    pytest.param([added(0), args_delta(0, '{"city": ', None), args_delta(0, '"Paris"}', None), completed()], calls(W), id="deltas without item_id: by output_index"),
    pytest.param([added(0), args_delta(0, "{"), completed(fc(arguments='{"city": "Oslo"}'))], calls(("call_1", "get_weather", {"city": "Oslo"}, '{"city": "Oslo"}', None)), id="the final object wins"),
    pytest.param([*(added(n, f"fc_{n}", f"c{n}") for n in range(MAX_CALLS + 1)), completed()], {"answer": "", "finish": "error", "truncated": False, "error": TOO_MANY, "calls": []}, id="65 items: an error"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "expected"), RESPONSES_STREAMS)
def test_responses_streamed_calls(events: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert seen(stream("responses", events)) == expected


def test_a_text_and_a_call_streamed_on_responses() -> None:
    text = {"type": "response.output_text.delta", "output_index": 0, "delta": "Looking."}
    done = stream("responses", [text, added(1), args_delta(1, PARIS), completed()])
    assert seen(done) == calls(W, answer="Looking.")
    assert done.first_answer_ms == 1.0


# --- the client's second scrub ------------------------------------------------------------


def test_scrubbed_masks_ids_names_and_arguments_and_decodes_them_again() -> None:
    def scrub(text: str) -> str:
        return text.replace("sekrit", "***")

    call = ToolCall("id-sekrit", "name-sekrit", {"q": "a sekrit"}, '{"q": "a sekrit"}')
    assert scrubbed(call, scrub) == ToolCall("id-***", "name-***", {"q": "a ***"}, '{"q": "a ***"}')
    clean = ToolCall("id", "name", {"q": 1}, '{"q": 1}')
    assert scrubbed(clean, scrub) is clean


def test_a_stream_of_endless_new_calls_keeps_no_more_than_the_cap() -> None:
    chat, responses = ChatPieces(), ResponsesPieces()
    for n in range(100_000):
        chat.feed([{"index": n, "id": f"c{n}", "function": {"name": "f", "arguments": "{}"}}])
        responses.feed("response.output_item.added", added(n, f"fc_{n}", f"c{n}"))
    assert (len(chat.message_calls()), chat.too_many) == (MAX_CALLS, True)
    assert (len(responses.output_items()), responses.too_many) == (MAX_CALLS, True)
