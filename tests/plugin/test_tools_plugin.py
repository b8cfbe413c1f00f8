"""Tool calls end to end, over real sockets, on both APIs, streamed and not: a right call
passes, a wrong argument fails showing the call as made, a case that must not call passes,
a follow-up after a tool result is graded on its answer; records carry the calls."""

from __future__ import annotations

import json

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]

SUITE = """
    tools: tools/weather.json
    tool_choice: auto
    apis: [chat, responses]
    cases:
      - id: paris
        prompt: "Weather in Paris?"
        expect:
          - tool_call: {name: get_weather, arguments: {city: {icontains: paris}}}
      - id: rome_three_days
        prompt: "Weather in Rome for 3 days?"
        expect:
          - tool_call: {name: get_weather, arguments: {city: Rome, days: 3}}
      - id: hello
        prompt: "Hello!"
        expect:
          - no_tool_call: true
      - id: follow_up
        messages:
          - {role: user, content: "Is it warm in Lisbon?"}
          - role: assistant
            tool_calls: [{id: call_1, name: get_weather, arguments: {city: Lisbon}}]
          - {role: tool, tool_call_id: call_1, content: '{"temp_c": 27}'}
        expect:
          - icontains: "27"
"""

RULES = [
    Rule(
        match="Weather in Paris",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
    ),
    Rule(
        match="Weather in Rome",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome", "days": 5}}],
    ),
    Rule(match="Hello", answer="Hi! Ask me about the weather."),
    Rule(match='"temp_c": 27', answer="Yes, 27 degrees."),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_tool_cases_on_both_apis(
    project: pytest.Pytester, server: ScriptedServer, stream: bool
) -> None:
    write(project, "evals/tools/weather.json", json.dumps(WEATHER))
    write(project, "suites/tools.yaml", SUITE)
    server.rules = RULES
    args = ["--glm-stream"] if stream else []
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", "-v", *args,
    )  # fmt: skip
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.re_match_lines(
        [
            r".*tools.yaml::paris\[chat-default\] PASSED.*",
            r".*tools.yaml::rome_three_days\[chat-default\] FAILED.*",
            r".*tools.yaml::hello\[responses-default\] PASSED.*",
            r".*tools.yaml::follow_up\[responses-default\] PASSED.*",
        ]
    )
    result.stdout.re_match_lines(
        [
            r"tool calls \(1\):",
            r'  get_weather\(\{"city": "Rome", "days": 5\}\)',
            r"answer: none besides the tool calls",
        ]
    )
    result.stdout.re_match_lines([r".*FAIL tool_call: get_weather: days is 5, not 3 .*"])
    bodies = [r.body for r in server.requests if r.body and "Paris" in json.dumps(r.body)]
    chat = next(b for b in bodies if "messages" in b)
    responses = next(b for b in bodies if "input" in b)
    assert chat["tools"][0]["function"]["name"] == "get_weather"
    assert chat["tool_choice"] == "auto"
    assert responses["tools"][0]["name"] == "get_weather"
    follow = [r.body for r in server.requests if r.body and "Lisbon" in json.dumps(r.body)]
    roles = [m["role"] for m in next(b for b in follow if "messages" in b)["messages"]]
    assert roles == ["user", "assistant", "tool"]
    kinds = [i.get("type", i.get("role")) for i in next(b for b in follow if "input" in b)["input"]]
    assert kinds == ["user", "function_call", "function_call_output"]
    runs = sorted((project.path / "results" / "runs").iterdir())
    records = [json.loads(x) for x in (runs[-1] / "records.jsonl").read_text().splitlines()]
    paris = [r for r in records if r["case"] == "paris"]
    assert all(r["tool_calls"][0]["name"] == "get_weather" for r in paris)
    assert all("tool_calls" not in r for r in records if r["case"] == "hello")
    result.stdout.re_match_lines([r"suite +api +effort .* calls +trunc +errors"])


def test_the_case_matrix_shows_the_calls_in_the_cell(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    write(project, "evals/tools/weather.json", json.dumps(WEATHER))
    write(project, "suites/tools.yaml", SUITE)
    server.rules = RULES
    project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", "--glm-cache=off"
    )  # fmt: skip
    run = sorted((project.path / "results" / "runs").iterdir())[-1]
    page = project.path / "page.html"
    assert main(["report", str(run), "--html", str(page)]) == 0
    text = page.read_text()
    assert 'data-label="tool calls (1)"' in text
    assert "get_weather({&quot;city&quot;: &quot;Rome&quot;, &quot;days&quot;: 5})" in text
