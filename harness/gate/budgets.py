"""What a thinking budget buys: per suite x prompt x API x effort, each budget's pass rate,
reasoning and output tokens, latency and truncations, and per case the smallest budget at
which it passes.

A case passes at a budget when every graded sample of it passed there (the rule of
``compare``'s flips). Its smallest passing budget is the least budget, small to large, at
which it passes; no budget counts as larger than any. "The budget needed for 90% of cases"
is the least budget by which 90% of the cases have passed (counted by their smallest
passing budgets, so a case that passes at 512 and fails, by chance, at 1024 still counts
at 1024). Truncated samples are counted apart: the token cap ran out, often while
thinking, so the budget (or the cap) was too small, not the answer wrong.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tabulate import tabulate

from harness.gate import stats
from harness.gate.runs import Key, Run, Sample

SHARE = 0.9  # the share of cases "the budget needed" is for
HEADERS = ["suite", "shared", "budget", "cases", "pass rate", "reasoning", "output", "p50 ms"]
HEADERS += ["budget too small", "errors"]


@dataclass(frozen=True, slots=True)
class Level:
    """One budget's figures; ``budget`` is ``"1024"``, or ``"none"`` for no budget."""

    budget: str
    cases: int
    samples: int
    passes: int
    reasoning_tokens: float  # mean per graded sample (estimated as compare does)
    reasoning_estimated: bool
    output_tokens: float | None
    latency_p50_ms: float | None
    truncated: int  # "budget too small": the cap ran out
    errors: int

    @property
    def pass_rate(self) -> float:
        return self.passes / self.samples if self.samples else 0.0


@dataclass(frozen=True, slots=True)
class Curve:
    """One suite x prompt x API x effort over its budgets (small to large, none last)."""

    suite: str
    shared: str  # what stays: "chat/high", "terse/chat/high"
    levels: tuple[Level, ...]
    smallest: dict[str, str | None]  # case -> smallest passing budget; None: passes at none
    needed: str | None  # the budget needed for SHARE of the cases; None: no budget tried
    reached: int  # cases passing by ``needed`` (or, when None, by the largest budget)

    @property
    def summary(self) -> str:
        n = len(self.smallest)
        if self.needed is not None:
            return (
                f"{SHARE:.0%} of cases pass at a thinking budget of {self.needed} or less "
                f"({self.reached} of {n})"
            )
        best = self.levels[-1].budget if self.levels else "-"
        return (
            f"no budget tried gets {SHARE:.0%} of cases to pass ({self.reached} of {n} by {best})"
        )


def _order(budget: str) -> tuple[int, int]:
    return (1, 0) if not budget.isdigit() else (0, int(budget))


def budget_curves(run: Run) -> list[Curve]:
    """Every suite x prompt x API x effort of ``run`` that ran two or more budgets (or one
    budget and none)."""
    # (suite, variant, api, effort) -> budget -> case -> key
    table: dict[tuple[str, ...], dict[str, dict[str, Key]]] = defaultdict(dict)
    for key in run.samples:
        table[(key[0], key[2], key[3], key[4])].setdefault(key[5], {})[key[1]] = key
    curves = []
    for where, budgets in sorted(table.items()):
        if len(budgets) < 2 and "" in budgets:
            continue  # no budgets at all
        order = sorted(budgets, key=_order)
        levels = tuple(_level(run, b, list(budgets[b].values())) for b in order)
        cases = sorted({case for cases in budgets.values() for case in cases})
        smallest: dict[str, str | None] = {}
        for case in cases:
            passing = [
                b for b in order if case in budgets[b] and _passes(run.samples[budgets[b][case]])
            ]
            smallest[case] = (passing[0] or "none") if passing else None
        needed, reached = _needed(order, smallest)
        shared = "/".join(part for part in where[1:] if part)
        curves.append(Curve(where[0], shared, levels, smallest, needed, reached))
    return curves


def _passes(samples: Sequence[Sample]) -> bool:
    return bool(samples) and all(s.passed for s in samples)


def _level(run: Run, budget: str, keys: list[Key]) -> Level:
    graded = [s for key in keys for s in run.samples[key]]
    latency = [s.latency_ms for s in graded if s.latency_ms is not None]
    output = [s.output for s in graded if s.output is not None]
    return Level(
        budget=budget or "none",
        cases=len(keys),
        samples=len(graded),
        passes=sum(s.passed for s in graded),
        reasoning_tokens=math.fsum(s.reasoning for s in graded) / len(graded) if graded else 0.0,
        reasoning_estimated=any(s.estimated for s in graded),
        output_tokens=math.fsum(output) / len(output) if output else None,
        latency_p50_ms=stats.percentile(latency, 50),
        truncated=sum(s.truncated for s in graded),
        errors=sum(run.errors.get(key, 0) for key in keys),
    )


def _needed(order: list[str], smallest: dict[str, str | None]) -> tuple[str | None, int]:
    """The least budget by which SHARE of the cases pass, and how many pass by then."""
    total = len(smallest)
    reached = 0
    for budget in order:
        shown = budget or "none"
        reached = sum(1 for b in smallest.values() if b is not None and _rank(b) <= _rank(shown))
        if total and reached >= SHARE * total:
            return shown, reached
    return None, reached


def _rank(shown: str) -> tuple[int, int]:
    return _order("" if shown == "none" else shown)


def render(curves: Sequence[Curve], fmt: Literal["text", "md"] = "text") -> str:
    """The curves as a table (text, or Markdown) and, per curve, the budget needed and
    each case's smallest passing budget."""
    if not curves:
        return ""
    md = fmt == "md"
    rows = []
    for c in curves:
        for level in c.levels:
            est = " est." if level.reasoning_estimated else ""
            rows.append([
                c.suite, c.shared, level.budget, level.cases,
                f"{level.pass_rate:.2f} ({level.passes}/{level.samples})",
                f"{level.reasoning_tokens:.0f}{est}",
                "-" if level.output_tokens is None else f"{level.output_tokens:.0f}",
                "-" if level.latency_p50_ms is None else f"{level.latency_p50_ms:.0f}",
                level.truncated, level.errors,
            ])  # fmt: skip
    table = tabulate(rows, HEADERS, tablefmt="pipe" if md else "simple", disable_numparse=True)
    lines = ["", "Thinking budgets", "", table, ""] if not md else ["", table, ""]
    for c in curves:
        title = f"{c.suite} {c.shared}"
        lines.append(f"- **{title}**: {c.summary}" if md else f"{title}: {c.summary}")
        each = ", ".join(f"{case}: {b or 'never'}" for case, b in c.smallest.items())
        lines.append(f"  - smallest passing budget: {each}" if md else f"  smallest: {each}")
    return "\n".join(lines) + "\n"


def as_json(curves: Sequence[Curve]) -> list[dict[str, Any]]:
    return [
        {**asdict(c), "levels": [asdict(level) for level in c.levels], "summary": c.summary}
        for c in curves
    ]
