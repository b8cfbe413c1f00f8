"""The end-of-run table says when an effort setting changed the request but nothing that
can be measured (issue 6: no-effect detection), and stays quiet when it did change things."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.reports import browser
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

CASES = 40  # with every case alike the pass rate's 95% interval is +-0.088: inside +-0.10
IGNORED = "the endpoint appears to ignore the setting"


def suite(cases: int) -> str:
    return (
        'prompt: "Question {{ n }}"\napis: [chat]\nefforts: [low, high]\n'
        "expect: [{contains: right}]\ncases:\n"
        + "".join(f"  - {{id: c{n}, vars: {{n: {n}}}}}\n" for n in range(cases))
    )


def run(
    project: pytest.Pytester, server: ScriptedServer, rules: list[Rule], cases: int = CASES
) -> pytest.RunResult:
    write(project, "suites/s.yaml", suite(cases))
    server.rules = rules
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", "--glm-report=report.md",
    )  # fmt: skip


def compare_output(project: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    [run_dir] = (project.path / "results" / "runs").iterdir()
    assert main(["compare", str(run_dir), "--by", "effort"]) == 0
    return capsys.readouterr().out


def rendered_report(project: pytest.Pytester, chromium: str) -> str:
    """The run's HTML report, as headless Chromium sees it after loading it."""
    [run_dir] = (project.path / "results" / "runs").iterdir()
    page = project.path / "report.html"
    assert main(["report", str(run_dir), "--html", str(page)]) == 0
    dom = browser.dump_dom(chromium, page)
    kinds = [" ".join(chart.classes) for chart in browser.charts_in(dom)]
    assert kinds == ["chart pass-vs-reasoning", "chart latency"]
    ok, problems = browser.check_page(chromium, page, ["chat"])
    assert ok, problems
    return dom


def summary(project: pytest.Pytester) -> dict[str, object]:
    [run_dir] = (project.path / "results" / "runs").iterdir()
    data: dict[str, object] = json.loads((run_dir / "summary.json").read_text())
    return data


def test_an_ignored_effort_is_named_under_the_table(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    same = "Let me think about this question step by step. " * 20
    result = run(project, server, [Rule(match="Question", answer="right", reasoning=same)])
    assert result.ret == 0
    result.stdout.re_match_lines([
        r"s +chat +low +40 .*", r"s +chat +high +40 .*",
        rf"effort: s \[chat\] low -> high \(40 cases\): no measurable effect: {IGNORED}"
        r" \(vLLM sends GLM the same request for every effort but none; thinking budgets,"
        r" budgets:, change how long it thinks\): "
        r"pass rate \+0.00 \(95% CI -0.09..\+0.09\), p=1 \(exact McNemar\);"
        r" reasoning tokens \+0 per case .*",
        r"requests: 80 samples.*",
    ])  # fmt: skip
    [found] = summary(project)["ignored_efforts"]  # type: ignore[misc]
    assert (found["suite"], found["api"], found["ref"], found["other"]) == (
        "s",
        "chat",
        "low",
        "high",
    )
    assert IGNORED in (project.path / "report.md").read_text()
    assert f"s chat: low -> high: no measurable effect: {IGNORED}" in compare_output(
        project, capsys
    )
    # the HTML report says it too (as written: rendering it needs a browser, tested below)
    [run_dir] = (project.path / "results" / "runs").iterdir()
    assert main(["report", str(run_dir), "--html", str(project.path / "report.html")]) == 0
    assert IGNORED in (project.path / "report.html").read_text()


def test_an_effort_that_buys_reasoning_is_not_called_ignored(
    project: pytest.Pytester,
    server: ScriptedServer,
    capsys: pytest.CaptureFixture[str],
    chromium: str,
) -> None:
    rules = [
        Rule(match="Question", effort="high", answer="right", reasoning="think hard. " * 200),
        Rule(match="Question", effort="low", answer="wrong", reasoning="quick."),
    ]
    result = run(project, server, rules, cases=12)
    assert result.ret == 1  # low fails every case
    assert IGNORED not in result.stdout.str()
    assert summary(project)["ignored_efforts"] == []
    assert "no measurable effect" not in (project.path / "report.md").read_text()
    found = compare_output(project, capsys)
    assert "s chat: low -> high: effect (pass rate +1.00, reasoning +" in found
    assert "fail->pass: c0, c1, c10, c11, c2" in found
    dom = rendered_report(project, chromium)
    assert "effect (pass rate +1.00, reasoning +" in dom
    assert IGNORED not in dom


def test_four_cases_whose_pass_rate_fell_are_too_few_to_tell_not_ignored(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 14: low passes c0 and c1 of 4, high none (0.50 -> 0.00), the reasoning alike;
    # 2 pairs changed, p = 2·0.5^2 = 0.5, and fewer than 6 cases can never show a difference
    same = "Let me think about this question step by step. " * 20
    rules = [
        Rule(match="Question [01]$", effort="low", answer="right", reasoning=same),
        Rule(match="Question", answer="wrong", reasoning=same),
    ]
    result = run(project, server, rules, cases=4)
    assert result.ret == 1
    assert "no measurable effect" not in result.stdout.str()
    assert summary(project)["ignored_efforts"] == []
    assert "no measurable effect" not in (project.path / "report.md").read_text()
    found = compare_output(project, capsys)
    assert "s chat: low -> high: too few cases to tell (n=4; no difference can show" in found
    assert "no measurable effect" not in found
