"""Wilson intervals and percentiles against values worked out by hand."""

from __future__ import annotations

import pytest

from harness.stats import percentile, wilson


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
