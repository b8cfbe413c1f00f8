"""The case matrix in small, for the Markdown report: only the cases that regressed or
flipped (pass in one column, not in another), one row each, a column per prompt x API x
effort x budget of the run, and each row's failing check.

Pure data: :mod:`harness.reports.markdown` escapes and lays out the cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.reports.matrix import Cell, Column, Grid, Row, column_key, from_items
from harness.reports.terminal import shorten

CHECK_CHARS = 160  # of the failing check a row shows
SYMBOLS = {"regression": " ▼", "worse": " ▼", "improved": " ▲", "new": " ✚"}
LEGEND = (
    "A case is listed when it regressed (▼: it passed in the baseline) or does not pass in"
    " every column alike; ▲ improved, ✚ new, - not run there."
)


def word(cell: Cell | None) -> str:
    """A cell as a word: its outcome (bold when it does not pass) and its change."""
    if cell is None:
        return "-"
    shown = cell.outcome if cell.passed else f"**{cell.outcome}**"
    return shown + SYMBOLS.get(cell.change, "")


def failing(row: Row, columns: Sequence[Column]) -> str:
    """The row's failing check: of its first regressed cell, else its first failing one,
    with the column it failed in."""
    cells = [(c, row.cells[c]) for c in columns if c in row.cells and not row.cells[c].passed]
    cells.sort(key=lambda pair: not pair[1].regressed)
    if not cells:
        return ""
    column, cell = cells[0]
    item: Mapping[str, Any] = cell.item
    checks = item.get("failed_checks") or []
    said = str(checks[0]) if checks else str(item.get("error") or cell.outcome)
    return f"{column.name}: {shorten(' '.join(said.split()), CHECK_CHARS)}"


def table(items: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[tuple[str, list[str], str]]]:
    """The header (case, the columns, failing check) and the rows (``suite::case``, a word
    per column, the failing check), regressed cases first; no rows: nothing to show."""
    grids: list[Grid] = from_items(items)
    listed = [(g, row) for g in grids for row in g.rows if row.regressed or row.differs]
    listed.sort(key=lambda pair: not pair[1].regressed)  # stable: suites, cases keep order
    found = {c for _, row in listed for c in row.cells}
    columns = sorted(found, key=column_key({}))
    rows = [
        (f"{g.suite}::{row.case}", [word(row.cells.get(c)) for c in columns], failing(row, columns))
        for g, row in listed
    ]
    return ["case", *(c.name for c in columns), "failing check"], rows
