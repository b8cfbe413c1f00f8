"""Statistics for pass rates, and for deciding whether a run regressed against a baseline.

Formulas are written out so they can be checked by hand. Stdlib only: binomial tails are
exact integer sums, resampling uses a seeded random.Random so results repeat.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Z95 = 1.959963984540054
EXACT_SIGN_FLIPS = 16  # up to 2**16 sign patterns are enumerated; more non-zero diffs are sampled
_CHUNK = 8  # sign-flip subset sums are tabulated 8 diffs (256 sums) at a time


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default).

    centre = (p + z²/2n) / (1 + z²/n);  half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
    With n = 0 the interval is the whole range (0, 1).
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The interval always holds p; clamping to it keeps rounding from putting 0/n or n/n
    # just outside (1e-17, 0.9999999999999999).
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _half_binomial_cdf(n: int, k: int) -> float:
    """P[X <= k] for X ~ Binomial(n, 1/2) = sum_{i=0..k} C(n, i) / 2^n, in exact integers.

    int / int rounds once, correctly, however large both are, so n in the thousands
    loses nothing (2^2000 overflows a float, but the quotient does not).
    """
    term = total = 1  # C(n, 0)
    for i in range(min(k, n)):
        term = term * (n - i) // (i + 1)  # C(n, i+1) = C(n, i)·(n-i)/(i+1), exactly divisible
        total += term
    return total / (1 << n)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test: p = min(1, 2·P[X <= min(b, c)]), X ~ Binomial(b+c, 1/2).

    b = pairs that went pass -> fail, c = pairs that went fail -> pass; pairs that agree
    carry no information. p = 1 when b + c = 0.
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must not be negative, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return min(1.0, 2 * _half_binomial_cdf(b + c, min(b, c)))


def mcnemar_one_sided(b: int, c: int) -> float:
    """One-sided exact McNemar test that the pass rate dropped: p = P[X >= b], X ~ Bin(b+c, 1/2).

    By symmetry of Binomial(n, 1/2), P[X >= b] = P[X <= n - b] = P[X <= c]. p = 1 when
    b + c = 0.
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must not be negative, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return _half_binomial_cdf(b + c, c)


def min_flips(alpha: float = 0.05) -> int:
    """The fewest paired cases that can show a difference at two-sided p < alpha: the
    smallest k with 2·0.5^k < alpha, all k changing the same way (exact McNemar with k
    discordant pairs, or the sign-flip test with k non-zero diffs of one sign: both give
    p = 2·0.5^k). alpha 0.05 -> 6: 2/64 = 0.031, while 2/32 = 0.0625 is not enough.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    flips = 1
    while mcnemar_exact(0, flips) >= alpha:
        flips += 1
    return flips


def detectable_difference(cases: int, alpha: float = 0.05) -> float | None:
    """The smallest pass-rate difference a paired test of ``cases`` cases can declare
    significant: min_flips(alpha) / cases, the fewest cases that can show a difference all
    flipping the same way. None when cases < min_flips(alpha): no difference can show.
    """
    flips = min_flips(alpha)
    return None if cases < flips else flips / cases


def _subset_sums(values: Sequence[float]) -> list[float]:
    """All 2^len(values) subset sums; bit j of an index says whether values[j] is in it."""
    sums = [0.0]
    for value in values:
        sums += [s + value for s in sums]
    return sums


def sign_flip_pvalue(
    diffs: Sequence[float], *, one_sided: bool = True, resamples: int = 10000, seed: int = 0
) -> float:
    """Paired sign-flip permutation test of mean(diffs), diffs[i] = baseline_i - current_i.

    Under "no change" each diff is as likely to be +d as -d. With T = sum|d_i| and the
    signs flipped on a subset S, the flipped sum is T - 2·sum_S|d_i|, so
        one-sided  p = P[sum* >= sum(d)]    = share of S with sum_S|d_i| <= (T - sum(d))/2
        two-sided  p = P[|sum*| >= |sum(d)|] (= min(1, 2·P[sum* >= |sum(d)|]) by symmetry)
    Comparing sums is comparing means (n is fixed). Zero diffs are dropped: flipping them
    changes nothing. With at most 16 non-zero diffs all 2^n patterns are counted exactly
    (meet in the middle: two tables of <= 256 sums); otherwise `resamples` random
    patterns from random.Random(seed) give p = (hits + 1) / (resamples + 1). Empty or
    all-zero diffs give 1.0. Sums are compared with a tolerance of 1e-9·T, so float
    rounding cannot drop a tie (such as the observed pattern itself) from the count.
    """
    sizes = [abs(d) for d in diffs if d != 0]
    if not sizes:
        return 1.0
    n, total = len(sizes), math.fsum(sizes)
    observed = math.fsum(diffs)
    target = observed if one_sided else abs(observed)
    limit = (total - target) / 2 + 1e-9 * total
    tables = [_subset_sums(sizes[i : i + _CHUNK]) for i in range(0, n, _CHUNK)]
    if n <= EXACT_SIGN_FLIPS:
        high = sorted(tables[1]) if len(tables) > 1 else [0.0]
        hits = sum(bisect_right(high, limit - low) for low in tables[0])
        p = hits / (1 << n)
        return p if one_sided else min(1.0, 2 * p)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    rng = random.Random(seed)  # noqa: S311 - a reproducible statistical sample, not a secret
    hits = 0
    for _ in range(resamples):
        bits = rng.getrandbits(n)
        flipped = math.fsum(
            table[(bits >> (_CHUNK * j)) & (len(table) - 1)] for j, table in enumerate(tables)
        )
        hits += flipped <= limit or (not one_sided and flipped >= total - limit)
    return (hits + 1) / (resamples + 1)


def paired_bootstrap_ci(
    diffs: Sequence[float], *, level: float = 0.95, resamples: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for mean(diffs), resampling cases with replacement.

    Each resample draws len(diffs) cases with replacement and takes their mean; the interval
    is the (1-level)/2 and (1+level)/2 percentiles of those means. Empty -> (0.0, 0.0).
    """
    if not diffs:
        return 0.0, 0.0
    if resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need resamples >= 1 and 0 < level < 1, got {resamples}, {level}")
    n = len(diffs)
    draws = random.Random(seed).choices(diffs, k=n * resamples)  # noqa: S311 - not a secret
    means = [math.fsum(draws[i : i + n]) / n for i in range(0, len(draws), n)]
    tail = 100 * (1 - level) / 2
    low, high = percentile(means, tail), percentile(means, 100 - tail)
    assert low is not None  # means is never empty here
    assert high is not None
    return low, high


def newcombe_paired_ci(
    both: int, dropped: int, gained: int, neither: int, z: float = Z95
) -> tuple[float, float]:
    """Newcombe's square-and-add interval (1998, method 10) for a paired difference p2 - p1.

    Cases: both = pass in both runs, dropped = pass -> fail, gained = fail -> pass,
    neither = fail in both. n = the sum; p1 = (both + dropped)/n (baseline),
    p2 = (both + gained)/n (current); (l1, u1), (l2, u2) their Wilson intervals.
        x = both·neither - dropped·gained;  x' = x - n/2 if x > n/2, 0 if 0 <= x <= n/2, x if x < 0
        phi = x' / sqrt((both+dropped)(gained+neither)(both+gained)(dropped+neither)),
              0 when any of those margins is 0
        lower = (p2 - p1) - sqrt((p2-l2)² - 2·phi·(p2-l2)(u1-p1) + (u1-p1)²)
        upper = (p2 - p1) + sqrt((u2-p2)² - 2·phi·(u2-p2)(p1-l1) + (p1-l1)²)
    Clamped to [-1, 1]. Unlike a Wald interval it keeps a width when dropped = gained = 0.
    """
    n = both + dropped + gained + neither
    if n <= 0:
        return -1.0, 1.0
    p1, p2 = (both + dropped) / n, (both + gained) / n
    (l1, u1), (l2, u2) = wilson(both + dropped, n, z), wilson(both + gained, n, z)
    margins = (both + dropped) * (gained + neither) * (both + gained) * (dropped + neither)
    x = both * neither - dropped * gained
    corrected = x - n / 2 if x > n / 2 else min(x, 0)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    down = math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    up = math.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2))
    return max(-1.0, p2 - p1 - down), min(1.0, p2 - p1 + up)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether the current run regressed against the baseline, with the numbers behind it."""

    state: Literal["regression", "no regression", "inconclusive"]
    p_value: float  # one-sided, H1: the pass rate dropped
    delta: float  # current pass rate - baseline pass rate (negative = worse)
    interval: tuple[float, float]  # 95% interval for delta (paired)
    method: str  # "exact McNemar" | "sign-flip permutation" | "none"
    cases: int
    more_samples: int | None  # inconclusive only: samples per case (McNemar: cases) to add
    reason: str  # one readable sentence with the numbers


def _more_samples(delta: float, lower: float, margin: float, size: float) -> int | None:
    """Extra samples for the lower half-width h = delta - lower to fall below delta + margin.

    The half-width shrinks like 1/sqrt(size): h·sqrt(size/needed) < delta + margin needs
    needed > size·(h / (delta + margin))²; the answer is needed - size, at least 1. None
    when delta <= -margin: no amount of data is expected to rule out such a drop.
    """
    gap = delta + margin
    if gap <= 0:
        return None
    needed = math.floor(size * ((delta - lower) / gap) ** 2) + 1
    return max(1, math.ceil(needed - size))


def noise_floor(pairs: Sequence[tuple[Sequence[bool], Sequence[bool]]]) -> float:
    """Half-width z·sqrt(sum_i v_i)/k of the binomial noise in a mean of k per-case diffs.

    Case i with s_b of n_b and s_c of n_c passes: p~ = (s_b + s_c + 1)/(n_b + n_c + 2)
    (one pass and one failure added so 0/n and n/n still count as noisy),
    v_i = p~(1 - p~)(1/n_b + 1/n_c).
    """
    total = 0.0
    for b, c in pairs:
        rate = (sum(b) + sum(c) + 1) / (len(b) + len(c) + 2)
        total += rate * (1 - rate) * (1 / len(b) + 1 / len(c))
    return Z95 * math.sqrt(total) / len(pairs)


def decide(
    baseline: Sequence[Sequence[bool]],
    current: Sequence[Sequence[bool]],
    *,
    alpha: float = 0.05,
    margin: float = 0.1,
    resamples: int = 2000,
    seed: int = 0,
) -> Decision:
    """Regression, no regression, or inconclusive, from the same cases run twice.

    baseline[i] and current[i] are the pass/fail samples of case i in the two runs (the
    sequences must be equally long); a case with no samples on either side is skipped.
    - One sample a case on both sides: exact McNemar, p = mcnemar_one_sided(dropped,
      gained); delta = (gained - dropped)/n with newcombe_paired_ci as its interval.
    - Otherwise per-case pass rates, diffs_i = base_rate_i - cur_rate_i:
      p = sign_flip_pvalue(diffs, one_sided=True); delta = -mean(diffs); its interval is
      the paired_bootstrap_ci of diffs, negated, widened to at least delta ± noise_floor:
      with few cases, or all diffs equal, the bootstrap alone collapses to a point.
    Pass rates are means over cases, so every case weighs the same.
    "regression" when p < alpha; else "no regression" when the interval's lower bound is
    above -margin (a drop of more than `margin` is ruled out); else "inconclusive", with
    more_samples from _more_samples (samples per case, sized by the mean samples per case
    of the two runs; cases for McNemar). That estimate is rough: with many samples the
    spread between cases, not within them, limits the interval. The 95% interval is
    two-sided, so its lower bound is a 97.5% one-sided bound.
    """
    pairs = [(b, c) for b, c in zip(baseline, current, strict=True) if b and c]
    cases = len(pairs)
    if not pairs:
        why = "no case has samples in both runs: inconclusive"
        return Decision("inconclusive", 1.0, 0.0, (-1.0, 1.0), "none", 0, None, why)
    if all(len(b) == 1 and len(c) == 1 for b, c in pairs):
        both = sum(b[0] and c[0] for b, c in pairs)
        dropped = sum(b[0] and not c[0] for b, c in pairs)
        gained = sum(c[0] and not b[0] for b, c in pairs)
        base_rate, cur_rate = (both + dropped) / cases, (both + gained) / cases
        delta = cur_rate - base_rate
        p = mcnemar_one_sided(dropped, gained)
        interval = newcombe_paired_ci(both, dropped, gained, cases - both - dropped - gained)
        method, size, unit = "exact McNemar", float(cases), "cases"
    else:
        base_rates = [sum(b) / len(b) for b, _ in pairs]
        cur_rates = [sum(c) / len(c) for _, c in pairs]
        diffs = [b - c for b, c in zip(base_rates, cur_rates, strict=True)]
        base_rate, cur_rate = math.fsum(base_rates) / cases, math.fsum(cur_rates) / cases
        p = sign_flip_pvalue(diffs, one_sided=True, resamples=resamples, seed=seed)
        low, high = paired_bootstrap_ci(diffs, resamples=resamples, seed=seed)
        delta, floor = cur_rate - base_rate, noise_floor(pairs)
        interval = (max(-1.0, min(-high, delta - floor)), min(1.0, max(-low, delta + floor)))
        size = sum(len(b) + len(c) for b, c in pairs) / (2 * cases)
        method, unit = "sign-flip permutation", "samples per case"
    more: int | None = None
    if p < alpha:
        state: Literal["regression", "no regression", "inconclusive"] = "regression"
        verdict = "regression"
    elif interval[0] > -margin:
        state = "no regression"
        verdict = f"no regression (a drop of more than {margin:.2f} is ruled out)"
    else:
        state = "inconclusive"
        more = _more_samples(delta, interval[0], margin, size)
        verdict = (
            f"inconclusive; about {more} more {unit} would decide"
            if more is not None
            else f"inconclusive; the drop already reaches the {margin:.2f} margin, so more"
            " data would more likely confirm a regression than rule it out"
        )
    reason = (
        f"pass rate {base_rate:.2f} -> {cur_rate:.2f} ({delta:+.2f}, 95% CI"
        f" {interval[0]:+.2f}..{interval[1]:+.2f}), p={p:.3g} ({method}, {cases} cases): {verdict}"
    )
    return Decision(state, p, delta, interval, method, cases, more, reason)
