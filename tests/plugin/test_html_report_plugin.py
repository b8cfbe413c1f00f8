"""End to end: a run with two efforts and both APIs through the plugin, then its HTML report."""

from __future__ import annotations

import argparse
import html
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
    failed = [row for row in rows(page) if row[:2] == ["depth", "hard"]]
    assert [row[2:] for row in failed] == [
        [api, "low", sample, "fail", "Answer: 5"]
        for api in ("chat", "responses")
        for sample in "01"
    ]


def rows(page: str) -> list[list[str]]:
    """Every table row of the page as cell texts."""
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", page):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
        found.append([html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in cells])
    return found
