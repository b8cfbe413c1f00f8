"""Charts that hold for any data, without a browser: labels placed inside the plot and
apart, coincident points spread, one-value axes said, names and legends wrapped. The
browser tests check the same on real runs with Chromium's own text widths."""

from __future__ import annotations

import itertools
import re

import pytest

from harness.reports import layout
from harness.reports import svg as svg_charts

FRAME = layout.Box(64, 40, 516, 288)


def boxes(placed: list[layout.Placed]) -> list[layout.Box]:
    return [layout._label_box(p.x, p.y, p.anchor, layout.text_width(p.text)) for p in placed]


@pytest.mark.parametrize(
    "points",
    [
        [(64.0, 288.0)] * 8,  # every point in the bottom-left corner (x = 0, rate 0)
        [(516.0, 40.0), (510.0, 42.0), (500.0, 45.0)],  # the top-right corner
        [(290.0, 164.0 + i) for i in range(12)],  # a column of points
    ],
)
def test_labels_stay_inside_the_frame(points: list[tuple[float, float]]) -> None:
    placed = layout.place_labels(points, [f"careful high t{n}" for n in range(len(points))], FRAME)
    for box in boxes(placed):
        assert box.inside(FRAME), box


def test_labels_do_not_overlap_when_there_is_room() -> None:
    points = [(100.0 + 90 * i, 100.0 + 30 * (i % 2)) for i in range(5)]
    placed = layout.place_labels(points, ["low", "medium", "high", "low (est.)", "high"], FRAME)
    for a, b in itertools.combinations(boxes(placed), 2):
        assert a.overlap(b) == 0


def test_a_label_wider_than_the_plot_is_cut() -> None:
    [placed] = layout.place_labels([(200.0, 100.0)], ["x" * 200], FRAME)
    assert placed.text.endswith(layout.ELLIPSIS)
    assert boxes([placed])[0].inside(FRAME)


def test_coincident_points_are_spread_within_bounds() -> None:
    xs = layout.spread([(300.0, 100.0)] * 5 + [(70.0, 50.0)] * 3, 5.0, 64.0, 516.0)
    assert len(set(xs[:5])) == 5
    assert all(64.0 <= x <= 516.0 for x in xs)
    assert len(set(xs[5:])) == 3  # at the edge they still part, inward
    assert layout.spread([(1.0, 1.0), (100.0, 1.0)], 5.0, 0.0, 200.0) == [1.0, 100.0]


def test_names_wrap_and_legends_wrap_to_the_width() -> None:
    assert layout.wrap_name("careful high t1024", 60) == ["careful", "high", "t1024"]
    assert layout.wrap_name("a b c d", 60) == ["a", "b", "c d"]
    assert layout.wrap_name("enormous_variant_name", 40) == ["enorm…"]
    rows = layout.legend_rows([f"terse/chat/{e}" for e in ("low", "high", "max")] * 3, 64, 516)
    assert len(rows) > 1
    for row in rows:
        assert row[-1][0] + 14 + layout.text_width(row[-1][1]) <= 516


def point(x: float, label: str, series: str = "chat") -> svg_charts.Point:
    return svg_charts.Point(x, 0.5, 0.3, 0.7, label, series, f"{series} {label}")


def chart(points: list[svg_charts.Point]) -> str:
    return svg_charts.scatter(
        points, svg_charts.styles(["chat", "responses"]), css="c", ident="i", title="t",
        desc="d", x_label="mean reasoning tokens per sample", y_label="pass rate",
    )  # fmt: skip


def test_one_value_axis_says_so_and_stands_points_side_by_side() -> None:
    drawn = chart([point(0.0, e, api) for e in ("low", "high") for api in ("chat", "responses")])
    assert ">mean reasoning tokens per sample: every point at 0</text>" in drawn
    assert '<tspan x="' in drawn
    assert ">low</tspan>" in drawn
    assert ">high</tspan>" in drawn
    xs = [float(x) for x in re.findall(r'<circle[^>]* cx="([\d.]+)"[^>]*class="point"', drawn)]
    xs += [float(x) + 5 for x in re.findall(r'<rect[^>]* x="([\d.]+)"[^>]*class="point"', drawn)]
    assert len(set(xs)) == 4  # two efforts x two APIs, each its own place
    assert 'class="point-label"' not in drawn  # the band names say what each point is


def test_coincident_points_on_a_real_axis_keep_their_labels() -> None:
    drawn = chart([point(400.0, "low"), point(400.0, "high"), point(800.0, "max")])
    cx = re.findall(r'cx="([\d.]+)"[^>]*class="point"', drawn)
    assert len(set(cx)) == 3
    assert drawn.count('class="point-label"') == 3


def test_charts_grow_wider_for_many_categories() -> None:
    boxes_ = [svg_charts.Box(f"careful high t{n}", "chat", (1.0, 2.0)) for n in range(20)]
    drawn = svg_charts.box_plot(
        boxes_, svg_charts.styles(["chat"]), css="latency", ident="l", title="t", desc="d",
        x_label="effort", y_label="latency (ms)",
    )  # fmt: skip
    width = float(re.search(r'width="([\d.]+)"', drawn).group(1))  # type: ignore[union-attr]
    assert width >= 20 * svg_charts.MIN_BAND
    assert ">t19</tspan>" in drawn  # the names wrap whole on three lines


def test_a_latency_axis_of_zeros_says_so() -> None:
    drawn = svg_charts.box_plot(
        [svg_charts.Box("low", "chat", (0.0, 0.0))], svg_charts.styles(["chat"]), css="latency",
        ident="l", title="t", desc="d", x_label="effort", y_label="latency (ms)",
    )  # fmt: skip
    assert ">latency (ms): all 0</text>" in drawn
