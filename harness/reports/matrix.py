"""The case matrix of a run, as data: per suite a row per case and a column per prompt x
API x effort x budget present, each cell an item's outcome, its samples and its change
against the baseline. The HTML page (:mod:`harness.reports.grid`) and the Markdown report
draw it.

A cell's outcome is the gate's verdict when the run left one (``items.jsonl``, or the
end-of-run items the Markdown report gets); from the records alone it is the verdict with
every sample required to pass. A cell *flips* when it passes and its row's first cell does
not, or the other way round; a row *differs* when its cells do not all pass or all fail.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.gate import compare
from harness.models import APIS, EFFORTS
from harness.reports.groups import budget_rank, rank
from harness.reports.markup import number

REGRESSED = ("regression", "worse")  # worse: the pass rate fell; the paired test decides
MARKS = {  # a change against the baseline -> the word the cell shows, with a symbol
    "regression": "▼ regressed",
    "worse": "▼ worse",
    "improved": "▲ improved",
    "new": "✚ new",
    "known failure": "known failure",
}


@dataclass(frozen=True, slots=True)
class Column:
    """What a column runs its cases through; "" where the run has no variant or budget."""

    variant: str
    api: str
    effort: str
    budget: str

    def parts(self, skip: Collection[str] = ()) -> list[str]:
        """The variant, API, effort and ``t<budget>`` that are set, but the axes in ``skip``."""
        found = [("variant", self.variant), ("api", self.api), ("effort", self.effort)]
        found.append(("budget", f"t{self.budget}" if self.budget else ""))
        return [value for axis, value in found if value and axis not in skip]

    @property
    def name(self) -> str:
        return " ".join(self.parts())


@dataclass(frozen=True, slots=True)
class Cell:
    """One item: its verdict, its samples' records (sample order) and its baseline side."""

    outcome: str
    passes: int
    samples: int
    score: float | None
    change: str  # "" when the run said nothing about the baseline
    records: tuple[dict[str, Any], ...] = ()
    item: Mapping[str, Any] = field(default_factory=dict)  # the items.jsonl line, if any

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    @property
    def regressed(self) -> bool:
        return self.change in REGRESSED

    @property
    def mark(self) -> str:
        return MARKS.get(self.change, "")


@dataclass(frozen=True, slots=True)
class Row:
    case: str
    cells: Mapping[Column, Cell]
    reference: Column  # the first column this case ran in: flips are counted against it

    def flipped(self, column: Column) -> bool:
        cell = self.cells.get(column)
        return cell is not None and cell.passed != self.cells[self.reference].passed

    @property
    def differs(self) -> bool:
        return len({cell.passed for cell in self.cells.values()}) > 1

    @property
    def failing(self) -> bool:
        return any(not cell.passed for cell in self.cells.values())

    @property
    def regressed(self) -> bool:
        return any(cell.regressed for cell in self.cells.values())


@dataclass(frozen=True, slots=True)
class Grid:
    """One suite's matrix."""

    suite: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    def shared(self) -> dict[str, str]:
        """The axes every column has the same value on, as headers show them (none with
        one column): headers leave them out and the suite's line says them once."""
        if len(self.columns) < 2:
            return {}
        found = {}
        for axis in ("variant", "api", "effort", "budget"):
            values = {getattr(c, axis) for c in self.columns}
            if len(values) == 1 and (value := values.pop()):
                found[axis] = f"t{value}" if axis == "budget" else value
        return found

    def flips(self, column: Column) -> int:
        """How many cases flip in ``column`` against their first column."""
        return sum(row.flipped(column) for row in self.rows)

    def cells(self) -> Iterable[Cell]:
        return (cell for row in self.rows for cell in row.cells.values())


def natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key reading the digits in a case id as numbers: c2 before c10."""
    parts = re.split(r"(\d+)", text)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def outcome_of(outcomes: Sequence[str]) -> str:
    """The verdict with every sample required to pass (``checks.grading.verdict`` at
    ``min_pass_rate: 1``), for runs that left no items.jsonl."""
    if outcomes and all(o == "pass" for o in outcomes):
        return "pass"
    return next((o for o in ("fail", "truncated") if o in outcomes or not outcomes), "error")


def column_key(order: Mapping[str, int]) -> Any:
    """A sort key of columns: variants in ``order`` (prompts:), then API, effort, budget."""
    rank_api, rank_effort = rank(APIS), rank(EFFORTS)

    def key(c: Column) -> tuple[Any, ...]:
        variant = (order.get(c.variant, len(order)), c.variant)
        return variant, rank_api(c.api), rank_effort(c.effort), budget_rank(c.budget)

    return key


def _grids(found: Mapping[compare.Key, Cell], order: Mapping[str, int]) -> list[Grid]:
    by_suite: dict[str, dict[str, dict[Column, Cell]]] = defaultdict(lambda: defaultdict(dict))
    for (suite, case, variant, api, effort, budget), cell in found.items():
        by_suite[suite][case][Column(variant, api, effort, budget)] = cell
    grids = []
    for suite in sorted(by_suite):
        cases = by_suite[suite]
        columns = sorted({c for cells in cases.values() for c in cells}, key=column_key(order))
        rows = [
            Row(case, cells, next(c for c in columns if c in cells))
            for case, cells in sorted(cases.items(), key=lambda kv: natural(kv[0]))
        ]
        grids.append(Grid(suite, tuple(columns), tuple(rows)))
    return grids


def from_records(
    records: Sequence[dict[str, Any]], items: Mapping[compare.Key, Mapping[str, Any]]
) -> list[Grid]:
    """The matrices of a run's records, with each item's verdict and change from
    ``items`` (read from items.jsonl; empty: outcomes from the records, no marks)."""
    samples: dict[compare.Key, list[dict[str, Any]]] = defaultdict(list)
    order: dict[str, int] = {}
    for record in records:
        samples[compare.key_of(record)].append(record)
        index, variant = number(record.get("variant_index")), str(record.get("variant") or "")
        if variant and index is not None:
            order[variant] = min(order.get(variant, int(index)), int(index))
    found = {}
    for key, recs in samples.items():
        recs.sort(key=lambda r: (number(r.get("sample")) is None, number(r.get("sample")) or 0))
        item, outcomes = items.get(key, {}), [str(r["outcome"]) for r in recs]
        scores = [s for r in recs if (s := number(r.get("score"))) is not None]
        found[key] = Cell(
            outcome=str(item.get("outcome") or outcome_of(outcomes)),
            passes=outcomes.count("pass"), samples=len(recs),
            score=sum(scores) / len(scores) if scores else None,
            change=str(item.get("change") or ""), records=tuple(recs), item=item,
        )  # fmt: skip
    return _grids(found, order)


def from_items(items: Sequence[Mapping[str, Any]]) -> list[Grid]:
    """The matrices of a run's end-of-run items (summary dicts: outcome, change, ...)."""
    found = {}
    for item in items:
        score = number(item.get("score"))
        found[compare.key_of(dict(item))] = Cell(
            outcome=str(item.get("outcome")), passes=int(number(item.get("passes")) or 0),
            samples=int(number(item.get("samples")) or 0), score=score,
            change=str(item.get("change") or ""), item=item,
        )  # fmt: skip
    return _grids(found, {})
