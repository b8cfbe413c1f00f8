"""Tool calls end to end against the scripted vLLM-like server, on real sockets: both APIs,
streamed and not; a follow-up after a tool result; a server without auto tool choice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.engine.client import Client, build_request
from harness.models import Api, Completion, Message, Request, Tool, ToolCall
from tests.server.app import AUTO_TOOLS_REFUSED, Rule, ScriptedServer

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "The weather now in a city.", CITY)
CLOCK = Tool("get_time", "The local time in a city.", CITY)
ASK = (Message("system", "Use the tools."), Message("user", "What is the weather in Paris?"))
WAYS = [
    pytest.param(api, stream, id=f"{api}-{'stream' if stream else 'whole'}")
    for api in ("chat", "responses")
    for stream in (False, True)
]


def request(api: Api, stream: bool, messages: Any = ASK, **kw: Any) -> Request:
    kw.setdefault("tools", (WEATHER, CLOCK))
    return build_request(
        api, messages=messages, effort="default", params={"max_output_tokens": 64}, model="m",
        stream=stream, **kw,
    )  # fmt: skip


def complete(server: ScriptedServer, *requests: Request) -> list[Completion]:
    async def go() -> list[Completion]:
        async with Client(server.url, api_key=None, timeout=10) as client:
            return [await client.complete(r) for r in requests]

    return asyncio.run(go())


def shown(done: Completion) -> tuple[Any, ...]:
    calls = [(c.name, c.arguments, c.raw, c.error) for c in done.tool_calls]
    return done.answer, done.finish, done.truncated, done.error, calls


@pytest.mark.parametrize(("api", "stream"), WAYS)
def test_a_call_is_read(server: ScriptedServer, api: Api, stream: bool) -> None:
    server.rules = [
        Rule("weather", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    ]
    [done] = complete(server, request(api, stream))
    args = '{"city": "Paris"}'
    assert shown(done) == ("", "tool_calls", False, None, [("get_weather", {"city": "Paris"}, args, None)])  # fmt: skip
    assert done.tool_calls[0].id.startswith("call_0_")
    assert done.status == 200


@pytest.mark.parametrize(("api", "stream"), WAYS)
def test_text_and_several_calls(server: ScriptedServer, api: Api, stream: bool) -> None:
    made = [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_a"},
        {"name": "get_time", "arguments": {"city": "Paris"}, "id": "call_b"},
        {
            "name": "get_weather",
            "arguments": {"city": "Lyon, \u00e9t\u00e9 \u2600"},
            "id": "call_c",
        },
    ]
    server.rules = [Rule("weather", answer="Let me look both up.", tool_calls=made)]
    [done] = complete(server, request(api, stream))
    assert (done.answer, done.finish, done.error) == ("Let me look both up.", "tool_calls", None)
    assert [(c.id, c.name, c.arguments) for c in done.tool_calls] == [
        (m["id"], m["name"], m["arguments"]) for m in made
    ]


@pytest.mark.parametrize(("api", "stream"), WAYS)
def test_arguments_that_are_not_json_keep_their_text(
    server: ScriptedServer, api: Api, stream: bool
) -> None:
    raw = '{"city": "Paris", "days": 3,}'
    server.rules = [Rule("weather", tool_calls=[{"name": "get_weather", "arguments": raw}])]
    [done] = complete(server, request(api, stream))
    assert done.error is None
    [call] = done.tool_calls
    assert (call.arguments, call.raw) == (None, raw)
    assert call.error == "not JSON: Expecting property name enclosed in double quotes (char 28)"


@pytest.mark.parametrize(("api", "stream"), WAYS)
def test_a_follow_up_after_a_tool_result(server: ScriptedServer, api: Api, stream: bool) -> None:
    server.rules = [
        Rule("18 degrees and sunny", answer="It is 18 degrees and sunny in Paris."),
        Rule("weather", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]),
    ]
    [first] = complete(server, request(api, stream))
    [call] = first.tool_calls
    follow_up = (
        *ASK,
        Message("assistant", first.answer, tool_calls=first.tool_calls),
        Message("tool", "18 degrees and sunny", tool_call_id=call.id),
    )
    [then] = complete(server, request(api, stream, follow_up))
    assert (then.answer, then.finish, then.tool_calls) == (
        "It is 18 degrees and sunny in Paris.", "stop", (),
    )  # fmt: skip
    body = [r.body for r in server.requests if r.body is not None][-1]
    if api == "chat":
        assert body["messages"][2:] == [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            ]},
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
        ]  # fmt: skip
    else:
        assert body["input"][1:] == [
            {"type": "function_call", "call_id": call.id, "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": call.id, "output": "18 degrees and sunny"},
        ]  # fmt: skip


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_server_without_auto_tool_choice_refuses_auto_and_takes_the_rest(
    server: ScriptedServer, api: Api
) -> None:
    server.auto_tools = False
    server.rules = [
        Rule("weather", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    ]
    auto, implied, named, plain = complete(
        server,
        request(api, False, tool_choice="auto"),
        request(api, False),  # vLLM takes auto when tools come without a tool_choice
        request(api, False, tool_choice={"name": "get_weather"}),
        request(api, False, tools=()),
    )
    for refused in (auto, implied):
        assert (refused.status, refused.error) == (400, f"BadRequestError: {AUTO_TOOLS_REFUSED}")
    assert [c.name for c in named.tool_calls] == ["get_weather"]
    assert plain.error is None


def test_the_calls_of_a_reply_go_back_as_they_came(server: ScriptedServer) -> None:
    """A call replayed in a conversation carries the text the model sent, not a re-dump."""
    raw = '{ "city" : "Paris" }'
    server.rules = [
        Rule("weather", tool_calls=[{"name": "get_weather", "arguments": raw, "id": "c1"}])
    ]
    [first] = complete(server, request("chat", False))
    assert first.tool_calls == (ToolCall("c1", "get_weather", {"city": "Paris"}, raw),)
    turn = Message("assistant", "", tool_calls=first.tool_calls)
    sent = request("responses", False, (*ASK, turn, Message("tool", "18", tool_call_id="c1")))
    assert sent.body["input"][1]["arguments"] == raw
