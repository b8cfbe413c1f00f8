"""Thinking budgets end to end, over real sockets: a scripted server where each case needs
a different amount of thinking (``Rule.thinking``), cut at ``thinking_token_budget`` as vLLM
does; the budget axis in ids, requests, records, baselines and the table; ``compare --by
budget`` naming each case's smallest passing budget; the budget needed for 90%."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

NEEDS = {"easy": 20, "mid": 100, "hard": 400, "harder": 700, "hardest": 3000}

SUITE = """
    name: think
    prompt: "Puzzle {{ n }}"
    apis: [chat]
    efforts: [high]
    budgets: [50, 200, 800]
    params: {max_output_tokens: 4000}
    expect:
      - contains: "right"
    cases:
""" + "".join(f"      - {{id: {case}, vars: {{n: {case}}}}}\n" for case in NEEDS)


def rules() -> list[Rule]:
    return [
        Rule(match=f"Puzzle {case}$", answer="right", wrong_answer="wrong", thinking=need)
        for case, need in NEEDS.items()
    ]


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", *args,
    )  # fmt: skip


def last_run(project: pytest.Pytester) -> Path:
    return sorted((project.path / "results" / "runs").iterdir())[-1]


@pytest.fixture
def think(project: pytest.Pytester, server: ScriptedServer) -> pytest.Pytester:
    write(project, "suites/think.yaml", SUITE)
    server.rules = rules()
    return project


def test_the_budget_axis_in_ids_requests_records_and_the_table(
    think: pytest.Pytester, server: ScriptedServer
) -> None:
    result = run(think, server, "-v")
    # easy passes at 50, mid at 200, hard and harder at 800, hardest at none
    result.assert_outcomes(passed=1 + 2 + 4, failed=8)
    result.stdout.re_match_lines(
        [
            r".*suites/think.yaml::easy\[chat-high-t50\] PASSED.*",
            r".*suites/think.yaml::mid\[chat-high-t50\] FAILED.*",
            r".*suites/think.yaml::mid\[chat-high-t200\] PASSED.*",
        ]
    )
    budgets = sorted(r.body["thinking_token_budget"] for r in server.suite_requests)
    assert budgets == sorted([50, 200, 800] * len(NEEDS))
    result.stdout.re_match_lines(
        [r"suite +api +effort +budget +cases .*", r"think +chat +high +50 +5 +0\.20 .*"]
    )
    result.stdout.re_match_lines(
        [r"case mid \(suites/think.yaml:\d+\)  api: chat  effort: high  thinking budget: 50"]
    )
    result.stdout.re_match_lines(
        [r"thinking budget: think \[chat/high\]: no budget tried gets 90% of cases to pass "
         r"\(4 of 5 by 800\)"]
    )  # fmt: skip
    records = [json.loads(x) for x in (last_run(think) / "records.jsonl").read_text().splitlines()]
    assert {r["budget"] for r in records} == {50, 200, 800}
    summary = json.loads((last_run(think) / "summary.json").read_text())
    [note] = summary["budgets"]
    assert note["smallest"] == {
        "easy": "50", "mid": "200", "hard": "800", "harder": "800", "hardest": None,
    }  # fmt: skip


def test_compare_by_budget_names_each_cases_smallest_passing_budget(
    think: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run(think, server, "--glm-budget=50,200,800,none")
    records = last_run(think) / "records.jsonl"
    capsys.readouterr()
    assert main(["compare", str(records), "--by", "budget"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"think +chat/high +50 -> 200 +5 +0\.20 -> 0\.40", out), out
    assert re.search(r"think +chat/high +50 -> none +5 +0\.20 -> 1\.00", out), out
    assert "think chat/high: 90% of cases pass at a thinking budget of none or less (5 of 5)" in out
    assert "smallest: easy: 50, hard: 800, harder: 800, hardest: none, mid: 200" in out
    assert main(["compare", str(records), "--by", "budget", "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    [curve] = found["budgets"]
    assert [level["budget"] for level in curve["levels"]] == ["50", "200", "800", "none"]
    assert [level["passes"] for level in curve["levels"]] == [1, 2, 4, 5]
    assert curve["needed"] == "none"
    assert {c["other"] for c in found["comparisons"]} == {"200", "800", "none"}
    assert main(["compare", str(records), "--by", "budget", "--ref", "t800"]) == 0
    assert "800 -> none" in capsys.readouterr().out


def test_a_cap_below_the_thinking_is_a_truncation_counted_as_budget_too_small(
    think: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        think,
        "suites/think.yaml",
        SUITE.replace("max_output_tokens: 4000", "max_output_tokens: 500"),
    )
    run(think, server, "--glm-budget=none,800")
    capsys.readouterr()
    assert (
        main(
            [
                "compare",
                str(last_run(think) / "records.jsonl"),
                "--by",
                "budget",
                "--format",
                "json",
            ]
        )
        == 0
    )
    [curve] = json.loads(capsys.readouterr().out)["budgets"]
    # with no budget, harder (700) and hardest (3000) think past the 500-token cap
    by_budget = {level["budget"]: level for level in curve["levels"]}
    assert by_budget["none"]["truncated"] == 2
    assert by_budget["800"]["truncated"] == 2


def test_budgets_on_responses_fail_collection_saying_why(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/think.yaml", SUITE.replace("apis: [chat]", "apis: [chat, responses]"))
    result = run(project, server)
    assert result.ret == 2
    result.stdout.re_match_lines(
        [r".*suites/think.yaml:\d+: budgets: thinking budgets are Chat only: vLLM sends "
         r"thinking_token_budget to the model on Chat and ignores it on Responses; .*"]
    )  # fmt: skip
    write(project, "suites/plain.yaml", "prompt: hi\ncases: [{id: a}]\n")
    result = run(project, server, "--glm-budget=256", "suites/plain.yaml")
    assert result.ret == 2
    result.stdout.re_match_lines(
        [r".*--glm-budget: thinking budgets are Chat only .*add --glm-api chat"]
    )
    assert server.suite_requests == []


def test_baselines_keep_each_budget_apart(think: pytest.Pytester, server: ScriptedServer) -> None:
    run(think, server, "--glm-update-baselines")
    entries = json.loads((think.path / "results/baselines/think.json").read_text())["entries"]
    assert entries["mid[chat-high-t200]"]["budget"] == 200
    assert entries["mid[chat-high-t50]"]["outcome"] == "fail"
    # the model now needs more thinking for mid: it regresses at 200, stays passing at 800
    server.rules = [Rule(match="Puzzle mid$", answer="right", wrong_answer="wrong", thinking=300)]
    server.rules += rules()
    result = run(think, server, "-rf")
    result.assert_outcomes(passed=6, failed=1, xfailed=8)
    result.stdout.re_match_lines([r"REGRESSIONS \(1\): think::mid\[chat-high-t200\]"])
