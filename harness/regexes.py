"""Regular expressions from suites, compiled with a guard against catastrophic backtracking.

Python's ``re`` has no time limit, and suites are edited in pull requests: a pattern such
as ``(a+)+$`` can hang a CI job on a long answer. Patterns are therefore refused when
they contain the known shapes of exponential backtracking:

- a repeated group whose body is a variable-length repeat with nothing else required
  (``(a+)+``, ``(\\w*\\s?)*``, ``(x{2,})*``; ``(\\d+,)*`` is fine: the comma is required);
- a repeated alternation whose branches can start with the same character (``(a|ab)*``,
  ``(\\d|1)+``).

The check reads the pattern's parse tree (the standard library's ``re._parser``); if that
internal module ever changes shape, the guard steps aside rather than refuse valid input.
Patterns longer than ``MAX_PATTERN`` characters are refused outright.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MAX_PATTERN = 2000
_UNBOUNDED = 100  # a repeat allowing more than this many iterations counts as unbounded


class UnsafePattern(ValueError):
    """The pattern is invalid or risks catastrophic backtracking; the message says why."""


@functools.lru_cache(maxsize=1024)  # a suite-level `extract` is compiled for every case
def compile_safe(pattern: str, flags: int = 0) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise UnsafePattern(f"pattern is longer than {MAX_PATTERN} characters")
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise UnsafePattern(f"invalid regular expression: {exc}") from None
    except (OverflowError, RecursionError, ValueError) as exc:
        raise UnsafePattern(f"invalid regular expression: {exc}") from None
    risk = backtracking_risk(pattern, flags)
    if risk is not None:
        raise UnsafePattern(f"risks catastrophic backtracking: {risk}; rewrite it")
    return compiled


def backtracking_risk(pattern: str, flags: int = 0) -> str | None:
    """Why the pattern can backtrack exponentially, or None."""
    try:
        from re import _constants as c  # type: ignore[attr-defined]
        from re import _parser as parser  # type: ignore[attr-defined]

        tree = parser.parse(pattern, flags)
        return _scan(list(tree), c)
    except Exception:  # the internals changed: the guard steps aside
        return None


def _repeats(op: Any, c: Any) -> bool:
    kinds = {c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)}
    return op in kinds


def _scan(items: list[tuple[Any, Any]], c: Any) -> str | None:
    for op, av in items:
        children: list[list[tuple[Any, Any]]] = []
        if _repeats(op, c):
            _low, high, body = av
            if high == c.MAXREPEAT or high > _UNBOUNDED:
                risk = _ambiguous(list(body), c) or _overlapping_branch(list(body), c)
                if risk:
                    return risk
            children = [list(body)]
        elif op == c.SUBPATTERN:
            children = [list(av[-1])]
        elif op == c.BRANCH:
            children = [list(branch) for branch in av[1]]
        elif op in (c.ASSERT, c.ASSERT_NOT):
            children = [list(av[1])]
        for child in children:
            found = _scan(child, c)
            if found:
                return found
    return None


def _ambiguous(body: list[tuple[Any, Any]], c: Any) -> str | None:
    """A repeated body that can match the same text in many ways: it holds a repeat of
    variable length and everything else in it is optional, as in ``(a+)+`` or
    ``(\\w+\\s?)*``. A mandatory separator (``(\\d+,)*``) makes it safe."""
    while len(body) == 1 and body[0][0] == c.SUBPATTERN:
        body = list(body[0][1][-1])
    variable = [
        i for i, (op, av) in enumerate(body) if _repeats(op, c) and av[0] != av[1] and av[1] > 1
    ]
    if not variable:
        return None
    others = [item for i, item in enumerate(body) if i not in variable]
    if all(_repeats(op, c) and av[0] == 0 for op, av in others):
        return "a repeated group that is only a variable-length repeat, like (a+)+"
    return None


def _overlapping_branch(items: list[tuple[Any, Any]], c: Any) -> str | None:
    """A repeated alternation whose branches may start with the same character."""
    for op, av in items:
        if op == c.SUBPATTERN:
            return _overlapping_branch(list(av[-1]), c)
        if op == c.BRANCH:
            seen: set[int] = set()
            for branch in av[1]:
                first = _first_chars(list(branch), c)
                if first is None or first & seen:
                    return "a repeated alternation whose branches overlap, like (a|ab)*"
                seen |= first
        return None
    return None


def _first_chars(items: list[tuple[Any, Any]], c: Any) -> set[int] | None:
    """The characters a branch can start with; None when it could start with anything."""
    if not items:
        return None
    op, av = items[0]
    if op == c.LITERAL:
        return {av}
    if op == c.IN and all(kind == c.LITERAL for kind, _ in av):
        return {value for _, value in av}
    if op == c.SUBPATTERN:
        return _first_chars(list(av[-1]), c)
    return None
