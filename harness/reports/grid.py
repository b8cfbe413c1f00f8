"""The case matrix on the page: per suite a table, a row per case and a column per prompt x
API x effort x budget, each cell a :func:`harness.reports.cells.cell_html`; and the filters
above them (failing cells only, regressions only, cases that differ across columns).

The filters are checkboxes and CSS (sibling selectors, not ``:has()``, which slows the
parsing of a big page): the page needs no script for them. Every row, cell and column
carries the classes they select on. Cell texts share a budget of
:data:`TEXT_BUDGET` characters, so a 2,000-case run stays a page a browser opens quickly;
a cell that does not pass gets :data:`FAILING_WEIGHT` times a passing cell's share.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from harness.reports.cells import Caps, cell_html
from harness.reports.matrix import Cell, Column, Grid, Row
from harness.reports.svg import esc

TEXT_BUDGET = 3_000_000  # characters of prompts, answers and reasoning on one page
MAX_CHARS, MIN_CHARS, OBSERVED_CHARS = 4000, 120, 300
FAILING_WEIGHT = 3
NO_CAPS = Caps(0, 0, 0, 0)  # a cell the case did not run in
FILTERS = (
    ("only-failing", "failing cells only"),
    ("only-regressions", "regressions only"),
    ("only-differing", "cases that differ across columns"),
)
LEGEND = (
    "Each cell: the outcome (pass, fail, truncated, error) and the mean score; with several"
    " samples, how many passed. ▼ regressed: it passed in the baseline and does not now"
    " (▼ worse: the pass rate fell; the paired test over the suite decides); ▲ improved;"
    " ✚ new: no baseline. ≠: passes where the row's first column does not, or the other"
    " way round. Open a cell for its prompt, checks, answers and reasoning."
)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def caps_for(grids: Sequence[Grid]) -> Callable[[Cell], Caps]:
    """Each cell's share of :data:`TEXT_BUDGET`: per text (its prompt, each sample's answer
    and reasoning, the baseline answer) the same share, a failing cell's weighted."""

    def slots(cell: Cell) -> int:
        return 1 + 2 * len(cell.records) + ("baseline_answer" in cell.item)

    def weight(cell: Cell) -> int:
        return 1 if cell.passed else FAILING_WEIGHT

    total = sum(slots(c) * weight(c) for grid in grids for c in grid.cells())
    share = TEXT_BUDGET / max(1, total)

    def caps(cell: Cell) -> Caps:
        each = int(max(MIN_CHARS, min(MAX_CHARS, share * weight(cell))))
        return Caps(prompt=each, answer=each, reasoning=each, observed=min(OBSERVED_CHARS, each))

    return caps


def filters() -> str:
    """The filters' checkboxes and the bar of their labels. The boxes come first, as
    siblings of the bar and of the suites' matrices, which the CSS reads them from
    (``#only-failing:checked ~ .matrix-suite ...``); the labels show their state."""
    boxes = "".join(f'<input type="checkbox" class="toggle" id="{ident}">' for ident, _ in FILTERS)
    labels = "".join(f'<label for="{ident}">{esc(text)}</label>' for ident, text in FILTERS)
    return (
        f'{boxes}<div class="filters" role="group" aria-label="filters">Show only: {labels}</div>'
    )


def _header(grid: Grid, column: Column, css: str, gated: bool) -> str:
    parts = "".join(f"<span>{esc(part)}</span>" for part in column.parts(grid.shared()))
    if column == grid.columns[0]:
        flips, title = '<span class="flips">first</span>', "the column the others are read against"
    else:
        n = grid.flips(column)
        flips = f'<span class="flips">≠ {n}</span>'
        cases = f"{n} case{'' if n == 1 else 's'}"
        title = f"{cases} pass here and not in the first column, or the other way round"
    paired = '<span class="mark">▼ paired test</span>' if gated else ""
    return f'<th scope="col" class="col {css}" title="{esc(title)}">{parts}{paired}{flips}</th>'


def _row(
    grid: Grid, row: Row, css: dict[Column, str], caps: Callable[[Cell], Caps], marked: bool
) -> str:
    classes = ["case", *(["fails"] if row.failing else []), *(["regress"] if row.regressed else [])]
    classes += ["differs"] if row.differs else []
    cells = "".join(
        cell_html(
            row, c, caps(row.cells[c]) if c in row.cells else NO_CAPS, row.reference, css[c], marked
        )
        for c in grid.columns
    )
    head = f'<th scope="row" class="case">{esc(row.case)}</th>'
    return f'<tr class="{" ".join(classes)}">{head}{cells}</tr>\n'


def suite_matrix(
    grid: Grid, number: int, caps: Callable[[Cell], Caps], regressed: Collection[tuple[str, Column]]
) -> str:
    """One suite's matrix (``regressed``: the suite x columns whose paired test found a
    regression, marked in their header)."""
    css = {}
    for column in grid.columns:
        cells = [row.cells[column] for row in grid.rows if column in row.cells]
        names = [] if any(not c.passed for c in cells) else ["nf"]  # hidden by the filters
        css[column] = " ".join(names + ([] if any(c.regressed for c in cells) else ["nr"]))
    failing = sum(not c.passed for c in grid.cells())
    regressions = sum(c.regressed for c in grid.cells())
    differ = sum(row.differs for row in grid.rows)
    shared = grid.shared()
    every = f" (every column: {', '.join(shared.values())})" if shared else ""
    counts = (
        f"{_n(len(grid.rows), 'case')} x {_n(len(grid.columns), 'column')}{every}:"
        f" {_n(failing, 'cell')} not passing, {regressions} regressed,"
        f" {_n(differ, 'case')} differing across columns"
    )
    marked = any(c.change != "new" for c in grid.cells())
    counts += "" if marked else "; no baseline yet: every cell is new"
    heads = "".join(_header(grid, c, css[c], (grid.suite, c) in regressed) for c in grid.columns)
    rows = "".join(_row(grid, row, css, caps, marked) for row in grid.rows)
    return (
        f'<section class="matrix-suite" id="matrix-{number}"><h3>Suite {esc(grid.suite)}</h3>'
        f'<p>{esc(counts)}</p><div class="scroll"><table class="matrix"><thead><tr>'
        f'<th scope="col" class="case">case</th>{heads}</tr></thead>\n<tbody>\n{rows}'
        f'</tbody></table></div><p class="shown">{len(grid.rows)} cases shown</p></section>'
    )


def matrix_section(
    grids: Sequence[Grid], note: str, regressed: Collection[tuple[str, Column]] = ()
) -> list[str]:
    """The case matrices of a run, under their filters; ``note`` says why there are no
    baseline marks ("" when the run left its items)."""
    if not grids:
        return []
    caps = caps_for(grids)
    out = ['<h2 id="matrix">The case matrix</h2>', '<div class="matrices">', filters()]
    out.append(f"<p>{esc(LEGEND)}</p>")
    out += [f'<p class="note">No baseline marks: {esc(note)}.</p>'] if note else []
    out += [suite_matrix(grid, n, caps, regressed) for n, grid in enumerate(grids, 1)]
    return [*out, "</div>"]
