"""Tools against llama.cpp's llama-server (started with ``--jinja``, which tools need).

SmolLM2-135M's chat template has no tool section, so the model is never shown the tools
and never calls one: what applies here is that a server we did not write accepts every
body the harness sends with tools (each ``tool_choice``, both APIs, streamed and not),
that a tool turn reaches the model's prompt, and that the doctor says the endpoint takes
tools. A call, if the model made one, must come back parsed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.doctor.command import diagnose
from harness.engine.client import Client, build_request
from harness.local.server import MODEL_ALIAS, LocalServer
from harness.models import Api, Completion, Message, Request, Tool, ToolCall

pytestmark = pytest.mark.live

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "The weather now in a city.", CITY)
ASK = Message("user", "What is the weather in Paris? Use the tool.")
FOLLOW_UP = (
    ASK,
    Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),)),
    Message("tool", "18 degrees and sunny, a light wind from the west", tool_call_id="call_1"),
)


def request(api: Api, messages: Any, stream: bool = False, **kw: Any) -> Request:
    return build_request(
        api, messages=messages, effort="default", model=MODEL_ALIAS, stream=stream,
        params={"max_output_tokens": 8, "temperature": 0, "seed": 7}, tools=(WEATHER,), **kw,
    )  # fmt: skip


def complete(server: LocalServer, *requests: Request) -> list[Completion]:
    async def go() -> list[Completion]:
        async with Client(server.url, api_key=None, timeout=180) as client:
            return list(await asyncio.gather(*(client.complete(r) for r in requests)))

    return asyncio.run(go())


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_every_tool_choice_is_accepted_streamed_or_not(llama: LocalServer, api: Api) -> None:
    choices: list[Any] = ["auto", "required", "none", {"name": "get_weather"}, None]
    sent = [request(api, (ASK,), stream, tool_choice=c) for c in choices for stream in (False, True)]  # fmt: skip
    for done in complete(llama, *sent):
        assert (done.status, done.error) == (200, None)
        assert done.finish in ("stop", "length", "tool_calls")
        assert done.answer.strip() or done.tool_calls
        for call in done.tool_calls:
            assert call.name == "get_weather"
            assert call.error is None


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_tool_result_reaches_the_prompt(llama: LocalServer, api: Api) -> None:
    short = (*FOLLOW_UP[:-1], Message("tool", "18", tool_call_id="call_1"))
    brief, full = complete(llama, request(api, short), request(api, FOLLOW_UP))
    assert (full.status, full.error) == (200, None)
    assert full.answer.strip()
    assert brief.usage.input_tokens is not None
    assert full.usage.input_tokens is not None
    assert full.usage.input_tokens >= brief.usage.input_tokens + 8  # the tool's longer words


def test_the_doctor_says_the_endpoint_takes_tools(llama: LocalServer) -> None:
    steps = {step.name: step for step in diagnose(llama.url, MODEL_ALIAS, None, 180).steps}
    for api in ("chat", "responses"):
        step = steps[f"{api} tools"]
        assert step.status == "ok", step
        assert step.summary.startswith("tools accepted (tool_choice auto)")
        assert step.facts["accepted"] is True
