"""``glm-harness compare``: does a setting change anything? Paired comparisons of run records.

One run: ``by="effort"`` pairs, per suite x prompt x API, the reference effort (``ref``,
default the lowest present in ``EFFORTS`` order) with each other effort; ``by="api"``
pairs, per suite x prompt x effort, chat (or ``ref``) with the other API; ``by="prompt"``
pairs, per suite x API x effort, the suite's first prompt variant (or ``ref``) with each
other. Two runs: the first (reference) against the second on the same (suite, case,
variant, api, effort); ``by`` and ``ref`` are ignored. Only cases with graded samples on
both sides count; ``error`` samples are counted, not graded.

Figures are "other - reference":
- Pass rate over samples on each side. Difference, 95% interval, two-sided p: exact McNemar
  with Newcombe's paired interval when every case has one sample a side; else the mean
  per-case pass-rate difference, the sign-flip permutation test, a bootstrap interval.
- Flips: a case passes when all its samples pass (the default ``min_pass_rate: 1.0``, so
  flips match what pytest shows).
- Reasoning tokens as reported; when the server reports 0 or nothing but reasoning text came
  back, len(text)/4, marked estimated. Mean per-case difference with a bootstrap interval.
  Mean per-case output tokens difference, p50 latency of each side, truncated samples.
Verdict (``_verdict``), with at least 6 cases (``stats.min_flips``: fewer cannot show
anything at p < 0.05; "too few cases to tell"): "effect" when p < 0.05 or the reasoning
interval excludes 0; "no effect" when the intervals rule a change out, the pass rate's
inside ±0.10 and the reasoning tokens' inside ±10% of the reference mean; else
"inconclusive", a pass-rate interval too wide saying "too few cases to tell" and the
smallest difference that would show (6/n). Only efforts of one run whose requests differ
are called a setting the endpoint appears to ignore.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from tabulate import tabulate

from harness.gate import stats
from harness.gate.runs import (
    AXES,
    RECORD_KEYS,
    CompareError,
    Key,
    Run,
    Sample,
    find_records,
    key_of,
    load_run,
    read_records,
    run_of,
    sample_of,
)
from harness.models import APIS, EFFORTS

__all__ = [  # the record readers live in harness.gate.runs; callers find them here too
    "RECORD_KEYS",
    "CompareError",
    "Key",
    "Run",
    "Sample",
    "compare_runs",
    "find_records",
    "key_of",
    "load_run",
    "read_records",
    "render",
    "run_of",
    "sample_of",
]  # fmt: skip

ALPHA = 0.05
SMALL = 0.10  # a reasoning-length change under 10% of the reference mean is negligible
RESAMPLES = 2000
PASS_MARGIN = 0.10  # "no effect" rules out a pass-rate change beyond this either way
IGNORED = "no measurable effect: the endpoint appears to ignore the setting"
THINKING_ON = (  # said when neither effort is none: what vLLM 0.33.0 does with them
    " (vLLM sends GLM the same request for every effort but none; thinking budgets, "
    "budgets:, change how long it thinks)"
)
SAME = "no measurable difference (the requests are identical)"
# what "no effect" says, by what is compared: only efforts of one run are a setting
NO_EFFECT = {"effort": IGNORED, "api": "no measurable difference between the APIs"}
NO_EFFECT["prompt"] = "no measurable difference between the prompts"
NO_EFFECT["budget"] = "no measurable difference between the budgets"
NO_EFFECT["runs"] = "no measurable difference between the runs"
TOO_FEW = "too few cases to tell"
Kind = Literal["effort", "api", "prompt", "budget", "runs"]
By = Literal["effort", "api", "prompt", "budget"]
AXIS_OF: dict[str, str] = {
    "effort": "effort",
    "api": "api",
    "prompt": "variant",
    "budget": "budget",
}
HEADERS = ["suite", "shared", "ref -> other", "cases", "pass rate", "diff (95% CI)", "p"]
HEADERS += ["p->f", "f->p", "reasoning diff", "output diff", "p50 ms", "truncated"]
Pairs = Sequence[tuple[Sequence["Sample"], Sequence["Sample"]]]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One reference level against one other level; field order is the JSON key order."""

    suite: str
    shared: str  # what both sides have in common: the API, the effort, or "api/effort"
    ref: str
    other: str
    cases: int
    requests_differ: bool
    pass_rate_ref: float
    pass_rate_other: float
    pass_rate_diff: float
    pass_rate_ci: tuple[float, float]
    p_value: float
    method: str
    detectable_diff: float | None  # the smallest difference the test can show; None: none
    pass_to_fail: list[str]
    fail_to_pass: list[str]
    reasoning_tokens_ref: float
    reasoning_tokens_other: float
    reasoning_tokens_diff: float
    reasoning_tokens_ci: tuple[float, float]
    reasoning_estimated: bool
    output_tokens_diff: float | None
    latency_p50_ref_ms: float | None
    latency_p50_other_ms: float | None
    latency_p50_diff_ms: float | None
    truncated_ref: int
    truncated_other: int
    errors_ref: int
    errors_other: int
    verdict: str  # "effect" | "no effect" | "inconclusive"
    message: str


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return math.fsum(values) / len(values) if values else 0.0


def _per_case(pairs: Pairs, get: Callable[[Sample], float | None]) -> list[tuple[float, float]]:
    """Per-case means of both sides, for the cases where both sides report the figure."""
    means = []
    for a, b in pairs:
        known = [[v for s in side if (v := get(s)) is not None] for side in (a, b)]
        if known[0] and known[1]:
            means.append((_mean(known[0]), _mean(known[1])))
    return means


def _pass_test(pairs: Pairs) -> tuple[float, tuple[float, float], float, str]:
    """Difference in pass rate, its 95% interval, the two-sided p, the method. With several
    samples the bootstrap interval is widened to at least the binomial noise floor, as the
    gate's ``stats.decide`` does: alike per-case rates alone would collapse it to a point."""
    if all(len(a) == 1 and len(b) == 1 for a, b in pairs):
        n = len(pairs)
        both = sum(a[0].passed and b[0].passed for a, b in pairs)
        dropped = sum(a[0].passed and not b[0].passed for a, b in pairs)
        gained = sum(b[0].passed and not a[0].passed for a, b in pairs)
        ci = stats.newcombe_paired_ci(both, dropped, gained, n - both - dropped - gained)
        return (gained - dropped) / n, ci, stats.mcnemar_exact(dropped, gained), "exact McNemar"
    diffs = [b - a for a, b in _per_case(pairs, lambda s: float(s.passed))]
    low, high = stats.paired_bootstrap_ci(diffs, resamples=RESAMPLES)
    p = stats.sign_flip_pvalue(diffs, one_sided=False, resamples=RESAMPLES)
    mean = _mean(diffs)
    floor = stats.noise_floor([([s.passed for s in a], [s.passed for s in b]) for a, b in pairs])
    ci = max(-1.0, min(low, mean - floor)), min(1.0, max(high, mean + floor))
    return mean, ci, p, "sign-flip permutation"


def _verdict(
    kind: Kind, cases: int, p: float, ci: tuple[float, float], r_ref: float,
    r_ci: tuple[float, float], differ: bool, on: bool = False,
) -> tuple[str, str]:  # fmt: skip
    """The verdict and the words before the evidence (the rules: the module's docstring);
    ``on``: both sides are efforts that leave thinking on."""
    detectable = stats.detectable_difference(cases, ALPHA)
    if detectable is None:
        few = f"fewer than {stats.min_flips(ALPHA)} cases"
        return "inconclusive", f"{TOO_FEW} (n={cases}; no difference can show with {few})"
    if p < ALPHA or not r_ci[0] <= 0 <= r_ci[1]:
        return "effect", "effect"  # compare_pair says on what
    if not -PASS_MARGIN < ci[0] <= ci[1] < PASS_MARGIN:
        shows = f"a difference of at least {detectable:.2f} would show"
        return "inconclusive", f"{TOO_FEW} (n={cases}; {shows})"
    if not -SMALL * r_ref <= r_ci[0] <= r_ci[1] <= SMALL * r_ref:
        beyond = f"its 95% interval reaches beyond {SMALL:.0%} of the reference mean"
        return "inconclusive", f"inconclusive (the reasoning change may not be small: {beyond})"
    if not differ:
        return "no effect", SAME
    return "no effect", NO_EFFECT[kind] + (THINKING_ON if kind == "effort" and on else "")


def compare_pair(
    suite: str, shared: str, labels: tuple[str, str], runs: tuple[Run, Run],
    items: Sequence[tuple[str, Key, Key]], kind: Kind = "effort",
) -> Comparison | None:  # fmt: skip
    """One reference level against one other level on ``items`` (case, ref key, other key);
    None when no case has graded samples on both sides. ``kind``: what the levels are
    (efforts or APIs of one run, or two runs), for the words of a "no effect"."""
    ref, other = runs
    graded = [(c, ref.samples[a], other.samples[b]) for c, a, b in items]
    graded = [(c, a, b) for c, a, b in graded if a and b]
    if not graded:
        return None
    pairs = [(a, b) for _, a, b in graded]
    diff, interval, p, method = _pass_test(pairs)
    reasoning = _per_case(pairs, lambda s: s.reasoning)
    r_diffs = [b - a for a, b in reasoning]
    r_ref, r_diff = _mean(a for a, _ in reasoning), _mean(r_diffs)
    r_ci = stats.paired_bootstrap_ci(r_diffs, resamples=RESAMPLES)
    output = [b - a for a, b in _per_case(pairs, lambda s: s.output)]
    sides = [[s for pair in pairs for s in pair[i]] for i in (0, 1)]
    latency = [[s.latency_ms for s in side if s.latency_ms is not None] for side in sides]
    p50 = [stats.percentile(values, 50) for values in latency]
    estimated = any(s.estimated for side in sides for s in side)
    differ = any({s.request for s in a} != {s.request for s in b} for a, b in pairs)
    errors = [sum(ref.errors.get(a, 0) for _, a, _ in items)]
    errors += [sum(other.errors.get(b, 0) for _, _, b in items)]
    evidence = (
        f"pass rate {diff:+.2f} (95% CI {interval[0]:+.2f}..{interval[1]:+.2f}),"
        f" p={p:.3g} ({method}); reasoning tokens {r_diff:+.0f} per case (95% CI"
        f" {r_ci[0]:+.0f}..{r_ci[1]:+.0f}){' est.' if estimated else ''},"
        f" reference mean {r_ref:.0f}"
    )
    on = "none" not in labels
    verdict, head = _verdict(kind, len(pairs), p, interval, r_ref, r_ci, differ, on)
    if verdict == "effect":
        what = [f"pass rate {diff:+.2f}"] if p < ALPHA else []
        share = f" ({r_diff / r_ref:+.0%})" if r_ref else ""
        what += [] if r_ci[0] <= 0 <= r_ci[1] else [f"reasoning {r_diff:+.0f} tokens{share}"]
        head = f"effect ({', '.join(what)})"
    message = f"{head}: {evidence}"
    if any(errors):
        message += f" ({errors[0]} -> {errors[1]} error samples left out)"
    passing = [(c, all(s.passed for s in a), all(s.passed for s in b)) for c, a, b in graded]
    return Comparison(
        suite=suite, shared=shared, ref=labels[0], other=labels[1], cases=len(pairs),
        requests_differ=differ,
        pass_rate_ref=_mean(s.passed for s in sides[0]),
        pass_rate_other=_mean(s.passed for s in sides[1]),
        pass_rate_diff=diff, pass_rate_ci=interval, p_value=p, method=method,
        detectable_diff=stats.detectable_difference(len(pairs), ALPHA),
        pass_to_fail=[c for c, a, b in passing if a and not b],
        fail_to_pass=[c for c, a, b in passing if b and not a],
        reasoning_tokens_ref=r_ref, reasoning_tokens_other=_mean(b for _, b in reasoning),
        reasoning_tokens_diff=r_diff, reasoning_tokens_ci=r_ci, reasoning_estimated=estimated,
        output_tokens_diff=_mean(output) if output else None,
        latency_p50_ref_ms=p50[0], latency_p50_other_ms=p50[1],
        latency_p50_diff_ms=None if p50[0] is None or p50[1] is None else p50[1] - p50[0],
        truncated_ref=sum(s.truncated for s in sides[0]),
        truncated_other=sum(s.truncated for s in sides[1]),
        errors_ref=errors[0], errors_other=errors[1], verdict=verdict, message=message,
    )  # fmt: skip


def _rank(order: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    return lambda level: (order.index(level) if level in order else len(order), level)


def _shared(key: Key, vary: int | None = None) -> str:
    """What the two sides of a pair have in common: the axes not compared, joined by "/"
    (a suite without prompt variants has no variant to show)."""
    kept = []
    for i, axis in enumerate(AXES):
        value = key[2 + i]
        if 2 + i != vary and value:
            kept.append(f"t{value}" if axis == "budget" else value)  # as in item ids: t1024
    return "/".join(kept)


def compare_runs(
    first: Run, second: Run | None = None, *, by: By = "effort", ref: str | None = None,
) -> list[Comparison]:  # fmt: skip
    """Every comparison: levels within ``first``, or ``first`` against ``second``."""
    # (suite, shared, ref label, other label) -> [(case, ref key, other key)]
    plan: dict[tuple[str, str, str, str], list[tuple[str, Key, Key]]] = defaultdict(list)
    if second is not None:
        names = (first.label, second.label) if first.label != second.label else ("RUN", "RUN2")
        rank = _rank(EFFORTS)
        common = first.samples.keys() & second.samples.keys()
        for key in sorted(common, key=lambda k: (k[0], k[2], k[3], rank(k[4]), k[5], k[1])):
            plan[(key[0], _shared(key), *names)].append((key[1], key, key))
    else:
        vary = 2 + AXES.index(AXIS_OF[by])
        order = _levels(first, by, vary)
        if by == "budget" and ref is not None:
            ref = "" if ref.lower() == "none" else ref.removeprefix("t")
        if ref is not None and ref not in order:
            allowed = ", ".join(_shown(by, level) for level in order) or "none in this run"
            raise CompareError(f"--ref {ref!r}: not one of {allowed} (--by {by})")
        table: dict[tuple[str, str], dict[str, dict[str, Key]]] = defaultdict(dict)
        for key in first.samples:  # (suite, the settings that stay) -> level -> case -> key
            table[(key[0], _shared(key, vary))].setdefault(key[vary], {})[key[1]] = key
        if all(len(levels) < 2 for levels in table.values()):
            raise CompareError(f"nothing to compare --by {by}: {_only_one(by, table)}")
        for (suite, shared), levels in sorted(table.items()):
            base = ref if ref is not None else min(levels, key=_rank(order))
            for level in sorted(levels, key=_rank(order)):
                if level != base and base in levels:
                    common_cases = sorted(levels[base].keys() & levels[level].keys())
                    items = [(c, levels[base][c], levels[level][c]) for c in common_cases]
                    plan[(suite, shared, _shown(by, base), _shown(by, level))] = items
    runs = (first, second if second is not None else first)
    kind: Kind = "runs" if second is not None else by
    found = [compare_pair(*w[:2], w[2:], runs, items, kind) for w, items in plan.items()]
    if not any(found):
        what = f"--by {by} --ref {ref}" if ref else f"--by {by}"
        what = "the two runs" if second is not None else what
        raise CompareError(f"no common cases to compare ({what})")
    return [c for c in found if c is not None]


def _shown(by: str, level: str) -> str:
    """A level as comparisons name it: a budget ``1024`` (no budget: ``none``)."""
    return (level or "none") if by == "budget" else level


def _levels(run: Run, by: By, vary: int) -> list[str]:
    """The levels of ``by`` in their order: efforts low to high, chat before responses,
    prompt variants in the order of the suite's ``prompts:`` (records carry it)."""
    if by == "effort":
        return list(EFFORTS)
    if by == "api":
        return list(APIS)
    if by == "budget":  # small to large; no budget (unlimited) last
        found = {key[vary] for key in run.samples}
        return sorted(found, key=lambda b: (b == "", int(b) if b.isdigit() else 0))
    seen = list(dict.fromkeys(key[vary] for key in run.samples if key[vary]))
    return sorted(seen, key=lambda v: (run.variant_order.get(v, len(seen)), seen.index(v)))


def _only_one(by: By, table: dict[tuple[str, str], dict[str, dict[str, Key]]]) -> str:
    present = ", ".join(sorted({lvl or "(none)" for levels in table.values() for lvl in levels}))
    if by == "effort":
        return f"the run has one effort ({present}) per suite and API"
    if by == "api":
        return f"the run has one API ({present}) per suite and effort"
    if by == "budget":
        return (
            "the run has one thinking budget per suite, prompt, API and effort "
            "(a suite compares budgets when it lists two or more under budgets:)"
        )
    named = f" ({present})" if present != "(none)" else ""
    return (
        f"the run has one prompt{named} per suite, API and effort "
        "(a suite has prompts to compare when it lists two or more under prompts:)"
    )


def cells(c: Comparison) -> list[object]:
    """One comparison as a row under ``HEADERS``."""
    ms = "-"
    if c.latency_p50_ref_ms is not None and c.latency_p50_other_ms is not None:
        ms = f"{c.latency_p50_ref_ms:.0f} -> {c.latency_p50_other_ms:.0f}"
        ms += f" ({c.latency_p50_other_ms - c.latency_p50_ref_ms:+.0f})"
    return [
        c.suite, c.shared, f"{c.ref} -> {c.other}", c.cases,
        f"{c.pass_rate_ref:.2f} -> {c.pass_rate_other:.2f}",
        f"{c.pass_rate_diff:+.2f} ({c.pass_rate_ci[0]:+.2f}..{c.pass_rate_ci[1]:+.2f})",
        f"{c.p_value:.3g}", len(c.pass_to_fail), len(c.fail_to_pass),
        f"{c.reasoning_tokens_diff:+.0f}{' est.' if c.reasoning_estimated else ''}",
        "-" if c.output_tokens_diff is None else f"{c.output_tokens_diff:+.0f}",
        ms,
        f"{c.truncated_ref} -> {c.truncated_other}",
    ]  # fmt: skip


def render(comparisons: Sequence[Comparison], fmt: Literal["text", "md", "json"] = "text") -> str:
    """The comparisons as a table and a line each (text, or Markdown), or as a JSON list."""
    if fmt == "json":
        return json.dumps([asdict(c) for c in comparisons], indent=2) + "\n"
    md = fmt == "md"
    rows = [[str(x).replace("|", "\\|") if md else x for x in cells(c)] for c in comparisons]
    table = tabulate(rows, HEADERS, tablefmt="pipe" if md else "simple", disable_numparse=True)
    lines = [table, ""]
    for c in comparisons:
        title = f"{c.suite} {c.shared}: {c.ref} -> {c.other}"
        lines.append(f"- **{title}**: {c.message}" if md else f"{title}: {c.message}")
        for what, ids in (("pass->fail", c.pass_to_fail), ("fail->pass", c.fail_to_pass)):
            if ids:
                shown = ", ".join(f"`{i}`" if md else i for i in ids)
                lines.append(f"  - {what}: {shown}" if md else f"  {what}: {shown}")
    return "\n".join(lines) + "\n"
