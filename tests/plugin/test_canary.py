"""Canaries before gating: before a run judges answers against baselines (or with
--glm-canary), a few cheap probes check that the endpoint still behaves as the suites
assume; a failed one ends the run, exit 7, before any request of the suites is sent and
before any verdict is written. On real sockets, with the scripted server's canary model
(tests/server/app.py: CANARY_RULE, thinking 48 tokens)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.engine.canary import PROMPT
from tests.plugin.conftest import write
from tests.plugin.test_secrets import leaks
from tests.server.app import CANARY_MARK, Rule, ScriptedServer

SUITE = """
    name: math
    template: math/q.j2
    apis: [chat, responses]
    params: {max_output_tokens: 64}
    extract: 'Answer:\\s*(.+)'
    cases:
      - id: add
        vars: {q: "2+3"}
        expect: [{number: 5}]
"""
RIGHT = [Rule(match="2\\+3", answer="Answer: 5")]
CANARY_FAILED = 7


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", *args,
    )  # fmt: skip


def with_baselines(project: pytest.Pytester, server: ScriptedServer, suite: str = SUITE) -> None:
    """The suite and its baselines, written by a run; then the server forgets it."""
    write(project, "suites/math.yaml", suite)
    server.rules = RIGHT
    run(project, server, "--glm-update-baselines", "--glm-no-canary").assert_outcomes(passed=2)
    server.reset()
    server.rules = RIGHT


def canaries(server: ScriptedServer) -> list[Any]:
    return [r.body for r in server.requests if CANARY_MARK in r.prompt]


def last_summary(project: pytest.Pytester) -> dict[str, Any]:
    runs = sorted((project.path / "results" / "runs").iterdir())
    data: dict[str, Any] = json.loads((runs[-1] / "summary.json").read_text())
    return data


def stopped(project: pytest.Pytester, result: pytest.RunResult, server: ScriptedServer) -> None:
    """The run ended before the suites: no suite request, no verdict, baselines as they were."""
    assert server.suite_requests == []
    result.assert_outcomes()
    summary = last_summary(project)
    assert summary["items"] == {"pass": 0, "fail": 0, "truncated": 0, "error": 0}
    assert summary["exit_status"] == result.ret
    run_dir = project.path / "results" / "runs" / summary["run_id"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["summary.json"]


def test_a_healthy_server_passes_them_silently(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    with_baselines(project, server)
    result = run(project, server)
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    assert "canary" not in result.stdout.str()
    sent = canaries(server)
    assert len(sent) == 4  # per API: effort none, thinking on under a tiny cap
    chat = [b for b in sent if "messages" in b]
    assert {b.get("reasoning_effort") for b in chat} == {"none", None}
    assert sorted(b["max_completion_tokens"] for b in chat) == [16, 64]
    # requests through build_request, never from the cache: a second run asks again
    canary = last_summary(project)["canary"]
    assert canary["state"] == "passed"
    assert canary["sent"] == 4
    assert [(p["api"], p["probe"], p["outcome"]) for p in canary["probes"]] == [
        ("chat", "none", "ok"), ("chat", "thinking", "ok"),
        ("responses", "none", "ok"), ("responses", "thinking", "ok"),
    ]  # fmt: skip
    project.runpytest("--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider")
    project.runpytest("--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider")
    assert len(canaries(server)) == 12  # the answer cache on: the canaries are sent each run


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_an_old_server_whose_responses_ignores_effort_none_fails_the_canary(
    project: pytest.Pytester, server: ScriptedServer, workers: tuple[str, ...]
) -> None:
    with_baselines(project, server)
    before = (project.path / "results" / "baselines" / "math.json").read_text()
    server.thinking_off = "chat"  # vLLM before May 2026: Responses thinks whatever the effort
    result = run(project, server, "--glm-report=report.md", *workers)
    assert result.ret == CANARY_FAILED
    message = (
        "glm-harness: canary failed: the endpoint ignores effort none on responses (reasoning "
        "came back): its chat template or server flags changed. Nothing of the suites was "
        "sent; --glm-no-canary runs them anyway"
    )
    assert message in result.stdout.lines
    assert result.stdout.str().count("canary failed") == 1
    stopped(project, result, server)
    assert len(canaries(server)) == 4  # once for the run, also under xdist
    assert (project.path / "results" / "baselines" / "math.json").read_text() == before
    summary = last_summary(project)
    assert summary["canary"]["state"] == "failed"
    assert summary["canary"]["failures"] == [message.split(": ", 2)[2].split(". ")[0]]
    report = (project.path / "report.md").read_text()
    assert report.startswith("## glm-harness: canary failed\n")
    assert "the endpoint ignores effort none on responses" in report


def test_a_template_that_ignores_effort_none_fails_on_chat(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    with_baselines(project, server)
    server.thinking_off = "none"  # e.g. --default-chat-template-kwargs forcing thinking on
    result = run(project, server, "--glm-api=chat")
    assert result.ret == CANARY_FAILED
    result.stdout.re_match_lines(
        [r"^glm-harness: canary failed: the endpoint ignores effort none on chat \(reasoning"]
    )
    assert "on responses" not in result.stdout.str()  # only the APIs the run uses
    assert {("messages" in b) for b in canaries(server)} == {True}
    stopped(project, result, server)


def test_a_server_that_never_truncates_fails_the_cap_probe(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    with_baselines(project, server)
    server.canary = None  # scripted here: thinks a little, whatever the cap
    server.rules = [
        Rule(match=CANARY_MARK, effort="none", answer="49403"),
        Rule(match=CANARY_MARK, reasoning="127 * 389 is 49403", answer="49403"),
        *RIGHT,
    ]
    result = run(project, server, "--glm-api=chat")
    assert result.ret == CANARY_FAILED
    result.stdout.re_match_lines(
        [
            r"^glm-harness: canary failed: a cap of 16 tokens \(max_completion_tokens\) did not "
            r"truncate the reply on chat \(finish stop\): the server ignores or raises the token "
            r"cap\. Nothing"
        ]
    )
    stopped(project, result, server)


def test_a_server_without_a_reasoning_parser_fails_the_thinking_probe(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    with_baselines(project, server)
    server.canary = Rule(match=CANARY_MARK, answer="49403", finish="length")  # no reasoning
    result = run(project, server, "--glm-api=responses")
    assert result.ret == CANARY_FAILED
    assert "thinking on (effort default) gives no reasoning on responses" in result.stdout.str()


def test_a_server_that_errors_is_an_api_error_not_a_canary_failure(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    with_baselines(project, server)
    server.canary = Rule(match=CANARY_MARK, status=503, error_message="overloaded")
    result = run(project, server, "--glm-api=chat", "--glm-retries=1")
    assert result.ret == 6  # API_ERRORS
    result.stdout.re_match_lines(
        [
            r"^glm-harness: canary could not run \(chat effort none: HTTP 503: "
            r"ServiceUnavailableError: overloaded \(2 attempts\); .*\): an API error, not a "
            r"canary failure\. Nothing of the suites was sent$"
        ]
    )
    stopped(project, result, server)
    assert last_summary(project)["canary"]["state"] == "error"
    assert len(canaries(server)) == 4  # two probes, two attempts each: the retry bound


def test_budgets_are_probed_when_a_suite_uses_them(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    suite = SUITE.replace("apis: [chat, responses]", "apis: [chat]\n    budgets: [16, 1024]")
    write(project, "suites/math.yaml", suite)
    server.rules = RIGHT
    run(project, server, "--glm-canary").assert_outcomes(passed=2)
    budgets = [b.get("thinking_token_budget") for b in canaries(server)]
    assert sorted(budgets, key=str) == [16, None, None]
    # a server started without --reasoning-config refuses thinking_token_budget
    server.reset()
    server.rules, server.budgets = RIGHT, False
    result = run(project, server, "--glm-canary")
    assert result.ret == CANARY_FAILED
    result.stdout.re_match_lines(
        [r"^glm-harness: canary failed: the endpoint refuses thinking_token_budget 16 on chat: "
         r"HTTP 400: BadRequestError: thinking_token_budget is set but reasoning_config"]
    )  # fmt: skip
    stopped(project, result, server)


def test_budgets_the_server_ignores_fail_the_budget_probe(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    suite = SUITE.replace("apis: [chat, responses]", "apis: [chat]\n    budgets: [64]")
    write(project, "suites/math.yaml", suite)
    server.rules, server.budgets = RIGHT, "ignored"  # a vLLM from before thinking budgets
    result = run(project, server, "--glm-canary")
    assert result.ret == CANARY_FAILED
    result.stdout.re_match_lines(
        [r"^glm-harness: canary failed: thinking_token_budget 16 did not cut the reasoning on "
         r"chat \(48 reasoning tokens\): the server ignores thinking budgets\. Nothing"]
    )  # fmt: skip
    stopped(project, result, server)


def test_no_canary_skips_them_and_no_baselines_sends_none(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules, server.thinking_off = RIGHT, "none"  # a canary would fail
    result = run(project, server)  # no baselines, no --glm-canary: not a gating run
    result.assert_outcomes(passed=2)
    assert canaries(server) == []
    assert "canary" not in last_summary(project)
    run(project, server, "--glm-update-baselines", "--glm-no-canary").assert_outcomes(passed=2)
    assert canaries(server) == []
    result = run(project, server, "--glm-no-canary")
    result.assert_outcomes(passed=2)
    assert canaries(server) == []
    assert last_summary(project)["canary"] == {"state": "skipped", "why": "--glm-no-canary"}
    # the ini twin
    project.makeini("[pytest]\nglm_canary = never\n")
    run(project, server).assert_outcomes(passed=2)
    assert canaries(server) == []
    project.makeini("[pytest]\nglm_canary = sometimes\n")
    result = run(project, server)
    assert result.ret == 4
    result.stderr.re_match_lines([r".*ini glm_canary: 'sometimes' not allowed \(allowed: auto, "])


def test_glm_canary_probes_without_baselines_and_cache_only_skips_them(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules = RIGHT
    result = run(project, server, "--glm-canary", "--glm-api=chat")
    result.assert_outcomes(passed=1)
    assert len(canaries(server)) == 2
    assert [b["messages"][0]["content"] for b in canaries(server)] == [PROMPT, PROMPT]
    project.runpytest("--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider")
    server.reset()
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=only", "--glm-canary",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    assert server.requests == []
    result.stdout.re_match_lines([r"^canary: skipped \(--glm-cache only sends nothing\)$"])


def test_the_token_is_nowhere(
    project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "glmtok-canary-5f0c1d2e3a4b5c6d7e8f9a0b"
    monkeypatch.setenv("GLM_API_KEY", token)
    with_baselines(project, server)
    server.api_key = token
    server.version = f"0.33.0+{token}"  # a server that echoes the token everywhere
    server.canary = Rule(match=CANARY_MARK, status=400, error_message=f"bad key {token}")
    result = run(project, server, "--glm-report=report.md", "-vv", "--junitxml=junit.xml")
    assert result.ret == CANARY_FAILED
    assert "the endpoint refuses effort none on chat: HTTP 400" in result.stdout.str()
    output = "\n".join([*result.outlines, *result.errlines])
    assert leaks(token, output) == []
    for path in project.path.rglob("*"):
        if path.is_file():
            assert leaks(token, path.read_bytes()) == [], path


def test_the_local_model_is_not_probed_unless_asked(server: ScriptedServer, tmp_path: Path) -> None:
    # --glm-local points the run at llama-server's small model, which does not think: in
    # auto the canaries would always fail there, so a gating run skips them
    from harness.plugin.preflight import before_requests
    from harness.plugin.state import RunState
    from harness.settings.values import Settings

    baselines = tmp_path / "results" / "baselines"
    baselines.mkdir(parents=True)
    entry = {"outcome": "pass", "model": "SmolLM2-135M-Instruct"}
    (baselines / "math.json").write_text(
        json.dumps({"suite": "math", "version": 1, "entries": {"add[chat-default]": entry}})
    )
    item = SimpleNamespace(
        suite=SimpleNamespace(name="math"), api="chat", effort="default", budget=None
    )
    for mode, expected in (("auto", "skipped"), ("always", "passed")):
        state = RunState(
            settings=Settings(base_url=None, model="x"),
            evals_dir=tmp_path / "evals",
            suites_dir=tmp_path / "suites",
            results_dir=tmp_path / "results",
            canary_mode=mode,
        )
        state.use_local(server.url, None, None)
        try:
            before_requests(state, [item], worker=False)
        finally:
            state.close()
        assert state.canary is not None
        assert state.canary["state"] == expected
    assert len(canaries(server)) == 2  # only when asked
