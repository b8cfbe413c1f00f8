"""The case matrix without a browser: its rows, columns, flips and marks; what a cell
opens onto; escaping; the page's text budget. (tests/browser/test_case_matrix.py uses it.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.reports import grid as grid_html
from harness.reports import html as html_report
from harness.reports import matrix
from harness.reports.cells import Caps, cell_html, prompt_text, why
from tests.unit.reports.test_html_report import HOSTILE, rec, write_run

CAPS = Caps(prompt=4000, answer=4000, reasoning=4000, observed=300)


def check(name: str, passed: bool, observed: object = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "passed": passed, "observed": observed, "detail": f"{name} said",
            "weight": 1.0, "children": [], **extra}  # fmt: skip


def cell_rec(case: str, api: str, effort: str, outcome: str, **extra: Any) -> dict[str, Any]:
    found = rec(case, api, effort, outcome=outcome)
    found["checks"] = [check("contains", outcome == "pass", outcome == "pass")]
    return {**found, **extra}


def test_rows_in_case_order_columns_by_variant_api_effort_budget() -> None:
    records = [
        cell_rec(c, api, effort, "pass", variant=v, variant_index=i, **b)
        for c in ("c10", "c2", "c1")
        for v, i in (("terse", 0), ("careful", 1))
        for api in ("responses", "chat")
        for effort in ("high", "low")
        for b in ({}, {"budget": 64})
        if api == "chat" or not b
    ]
    [grid] = matrix.from_records(records, {})
    assert [row.case for row in grid.rows] == ["c1", "c2", "c10"]
    assert [c.name for c in grid.columns][:6] == [
        "terse chat low t64", "terse chat low", "terse chat high t64", "terse chat high",
        "terse responses low", "terse responses high",
    ]  # fmt: skip
    assert grid.columns[6].variant == "careful"  # prompts: order, not by name


def test_flips_differs_and_outcomes_without_items() -> None:
    records = [
        cell_rec("a", "chat", "low", "pass"), cell_rec("a", "chat", "high", "fail"),
        cell_rec("b", "chat", "low", "fail"), cell_rec("b", "chat", "high", "truncated"),
        cell_rec("c", "chat", "high", "pass"),  # never ran at low: read against high
        {**cell_rec("d", "chat", "low", "pass"), "sample": 0},
        {**cell_rec("d", "chat", "low", "fail"), "sample": 1},
    ]  # fmt: skip
    [grid] = matrix.from_records(records, {})
    low, high = grid.columns
    rows = {row.case: row for row in grid.rows}
    assert rows["a"].flipped(high)
    assert rows["a"].differs
    assert not rows["b"].flipped(high)
    assert not rows["b"].differs
    assert rows["c"].reference == high
    assert not rows["c"].differs
    assert rows["d"].cells[low].outcome == "fail"  # one sample of two failed
    assert (rows["d"].cells[low].passes, rows["d"].cells[low].samples) == (1, 2)
    assert grid.flips(high) == 1
    assert matrix.outcome_of(["truncated", "error"]) == "truncated"
    assert matrix.outcome_of(["error"]) == "error"
    assert matrix.outcome_of([]) == "fail"


def test_items_give_the_verdict_and_the_marks() -> None:
    records = [cell_rec("a", "chat", "low", "fail"), cell_rec("a", "chat", "low", "pass")]
    records[1]["sample"] = 1
    items = {("s", "a", "", "chat", "low", ""): {"outcome": "pass", "change": "regression"}}
    [grid] = matrix.from_records(records, items)
    [cell] = grid.rows[0].cells.values()
    assert cell.outcome == "pass"  # min_pass_rate 0.5 let it pass: the gate said so
    assert cell.regressed
    assert cell.mark == "▼ regressed"


def test_from_items_for_the_markdown_report() -> None:
    items = [
        {"suite": "s", "case": "a", "api": "chat", "effort": "low", "outcome": "fail",
         "change": "regression", "passes": 0, "samples": 1, "score": 0.0, "budget": 512},
        {"suite": "s", "case": "a", "api": "chat", "effort": "low", "outcome": "pass",
         "change": "pass", "passes": 1, "samples": 1, "score": 1.0},
    ]  # fmt: skip
    [grid] = matrix.from_items(items)
    assert [c.name for c in grid.columns] == ["chat low t512", "chat low"]
    assert grid.rows[0].regressed
    assert grid.rows[0].differs


def test_prompt_text_reads_both_apis() -> None:
    chat = {"body": {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image_url"}]},
    ]}}  # fmt: skip
    assert prompt_text(chat) == 'system: Be brief.\n\nuser: Hi\n{"type": "image_url"}'
    responses = {"body": {"instructions": "Be brief.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]}}  # fmt: skip
    assert prompt_text(responses) == "instructions: Be brief.\n\nuser: Hi"
    assert prompt_text({"body": {"input": "Hi"}}) == "user: Hi"
    assert prompt_text(None) == prompt_text({"body": 3}) == ""


def test_a_failed_cell_says_why_first_with_the_innermost_failed_check() -> None:
    group = check("all", False, children=[check("length", True, 12), check("regex", False, "x")])
    record = {**cell_rec("a", "chat", "low", "fail"), "checks": [group]}
    [grid] = matrix.from_records([record], {})
    cell = grid.rows[0].cells[grid.columns[0]]
    assert why(cell, CAPS) == '<p class="why">sample 0 fail: regex: regex said (observed: x)</p>'  # fmt: skip
    errored = {**record, "outcome": "error", "error": "HTTP 503 <b>"}
    [grid] = matrix.from_records([errored], {})
    assert "sample 0 error: HTTP 503 &lt;b&gt;" in why(grid.rows[0].cells[grid.columns[0]], CAPS)


def test_a_cell_opens_onto_every_sample_its_checks_and_the_baseline() -> None:
    samples = [
        {**cell_rec("a", "chat", "low", "fail"), "sample": 0, "answer": "now wrong"},
        {**cell_rec("a", "chat", "low", "pass"), "sample": 1, "reasoning": "r" * 50},
    ]
    item = {"outcome": "fail", "change": "regression", "baseline_outcomes": ["pass", "pass"],
            "baseline_answer": "was right", "baseline_date": "2026-01-01"}  # fmt: skip
    [grid] = matrix.from_records(samples, {("s", "a", "", "chat", "low", ""): item})
    row = grid.rows[0]
    html = cell_html(row, grid.columns[0], CAPS, grid.columns[0])
    assert html.startswith('<td class="o-fail regressed"><details><summary><b>fail</b> 0.50 <i>1/2</i>')  # fmt: skip
    assert '<em class="mark m-regression">▼ regressed</em>' in html
    assert "baseline of 2026-01-01: pass pass; this run: fail pass" in html
    assert '<pre data-label="baseline answer">was right</pre>' in html
    assert '<pre data-label="this run&#x27;s answer (sample 0)">now wrong</pre>' in html
    assert html.count('<div class="sample">') == 2
    assert (
        html.count(
            '<span class="check-fail">✗ FAIL contains: contains said; observed: false</span>'
        )
        == 1
    )
    assert html.count("✓ pass contains: contains said; observed: true") == 1
    assert 'tabindex="0" data-label="reasoning, 50 characters: click to unfold"' in html
    assert "user: a" in html  # the prompt
    assert "tokens 10 in / 50 out / 100 reasoning" in html


def test_long_texts_are_cut_saying_their_full_length() -> None:
    record = {**cell_rec("a", "chat", "low", "pass"), "answer": "x" * 500, "answer_chars": 150_000}
    [grid] = matrix.from_records([record], {})
    html = cell_html(grid.rows[0], grid.columns[0], Caps(100, 100, 100, 20), grid.columns[0])
    assert f'<pre data-label="answer (first 100 of 150,000 characters)">{"x" * 100}</pre>' in html


def test_hostile_texts_stay_text() -> None:
    record = {
        **cell_rec(HOSTILE, "chat", "low", "fail", suite=HOSTILE, answer=HOSTILE,
                   reasoning=HOSTILE, error=HOSTILE, variant=HOSTILE),
        "checks": [check(HOSTILE, False, HOSTILE)],
    }  # fmt: skip
    record["request"]["body"]["messages"][0]["content"] = HOSTILE
    [grid] = matrix.from_records([record], {})
    page = grid_html.matrix_section([grid], HOSTILE)
    text = "".join(page)
    assert "<script" not in text
    assert text.count("&lt;script&gt;") >= 8


def test_the_text_budget_shrinks_every_cut_on_a_big_run_and_favours_failures() -> None:
    small = [matrix.from_records([cell_rec("a", "chat", "low", "pass")], {})[0]]
    assert grid_html.caps_for(small)(small[0].rows[0].cells[small[0].columns[0]]).answer == 4000
    records = [cell_rec(f"c{n}", "chat", e, "pass" if n % 2 else "fail")
               for n in range(3000) for e in ("low", "high")]  # fmt: skip
    [big] = matrix.from_records(records, {})
    caps = grid_html.caps_for([big])
    passing, failing = (big.rows[1].cells[big.columns[0]], big.rows[0].cells[big.columns[0]])
    assert passing.passed
    assert not failing.passed
    assert grid_html.MIN_CHARS <= caps(passing).answer < caps(failing).answer < 4000


def test_rows_carry_what_the_filters_select_on(tmp_path: Path) -> None:
    records = [
        cell_rec("same", "chat", "low", "pass"), cell_rec("same", "chat", "high", "pass"),
        cell_rec("flip", "chat", "low", "pass"), cell_rec("flip", "chat", "high", "fail"),
        cell_rec("down", "chat", "low", "fail"), cell_rec("down", "chat", "high", "fail"),
    ]  # fmt: skip
    run = write_run(tmp_path / "run", records)
    items = [{"suite": "s", "case": "down", "api": "chat", "effort": e, "outcome": "fail",
              "change": "regression"} for e in ("low", "high")]  # fmt: skip
    (run / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    page = html_report.build_page(str(run)).text
    rows = dict(re.findall(r'<tr class="([^"]+)"><th scope="row" class="case">(\w+)<', page))
    assert {case: css for css, case in rows.items()} == {
        "down": "case fails regress",
        "flip": "case fails differs",
        "same": "case",
    }
    for ident, _ in grid_html.FILTERS:
        assert f'<input type="checkbox" class="toggle" id="{ident}">' in page
        assert f'<label for="{ident}">' in page
        assert f"#{ident}:checked~.matrix-suite" in page
    assert "No baseline marks" not in page


def test_a_run_without_items_still_renders_and_says_why_there_are_no_marks(
    tmp_path: Path,
) -> None:
    run = write_run(tmp_path / "run", [cell_rec("a", "chat", "low", "fail")])
    page = html_report.build_page(str(run)).text
    assert "No baseline marks: no items.jsonl (a run that did not finish" in page
    assert 'class="mark' not in page


@pytest.mark.parametrize("changes", [["new", "new"], ["new", "pass"]])
def test_a_suite_with_no_baseline_at_all_says_so_once(tmp_path: Path, changes: list[str]) -> None:
    records = [cell_rec("a", "chat", e, "pass") for e in ("low", "high")]
    run = write_run(tmp_path / "run", records)
    items = [{"suite": "s", "case": "a", "api": "chat", "effort": e, "outcome": "pass",
              "change": c} for e, c in zip(("low", "high"), changes, strict=True)]  # fmt: skip
    (run / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    page = html_report.build_page(str(run)).text
    all_new = changes == ["new", "new"]
    assert ("no baseline yet: every cell is new" in page) == all_new
    assert ("✚ new" in page.split('id="matrix"')[1].split("</p>", 2)[-1]) == (not all_new)
