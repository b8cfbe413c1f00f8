"""The case matrix of real runs, used in headless Chromium as a person would use it.

Each test runs suites through the plugin against the scripted server (a baseline run first
where a regression is wanted), writes the run's page with ``glm-harness report`` and opens
it over the DevTools protocol (:mod:`harness.reports.devtools`). It then checks what a
person would: every case is shown, a failed cell opens onto its failing check, no text
leaves its box (with every cell open), every chart's labels stay inside it and apart, and
each filter shows exactly the cases it should. ``page_checks.js`` does the looking.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.reports.devtools import Session
from tests.server.app import Rule, ScriptedServer

CHECKS = (Path(__file__).parent / "page_checks.js").read_text(encoding="utf-8")
FILTERS = ("only-failing", "only-regressions", "only-differing")
WORDS = ("one", "two", "three", "four", "five", "six")
REVIEW = """
    name: review
    apis: [chat, responses]
    efforts: [low, high]
    prompts:
      - {id: terse, prompt: "Terse {{ q }}"}
      - {id: careful, system: "Think it through.", prompt: "Careful {{ q }}"}
    expect: [{contains: "Answer: 4"}]
    cases:
""" + "".join(f"      - {{id: c{n}, vars: {{q: {word}}}}}\n" for n, word in enumerate(WORDS, 1))
NEEDS = {"easy": 20, "mid": 100, "hard": 400, "harder": 700, "hardest": 3000}
THINK = """
    name: think
    prompt: "Puzzle {{ n }}"
    apis: [chat]
    efforts: [low, high]
    budgets: [50, 800, null]
    params: {max_output_tokens: 4000}
    expect: [{contains: right}]
    cases:
""" + "".join(f"      - {{id: {case}, vars: {{n: {case}}}}}\n" for case in NEEDS)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    (pytester.path / "suites").mkdir()
    (pytester.path / "evals").mkdir()
    return pytester


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> Path:
    project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", *args,
    )  # fmt: skip
    return sorted((project.path / "results" / "runs").iterdir())[-1]


def page_of(project: pytest.Pytester, run_dir: Path) -> Path:
    out = project.path / "report.html"
    assert main(["report", str(run_dir), "--html", str(out)]) == 0
    return out


@pytest.fixture
def tab(chromium: str) -> Iterator[Session]:
    with Session(chromium, window=(1200, 900)) as session:
        yield session


def look(tab: Session, page: Path, shot: Path | None = None) -> None:
    tab.open(page)
    assert tab.evaluate(CHECKS) == "ready"
    if shot is not None:
        tab.screenshot(shot)


def check_charts(tab: Session) -> list[dict[str, Any]]:
    charts: list[dict[str, Any]] = tab.evaluate("glm.charts()")
    for chart in charts:
        assert chart["bad"] == [], chart
    return charts


def check_filters(tab: Session, suite: str, expected: dict[str, list[str]]) -> None:
    """Each filter alone shows exactly ``expected[filter]``; failing + regressions their
    intersection; all off, every case again."""
    everything = tab.evaluate("glm.cases()")[suite]
    for name in FILTERS:
        assert tab.evaluate(f"glm.filter('{name}', true)")[suite] == expected[name], name
        if name == "only-failing":  # the passing cells are gone, the failing ones stay
            for case, cells in tab.evaluate("glm.cells()")[suite].items():
                assert cells, case
                assert all(cell != "pass" for cell in cells), (case, cells)
                assert any(cell for cell in cells), case
        tab.evaluate(f"glm.filter('{name}', false)")
    tab.evaluate("glm.filter('only-failing', true)")
    both = [c for c in expected["only-failing"] if c in expected["only-regressions"]]
    assert tab.evaluate("glm.filter('only-regressions', true)")[suite] == both
    tab.evaluate("glm.filter('only-failing', false)")
    assert tab.evaluate("glm.filter('only-regressions', false)")[suite] == everything


def check_open_and_overflow(tab: Session, suite: str, case: str, want: str, answer: str) -> None:
    """The first failed cell opens onto why it failed, in view: its failing check with
    what it observed, then the answer."""
    opened = tab.evaluate(f"glm.open('{suite}', 'fail')")
    assert opened["case"] == case
    assert (opened["open"], opened["panel"], opened["inView"]) == (True, True, True), opened
    said = f"sample 0 fail: contains: '{want}' not in answer (observed: false)"
    assert opened["why"] == [said], opened
    assert [t for t in opened["failing"] if t.startswith("✗ FAIL contains")], opened
    assert answer in opened["texts"], opened
    assert tab.evaluate("glm.openAll()") > 0
    assert tab.evaluate("glm.overflowing()") == []


def test_variants_regressions_and_no_reasoning(
    project: pytest.Pytester, server: ScriptedServer, tab: Session, tmp_path: Path
) -> None:
    """Two prompt variants x two APIs x two efforts; the server reports 0 reasoning tokens.
    Against a baseline where all but c6 passed: c2 fails at low effort, c3 fails in the
    careful prompt, c5 is truncated on Responses at high effort; c6 still fails."""
    path = project.path / "suites" / "review.yaml"
    path.write_text(textwrap.dedent(REVIEW).lstrip())
    zero = {"reasoning_tokens": 0}
    server.rules = [
        Rule(match="six", answer="Answer: 5", **zero),
        Rule(match="", answer="Answer: 4", **zero),
    ]
    run(project, server, "--glm-update-baselines")
    server.rules = [
        Rule(match="two", effort="low", answer="Answer: 5", **zero),
        Rule(match="Careful three", answer="Answer: 7", **zero),
        Rule(match="five", api="responses", effort="high", answer="Answer:", finish="length"),
        Rule(match="six", answer="Answer: 5", **zero),
        Rule(match="", answer="Answer: 4", **zero),
    ]
    run_dir = run(project, server)
    assert (run_dir / "items.jsonl").is_file()
    look(tab, page_of(project, run_dir), tmp_path / "review.png")

    cases = [f"c{n}" for n in range(1, 7)]
    assert tab.evaluate("glm.cases()") == {"review": cases}
    columns = [f"{v} {a} {e}" for v in ("terse", "careful") for a in ("chat", "responses") for e in ("low", "high")]  # fmt: skip
    assert tab.evaluate("glm.columns()") == {"review": columns}
    cells = tab.evaluate("glm.cells()")["review"]
    assert cells["c1"] == ["pass"] * 8
    assert cells["c2"] == ["fail", "pass"] * 4
    assert cells["c3"] == ["pass"] * 4 + ["fail"] * 4
    assert cells["c5"] == ["pass", "pass", "pass", "truncated"] * 2
    assert cells["c6"] == ["fail"] * 8
    marks = tab.evaluate(
        "[...document.querySelectorAll('td.regressed')].map(td => td.parentElement"
        ".querySelector('th').textContent + ' ' + td.querySelector('.mark').textContent)"
    )
    assert sorted(set(marks)) == ["c2 ▼ regressed", "c3 ▼ regressed", "c5 ▼ regressed"]
    assert len(marks) == 4 + 4 + 2

    [scatter, *_] = check_charts(tab)
    assert scatter["kind"] == "chart pass-vs-reasoning"
    assert scatter["points"] == 8
    assert "mean reasoning tokens per sample: every point at 0" in scatter["labels"]

    check_filters(tab, "review", {
        "only-failing": ["c2", "c3", "c5", "c6"],
        "only-regressions": ["c2", "c3", "c5"],
        "only-differing": ["c2", "c3", "c5"],
    })  # fmt: skip
    check_open_and_overflow(tab, "review", "c2", "Answer: 4", "Answer: 5")


def test_budgets_where_effort_changes_nothing(
    project: pytest.Pytester, server: ScriptedServer, tab: Session, tmp_path: Path
) -> None:
    """Five cases that need 20 to 3,000 tokens of thought, at budgets 50, 800 and none, at
    efforts low and high (which the server ignores): no baseline, so every cell is new."""
    (project.path / "suites" / "think.yaml").write_text(textwrap.dedent(THINK).lstrip())
    server.rules = [
        Rule(match=f"Puzzle {case}$", answer="right", wrong_answer="wrong", thinking=need)
        for case, need in NEEDS.items()
    ]
    look(tab, page_of(project, run(project, server)), tmp_path / "think.png")

    rows = ["easy", "hard", "harder", "hardest", "mid"]  # by id: records keep no suite order
    assert tab.evaluate("glm.cases()") == {"think": rows}
    budgets = ("t50", "t800", "")
    columns = [f"{e} {b}".strip() for e in ("low", "high") for b in budgets]  # chat: said once
    assert tab.evaluate("glm.columns()") == {"think": columns}
    cells = tab.evaluate("glm.cells()")["think"]
    assert cells["easy"] == ["pass"] * 6
    assert cells["hard"] == ["fail", "pass", "pass"] * 2
    assert cells["hardest"] == ["fail", "fail", "pass"] * 2
    assert tab.evaluate("document.querySelectorAll('td .mark').length") == 0  # all new: said once
    said = tab.evaluate("document.querySelector('#matrix-1 > p').textContent")
    assert said == (
        "5 cases x 6 columns (every column: chat): 10 cells not passing, 0 regressed,"
        " 4 cases differing across columns; no baseline yet: every cell is new"
    )

    charts = check_charts(tab)
    kinds = [chart["kind"] for chart in charts]
    assert kinds == ["chart pass-vs-reasoning", "chart latency", "chart pass-vs-budget"]
    assert charts[0]["points"] == 6  # low and high coincide at each budget: spread apart
    assert charts[2]["points"] == 6

    moved = ["hard", "harder", "hardest", "mid"]
    check_filters(tab, "think", {
        "only-failing": moved, "only-regressions": [], "only-differing": moved,
    })  # fmt: skip
    check_open_and_overflow(tab, "think", "hard", "right", "wrong")
