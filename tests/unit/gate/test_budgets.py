"""What a thinking budget buys: levels, each case's smallest passing budget, the budget
needed for 90% of cases, truncations apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.gate.budgets import budget_curves, render
from harness.gate.compare import load_run
from tests.unit.gate.test_compare import rec, write_run


def at(case: str, budget: int | None, outcome: str = "pass", **kw: Any) -> dict[str, Any]:
    found = rec(case, "high", outcome=outcome, **kw)
    return {**found, "budget": budget} if budget is not None else found


def curves_of(tmp_path: Path, records: list[dict[str, Any]]) -> list[Any]:
    return budget_curves(load_run(str(write_run(tmp_path / "run", records))))


def test_smallest_passing_budget_per_case_and_the_budget_for_90_percent(tmp_path: Path) -> None:
    # the budget each case first passes at (4096 + 1: only without a budget; None: never)
    need: dict[str, int | None] = {"c0": 64, "c1": 64, "c2": 256, "c3": 256, "c4": 1024}
    need |= {"c5": 1024, "c6": 4096, "c7": 4096, "c8": 4097, "c9": None}
    records = []
    for case, first in need.items():
        for budget in (64, 256, 1024, 4096, None):
            passes = first is not None and (budget if budget is not None else 10**6) >= first
            records.append(at(case, budget, "pass" if passes else "fail"))
    [curve] = curves_of(tmp_path, records)
    assert [level.budget for level in curve.levels] == ["64", "256", "1024", "4096", "none"]
    assert curve.smallest["c0"] == "64"
    assert curve.smallest["c2"] == "256"
    assert curve.smallest["c8"] == "none"
    assert curve.smallest["c9"] is None
    assert (curve.needed, curve.reached) == ("none", 9)
    assert curve.summary == "90% of cases pass at a thinking budget of none or less (9 of 10)"


def test_a_case_that_fails_by_chance_at_a_larger_budget_still_counts(tmp_path: Path) -> None:
    records = [at("a", 100), at("a", 400, "fail"), at("b", 100, "fail"), at("b", 400)]
    [curve] = curves_of(tmp_path, records)
    assert curve.smallest == {"a": "100", "b": "400"}
    assert curve.needed == "400"


def test_no_budget_reaching_90_percent_says_how_far_it_got(tmp_path: Path) -> None:
    records = [at(f"c{n}", b, "pass" if n < 3 else "fail") for n in range(5) for b in (10, 20)]
    [curve] = curves_of(tmp_path, records)
    assert curve.needed is None
    assert curve.summary == "no budget tried gets 90% of cases to pass (3 of 5 by 20)"


def test_truncations_are_counted_apart_and_errors_are_not_graded(tmp_path: Path) -> None:
    records = [
        at("a", 10, "truncated"), at("b", 10, "error"), at("c", 10, "fail"),
        at("a", 90), at("b", 90), at("c", 90),
    ]  # fmt: skip
    [curve] = curves_of(tmp_path, records)
    small = curve.levels[0]
    assert (small.truncated, small.errors, small.samples, small.passes) == (1, 1, 2, 0)
    text = render([curve])
    assert "budget too small" in text
    assert "smallest: a: 90, b: 90, c: 90" in text


def test_a_run_without_budgets_has_no_curve(tmp_path: Path) -> None:
    assert curves_of(tmp_path, [rec("a", "high"), rec("b", "high")]) == []
