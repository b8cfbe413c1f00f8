"""The baseline workflow end to end: no baseline -> update -> pass -> a template edit makes
a case fail -> the regression fails the run with a diff -> update -> pass; known failures
xfail, improvements and new cases are listed, unused entries are pruned on request."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

SUITE = """
    name: math
    template: math/q.j2
    apis: [chat]
    params: {max_output_tokens: 64}
    extract: 'Answer:\\s*(.+)'
    cases:
      - id: add
        vars: {q: "2+3"}
        expect: [{number: 5}]
      - id: hard
        vars: {q: "the last digit of pi"}
        expect: [{number: 7}]
"""


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite",
        f"--glm-base-url={server.url}",
        "-p",
        "no:cacheprovider",
        "--glm-cache=off",
        *args,
    )


def baseline(project: pytest.Pytester) -> dict[str, dict[str, object]]:
    data = json.loads((project.path / "results" / "baselines" / "math.json").read_text())
    assert data["version"] == 1
    entries: dict[str, dict[str, object]] = data["entries"]
    return entries


def test_the_baseline_workflow(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules = [Rule(match="2\\+3", answer="Answer: 5"), Rule(match="pi", answer="Answer: 3")]

    # no baseline: judged on the checks, both listed as new
    result = run(project, server)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.re_match_lines(
        [r"new \(2\): math::add\[chat-default\], math::hard\[chat-default\]"]
    )

    # update: both entries written, in a stable, reviewable file
    result = run(project, server, "--glm-update-baselines")
    result.stdout.re_match_lines(
        [r"baselines: results/baselines/math.json: 2 created, 0 updated, 0 unchanged, 0 unused"]
    )
    entries = baseline(project)
    assert sorted(entries) == ["add[chat-default]", "hard[chat-default]"]
    add = entries["add[chat-default]"]
    assert add["outcome"] == "pass"
    assert add["pass_rate"] == 1.0
    assert add["answer"] == "Answer: 5"
    assert add["checks"] == [
        {
            "name": "number",
            "passed": True,
            "observed": 5,
            "detail": "",
            "weight": 1.0,
            "children": [],
        }
    ]
    assert str(add["template_hash"]).startswith("sha256:")
    assert str(add["prompt_hash"]).startswith("sha256:")
    assert entries["hard[chat-default]"]["outcome"] == "fail"
    text = (project.path / "results" / "baselines" / "math.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    # pass: the known failure is xfailed with the baseline's reason, the run is green
    result = run(project, server, "-rx")
    result.assert_outcomes(passed=1, xfailed=1)
    assert result.ret == 0
    result.stdout.re_match_lines(
        [r"XFAIL suites/math.yaml::hard\[chat-default\] - known failure \(baseline of .*: fail.*"]
    )

    # a template edit makes `add` fail: a regression, shown with the baseline answer beside the new one
    write(project, "evals/math/q.j2", "Question (be brief): {{ q }}")
    server.rules = [
        Rule(match="brief.*2\\+3", answer="Answer: 7"),
        Rule(match="pi", answer="Answer: 3"),
    ]
    result = run(project, server)
    result.assert_outcomes(failed=1, xfailed=1)
    assert result.ret == 1
    result.stdout.re_match_lines(
        [
            r"REGRESSION: passed in the baseline of .* now fail",
            r"answer diff \(baseline -> now\):",
            r"  -Answer: 5",
            r"  \+Answer: 7",
        ]
    )
    result.stdout.re_match_lines([r"REGRESSIONS \(1\): math::add\[chat-default\]"])

    # update: the new answer becomes the baseline, then the run passes again
    result = run(project, server, "--glm-update-baselines")
    result.stdout.re_match_lines(
        [
            r"baselines: results/baselines/math.json: 0 created, 2 updated, 0 unchanged, 0 unused"
        ]  # the prompt of both changed
    )
    result = run(project, server)
    result.assert_outcomes(xfailed=2)
    assert result.ret == 0

    # the model gets better: improved, and still a pass
    server.rules = [Rule(match="2\\+3", answer="Answer: 5"), Rule(match="pi", answer="Answer: 3")]
    result = run(project, server)
    result.assert_outcomes(passed=1, xfailed=1)
    result.stdout.re_match_lines([r"improved \(1\): math::add\[chat-default\]"])


def test_update_writes_only_selected_cases_and_prunes_only_on_request(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules = [Rule(match="2\\+3", answer="Answer: 5"), Rule(match="pi", answer="Answer: 7")]
    run(project, server, "--glm-update-baselines", "-k", "add")
    assert sorted(baseline(project)) == ["add[chat-default]"]
    run(project, server, "--glm-update-baselines", "-k", "hard")
    assert sorted(baseline(project)) == ["add[chat-default]", "hard[chat-default]"]

    write(project, "suites/math.yaml", SUITE.split("      - id: hard")[0])  # `hard` is gone
    result = run(project, server, "--glm-update-baselines")
    result.stdout.re_match_lines(
        [
            r"baselines: .*math.json: 0 created, 0 updated, 1 unchanged, 1 unused; unused \(kept; remove with --glm-prune-baselines\): hard\[chat-default\]"
        ]
    )
    assert "hard[chat-default]" in baseline(project)
    result = run(project, server, "--glm-prune-baselines")
    result.stdout.re_match_lines(
        [r"baselines: .*math.json: .* 1 unused; unused \(removed\): hard\[chat-default\]"]
    )
    assert sorted(baseline(project)) == ["add[chat-default]"]


def test_an_unreadable_baseline_is_reported_and_not_overwritten(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    write(project, "results/baselines/math.json", "{not json")
    server.rules = [Rule(match="2\\+3", answer="Answer: 5"), Rule(match="pi", answer="Answer: 7")]
    result = run(project, server)
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines(
        [r"baselines: .*math.json: unreadable baseline .*judged as if it were absent"]
    )
    result = run(project, server, "--glm-update-baselines")
    result.stdout.re_match_lines([r"baselines: .*unreadable baseline.*; not touched"])
    assert (project.path / "results" / "baselines" / "math.json").read_text() == "{not json"


def test_a_baseline_of_another_model_is_not_compared(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules = [Rule(match="2\\+3", answer="Answer: 5"), Rule(match="pi", answer="Answer: 7")]
    run(project, server, "--glm-update-baselines", "--glm-model=model-a")
    server.rules = [Rule(match="2\\+3", answer="Answer: 6"), Rule(match="pi", answer="Answer: 7")]
    result = run(project, server, "--glm-model=model-b")
    result.assert_outcomes(
        passed=1, failed=1
    )  # judged on checks: `add` fails as new, no REGRESSION
    assert "REGRESSION" not in result.stdout.str()
    result.stdout.re_match_lines(
        [r"baselines: 2 items judged as new: its baseline is for model 'model-a'"]
    )
    result = run(project, server, "--glm-model=model-a")
    result.stdout.re_match_lines([r"REGRESSIONS \(1\): math::add\[chat-default\]"])


# Every baseline outcome x every outcome now: (the change recorded, pytest's word). The
# table of docs/decisions.md ("Verdicts for every outcome pair"); an entry recording an API
# error is hand-made (the harness never writes one) and is judged as absent.
OUTCOMES = ("pass", "fail", "truncated", "error")
VERDICTS = {
    ("pass", "pass"): ("pass", "PASSED"),
    ("pass", "fail"): ("regression", "FAILED"),
    ("pass", "truncated"): ("regression", "TRUNCATED"),  # failed, with its own word
    ("pass", "error"): ("error", "ERROR"),
    ("fail", "pass"): ("improved", "PASSED"),
    ("fail", "fail"): ("known failure", "XFAIL"),
    ("fail", "truncated"): ("known failure", "XFAIL"),
    ("fail", "error"): ("error", "ERROR"),
    ("truncated", "pass"): ("improved", "PASSED"),
    ("truncated", "fail"): ("known failure", "XFAIL"),
    ("truncated", "truncated"): ("known failure", "XFAIL"),
    ("truncated", "error"): ("error", "ERROR"),
    ("error", "pass"): ("new", "PASSED"),
    ("error", "fail"): ("new", "FAILED"),
    ("error", "truncated"): ("new", "TRUNCATED"),
    ("error", "error"): ("error", "ERROR"),
}


def junit_glm(path: Path) -> dict[str, dict[str, object]]:
    """Each test case's ``glm`` property in a JUnit XML file, by case id."""
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        for prop in case.iter("property"):
            if prop.get("name") == "glm":
                data = json.loads(prop.get("value", ""))
                found[str(data["case"])] = data
    return found


def outcome_rules(side: str) -> list[Rule]:
    """Answers by the outcome named after ``side`` ("was" or "now") in the prompt."""
    error = Rule(match=rf"{side}-error\b", status=400, error_message="no")
    if side == "was":  # an API error is never written as a baseline: made by hand from a pass
        error = Rule(match=rf"{side}-error\b", answer="right")
    return [
        Rule(match=rf"{side}-pass\b", answer="right"),
        Rule(match=rf"{side}-fail\b", answer="wrong"),
        Rule(match=rf"{side}-truncated\b", answer="", finish="length"),
        error,
    ]


def test_every_baseline_outcome_against_every_outcome_now(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    assert set(VERDICTS) == {(b, n) for b in OUTCOMES for n in OUTCOMES}
    cases = "".join(
        f"  - {{id: {b}_{n}, vars: {{b: {b}, n: {n}}}}}\n" for b, n in VERDICTS
    )  # fmt: skip
    write(
        project,
        "suites/pairs.yaml",
        'prompt: "was-{{ b }} now-{{ n }}"\napis: [chat]\nexpect: [{contains: right}]\n'
        "cases:\n" + cases,
    )
    server.rules = outcome_rules("was")
    run(project, server, "--glm-update-baselines", "--glm-retries=0")
    path = project.path / "results" / "baselines" / "pairs.json"
    data = json.loads(path.read_text())
    for key, entry in data["entries"].items():
        assert entry["outcome"] == key.split("_")[0].replace("error", "pass")
        if key.startswith("error_"):
            entry.update(outcome="error", outcomes=["error"], pass_rate=0.0, answer="")
    path.write_text(json.dumps(data))

    server.rules = outcome_rules("now")
    result = run(project, server, "--glm-retries=0", "-rA", "--junitxml=j.xml")
    assert result.ret == 1  # the regressions and the new failures
    shown = {}
    for line in result.stdout.lines:
        if m := re.match(r"([A-Z]+) suites/pairs\.yaml::(\w+)\[", line):
            shown[m[2]] = m[1]
    changes = {case: str(glm["change"]) for case, glm in junit_glm(project.path / "j.xml").items()}
    found = {(b, n): (changes[f"{b}_{n}"], shown[f"{b}_{n}"]) for b, n in VERDICTS}
    assert found == VERDICTS
    result.assert_outcomes(passed=4, failed=4, xfailed=4, errors=4)  # TRUNCATED is a failure
