"""Tool calls from a hostile server, on real sockets: a thousand calls, ten megabytes of
arguments, arguments nested 100,000 deep, the token in a call or split across argument
deltas. Each ends in a stated outcome, bounded, with no piece of the token kept."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import pytest

from harness.engine.client import Attempt, Client, build_request
from harness.engine.toolcalls import DEEP, MAX_NAME, TOO_MANY
from harness.models import Api, Message, Tool
from harness.secret import Secret
from tests.server.hostile import HostileServer, Seen, chunked, reply

PIECE = 12
SSE = {"Content-Type": "text/event-stream"}


def token() -> str:
    return f"glm/tok+{secrets.token_hex(12)}/{secrets.token_hex(4)}=="


def leaks(value: str, text: str) -> list[str]:
    return [value[i : i + PIECE] for i in range(len(value) - PIECE + 1) if value[i : i + PIECE] in text]  # fmt: skip


def attempt(url: str, api: Api, *, key: str = "k", stream: bool = False, cap: int = 16 << 20) -> Attempt:  # fmt: skip
    request = build_request(
        api, messages=(Message("user", "weather?"),), effort="default", params={}, model="m",
        stream=stream, tools=(Tool("get_weather"),), tool_choice="auto",
    )  # fmt: skip

    async def go() -> Attempt:
        async with Client(url, api_key=Secret(key), timeout=20, max_reply_bytes=cap) as client:
            return await client.attempt(request)

    return asyncio.run(go())


def chat_body(calls: list[dict[str, Any]]) -> bytes:
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    return json.dumps({"choices": [choice], "usage": {"prompt_tokens": 5}}).encode()


def responses_body(calls: list[dict[str, Any]]) -> bytes:
    items = [{"type": "function_call", "id": f"fc_{c['id']}", "call_id": c["id"], **c["function"]} for c in calls]  # fmt: skip
    return json.dumps({"status": "completed", "output": items, "usage": {}}).encode()


def call(n: int, arguments: str = "{}", name: str = "get_weather") -> dict[str, Any]:
    return {"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": arguments}}


BODIES = {"chat": chat_body, "responses": responses_body}


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_thousand_calls_are_an_error_not_a_shortened_list(api: Api) -> None:
    body = BODIES[api]([call(n) for n in range(1000)])
    with HostileServer(lambda seen: reply(body)) as server:
        done = attempt(server.url, api)
    assert (done.completion.error, done.completion.tool_calls) == (TOO_MANY, ())


def test_a_thousand_streamed_calls_are_an_error_too() -> None:
    events = [
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":%d,"id":"c%d","function":{"name":"f","arguments":"{}"}}]}}]}\n\n' % (n, n)
        for n in range(1000)
    ]  # fmt: skip
    events += [b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n', b"data: [DONE]\n\n"]  # fmt: skip
    with HostileServer(lambda seen: chunked(events, headers=SSE)) as server:
        done = attempt(server.url, "chat", stream=True)
    assert done.completion.error == TOO_MANY


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_ten_megabytes_of_arguments_are_read_within_the_cap_and_refused_past_it(api: Api) -> None:
    huge = json.dumps({"blob": "x" * 10_000_000})
    body = BODIES[api]([call(0, huge)])
    with HostileServer(lambda seen: reply(body)) as server:
        started = time.perf_counter()
        done = attempt(server.url, api).completion
        took = time.perf_counter() - started
        capped = attempt(server.url, api, cap=1 << 20).completion
    assert done.error is None
    assert len(done.tool_calls[0].arguments["blob"]) == 10_000_000
    assert took < 10
    assert capped.error is not None
    assert capped.error.startswith("reply larger than 1 MiB on the wire; raise --glm-max-reply-mb")


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_arguments_nested_100000_deep_are_a_call_error(api: Api) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    body = BODIES[api]([call(0, deep), call(1, '{"city": "Paris"}')])
    with HostileServer(lambda seen: reply(body)) as server:
        done = attempt(server.url, api).completion
    assert done.error is None
    first, second = done.tool_calls
    assert (first.arguments, first.error, len(first.raw)) == (None, DEEP, 200_000)
    assert second.arguments == {"city": "Paris"}


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_name_and_id_of_a_megabyte_are_cut(api: Api) -> None:
    long = "n" * 1_000_000
    body = BODIES[api]([{**call(0, name=long), "id": long}])
    with HostileServer(lambda seen: reply(body)) as server:
        [made] = attempt(server.url, api).completion.tool_calls
    assert made.name == made.id == f"{'n' * MAX_NAME}... [{1_000_000 - MAX_NAME} more chars]"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_the_token_in_a_calls_id_name_or_arguments_is_masked(api: Api) -> None:
    value = token()
    escaped = json.dumps(value).replace("/", "\\/")[1:-1]
    body = BODIES[api](
        [{**call(0, json.dumps({"q": f"Bearer {value}"}), name=f"f_{value}"), "id": escaped}]
    )
    with HostileServer(lambda seen: reply(body)) as server:
        done = attempt(server.url, api, key=value).completion
    [made] = done.tool_calls
    assert (made.id, made.name, made.arguments) == ("***", "f_***", {"q": "Bearer ***"})
    assert leaks(value, repr(done)) == []


def split(value: str) -> list[str]:
    """``value`` in pieces shorter than PIECE: no one event holds enough to be masked."""
    return [value[i : i + PIECE - 2] for i in range(0, len(value), PIECE - 2)]


def test_a_token_split_across_chat_argument_deltas_is_masked_once_joined() -> None:
    value = token()
    texts = ['{"q": "Bearer ', *split(value), ' ok"}']
    events = [b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"search","arguments":""}}]}}]}\n\n']  # fmt: skip
    events += [
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":%s}}]}}]}\n\n' % json.dumps(t).encode()
        for t in texts
    ]  # fmt: skip
    events += [b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n', b"data: [DONE]\n\n"]  # fmt: skip
    with HostileServer(lambda seen: chunked(events, headers=SSE)) as server:
        done = attempt(server.url, "chat", key=value, stream=True).completion
    assert done.error is None
    [made] = done.tool_calls
    assert (made.raw, made.arguments) == ('{"q": "Bearer *** ok"}', {"q": "Bearer *** ok"})
    assert leaks(value, repr(done)) == []


def test_a_token_split_across_responses_argument_deltas_is_masked_once_joined() -> None:
    value = token()
    texts = ['{"q": "', *split(value), '"}']

    def sse(kind: str, **data: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

    item = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "search", "arguments": ""}  # fmt: skip
    events = [sse("response.output_item.added", output_index=0, item=item)]
    events += [sse("response.function_call_arguments.delta", output_index=0, item_id="fc_1", delta=t) for t in texts]  # fmt: skip
    events.append(sse("response.completed", response={"status": "completed", "output": [], "usage": {}}))  # fmt: skip
    with HostileServer(lambda seen: chunked(events, headers=SSE)) as server:
        done = attempt(server.url, "responses", key=value, stream=True).completion
    assert done.error is None
    [made] = done.tool_calls
    assert (made.id, made.raw, made.arguments) == ("c1", '{"q": "***"}', {"q": "***"})
    assert leaks(value, repr(done)) == []


def test_a_stream_of_endless_argument_deltas_ends_at_the_cap() -> None:
    event = b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}]}}]}\n\n'  # fmt: skip

    def forever(seen: Seen) -> Any:
        return chunked(iter(lambda: event, None), headers=SSE)

    with HostileServer(forever) as server:
        done = attempt(server.url, "chat", stream=True, cap=2 << 20)
    assert done.completion.error is not None
    assert done.completion.error.startswith("reply larger than 2 MiB")
