"""harness.engine.requests with tools: offered tools, tool_choice, assistant turns that
called and tool turns, on both APIs (docs/requests.md)."""

# Table rows stay one case a line (`# fmt: skip`), so some lines run past 100 columns.

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pytest

from harness.engine.requests import build_request
from harness.models import Api, Message, Tool, ToolCall

M = "zai-org/GLM-4.7-Flash"
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "The weather now in a city.", MappingProxyType(CITY))
CLOCK = Tool("get_time")  # no description, no parameters
ASK = (Message("user", "Weather in Paris?"),)
CALL = ToolCall("call_1", "get_weather", {"city": "Paris"})
FOLLOW_UP = (
    Message("system", "Use the tools."),
    *ASK,
    Message("assistant", "", tool_calls=(CALL,)),
    Message("tool", '{"temp_c": 18}', tool_call_id="call_1"),
)


def build(api: Api, messages: Any = ASK, **kw: Any) -> dict[str, Any]:
    return dict(
        build_request(api, messages=messages, effort="default", params={}, model=M, **kw).body
    )


def test_tools_on_chat_are_nested_under_function_and_an_empty_description_is_left_out() -> None:
    assert build("chat", tools=(WEATHER, CLOCK))["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "description": "The weather now in a city.", "parameters": CITY}},
        {"type": "function", "function": {"name": "get_time", "parameters": {}}},
    ]  # fmt: skip


def test_tools_on_responses_are_flat() -> None:
    assert build("responses", tools=(WEATHER, CLOCK))["tools"] == [
        {"type": "function", "name": "get_weather", "description": "The weather now in a city.", "parameters": CITY},
        {"type": "function", "name": "get_time", "parameters": {}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("api", "choice", "sent"),
    [
        ("chat", "auto", "auto"),
        ("chat", "required", "required"),
        ("chat", "none", "none"),
        ("chat", {"name": "get_time"}, {"type": "function", "function": {"name": "get_time"}}),
        ("chat", MappingProxyType({"name": "get_time"}), {"type": "function", "function": {"name": "get_time"}}),
        ("responses", "auto", "auto"),
        ("responses", "required", "required"),
        ("responses", "none", "none"),
        ("responses", {"name": "get_time"}, {"type": "function", "name": "get_time"}),
    ],
)  # fmt: skip
def test_every_tool_choice(api: Api, choice: Any, sent: Any) -> None:
    body = build(api, tools=(WEATHER, CLOCK), tool_choice=choice)
    assert body["tool_choice"] == sent
    assert list(body)[-2:] == ["tools", "tool_choice"]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_no_tool_choice_is_sent_unless_given(api: Api) -> None:
    assert "tool_choice" not in build(api, tools=(WEATHER,))  # vLLM then takes auto


@pytest.mark.parametrize(
    ("tools", "choice", "said"),
    [
        ((WEATHER,), "sometimes", "tool_choice must be auto, required, none or {name: <tool>}, got 'sometimes'"),
        ((WEATHER,), {"name": "get_time"}, "tool_choice names 'get_time', which is not offered (get_weather)"),
        ((WEATHER,), {"name": "get_weather", "type": "function"}, "a named tool_choice is {name: <tool>}"),
        ((WEATHER,), {"name": 3}, "a named tool_choice is {name: <tool>}"),
        ((), "auto", "tool_choice 'auto' needs tools to choose from"),
        ((), "required", "tool_choice 'required' needs tools to choose from"),
        ((), {"name": "get_time"}, "which is not offered (none)"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_tool_choice_vllm_would_refuse_is_refused_here(
    api: Api, tools: tuple[Tool, ...], choice: Any, said: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        build(api, tools=tools, tool_choice=choice)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_tool_choice_none_without_tools_is_sent(api: Api) -> None:
    assert build(api, tool_choice="none")["tool_choice"] == "none"


def test_a_follow_up_after_a_tool_result_on_chat() -> None:
    assert build("chat", FOLLOW_UP, tools=(WEATHER,))["messages"] == [
        {"role": "system", "content": "Use the tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
    ]  # fmt: skip


def test_a_follow_up_after_a_tool_result_on_responses() -> None:
    body = build("responses", FOLLOW_UP, tools=(WEATHER,))
    assert body["instructions"] == "Use the tools."
    assert body["input"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 18}'},
    ]  # fmt: skip


TWO_CALLS = Message(
    "assistant",
    "Looking both up.",
    name="glm",
    tool_calls=(
        ToolCall("a", "get_weather", {"city": "Zürich"}),
        ToolCall("b", "get_time", None, raw='{"city":"Oslo"}'),  # the text as the model sent it
    ),
)


def test_an_assistant_turn_with_text_and_calls_on_chat() -> None:
    [message] = build("chat", (TWO_CALLS,))["messages"]
    assert message == {
        "role": "assistant", "content": "Looking both up.", "name": "glm",
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'}},
            {"id": "b", "type": "function", "function": {"name": "get_time", "arguments": '{"city":"Oslo"}'}},
        ],
    }  # fmt: skip


def test_an_assistant_turn_with_text_and_calls_on_responses() -> None:
    assert build("responses", (TWO_CALLS,))["input"] == [
        {"role": "assistant", "content": "Looking both up."},  # no name: Responses has none
        {"type": "function_call", "call_id": "a", "name": "get_weather", "arguments": '{"city": "Zürich"}'},
        {"type": "function_call", "call_id": "b", "name": "get_time", "arguments": '{"city":"Oslo"}'},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (ToolCall("x", "f"), "{}"),  # no arguments
        (ToolCall("x", "f", {}), "{}"),
        (ToolCall("x", "f", MappingProxyType({"n": (1, 2)})), '{"n": [1, 2]}'),
        (ToolCall("x", "f", {"n": 1}, raw='{ "n" : 1 }'), '{ "n" : 1 }'),  # raw wins
        (ToolCall("x", "f", None, raw="{oops", error="not JSON"), "{oops"),
    ],
)
def test_a_calls_arguments_go_out_as_json_text(call: ToolCall, text: str) -> None:
    turn = (Message("assistant", "", tool_calls=(call,)),)
    assert build("chat", turn)["messages"][0]["tool_calls"][0]["function"]["arguments"] == text
    assert build("responses", turn)["input"][0]["arguments"] == text


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_tool_turn_without_the_id_it_answers_is_refused(api: Api) -> None:
    with pytest.raises(ValueError, match="a tool turn needs the tool_call_id"):
        build(api, (*ASK, Message("tool", "18")))


def test_a_prompt_with_a_tool_turn_is_never_the_plain_input_string() -> None:
    assert build("responses", (Message("tool", "18", tool_call_id="c"),))["input"] == [
        {"type": "function_call_output", "call_id": "c", "output": "18"}
    ]
    assert build("responses", (Message("user", "hi", tool_calls=(CALL,)),))["input"] != "hi"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_without_tools_the_bodies_are_those_of_before(api: Api) -> None:
    plain = build(api)
    assert build(api, tools=(), tool_choice=None) == plain
    assert plain == (
        {"model": M, "messages": [{"role": "user", "content": "Weather in Paris?"}]}
        if api == "chat"
        else {"model": M, "input": "Weather in Paris?"}
    )
    few_shot = (Message("user", "1+1?"), Message("assistant", ""), Message("user", "2+2?"))
    turns = build(api, few_shot)["messages" if api == "chat" else "input"]
    assert turns[1] == {"role": "assistant", "content": ""}  # not null: no calls


def test_tools_come_after_the_other_fields_and_before_stream_and_extra() -> None:
    params = {"max_output_tokens": 9, "extra": {"zz": 1}}
    body = build_request(
        "chat", messages=ASK, effort="high", params=params, model=M, tools=(WEATHER,),
        tool_choice="auto", stream=True, budget=5,
    ).body  # fmt: skip
    assert list(body) == [
        "model", "messages", "max_completion_tokens", "reasoning_effort", "thinking_token_budget",
        "tools", "tool_choice", "stream", "stream_options", "zz",
    ]  # fmt: skip
    extra = {"extra": {"tool_choice": "none"}}
    override = build_request(
        "responses", messages=ASK, effort="default", params=extra, model=M, tools=(WEATHER,),
        tool_choice="auto",
    ).body  # fmt: skip
    assert override["tool_choice"] == "none"  # extra is merged last, as for every field
