"""Answers no one expects, through the whole plugin: each item ends in a stated outcome and
nothing crashes.

- a multi-megabyte answer (and reasoning): the records keep RECORD_TEXT_CAP characters with
  a marker and the original length, the failure report a shortened answer; the cache keeps
  all of it and replays it exactly;
- NUL bytes and other control characters: JSON escapes in the records, escapes in the
  failure report (never raw on the terminal); exact in the cache;
- a lone surrogate (a JSON ``\\ud83d`` escape with no pair): graded, cached exactly;
- a body that is not valid UTF-8: an ``error`` outcome, retried like malformed JSON;
- only reasoning (content null, finish stop) and an empty answer: a ``fail`` of the
  checks, never ``truncated``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (kept for the session: see test_fault_matrix.py)
import pytest

from harness.gate.records import RECORD_TEXT_CAP, capped
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

RETRIES = 2
HUGE = "lorem ipsum " * 250_000 + "HUGE-END"  # 3,000,008 characters
HUGE_REASONING = "thinking " * 250_000  # 2,250,000 characters
CONTROLS = (
    "nul\x00here \x01\x02 esc\x1b[2J bell\x07 del\x7f cr\r nel\x85 ls\u2028ps\u2029 tab\t nl\n end"
)
SURROGATE = "half \ud83d emoji"
BAD_UTF8 = (
    b'{"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": [{"index": 0, '
    b'"message": {"role": "assistant", "content": "caf\xe9 au lait"}, "finish_reason": "stop"}], '
    b'"usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}'
)
THOUGHT = "The answer should be 42, let me check that once more"

SUITE = """
name: odd
prompt: "Case {{ word }}"
apis: [chat]
params: {max_output_tokens: 100000}
cases:
  - {id: huge, vars: {word: huge}, expect: [{contains: HUGE-END}]}
  - {id: hugefail, vars: {word: hugefail}, expect: [{equals: short answer}]}
  - {id: controls, vars: {word: controls}, expect: [{contains: end}]}
  - {id: controlsfail, vars: {word: controlsfail}, expect: [{contains: absent}]}
  - {id: surrogate, vars: {word: surrogate}, expect: [{contains: emoji}]}
  - {id: badutf8, vars: {word: badutf8}, expect: [{contains: lait}]}
  - id: thinkonly
    vars: {word: thinkonly}
    apis: [chat, responses]
    expect: [{finished: true}, {contains: "42"}]
  - {id: empty, vars: {word: empty}, expect: [{contains: "42"}]}
"""
ITEMS = 9


def rules() -> list[Rule]:
    return [
        Rule(match=r"\bhuge\b", answer=HUGE, reasoning=HUGE_REASONING),
        Rule(match=r"\bhugefail\b", answer=HUGE),
        Rule(match=r"\bcontrols(fail)?\b", answer=CONTROLS),
        Rule(match=r"\bsurrogate\b", answer=SURROGATE),
        Rule(match=r"\bbadutf8\b", raw_bytes=BAD_UTF8),
        Rule(match=r"\bthinkonly\b", content_null=True, reasoning=THOUGHT, finish="stop"),
        Rule(match=r"\bempty\b", answer=""),
    ]


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite",
        f"--glm-base-url={server.url}",
        f"--glm-retries={RETRIES}",
        "-p",
        "no:cacheprovider",
        *args,
    )


def run_records(run_dir: Path) -> tuple[dict[tuple[str, str], dict[str, Any]], list[bytes]]:
    raw = (run_dir / "records.jsonl").read_bytes()
    text = raw.decode("utf-8")  # the whole file is valid UTF-8
    lines = text.splitlines()  # U+0085, U+2028, U+2029 are escaped: no line is split
    assert len(lines) == text.count("\n") == ITEMS
    parsed = [json.loads(line) for line in lines]
    return {(r["case"], r["api"]): r for r in parsed}, raw.split(b"\n")[:-1]


def test_odd_answers_end_in_stated_outcomes_and_stay_bounded(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/odd.yaml", SUITE)
    server.rules = rules()
    result = run(project, server, "-v")
    assert result.ret == 1  # failing items; no crash, no internal error
    result.assert_outcomes(passed=3, failed=5, errors=1)
    assert "INTERNALERROR" not in result.stdout.str()

    [run_dir] = sorted((project.path / "results" / "runs").iterdir())
    recs, raw_lines = run_records(run_dir)
    outcomes = {key: r["outcome"] for key, r in recs.items()}
    assert outcomes == {
        ("huge", "chat"): "pass",
        ("hugefail", "chat"): "fail",
        ("controls", "chat"): "pass",
        ("controlsfail", "chat"): "fail",
        ("surrogate", "chat"): "pass",
        ("badutf8", "chat"): "error",
        ("thinkonly", "chat"): "fail",
        ("thinkonly", "responses"): "fail",
        ("empty", "chat"): "fail",
    }

    # (a) multi-megabyte: capped with a marker and the original length
    huge = recs[("huge", "chat")]
    assert (
        huge["answer"] == HUGE[:RECORD_TEXT_CAP] + f"... [{len(HUGE) - RECORD_TEXT_CAP} more chars]"
    )
    assert huge["answer"] == capped(HUGE)
    assert huge["answer_chars"] == len(HUGE) == 3_000_008
    assert huge["reasoning"] == capped(HUGE_REASONING)
    assert huge["reasoning"].endswith(f"... [{len(HUGE_REASONING) - RECORD_TEXT_CAP} more chars]")
    assert huge["reasoning_chars"] == len(HUGE_REASONING)
    hugefail = recs[("hugefail", "chat")]
    assert hugefail["answer_chars"] == len(HUGE)
    assert "reasoning_chars" not in hugefail  # nothing cut there
    [equals] = hugefail["checks"]
    assert (equals["name"], equals["passed"]) == ("equals", False)
    assert equals["observed"] == capped(HUGE)  # the observed answer is capped too
    assert max(len(line) for line in raw_lines) < 2 * RECORD_TEXT_CAP + 10_000
    assert all("answer_chars" not in r for k, r in recs.items() if k[0] not in ("huge", "hugefail"))
    # ... and the failure report shows a shortened answer
    result.stdout.re_match_lines(
        [
            rf"answer \({len(HUGE)} chars\):",
            rf"  lorem ipsum .*\.\.\. \[{len(HUGE) - 1200} more chars\]",
        ]
    )

    # (b) control characters: JSON escapes in the records, read back exactly
    for case in ("controls", "controlsfail"):
        assert recs[(case, "chat")]["answer"] == CONTROLS
    controls_line = next(line for line in raw_lines if b'"case": "controls"' in line)
    for escape in (b"\\u0000", b"\\u001b", b"\\u2028", b"\\u0085"):
        assert escape in controls_line
    assert not re.search(rb"[\x00-\x1f]", b"".join(raw_lines))  # no C0 control raw in the file
    # the report escapes them; nothing raw reaches the terminal (tab and newline aside)
    result.stdout.re_match_lines(
        [
            re.escape(
                r"  nul\x00here \x01\x02 esc\x1b[2J bell\x07 del\x7f cr\r nel\x85 ls\u2028ps\u2029 tab"
            )
            + r"\t nl",
            "   end",
        ]
    )
    assert not re.search(
        r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", result.stdout.str()
    )

    # a lone surrogate: graded; the record replaces it (no UTF-8 form), the cache keeps it
    assert recs[("surrogate", "chat")]["answer"] == "half ? emoji"

    # (c) invalid UTF-8 in the body: an error, retried like malformed JSON, saying where
    bad = recs[("badutf8", "chat")]
    assert (bad["status"], bad["attempts"]) == (200, 1 + RETRIES)
    assert server.requests_for(r"\bbadutf8\b") == 1 + RETRIES
    assert re.fullmatch(
        r"HTTP 200: malformed JSON response: not valid UTF-8 at byte \d+: .*caf\ufffd au lait.* "
        rf"\({1 + RETRIES} attempts\)",
        bad["error"],
    ), bad["error"]
    result.stdout.re_match_lines(
        [r"error: HTTP 200: malformed JSON response: not valid UTF-8 at byte \d+: .*"]
    )

    # (d) only reasoning, finish stop: the checks fail on an empty answer; not truncated
    for api in ("chat", "responses"):
        think = recs[("thinkonly", api)]
        assert (think["answer"], think["reasoning"], think["finish"]) == ("", THOUGHT, "stop")
        assert [(c["name"], c["passed"]) for c in think["checks"]] == [
            ("finished", True),
            ("contains", False),
        ]
    result.stdout.re_match_lines(
        [
            r"answer \(0 chars\):",
            '  ""',
            r"the answer is empty: the model only reasoned \(finish stop\)",
        ]
    )
    # (e) an empty answer with finish stop: a plain fail
    empty = recs[("empty", "chat")]
    assert (empty["answer"], empty["finish"], empty["error"]) == ("", "stop", None)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["items"] == {"pass": 3, "fail": 5, "truncated": 0, "error": 1}

    # the cache keeps every good answer whole and replays it exactly
    entries = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in (project.path / "results" / ".cache").rglob("*.json")
    ]
    answers = sorted(e["completion"]["answer"] for e in entries)
    assert sorted([HUGE, HUGE, CONTROLS, CONTROLS, SURROGATE, "", "", ""]) == answers
    assert HUGE_REASONING in [e["completion"]["reasoning"] for e in entries]

    server.reset()
    server.rules = rules()
    again = run(project, server, "-k", "not badutf8")
    again.assert_outcomes(passed=3, failed=5)
    assert server.suite_requests == []  # all from the cache
    second = sorted((project.path / "results" / "runs").iterdir())[1]
    replay = [json.loads(line) for line in (second / "records.jsonl").read_text().splitlines()]
    assert len(replay) == ITEMS - 1
    assert all(r["cached"] for r in replay)
    for rec in replay:
        first = recs[(rec["case"], rec["api"])]
        for key in ("answer", "reasoning", "answer_chars", "reasoning_chars", "outcome", "checks"):
            assert rec.get(key) == first.get(key), (rec["case"], key)
