"""Where the parts of a suite are written: the suite file, a case in it, a dataset row.

Each mistake found while building a suite is reported at its :class:`Site`: the file it
was written in, the line there and the key path as the user wrote it
(``suites/x.yaml:14: cases[2].expect[0].fuzzy.min: ...``,
``evals/data/reviews.csv:4: id: duplicate case id 'r3' ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import Problem
from harness.suites.problems import Lines
from harness.suites.source import Path, format_path


@dataclass(frozen=True, slots=True)
class Site:
    """A mapping written at ``prefix`` of the document ``file`` (whose lines ``lines``
    knows); ``bad`` are the document's schema error paths."""

    file: str
    lines: Lines
    prefix: Path = ()
    bad: tuple[Path, ...] = ()
    row: bool = False  # a dataset row (a suite-level part that fails for it is shown here)

    def at(self, prefix: Path) -> Site:
        """The mapping at ``prefix`` below this one, in the same document."""
        return Site(self.file, self.lines, (*self.prefix, *prefix), self.bad, self.row)

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        where = (*self.prefix, *path)
        return Problem(self.file, self.lines.line_of(where, key=key), format_path(where), message)

    def line(self, path: Path = ()) -> int:
        return self.lines.line_of((*self.prefix, *path))

    def clean(self, path: Path) -> bool:
        """True when no schema error lies at or below ``path``."""
        if not self.bad:
            return True
        where = (*self.prefix, *path)
        return not any(bad[: len(where)] == where for bad in self.bad)


@dataclass(slots=True)
class Owned:
    """A key looked up on a case, else on the suite: its value and where it is written."""

    value: Any
    site: Site
    path: Path

    def problem(self, message: str, *, key: bool = False) -> Problem:
        return self.site.problem(self.path, message, key=key)


@dataclass(slots=True)
class Sink:
    """Every problem found, in order."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)
