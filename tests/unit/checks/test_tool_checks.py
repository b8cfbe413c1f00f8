"""The tool call checks: what the model called, with which arguments, against what it was
offered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from harness.checks.registry import CheckContext, build_check
from harness.errors import CheckSpecError
from harness.models import Completion, Subject, ToolCall, Usage

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "units": {"enum": ["c", "f"]}},
    "required": ["city"],
}
CTX = CheckContext(
    load_schema=lambda name: {},
    tools={"get_weather": WEATHER, "send_mail": {"type": "object"}},
)


def call(
    name: str, arguments: Any = None, raw: str | None = None, error: str | None = None
) -> ToolCall:
    text = raw if raw is not None else ("" if arguments is None else str(arguments))
    return ToolCall(f"id-{name}", name, arguments, text, error)


PARIS = call("get_weather", {"city": "Paris", "units": "c"})
ROME = call("get_weather", {"city": "Rome"})
MAIL = call("send_mail", {"to": "ada@example.org"})
NOT_OFFERED = call("delete_all", {})
NUMBER_CITY = call("get_weather", {"city": 5})
BROKEN = call("get_weather", None, '{"city": "Par', "not JSON: Unterminated string")


def graded(spec: Mapping[str, Any], *calls: ToolCall) -> tuple[bool, Any, str]:
    _, check = build_check(spec, CTX)
    completion = Completion("", "", Usage(), "tool_calls", False, 1.0, 200, tool_calls=calls)
    result = check(Subject(text="", value="", completion=completion))
    return result.passed, result.observed, result.detail


@pytest.mark.parametrize(("spec", "calls", "passed", "detail"), [
    ({"tool_call": "get_weather"}, [PARIS], True, ""),
    ({"tool_call": "get_weather"}, [], False, "no tool call was made"),
    ({"tool_call": "get_weather"}, [MAIL, PARIS], False, "called 'send_mail', not 'get_weather'"),
    ({"tool_call": {"name": "get_weather", "index": 1}}, [MAIL, PARIS], True, ""),
    ({"tool_call": {"name": "get_weather", "index": 2}}, [MAIL, PARIS], False, "no call at index 2 (2 calls made)"),
    ({"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}, [PARIS], True, ""),
    ({"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}, [ROME], False, "get_weather: city is 'Rome', not 'Paris'"),
    ({"tool_call": {"name": "get_weather", "arguments": {"units": "c"}}}, [ROME], False, "get_weather: no argument 'units'"),
    ({"tool_call": {"name": "get_weather", "arguments": {"city": {"icontains": "paris"}}}}, [PARIS], True, ""),
    ({"tool_call": {"name": "get_weather", "arguments": {"city": {"icontains": "paris"}}}}, [ROME], False, "get_weather: city: icontains: 'paris' not in answer (ignoring case)"),
    ({"tool_call": "get_weather"}, [NUMBER_CITY], False, "the arguments of 'get_weather' do not fit its parameters: /city: 5 is not of type 'string'"),
    ({"tool_call": "get_weather"}, [BROKEN], False, "the arguments of 'get_weather' cannot be read: not JSON: Unterminated string"),
    ({"tool_call": "send_mail"}, [NOT_OFFERED], False, "'delete_all' was not offered (offered: get_weather, send_mail)"),
    ({"tool_calls": [{"name": "send_mail"}, {"name": "get_weather"}]}, [MAIL, PARIS], True, ""),
    ({"tool_calls": [{"name": "get_weather"}, {"name": "send_mail"}]}, [MAIL, PARIS], False, "call 0: called 'send_mail', not 'get_weather'"),
    ({"tool_calls": {"calls": [{"name": "get_weather"}, {"name": "send_mail"}], "order": "any"}}, [MAIL, PARIS], True, ""),
    ({"tool_calls": {"calls": [{"name": "get_weather"}], "order": "any"}}, [MAIL, PARIS], True, ""),
    ({"tool_calls": [{"name": "get_weather"}]}, [MAIL, PARIS], False, "2 calls made, 1 expected"),
    ({"tool_calls": {"calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}], "order": "any"}}, [PARIS, ROME], False, "no call matches calls[0]"),
    ({"tool_calls": [{"name": "get_weather"}]}, [NOT_OFFERED], False, "'delete_all' was not offered (offered: get_weather, send_mail)"),
    ({"no_tool_call": True}, [], True, ""),
    ({"no_tool_call": True}, [PARIS], False, '1 tool call(s) made: get_weather({"city": "Paris", "units": "c"})'),
    ({"no_tool_call": False}, [PARIS], True, ""),
    ({"tool_call_count": {"min": 1, "max": 2}}, [PARIS, MAIL], True, ""),
    ({"tool_call_count": {"max": 1}}, [PARIS, MAIL], False, "2 calls made (min None, max 1)"),
])  # fmt: skip
def test_tool_checks(
    spec: Mapping[str, Any], calls: list[ToolCall], passed: bool, detail: str
) -> None:
    found, _, said = graded(spec, *calls)
    assert (found, said) == (passed, detail)


def test_every_check_observes_the_calls_as_made() -> None:
    _, observed, _ = graded({"tool_call": "get_weather"}, PARIS, BROKEN)
    assert observed == [
        {"name": "get_weather", "arguments": {"city": "Paris", "units": "c"}},
        {
            "name": "get_weather",
            "arguments": '{"city": "Par',
            "error": "not JSON: Unterminated string",
        },
    ]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"tool_call": "get_wether"}, "tool_call", "'get_wether' is not offered to the model (get_weather, send_mail)"),
        ({"tool_call": {"name": "get_weather", "index": -1}}, "tool_call.index", "-1 is not a call's place (0, 1, ...)"),
        ({"tool_call": {"name": "get_weather", "arguments": {"city": {"icontains": 5}}}}, "tool_call.arguments.city.icontains", ""),
        ({"tool_calls": {"calls": [{"name": "get_weather"}], "order": "sorted"}}, "tool_calls.order", "'sorted' is not allowed (allowed: exact, any)"),
        ({"tool_calls": [{"name": "get_weather", "args": {}}]}, "tool_calls[0]", "a call is {name, arguments}"),
        ({"tool_call_count": {}}, "tool_call_count", "set min, max or both"),
        ({"tool_call_count": {"min": 3, "max": 1}}, "tool_call_count.min", "3 is greater than max 1"),
    ],
)  # fmt: skip
def test_spec_mistakes_name_the_key(spec: Mapping[str, Any], path: str, message: str) -> None:
    with pytest.raises(CheckSpecError) as info:
        build_check(spec, CTX)
    assert info.value.path == path
    assert message in info.value.message


def test_without_offered_tools_any_name_is_taken_and_nothing_is_validated() -> None:
    _, check = build_check({"tool_call": "anything"}, CheckContext(load_schema=lambda n: {}))
    completion = Completion(
        "", "", Usage(), "tool_calls", False, 1.0, 200, tool_calls=(call("anything", {"x": 1}),)
    )
    assert check(Subject("", "", completion)).passed
