"""Attacks on grading, through the whole plugin on real sockets (issue 12, item 6 and
"grading never blocks signals or other requests"):

- a suite of regexes that backtrack for minutes in Python's ``re`` grades a megabyte of
  hostile answer in milliseconds each, with the verdicts Python would give;
- one sample whose grading is slow (a ``python`` check that sleeps) does not hold up the
  other requests, and SIGINT during it ends the run at once with its records intact;
- an answer of JSON nested 100,000 deep under ``json_schema`` is that sample's ``error``
  ("grading failed: ..."); the other samples are recorded and summary.json is written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

MB = 1_000_000
ATTACKS = {  # id: (pattern, hostile answer, passes)
    "counted": (r"(a+){1,100}b", "a" * MB, False),
    "nested": (r"(a+a)+b", "a" * MB, False),
    "commas": (r"(.*,)*X", "," * MB, False),
    "digits": (r"(\d+\d)+x", "1" * MB, False),
    "noncapturing": (r"(?:a+){2,50}b", "a" * MB, False),
    "alternation": (r"^(a|aa)+$", "a" * MB + "!", False),
    "owasp": (r"^(([a-z])+.)+[A-Z]([a-z])+$", "abcdefghij" * (MB // 10) + "1", False),
    "trailing": (r"\s*$", "x" + " " * MB, True),
    "alternation-ok": (r"^(a|aa)+$", "a" * MB, True),
}


def run_dir(project: pytest.Pytester) -> Path:
    [found] = sorted((project.path / "results" / "runs").iterdir())
    return found


def records(project: pytest.Pytester) -> dict[str, dict[str, Any]]:
    lines = (run_dir(project) / "records.jsonl").read_text().splitlines()
    return {r["case"]: r for r in map(json.loads, lines)}


def test_backtracking_patterns_grade_a_hostile_megabyte_in_milliseconds(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    cases = "\n".join(
        f"  - {{id: {name}, vars: {{w: {name}}}, expect: [{{regex: {json.dumps(pattern)}}}]}}"
        for name, (pattern, _answer, _passes) in ATTACKS.items()
    )
    write(
        project,
        "suites/attacks.yaml",
        f'prompt: "Case {{{{ w }}}}"\napis: [chat]\ncases:\n{cases}\n',
    )
    server.rules = [
        Rule(match=rf"Case {name}$", answer=answer) for name, (_, answer, _) in ATTACKS.items()
    ]
    started = time.monotonic()
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider"
    )
    took = time.monotonic() - started
    passing = sum(passes for _, _, passes in ATTACKS.values())
    result.assert_outcomes(passed=passing, failed=len(ATTACKS) - passing)
    assert took < 30, f"{took:.1f} s"  # Python's re: minutes to centuries for each
    outcomes = {case: r["outcome"] for case, r in records(project).items()}
    assert outcomes == {n: "pass" if p else "fail" for n, (_, _, p) in ATTACKS.items()}


def test_a_suite_regex_re2_cannot_run_is_refused_at_collection(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/look.yaml", """
        prompt: hi
        cases:
          - id: a
            expect: [{regex: 'foo(?=bar)'}]
    """)  # fmt: skip
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider"
    )
    result.stdout.re_match_lines([
        r".*suites/look.yaml:4: cases\[0\]\.expect\[0\]\.regex: 'foo\(\?=bar\)': lookahead "
        r"\(\?=\.\.\.\) is not supported: suite regexes run in a linear-time engine \(RE2\)",
    ])  # fmt: skip
    assert not server.suite_requests


SLOW_CHECK = """
import time


def slow(answer, context):
    time.sleep(3)
    return True
"""


def test_a_slow_grading_holds_up_no_request_and_sigint_ends_the_run_at_once(
    tmp_path: Path, server: ScriptedServer
) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "evals").mkdir()
    (tmp_path / "mychecks.py").write_text(SLOW_CHECK)
    quick = "\n".join(f"  - {{id: q{n}, vars: {{w: q{n}}}}}" for n in range(12))
    (tmp_path / "suites" / "slow.yaml").write_text(
        'prompt: "Case {{ w }}"\napis: [chat]\nexpect: [{contains: ok}]\ncases:\n'
        "  - {id: slow, vars: {w: slow}, expect: [{python: 'mychecks:slow'}]}\n"
        f"{quick}\n"
    )
    server.rules = [
        Rule(match="Case slow", answer="ok"),
        Rule(match="Case q", answer="ok", delay=0.1),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--glm-suite", f"--glm-base-url={server.url}",
         "--glm-concurrency=2", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    runs = tmp_path / "results" / "runs"
    try:
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline:  # the quick ones are recorded while slow grades
            files = list(runs.glob("*/records.jsonl")) if runs.exists() else []
            lines = files[0].read_text().splitlines() if files else []
            if len(lines) >= 6:
                break
            time.sleep(0.05)
        assert 6 <= len(lines) < 13
        assert "slow" not in {json.loads(line)["case"] for line in lines}  # still sleeping
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        ended = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out.decode(errors="replace")
    assert ended < 2.5, f"{ended:.1f} s after SIGINT"  # not after the 3 s sleep
    [one] = list(runs.iterdir())
    recorded = [json.loads(line) for line in (one / "records.jsonl").read_text().splitlines()]
    assert len(recorded) >= 6
    assert all(r["outcome"] == "pass" for r in recorded)
    summary = json.loads((one / "summary.json").read_text())
    assert summary["interrupted"] is True


def test_json_nested_too_deep_is_an_error_sample_and_the_run_goes_on(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/deep.yaml", """
        prompt: "Case {{ w }}"
        apis: [chat]
        expect: [{json_schema: {schema: {type: array}}}]
        cases:
          - {id: deep, vars: {w: deep}}
          - {id: flat, vars: {w: flat}}
          - {id: wrong, vars: {w: wrong}}
    """)  # fmt: skip
    server.rules = [
        Rule(match="Case deep", answer="[" * 100_000 + "]" * 100_000),
        Rule(match="Case flat", answer="[1, 2]"),
        Rule(match="Case wrong", answer='{"a": 1}'),
    ]
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1, errors=1)
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.re_match_lines([
        r"error: grading failed: NestingTooDeep: the JSON in the answer nests deeper than 200 levels",
    ])  # fmt: skip
    recs = records(project)
    assert {case: r["outcome"] for case, r in recs.items()} == {
        "deep": "error",
        "flat": "pass",
        "wrong": "fail",
    }
    assert "grading failed: NestingTooDeep" in recs["deep"]["error"]
    summary = json.loads((run_dir(project) / "summary.json").read_text())
    assert summary["interrupted"] is False
