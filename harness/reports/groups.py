"""The page's summary: a run's samples grouped per suite x prompt x API x effort x budget,
and the table of those groups (pass rate with its Wilson interval, latency, tokens)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.gate import compare
from harness.gate.stats import percentile, wilson
from harness.models import APIS, EFFORTS
from harness.reports.markup import Markup, est, fmt, number, table
from harness.reports.svg import esc

HEADERS = ["suite", "api", "effort", "cases", "samples", "pass rate [95% CI]", "score"]
HEADERS += ["p50 ms", "p95 ms", "out tok", "reason tok", "trunc", "errors"]


@dataclass(frozen=True, slots=True)
class Group:
    """The samples of one suite x prompt x API x effort x budget, summed up."""

    suite: str
    api: str
    effort: str
    cases: int
    variant: str
    budget: str  # "1024"; "" for no budget
    samples: int
    passes: int
    score: float | None
    latencies: tuple[float, ...]
    output: float | None
    reasoning: float | None  # mean over graded samples, compare's rule; None: nothing to show
    estimated: bool
    truncated: int
    errors: int

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passes, self.samples)


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return math.fsum(items) / len(items) if items else None


def rank(order: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    """A sort key: the place of a level in ``order``, unknown levels last by name."""
    return lambda level: (order.index(level) if level in order else len(order), level)


def budget_rank(budget: str) -> tuple[int, int]:
    """Budgets small to large, no budget last."""
    return (0, int(budget)) if budget.isdigit() else (1, 0)


def level_name(g: Group) -> str:
    """A group's place on a chart's axis: its effort, with its variant and budget."""
    return (f"{g.variant} " if g.variant else "") + g.effort + (f" t{g.budget}" if g.budget else "")


def groups(records: Sequence[dict[str, Any]]) -> list[Group]:
    """One group per suite x prompt x API x effort x budget; pass rates count every sample
    (errors too), as the terminal summary does; reasoning, output tokens and latency come
    from graded samples."""
    found: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        suite, _, variant, api, effort, budget = compare.key_of(record)
        found[(suite, variant, api, effort, budget)].append(record)
    rank_api, rank_effort = rank(APIS), rank(EFFORTS)
    out = []
    for (suite, variant, api, effort, budget), recs in sorted(
        found.items(),
        key=lambda kv: (
            kv[0][:2],
            rank_api(kv[0][2]),
            rank_effort(kv[0][3]),
            budget_rank(kv[0][4]),
        ),
    ):
        graded = [compare.sample_of(r) for r in recs if r["outcome"] != "error"]
        outcomes = [r["outcome"] for r in recs]
        out.append(Group(
            suite=suite, api=api, effort=effort, cases=len({str(r["case"]) for r in recs}),
            variant=variant, budget=budget, samples=len(recs), passes=outcomes.count("pass"),
            score=_mean(s for r in recs if (s := number(r.get("score"))) is not None),
            latencies=tuple(sorted(s.latency_ms for s in graded if s.latency_ms is not None)),
            output=_mean(s.output for s in graded if s.output is not None),
            reasoning=_mean(s.reasoning for s in graded) if _any_reasoning(graded, recs) else None,
            estimated=any(s.estimated for s in graded),
            truncated=outcomes.count("truncated"), errors=outcomes.count("error"),
        ))  # fmt: skip
    return out


def _any_reasoning(graded: Sequence[compare.Sample], recs: Sequence[dict[str, Any]]) -> bool:
    """Whether there is a reasoning figure to show: tokens the server reported (0 too) or
    an estimate from reasoning text. Otherwise the cell reads `-`, as in the terminal."""
    reported = (r.get("usage") for r in recs if r["outcome"] != "error")
    return any(s.estimated for s in graded) or any(
        isinstance(u, dict) and number(u.get("reasoning_tokens")) is not None for u in reported
    )


def summary_table(found: Sequence[Group]) -> str:
    rows = []
    for g in found:
        low, high = g.interval
        rate = f"{g.passes / g.samples:.2f} [{low:.2f}, {high:.2f}]" if g.samples else "-"
        reasoning = Markup(esc(fmt(g.reasoning)) + est(g.estimated))
        p50, p95 = (percentile(g.latencies, q) for q in (50, 95))
        named = [g.variant or "-"] if any(f.variant for f in found) else []
        budget = [g.budget or "-"] if any(f.budget for f in found) else []
        rows.append([
            g.suite, *named, g.api, g.effort, *budget, g.cases, g.samples, rate,
            fmt(g.score, ".2f"), fmt(p50), fmt(p95), fmt(g.output), reasoning,
            g.truncated, g.errors,
        ])  # fmt: skip
    prompt = ["prompt"] if any(g.variant for g in found) else []
    budget = ["budget"] if any(g.budget for g in found) else []
    headers = [HEADERS[0], *prompt, *HEADERS[1:3], *budget, *HEADERS[3:]]
    return table(headers, rows, text=3 + len(prompt) + len(budget), css="summary")
