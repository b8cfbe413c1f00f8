"""End to end: a run with two efforts and both APIs through the plugin, then its HTML report."""

from __future__ import annotations

import argparse
import html
import json
import re

import pytest

from harness.gate.compare import IGNORED
from harness.reports import html as html_report
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

SUITE = """
    name: depth
    prompt: "Question {{ q }}"
    apis: [chat, responses]
    efforts: [low, high]
    samples: 2
    expect: [{contains: "Answer: 4"}]
    cases:
      - {id: easy, vars: {q: easy}}
      - {id: hard, vars: {q: hard}}
      - {id: odd, vars: {q: odd}}
"""
RULES = [
    Rule(match="hard", effort="low", answer="Answer: 5", reasoning="guess " * 10),
    Rule(match="Question", effort="low", answer="Answer: 4", reasoning="think " * 10),
    Rule(match="Question", effort="high", answer="Answer: 4", reasoning="think harder " * 200),
]


def test_report_of_a_real_run(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "suites/depth.yaml", SUITE)
    server.rules = RULES
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off",
    )  # fmt: skip
    result.assert_outcomes(passed=10, failed=2)  # hard fails at low effort, on both APIs
    [run] = sorted((project.path / "results" / "runs").iterdir())
    out = project.path / "report.html"
    parser = argparse.ArgumentParser()
    html_report.add_arguments(parser)
    args = parser.parse_args([str(run), "--html", str(out)])
    capsys.readouterr()
    assert html_report.main(args) == 0
    assert capsys.readouterr().out == f"wrote {out} (24 samples, 2 charts)\n"
    page = out.read_text(encoding="utf-8")
    summary = [row for row in rows(page) if row[0] == "depth" and row[2] in ("low", "high")]
    assert [row[1:6] for row in summary] == [
        ["chat", "low", "3", "6", "0.67 [0.30, 0.90]"],
        ["chat", "high", "3", "6", "1.00 [0.61, 1.00]"],
        ["responses", "low", "3", "6", "0.67 [0.30, 0.90]"],
        ["responses", "high", "3", "6", "1.00 [0.61, 1.00]"],
    ]
    # the scripted server reports no reasoning tokens: 60 or 2600 characters / 4, marked est.
    assert [row[10] for row in summary] == ["15 est.", "650 est."] * 2
    scatter, latency = re.findall(r'<svg class="chart [\w-]+".*?</svg>', page, re.S)
    assert scatter.count('class="point"') == 4
    assert latency.count('class="sample"') == 24
    # high effort reasons more and fixes "hard"
    assert "<h2>Comparison by effort</h2>" in page
    # three cases are too few for any verdict (issue 14): the page says so, with the
    # evidence, and never "no measurable effect"
    too_few = "too few cases to tell (n=3; no difference can show with fewer than 6 cases)"
    assert (
        f'<li class="inconclusive"><b>depth chat: low -&gt; high</b>: {too_few}: pass rate +0.33'
        in page
    )
    assert "reasoning tokens +635 per case" in page
    assert "fail-&gt;pass: hard" in page
    assert f'<li class="inconclusive"><b>depth low: chat -&gt; responses</b>: {too_few}' in page
    assert IGNORED not in page
    # the case matrix: a row per case, a column per API x effort; hard fails at low effort
    matrix = page[page.index('<table class="matrix">') :]
    matrix = matrix[: matrix.index("</table>")]
    heads = re.findall(r'<th scope="col" class="col[^"]*"[^>]*>(.*?)</th>', matrix)
    assert [re.findall(r"<span>(.*?)</span>", h) for h in heads] == [
        [api, effort] for api in ("chat", "responses") for effort in ("low", "high")
    ]
    outcomes = {
        case: re.findall(r"<summary><b>(\w+)</b>", row)
        for case, row in re.findall(r'<th scope="row" class="case">(\w+)</th>(.*?)</tr>', matrix)
    }
    assert outcomes == {
        "easy": ["pass"] * 4,
        "hard": ["fail", "pass"] * 2,
        "odd": ["pass"] * 4,
    }
    assert "Answer: 5</pre>" in matrix  # the failing answer, in its cell
    assert (run / "items.jsonl").is_file()


def rows(page: str) -> list[list[str]]:
    """Every table row of the page as cell texts."""
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", page):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
        found.append([html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in cells])
    return found


def test_items_jsonl_holds_each_items_change_and_the_baselines_answer(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    """The run's page needs what only the gate knew: written at the end of a run that
    compared against its baselines, not by one that wrote them."""
    write(project, "suites/depth.yaml", SUITE.replace("samples: 2", "samples: 1"))
    server.rules = [Rule(match="Question", answer="Answer: 4")]
    args = ("--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider")
    project.runpytest(*args, "--glm-update-baselines", "--glm-cache=off")
    [first] = (project.path / "results" / "runs").iterdir()
    assert not (first / "items.jsonl").exists()  # every item is "new" by construction there
    server.rules = RULES
    project.runpytest(*args, "--glm-cache=off")
    [second] = [r for r in (project.path / "results" / "runs").iterdir() if r != first]
    lines = [json.loads(line) for line in (second / "items.jsonl").read_text().splitlines()]
    assert len(lines) == 12
    changes = {(i["case"], i["api"], i["effort"]): i["change"] for i in lines}
    assert changes[("hard", "chat", "low")] == "regression"
    assert changes[("easy", "chat", "low")] == "pass"
    [hard] = [i for i in lines if (i["case"], i["api"], i["effort"]) == ("hard", "chat", "low")]
    assert hard["baseline_outcomes"] == ["pass"]
    assert hard["baseline_answer"] == "Answer: 4"
    assert hard["outcome"] == "fail"
    assert "answer" not in hard  # the records have this run's answers
