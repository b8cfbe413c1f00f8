"""The request engine through the plugin: records, summary, cache modes, retries, xdist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

SUITE = """
    name: pair
    prompt: "Say {{ word }}"
    apis: [chat, responses]
    samples: 2
    cases:
      - id: hello
        vars: {word: hello}
        expect: [{contains: hello}]
      - id: bye
        vars: {word: bye}
        expect: [{contains: bye}]
"""
RULES = [
    Rule(match="hello", answer="hello there", reasoning="greet"),
    Rule(match="bye", answer="bye now"),
]


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", *args
    )


def run_dirs(root: Path) -> list[Path]:
    return sorted((root / "runs").iterdir()) if (root / "runs").exists() else []


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def test_each_sample_is_recorded_and_the_run_summarised(
    project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "test-token-records-0123456789"
    monkeypatch.setenv("GLM_API_KEY", token)
    write(project, "suites/pair.yaml", SUITE)
    server.rules = RULES
    result = run(project, server)
    result.assert_outcomes(passed=4)
    [run_dir] = run_dirs(project.path / "results")
    lines = records(run_dir)
    assert len(lines) == 8  # 2 cases x 2 apis x 2 samples
    assert {(r["case"], r["api"], r["sample"]) for r in lines} == {
        (c, a, s) for c in ("hello", "bye") for a in ("chat", "responses") for s in (0, 1)
    }
    hello = next(r for r in lines if r["case"] == "hello" and r["api"] == "chat")
    assert hello["suite"] == "pair"
    assert hello["effort"] == "default"
    assert hello["answer"] == "hello there"
    assert hello["reasoning"] == "greet"
    assert hello["request"]["path"] == "/v1/chat/completions"
    assert hello["request"]["body"]["messages"] == [{"role": "user", "content": "Say hello"}]
    assert hello["usage"]["output_tokens"] > 0
    assert hello["latency_ms"] > 0
    assert hello["cached"] is False
    assert hello["attempts"] == 1
    assert hello["checks"] == [
        {
            "name": "contains",
            "passed": True,
            "observed": True,
            "detail": "",
            "weight": 1.0,
            "children": [],
        }
    ]
    assert hello["score"] == 1.0
    assert hello["outcome"] == "pass"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["items"] == {"pass": 4, "fail": 0, "truncated": 0, "error": 0}
    assert summary["samples"]["pass"] == 8
    assert summary["requests"]["sent"] == 8
    assert summary["requests"]["cached"] == 0
    assert summary["interrupted"] is False
    assert summary["exit_status"] == 0
    assert [g["api"] for g in summary["groups"]] == ["chat", "responses"]
    result.stdout.re_match_lines([rf"records: results/runs/{run_dir.name}/records.jsonl"])
    written = [p for p in project.path.rglob("*") if p.is_file()]
    assert not [p for p in written if token in p.read_text(errors="replace")]


def test_a_warm_cache_sends_nothing_and_keeps_the_original_latency(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/pair.yaml", SUITE)
    server.rules = RULES
    run(project, server).assert_outcomes(passed=4)
    first = {
        (r["case"], r["api"], r["sample"]): r
        for r in records(run_dirs(project.path / "results")[0])
    }
    server.reset()
    result = run(project, server)
    result.assert_outcomes(passed=4)
    assert server.suite_requests == []
    result.stdout.re_match_lines(
        [r"requests: 8 samples, 8 from cache, 0 sent \(0 retries\), 0 failed.*"]
    )
    second = records(run_dirs(project.path / "results")[1])
    assert all(r["cached"] for r in second)
    assert all(r["attempts"] == 0 for r in second)
    for rec in second:
        assert rec["latency_ms"] == first[(rec["case"], rec["api"], rec["sample"])]["latency_ms"]
    cache_files = list((project.path / "results" / ".cache").rglob("*.json"))
    assert len(cache_files) == 8


def test_refresh_refetches_and_only_replays_offline(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/pair.yaml", SUITE)
    server.rules = RULES
    run(project, server, "-k", "hello").assert_outcomes(passed=2)
    run(project, server, "-k", "hello", "--glm-cache=refresh").assert_outcomes(passed=2)
    assert len(server.suite_requests) == 8
    server.reset()
    result = run(project, server, "--glm-cache=only", "-v")
    assert server.suite_requests == []
    result.stdout.re_match_lines(
        [r".*hello\[chat-default\] PASSED.*", r".*bye\[chat-default\] ERROR.*"]
    )
    result.stdout.re_match_lines(
        [r"case bye \(suites/pair.yaml:\d+\)  api: chat.*", r"error: not in the cache.*"]
    )


def test_errors_and_truncations_are_not_cached(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/pair.yaml", SUITE)
    server.rules = [
        Rule(match="hello", finish="length", content_null=True, reasoning="..."),
        Rule(match="bye", status=400, error_message="bad request"),
    ]
    run(project, server, "--glm-api=chat")
    run(project, server, "--glm-api=chat")
    assert len(server.suite_requests) == 8
    assert not (project.path / "results" / ".cache").exists()


def test_results_folder_option(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/pair.yaml", SUITE)
    server.rules = RULES
    run(project, server, "--glm-results=out/here", "-k", "hello and chat").assert_outcomes(passed=1)
    assert len(run_dirs(project.path / "out" / "here")) == 1
    assert not (project.path / "results").exists()


def test_failures_are_retried_up_to_the_bound(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/pair.yaml", SUITE)
    server.rules = [
        Rule(match="hello", status=503, error_message="overloaded"),
        Rule(match="bye", status=400, error_message="no such field"),
    ]
    result = run(project, server, "--glm-api=chat", "--glm-retries=2", "--glm-samples=1")
    hello = [r for r in server.suite_requests if "hello" in json.dumps(r.body)]
    bye = [r for r in server.suite_requests if "bye" in json.dumps(r.body)]
    assert result.ret == 6  # API errors and nothing worse
    assert len(hello) == 3  # 1 + 2 retries, never more
    assert len(bye) == 1  # a 400 is never retried
    result.stdout.re_match_lines_random(
        [
            r"error: HTTP 503.*overloaded.*\(3 attempts\)",
            r"error: HTTP 400.*no such field.*\(1 attempt\)",
        ]
    )
    result.stdout.re_match_lines(
        [r"requests: 2 samples, 0 from cache, 4 sent \(2 retries\), 2 failed.*"]
    )


def test_xdist_workers_share_the_work_without_sending_twice(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    pytest.importorskip("xdist")
    write(project, "suites/pair.yaml", SUITE)
    server.rules = RULES
    result = run(project, server, "-n", "2")
    result.assert_outcomes(passed=4)
    assert len(server.suite_requests) == 8
    [run_dir] = run_dirs(project.path / "results")
    assert len(records(run_dir)) == 8
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["items"]["pass"] == 4
    assert summary["requests"]["sent"] == 8
