"""``tools:``, ``tool_choice`` and conversations with tool turns in a suite: what is
offered, what a tool call check knows, and every mistake at its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.models import Suite, Tool, ToolCall
from harness.suites.loader import load_suite

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "evals" / "tools").mkdir(parents=True)
    (tmp_path / "evals" / "tools" / "weather.json").write_text(json.dumps([WEATHER], indent=2))
    return tmp_path


def load(project: Path, text: str) -> Suite:
    path = project / "suites" / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return load_suite(path, evals_dir=project / "evals", display="suites/x.yaml")


def problems(project: Path, text: str) -> list[str]:
    with pytest.raises(SuiteError) as info:
        load(project, text)
    return [str(p) for p in info.value.problems]


def test_tools_from_a_file_are_offered_and_are_a_prompt_file(project: Path) -> None:
    suite = load(
        project,
        "prompt: Weather in Paris?\ntools: tools/weather.json\ntool_choice: auto\n"
        "expect: [{tool_call: {name: get_weather, arguments: {city: Paris}}}]\n"
        "cases: [{id: a}, {id: b, tool_choice: {name: get_weather}}]\n",
    )
    a, b = suite.cases
    assert a.tools == (
        Tool("get_weather", "The weather in a city", WEATHER["function"]["parameters"]),
    )
    assert (a.tool_choice, b.tool_choice) == ("auto", {"name": "get_weather"})
    assert "tools/weather.json" in a.files


def test_inline_tools_and_a_case_of_its_own(project: Path) -> None:
    other = {"type": "function", "function": {"name": "send_mail"}}
    text = (
        "prompt: hi\n"
        f"tools: [{json.dumps(WEATHER)}]\n"
        "expect: [{no_tool_call: true}]\n"
        f"cases:\n  - id: a\n  - id: b\n    tools: [{json.dumps(other)}]\n"
        "    expect: [{tool_call: send_mail}]\n"
    )
    a, b = load(project, text).cases
    assert [t.name for t in a.tools] == ["get_weather"]
    assert [t.name for t in b.tools] == ["send_mail"]
    assert b.tools[0].parameters == {"type": "object", "properties": {}}


def test_a_check_naming_a_tool_not_offered_fails_collection(project: Path) -> None:
    found = problems(
        project,
        "prompt: hi\ntools: tools/weather.json\nexpect: [{tool_call: get_wether}]\ncases: [{id: a}]\n",
    )
    assert found == [
        "suites/x.yaml:3: expect[0].tool_call: 'get_wether' is not offered to the model (get_weather)"
    ]


def test_mistakes_in_a_tools_file_are_shown_at_its_lines(project: Path) -> None:
    broken = [
        WEATHER,
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "function", "function": {"name": "bad name!"}},
        {"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}},
        {"type": "tool", "function": {"name": "g"}},
    ]
    (project / "evals" / "tools" / "broken.json").write_text(json.dumps(broken, indent=2))
    found = problems(project, "prompt: hi\ntools: tools/broken.json\ncases: [{id: a}]\n")
    assert any(
        p.startswith("evals/tools/broken.json:") and "[2].function.name" in p for p in found
    ), found
    assert any(p.startswith("evals/tools/broken.json:") and "[4].type" in p for p in found), found
    found = problems(
        project,
        "prompt: hi\ntools: tools/weather.json\ncases: [{id: a}]\n".replace("weather", "nope"),
    )
    assert found == ["evals/tools/nope.json:1: tools file 'tools/nope.json' not found under evals/"]


def test_the_same_name_twice_and_a_bad_parameters_schema(project: Path) -> None:
    twice = [WEATHER, WEATHER]
    (project / "evals" / "tools" / "twice.json").write_text(json.dumps(twice, indent=2))
    found = problems(project, "prompt: hi\ntools: tools/twice.json\ncases: [{id: a}]\n")
    assert len(found) == 1
    assert "tool 'get_weather' is offered twice (first at line" in found[0]
    bad = [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]
    (project / "evals" / "tools" / "bad.json").write_text(json.dumps(bad, indent=2))
    found = problems(project, "prompt: hi\ntools: tools/bad.json\ncases: [{id: a}]\n")
    assert len(found) == 1
    assert found[0].startswith("evals/tools/bad.json:6: [0].function.parameters:")


def test_tool_choice_must_name_an_offered_tool(project: Path) -> None:
    found = problems(
        project,
        "prompt: hi\ntools: tools/weather.json\ntool_choice: {name: get_time}\ncases: [{id: a}]\n",
    )
    assert found == [
        "suites/x.yaml:3: tool_choice: tool_choice names 'get_time', which is not offered (get_weather)"
    ]
    found = problems(project, "prompt: hi\ntool_choice: auto\ncases: [{id: a}]\n")
    assert found == ["suites/x.yaml:2: tool_choice: tool_choice without tools: set tools: too"]


CONVERSATION = """
tools: tools/weather.json
messages:
  - {role: user, content: "Weather in {{ city }}?"}
  - role: assistant
    tool_calls: [{id: call_1, name: get_weather, arguments: {city: "{{ city }}"}}]
  - {role: tool, tool_call_id: call_1, content: '{"temp_c": 21}'}
expect: [{icontains: "21"}]
cases: [{id: a, vars: {city: Paris}}]
"""


def test_a_conversation_carries_the_calls_and_the_tool_result(project: Path) -> None:
    [case] = load(project, CONVERSATION).cases
    user, assistant, tool = case.messages
    assert user.content == "Weather in Paris?"
    assert (assistant.role, assistant.content) == ("assistant", "")
    assert assistant.tool_calls == (  # its arguments rendered with the vars too
        ToolCall("call_1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),
    )
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "call_1", '{"temp_c": 21}')


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ("{role: tool, content: x}", "messages[0]: a tool turn needs tool_call_id: the id of the call it answers"),
        ("{role: user, content: x, tool_call_id: c}", "messages[0].tool_call_id: only a tool turn answers a call"),
        ("{role: user, tool_calls: [{name: f}]}", "messages[0].tool_calls: only an assistant turn makes tool calls"),
        ("{role: assistant}", "messages[0]: a message needs exactly one of content or template"),
        ("{role: user, content: a, template: b}", "messages[0]: a message needs exactly one of content or template"),
    ],
)  # fmt: skip
def test_turn_mistakes(project: Path, turn: str, expected: str) -> None:
    found = problems(project, f"messages: [{turn}]\ncases: [{{id: a}}]\n")
    assert any(p.endswith(expected) for p in found), found
