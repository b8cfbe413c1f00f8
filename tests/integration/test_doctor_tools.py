"""``glm-harness doctor``'s tools lines against the scripted server, on real sockets: a
server started without ``--enable-auto-tool-choice`` is told in plain words."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from harness.doctor import command as doctor
from harness.doctor.tools import AUTO_REFUSED, PROMPT, TOOL
from tests.server.app import AUTO_TOOLS_REFUSED, Rule, ScriptedServer

OK = Rule("Reply with the word OK", answer="OK", reasoning="The user wants OK.")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], server: ScriptedServer, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="glm-harness doctor")
    doctor.add_arguments(parser)
    code = doctor.main(parser.parse_args(["--timeout", "20", "--base-url", server.url, *argv]))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def line(output: str, name: str) -> str:
    match = re.search(rf"^(ok|warn|FAIL|skip) +{name}  .*(\n {{20,}}.*)*", output, re.M)
    assert match is not None, f"no {name!r} line in:\n{output}"
    return " ".join(match.group(0).split())


def test_a_server_without_auto_tool_choice_is_told_what_to_start_it_with(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.auto_tools = False
    server.rules = [OK]
    code, out = run(capsys, server)
    assert code == 0  # tool-less suites still run: a warning, not a failure
    for api in ("chat", "responses"):
        said = line(out, f"{api} tools")
        assert said.startswith(f"warn {api} tools {AUTO_REFUSED}")
        assert f"the server said: HTTP 400: BadRequestError: {AUTO_TOOLS_REFUSED}" in said
        assert line(out, api).startswith(f"ok {api} 200")
    assert "start vLLM with --enable-auto-tool-choice --tool-call-parser glm47" in " ".join(
        out.split()
    )
    _, text = run(capsys, server, "--format", "json")
    steps = {step["name"]: step for step in json.loads(text)["steps"]}
    assert steps["chat tools"]["facts"] == {"status": 400, "attempts": 1, "accepted": False}


def test_a_server_that_calls_the_tool(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    call = {"name": TOOL.name, "arguments": {"city": "Paris"}}
    server.rules = [OK, Rule(re.escape(PROMPT), tool_calls=[call])]
    code, out = run(capsys, server)
    assert (code, "verdict: usable with warnings (1)\n" in out) == (0, True)
    assert line(out, "openapi").startswith("warn openapi GET /openapi.json: not served")
    for api in ("chat", "responses"):
        assert line(out, f"{api} tools") == (
            f'ok {api} tools tools accepted (tool_choice auto); the model called get_time({{"city": "Paris"}})'
        )  # fmt: skip
    # the tools request is a run's: the tool offered, tool_choice auto
    bodies = [r.body for r in server.requests if r.body is not None and "get_time" in r.prompt]
    assert [b["tool_choice"] for b in bodies] == ["auto", "auto"]
    assert {b["tools"][0].get("name") or b["tools"][0]["function"]["name"] for b in bodies} == {
        "get_time"
    }


def test_a_call_that_came_back_as_text_means_no_parser(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "<tool_call>get_time<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>"
    server.rules = [OK, Rule(re.escape(PROMPT), answer=text)]
    _, out = run(capsys, server)
    said = line(out, "chat tools")
    assert said.startswith("warn chat tools tools accepted, but the call came back as text")
    assert "start vLLM with --tool-call-parser glm47" in said


def test_a_model_that_answers_without_calling_is_fine(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.rules = [OK, Rule(re.escape(PROMPT), answer="It is noon.")]
    _, out = run(capsys, server)
    assert line(out, "responses tools") == (
        'ok responses tools tools accepted (tool_choice auto); the model did not call get_time '
        '(answered "It is noon.")'
    )  # fmt: skip


def test_no_tools_line_without_an_answer_and_no_escape_from_a_hostile_name(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = {"name": "get_time\x1b[2J\x07", "arguments": '{"x": "\x1b[31m"}'}
    server.rules = [OK, Rule(re.escape(PROMPT), tool_calls=[evil])]
    server.not_served = ("/v1/responses",)
    code, out = run(capsys, server)
    assert code == 1
    assert line(out, "responses tools") == "skip responses tools no answer"
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "get_time\\x1b[2J\\x07" in line(out, "chat tools")
