"""Streaming through the plugin: both APIs, first-token times in records and the table,
and SSE streams that fail or stop before their end are retried, then stated as errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import write
from tests.server.app import Fault, Rule, ScriptedServer

SUITE = """
    prompt: "Say {{ word }}"
    apis: [chat, responses]
    stream: true
    params: {max_output_tokens: 64}
    cases:
      - {id: ok, vars: {word: ok}, expect: [{contains: fine}]}
      - {id: recovers, vars: {word: recovers}, expect: [{contains: fine}]}
      - {id: cut, vars: {word: cut}, expect: [{contains: fine}]}
      - {id: broken, vars: {word: broken}, expect: [{contains: fine}]}
"""


def records(root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    [run] = list((root / "results" / "runs").iterdir())
    lines = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    return {(r["case"], r["api"]): r for r in lines}


def test_streamed_runs_record_first_tokens_and_state_stream_faults(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/s.yaml", SUITE)
    server.rules = [
        Rule(
            match="Say ok",
            answer="all fine here",
            reasoning="let me think about it",
            stream_delay=0.02,
        ),
        Rule(
            match="recovers",
            answer="fine",
            reasoning="r",
            faults=[Fault(kind="stream_cut"), Fault(kind="stream_error")],
        ),
        Rule(match="Say cut", answer="fine", reasoning="r", faults=[Fault(kind="stream_cut")] * 10),
        Rule(
            match="broken",
            answer="fine",
            reasoning="r",
            faults=[Fault(kind="stream_error", message="engine died")] * 10,
        ),
    ]
    result = project.runpytest(
        "--glm-suite",
        f"--glm-base-url={server.url}",
        "-p",
        "no:cacheprovider",
        "--glm-retries=2",
        "-v",
    )
    result.assert_outcomes(passed=4, errors=4)
    assert all(r.body.get("stream") is True for r in server.suite_requests)
    assert {r.headers["accept"] for r in server.suite_requests} == {"text/event-stream"}
    chat_bodies = [r.body for r in server.suite_requests if r.path == "/v1/chat/completions"]
    assert all(b["stream_options"] == {"include_usage": True} for b in chat_bodies)
    by = records(project.path)
    for api in ("chat", "responses"):
        ok = by[("ok", api)]
        assert ok["answer"] == "all fine here"
        assert ok["reasoning"] == "let me think about it"
        assert ok["usage"]["output_tokens"] > 0
        assert 0 < ok["first_reasoning_ms"] < ok["first_answer_ms"] <= ok["latency_ms"]
        assert by[("recovers", api)]["outcome"] == "pass"
        assert by[("recovers", api)]["attempts"] == 2  # the rule's two faults: one per API
        cut = by[("cut", api)]
        assert cut["outcome"] == "error"
        assert cut["attempts"] == 3  # 1 + --glm-retries, never more
        assert "(3 attempts)" in cut["error"]
        broken = by[("broken", api)]
        assert broken["outcome"] == "error"
        assert "engine died" in broken["error"]
        assert broken["error"].endswith("(3 attempts)")
    assert server.requests_for("recovers") == 4
    assert server.requests_for("Say cut") == 6
    assert server.requests_for("broken") == 6
    result.stdout.re_match_lines([r"\s*suite\s+api\s+effort\s+cases.*1st tok ms.*"])
