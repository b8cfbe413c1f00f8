"""Small HTML helpers of the run's page: escaped tables, numbers, the ``est.`` marker, and
text cut to a length that says how long it was.

Every text that goes in is escaped (:func:`harness.reports.svg.esc`) unless it is
:class:`Markup`, HTML built here from escaped parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harness.reports.svg import el, esc

EST_TITLE = "estimated: reasoning characters / 4 (the server reported no reasoning tokens)"


class Markup(str):
    """Text that is already HTML."""

    __slots__ = ()


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def number(value: object) -> float | None:
    """A JSON number as a float-ish value; None for anything else (bools too)."""
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], text: int = 3, css: str = ""
) -> str:
    """A table whose first ``text`` columns are left-aligned; cells are escaped unless they
    are :class:`Markup`."""

    def cells(values: Iterable[object], tag: str) -> str:
        shown = [(v if isinstance(v, Markup) else esc(v)) for v in values]
        return "".join(
            el(tag, v, **({"class_": "text"} if i < text else {})) for i, v in enumerate(shown)
        )

    body = [el("tr", cells(row, "td")) + "\n" for row in rows]
    head = el("thead", el("tr", cells(headers, "th")))
    return el("table", head, el("tbody", *body), **({"class_": css} if css else {}))


def est(estimated: bool) -> str:
    return f' <span class="est" title="{esc(EST_TITLE)}">est.</span>' if estimated else ""


def cut(text: str, limit: int, full: int | None = None) -> tuple[str, str]:
    """``text`` cut to ``limit`` characters, and a note saying so with the full length
    (``full``: the length before the records capped it) or "" when nothing was cut."""
    length = max(full or 0, len(text))
    if length <= limit:
        return text, ""
    return text[:limit], f"first {limit:,} of {length:,} characters"
