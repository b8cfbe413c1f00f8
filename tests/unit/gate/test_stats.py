"""Pass-rate statistics and the regression decision, against values worked out by hand."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from fractions import Fraction

import pytest

from harness.gate import stats
from harness.gate.stats import (
    decide,
    mcnemar_exact,
    mcnemar_one_sided,
    newcombe_paired_ci,
    paired_bootstrap_ci,
    percentile,
    sign_flip_pvalue,
    wilson,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        pytest.param(0, 10, 0.0, 0.2775, id="0of10"),
        pytest.param(10, 10, 0.7225, 1.0, id="10of10"),
        pytest.param(5, 10, 0.2366, 0.7634, id="5of10"),
        pytest.param(7, 10, 0.3968, 0.8922, id="7of10"),
        pytest.param(81, 263, 0.2553, 0.3662, id="81of263"),
        pytest.param(1, 1, 0.2065, 1.0, id="1of1"),
        pytest.param(0, 1, 0.0, 0.7935, id="0of1"),
    ],
)
def test_wilson_known_values(successes: int, n: int, low: float, high: float) -> None:
    got = wilson(successes, n)
    assert (round(got[0], 4), round(got[1], 4)) == (low, high)


@pytest.mark.parametrize("n", [0, -1], ids=["zero", "negative"])
def test_wilson_without_samples_is_the_whole_range(n: int) -> None:
    assert wilson(0, n) == (0.0, 1.0)


@pytest.mark.parametrize(("successes", "n"), [(0, 5), (3, 7), (40, 50), (263, 263)])
def test_wilson_contains_the_rate_and_mirrors(successes: int, n: int) -> None:
    low, high = wilson(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0
    mirror_low, mirror_high = wilson(n - successes, n)
    assert low == pytest.approx(1 - mirror_high)
    assert high == pytest.approx(1 - mirror_low)


@pytest.mark.parametrize("n", [3, 7, 13, 25, 263])
def test_wilson_bounds_are_exact_at_zero_and_all(n: int) -> None:
    # rounding once left 0/n at a low bound of 1e-17 and n/n at 0.9999999999999999
    assert wilson(0, n)[0] == 0.0
    assert wilson(n, n)[1] == 1.0


def test_wilson_narrows_with_more_samples() -> None:
    widths = [high - low for low, high in (wilson(n // 2, n) for n in (10, 100, 1000))]
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < 0.07


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([1, 2, 3, 4], 50, 2.5, id="p50-even"),
        pytest.param([3, 1, 2], 50, 2, id="p50-odd-unsorted"),
        pytest.param([1, 2, 3, 4], 95, 3.85, id="p95-interpolated"),
        pytest.param([10, 20], 95, 19.5, id="p95-two"),
        pytest.param(list(range(1, 101)), 95, 95.05, id="p95-hundred"),
        pytest.param([3, 1, 2], 0, 1, id="p0-min"),
        pytest.param([3, 1, 2], 100, 3, id="p100-max"),
        pytest.param([42.0], 50, 42.0, id="single-p50"),
        pytest.param([42.0], 95, 42.0, id="single-p95"),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("q", [0, 50, 95])
def test_percentile_of_nothing_is_none(q: float) -> None:
    assert percentile([], q) is None


# --- exact McNemar ---------------------------------------------------------------------
# X ~ Binomial(n = b + c, 1/2); P[X = k] = C(n, k) / 2^n.
# two-sided p = min(1, 2·P[X <= min(b, c)]);  one-sided p = P[X >= b].
@pytest.mark.parametrize(
    ("b", "c", "two_sided", "one_sided"),
    [
        # n=10: P[X <= 0] = 1/1024; P[X >= 10] = 1/1024
        pytest.param(10, 0, 0.001953125, 0.0009765625, id="10-0"),
        # n=10: P[X >= 0] = 1
        pytest.param(0, 10, 2 / 1024, 1.0, id="0-10"),
        # n=10: P[X <= 4] = (1+10+45+120+210)/1024 = 386/1024, P[X >= 5] = 638/1024
        pytest.param(5, 5, 1.0, 638 / 1024, id="5-5"),
        # n=9: P[X <= 2] = P[X >= 7] = (C(9,0)+C(9,1)+C(9,2))/512 = (1+9+36)/512
        pytest.param(7, 2, 0.1796875, 0.08984375, id="7-2"),
        pytest.param(2, 7, 2 * 46 / 512, 1 - 10 / 512, id="2-7"),  # P[X >= 2] = 1 - (1+9)/512
        # n=7: P[X >= 6] = (C(7,6)+C(7,7))/128 = 8/128
        pytest.param(6, 1, 16 / 128, 8 / 128, id="6-1"),
        pytest.param(1, 0, 1.0, 0.5, id="1-0"),
        pytest.param(0, 0, 1.0, 1.0, id="no-discordant-pairs"),
    ],
)
def test_mcnemar_known_values(b: int, c: int, two_sided: float, one_sided: float) -> None:
    assert mcnemar_exact(b, c) == two_sided
    assert mcnemar_one_sided(b, c) == one_sided


def test_mcnemar_large_n_is_exact_and_quick() -> None:
    start = time.perf_counter()
    # P[X >= 1001 | n=2000] = (1 - P[X = 1000]) / 2 by symmetry, in exact fractions
    expected = float((1 - Fraction(math.comb(2000, 1000), 2**2000)) / 2)
    assert mcnemar_one_sided(1001, 999) == expected
    assert mcnemar_exact(1000, 1000) == 1.0
    assert 0.0 < mcnemar_exact(1100, 900) < 1e-5
    # 2^-1074 is the smallest float: float arithmetic on the terms would underflow to 0
    assert mcnemar_one_sided(1074, 0) == math.ulp(0.0)
    assert mcnemar_one_sided(2500, 2500) == pytest.approx(0.5, abs=0.01)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("b", "c"), [(b, c) for b in range(12) for c in range(12)])
def test_mcnemar_two_sided_doubles_the_smaller_tail(b: int, c: int) -> None:
    smaller_tail = min(mcnemar_one_sided(b, c), mcnemar_one_sided(c, b))
    assert mcnemar_exact(b, c) == pytest.approx(min(1.0, 2 * smaller_tail))


@pytest.mark.parametrize("func", [mcnemar_exact, mcnemar_one_sided])
def test_mcnemar_rejects_negative_counts(func: Callable[[int, int], float]) -> None:
    with pytest.raises(ValueError, match="negative"):
        func(-1, 3)


# --- sign-flip permutation -------------------------------------------------------------
def _brute_sign_flip(diffs: list[float], one_sided: bool) -> float:
    """Every sign pattern of the non-zero diffs, counted one by one."""
    kept = [d for d in diffs if d != 0]
    observed = sum(kept)
    hits = 0
    for signs in itertools.product((1, -1), repeat=len(kept)):
        flipped = sum(s * d for s, d in zip(signs, kept, strict=True))
        hits += flipped >= observed - 1e-9 if one_sided else abs(flipped) >= abs(observed) - 1e-9
    return hits / (1 << len(kept))


@pytest.mark.parametrize(
    ("diffs", "one_sided", "expected"),
    [
        # sums of (±1, ±1, ±1): only +++ reaches 3 -> 1/8; |sum| >= 3: +++ and --- -> 2/8
        pytest.param([1, 1, 1], True, 1 / 8, id="three-drops-one-sided"),
        pytest.param([1, 1, 1], False, 2 / 8, id="three-drops-two-sided"),
        # (±1, ∓1) sums: ++ 0, +- 2, -+ -2, -- 0; observed 0: three of four are >= 0
        pytest.param([1, -1], True, 3 / 4, id="cancel-one-sided"),
        pytest.param([1, -1], False, 1.0, id="cancel-two-sided"),
        # zeros are dropped: same as [1, 1] -> only ++ reaches 2
        pytest.param([1, 0, 0, 1], True, 1 / 4, id="zeros-dropped"),
        # (±.5, ±.25, ±.25): sums 1, .5, .5, 0, 0, -.5, -.5, -1; observed .5
        pytest.param([0.5, 0.25, -0.25], True, 3 / 8, id="mixed-one-sided"),
        pytest.param([0.5, 0.25, -0.25], False, 6 / 8, id="mixed-two-sided"),
        # observed .1+.2-.3 is 0 up to rounding; sums .6, 0, .2, .4, -.4, -.2, 0, -.6: 5 >= 0
        pytest.param([0.1, 0.2, -0.3], True, 5 / 8, id="rounding-tie"),
        # 16 equal drops: only the all-plus pattern of 2^16 reaches the observed sum
        pytest.param([0.1] * 16, True, 1 / 65536, id="sixteen-exact"),
        pytest.param([-1, -1], True, 1.0, id="improvement"),
        pytest.param([], True, 1.0, id="empty"),
        pytest.param([0.0, 0.0], True, 1.0, id="all-zero"),
        pytest.param([0.0, 0.0], False, 1.0, id="all-zero-two-sided"),
    ],
)
def test_sign_flip_exact_by_hand(diffs: list[float], one_sided: bool, expected: float) -> None:
    assert sign_flip_pvalue(diffs, one_sided=one_sided) == pytest.approx(expected)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 13])
@pytest.mark.parametrize("one_sided", [True, False], ids=["one-sided", "two-sided"])
def test_sign_flip_exact_matches_brute_force(n: int, one_sided: bool) -> None:
    rng = random.Random(n)
    diffs = [rng.choice([-0.3, -0.1, 0.0, 0.1, 0.2, 0.5, 1.0]) for _ in range(n)]
    got = sign_flip_pvalue(diffs, one_sided=one_sided)
    assert got == pytest.approx(_brute_sign_flip(diffs, one_sided))


@pytest.mark.parametrize("one_sided", [True, False], ids=["one-sided", "two-sided"])
def test_sign_flip_monte_carlo_approximates_exact(
    monkeypatch: pytest.MonkeyPatch, one_sided: bool
) -> None:
    rng = random.Random(7)
    diffs = [rng.choice([-0.2, -0.1, 0.1, 0.2, 0.3]) for _ in range(12)]
    exact = _brute_sign_flip(diffs, one_sided)
    monkeypatch.setattr(stats, "EXACT_SIGN_FLIPS", 0)  # force sampling on a small input
    sampled = sign_flip_pvalue(diffs, one_sided=one_sided, resamples=20000, seed=1)
    assert sampled == pytest.approx(exact, abs=0.015)  # 3 standard errors at p = 0.5


def test_sign_flip_monte_carlo_is_seeded_and_never_zero() -> None:
    diffs = [0.1] * 20  # 20 non-zero diffs: sampled, not enumerated
    first = sign_flip_pvalue(diffs, resamples=500, seed=3)
    assert first == sign_flip_pvalue(diffs, resamples=500, seed=3)
    # only 1 of 2^20 patterns reaches the observed sum; (0 + 1)/(500 + 1) keeps p above 0
    assert first == 1 / 501
    rng = random.Random(0)
    noisy = [rng.uniform(-1, 1) for _ in range(40)]
    ps = {sign_flip_pvalue(noisy, resamples=500, seed=s) for s in range(5)}
    assert len(ps) > 1
    assert all(0 < p <= 1 for p in ps)


# --- paired bootstrap ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("diffs", "level", "expected"),
    [
        pytest.param([], 0.95, (0.0, 0.0), id="empty"),
        # means of two draws from {0, 1}: 0 (1/4), .5 (1/2), 1 (1/4); the 2.5th and 97.5th
        # percentiles fall inside the outer quarters
        pytest.param([0.0, 1.0], 0.95, (0.0, 1.0), id="two-cases-95"),
        # the 30th and 70th percentiles fall inside the middle half
        pytest.param([0.0, 1.0], 0.4, (0.5, 0.5), id="two-cases-40"),
        pytest.param([0.25] * 4, 0.95, (0.25, 0.25), id="constant"),
    ],
)
def test_bootstrap_by_hand(diffs: list[float], level: float, expected: tuple[float, float]) -> None:
    assert paired_bootstrap_ci(diffs, level=level) == pytest.approx(expected)


def test_bootstrap_holds_the_mean_and_is_seeded() -> None:
    rng = random.Random(11)
    diffs = [rng.choice([-0.2, 0.0, 0.1, 0.3]) for _ in range(30)]
    mean = sum(diffs) / len(diffs)
    low, high = paired_bootstrap_ci(diffs, resamples=2000, seed=5)
    assert low < mean < high
    assert paired_bootstrap_ci(diffs, resamples=2000, seed=5) == (low, high)
    narrow = paired_bootstrap_ci(diffs, level=0.5, resamples=2000, seed=5)
    assert low < narrow[0] < mean < narrow[1] < high


@pytest.mark.parametrize(("resamples", "level"), [(0, 0.95), (10, 0.0), (10, 1.0)])
def test_bootstrap_rejects_bad_settings(resamples: int, level: float) -> None:
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap_ci([0.1], resamples=resamples, level=level)


# --- Newcombe paired interval ----------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "low", "high"),
    [
        # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8:
        # Cavo et al. 2012, [[59, 6], [16, 80]], Newcombe square-and-add for p1 - p2:
        # -0.1186 to -0.0046; here delta = p2 - p1, so the interval is negated
        pytest.param((59, 6, 16, 80), 0.0046, 0.1186, id="cavo-2012"),
        # all 3 pass in both runs: phi = 0 (a margin is 0), Wilson(3, 3) low = 3/(3 + z²)
        # = 0.43850, so delta = 0 ± (1 - 0.43850)
        pytest.param((3, 0, 0, 0), -0.5615, 0.5615, id="three-all-pass"),
        # 20 pass -> 12 pass: phi = 0; p1 = 1, p2 = 0.6; Wilson(12, 20) = (0.3866, 0.7812),
        # Wilson(20, 20) low = 20/(20 + z²) = 0.8389; lower = -0.4 - (0.6 - 0.3866),
        # upper = -0.4 + sqrt(0.1812² + 0.1611²)
        pytest.param((12, 8, 0, 0), -0.6134, -0.1575, id="eight-dropped"),
    ],
)
def test_newcombe_known_values(table: tuple[int, int, int, int], low: float, high: float) -> None:
    got = newcombe_paired_ci(*table)
    assert (round(got[0], 4), round(got[1], 4)) == (low, high)


@pytest.mark.parametrize(
    "table", [(10, 3, 1, 6), (0, 5, 0, 5), (4, 0, 0, 4), (1, 1, 1, 1), (0, 0, 7, 0)]
)
def test_newcombe_holds_delta_and_mirrors(table: tuple[int, int, int, int]) -> None:
    both, dropped, gained, neither = table
    delta = (gained - dropped) / sum(table)
    low, high = newcombe_paired_ci(*table)
    assert -1.0 <= low <= delta <= high <= 1.0
    mirror = newcombe_paired_ci(both, gained, dropped, neither)
    assert mirror == pytest.approx((-high, -low))


# --- decide ----------------------------------------------------------------------------
def _runs(rng: random.Random, rates: list[float], samples: int) -> list[list[bool]]:
    return [[rng.random() < rate for _ in range(samples)] for rate in rates]


def test_decide_identical_runs_are_no_regression() -> None:
    run = _runs(random.Random(1), [0.7] * 40, 10)
    decision = decide(run, run)
    assert decision.state == "no regression"
    assert decision.method == "sign-flip permutation"
    assert (decision.p_value, decision.delta, decision.cases) == (1.0, 0.0, 40)
    assert decision.interval[0] > -0.1
    assert decision.more_samples is None


def test_decide_big_drop_is_a_regression() -> None:
    rng = random.Random(2)
    decision = decide(_runs(rng, [0.9] * 30, 10), _runs(rng, [0.5] * 30, 10))
    assert decision.state == "regression"
    assert decision.p_value < 0.001
    assert decision.delta == pytest.approx(-0.4, abs=0.1)
    assert decision.interval[0] < decision.delta < decision.interval[1] < 0
    assert decision.reason.endswith("(sign-flip permutation, 30 cases): regression")


def test_decide_tiny_data_is_inconclusive_with_more_samples() -> None:
    # rates 1.0 -> 0.9 and 0.5 -> 0.7: delta = +0.05, diffs (0.1, -0.2), so the bootstrap
    # interval is at most (-0.1, 0.2). The noise floor is wider: p~ = 20/22 and 13/22,
    # v = p~(1 - p~)(1/10 + 1/10) = 0.016529 + 0.048347; 1.96·sqrt(0.064876)/2 = 0.2496.
    # more_samples: 10·(0.2496 / (0.05 + 0.1))² = 27.69 -> 28 samples -> 18 more a case.
    baseline = [[True] * 10, [True, False] * 5]
    current = [[True] * 9 + [False], [False] * 3 + [True] * 7]
    decision = decide(baseline, current)
    assert decision.state == "inconclusive"
    # diffs (0.1, -0.2), observed sum -0.1; flipped sums -0.1, 0.3, -0.3, 0.1: 3 of 4 >= -0.1
    assert decision.p_value == 0.75
    assert decision.interval == pytest.approx((0.05 - 0.2496, 0.05 + 0.2496), abs=1e-4)
    assert decision.more_samples == 18
    assert decision.reason.endswith("inconclusive; about 18 more samples per case would decide")


def test_decide_identical_tiny_runs_are_not_declared_safe() -> None:
    # the bootstrap of all-zero diffs is (0, 0); the binomial noise floor keeps it honest
    run = [[True] * 5, [True] * 5]
    decision = decide(run, run)
    assert decision.state == "inconclusive"
    assert decision.more_samples is not None


@pytest.mark.parametrize(
    ("baseline_passes", "current_passes", "state", "p_value"),
    [
        # 20 pass -> 12 pass: b = 8, c = 0, P[X >= 8 | n=8] = 1/256
        pytest.param(20, 12, "regression", 1 / 256, id="eight-dropped"),
        # 12 of 20 in both: phi = (12·8 - 10)/(12·8) = 0.896, interval ±0.095 (> -0.1)
        pytest.param(12, 12, "no regression", 1.0, id="unchanged"),
        # 20 of 20 in both: phi = 0, Wilson(20, 20) low = 0.839, interval ±0.161
        pytest.param(20, 20, "inconclusive", 1.0, id="unchanged-all-pass"),
    ],
)
def test_decide_single_samples_use_exact_mcnemar(
    baseline_passes: int, current_passes: int, state: str, p_value: float
) -> None:
    baseline = [[True]] * baseline_passes + [[False]] * (20 - baseline_passes)
    current = [[True]] * current_passes + [[False]] * (20 - current_passes)
    decision = decide(baseline, current)
    assert (decision.method, decision.state, decision.p_value) == ("exact McNemar", state, p_value)


def test_decide_mcnemar_reason_reads_with_the_numbers() -> None:
    # interval from test_newcombe_known_values[eight-dropped]
    decision = decide([[True]] * 20, [[True]] * 12 + [[False]] * 8)
    assert decision.reason == (
        "pass rate 1.00 -> 0.60 (-0.40, 95% CI -0.61..-0.16), p=0.00391"
        " (exact McNemar, 20 cases): regression"
    )


def test_decide_mcnemar_discordant_pairs() -> None:
    # b = 7 pass -> fail, c = 2 fail -> pass among 30 cases: p = 46/512 (see 7-2 above)
    baseline = [[True]] * 7 + [[False]] * 2 + [[True]] * 21
    current = [[False]] * 7 + [[True]] * 2 + [[True]] * 21
    decision = decide(baseline, current)
    assert decision.p_value == 0.08984375
    assert decision.delta == pytest.approx(-5 / 30)
    assert decision.state == "inconclusive"
    assert decision.more_samples is None  # delta -0.17 is past the -0.10 margin
    assert "more likely confirm a regression" in decision.reason


def test_decide_small_mcnemar_suggests_more_cases() -> None:
    decision = decide([[True]] * 3, [[True]] * 3)
    assert decision.state == "inconclusive"
    assert decision.more_samples is not None
    assert decision.reason.endswith(f"about {decision.more_samples} more cases would decide")


def test_decide_skips_cases_without_samples() -> None:
    decision = decide([[], [True], [True, False]], [[True], [], [True, True]])
    assert decision.cases == 1
    assert decision.method == "sign-flip permutation"
    assert decide([[]], [[True]]).method == "none"
    assert decide([], []).state == "inconclusive"


def test_decide_needs_the_same_cases() -> None:
    with pytest.raises(ValueError, match="zip"):
        decide([[True]], [[True], [False]])


# --- calibration -----------------------------------------------------------------------
# Seeded simulation, so the outcome is fixed: the null runs flag 5 of 200 (flat) and 8 of
# 200 (mixed), the drops 50 of 50. Over 2000 null runs (seed 99) both profiles flag 3.5%:
# the sign-flip test is a little conservative, as ties make its distribution discrete.
@pytest.mark.parametrize(
    "rates",
    [
        pytest.param([0.7] * 20, id="flat-0.7"),
        pytest.param([0.1 + 0.045 * i for i in range(20)], id="mixed-0.1-to-0.96"),
    ],
)
def test_decide_false_alarm_rate_is_near_alpha(rates: list[float]) -> None:
    rng = random.Random(2024)
    states = Counter(decide(_runs(rng, rates, 10), _runs(rng, rates, 10)).state for _ in range(200))
    assert states["regression"] / 200 <= 0.08  # nominal 0.05, plus simulation noise


def test_decide_flags_a_real_drop() -> None:
    rng = random.Random(2025)
    states = Counter(
        decide(_runs(rng, [0.9] * 20, 10), _runs(rng, [0.5] * 20, 10)).state for _ in range(50)
    )
    assert states["regression"] / 50 >= 0.95


# --- what a paired test of n cases can show (issue 14: "no measurable effect" on 4 cases) -


@pytest.mark.parametrize(
    ("alpha", "flips"),
    [
        (0.05, 6),  # 2·0.5^5 = 0.0625 is not below 0.05; 2·0.5^6 = 0.03125 is
        (0.01, 8),  # 2·0.5^7 = 0.0156; 2·0.5^8 = 0.0078
        (0.5, 3),  # 2·0.5^2 = 0.5 is not below 0.5; 2·0.5^3 = 0.25 is
        (1.0, 2),  # p = min(1, 2·0.5^k): 1 for k = 1, 0.5 for k = 2
    ],
)
def test_min_flips_is_the_fewest_one_way_changes_a_two_sided_test_can_see(
    alpha: float, flips: int
) -> None:
    assert stats.min_flips(alpha) == flips
    assert stats.mcnemar_exact(0, flips) < alpha <= stats.mcnemar_exact(0, flips - 1)


@pytest.mark.parametrize(
    ("cases", "expected"),
    [(0, None), (4, None), (5, None), (6, 1.0), (8, 0.75), (12, 0.5), (40, 0.15), (60, 0.1)],
)
def test_detectable_difference_is_six_changed_cases_over_n(
    cases: int, expected: float | None
) -> None:
    assert stats.detectable_difference(cases) == expected


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_min_flips_rejects_an_alpha_outside_0_1(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        stats.min_flips(alpha)
