"""Where the marks and words of a chart go, so that any data stays readable: text widths
estimated without a browser, labels placed inside the plot without overlapping each other
or the points, points that coincide spread apart, category names wrapped and cut to their
band, legends wrapped to the chart's width.

Pure geometry in SVG pixels, and the nice round ticks of an axis; the same input gives the
same places.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CHAR_WIDTH = 6.6  # a generous mean advance of an 11px sans-serif character
LINE_HEIGHT = 13.0
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def overlap(self, other: Box) -> float:
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        return max(0.0, width) * max(0.0, height)

    def inside(self, other: Box) -> bool:
        return (
            self.left >= other.left
            and self.right <= other.right
            and self.top >= other.top
            and self.bottom <= other.bottom
        )


def text_width(text: str) -> float:
    return CHAR_WIDTH * len(text)


def fit(text: str, width: float) -> str:
    """``text`` cut with an ellipsis to about ``width`` pixels (at least one character)."""
    room = max(1, int(width // CHAR_WIDTH))
    return text if len(text) <= room else text[: max(1, room - 1)] + ELLIPSIS


def wrap_name(name: str, width: float, lines: int = 3) -> list[str]:
    """A category name on at most ``lines`` lines of ``width`` pixels: its words one a
    line (the last line takes the rest), each cut to fit."""
    words = name.split()
    if len(words) > lines:
        words = [*words[: lines - 1], " ".join(words[lines - 1 :])]
    return [fit(word, width) for word in words] or [""]


@dataclass(frozen=True, slots=True)
class Placed:
    x: float
    y: float
    anchor: str  # SVG text-anchor
    text: str  # cut to fit the frame when it could not fit whole


def _label_box(x: float, y: float, anchor: str, width: float) -> Box:
    left = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
    return Box(left, y - LINE_HEIGHT + 3, left + width, y + 3)  # y is the baseline


def place_labels(
    points: Sequence[tuple[float, float]], texts: Sequence[str], frame: Box, size: float = 6.0,
    bars: Sequence[Box] = (),
) -> list[Placed]:  # fmt: skip
    """A place for each point's label: beside, above or below its point (then further out),
    the first spot inside ``frame`` that covers no other label, no point and no other
    point's error bar (``bars``, one a point); when there is none, the spot inside
    ``frame`` that covers least."""
    marks = [Box(x - size, y - size, x + size, y + size) for x, y in points]
    placed: list[Box] = []
    out = []
    for number, ((x, y), text) in enumerate(zip(points, texts, strict=True)):
        others = [*marks, *(bar for n, bar in enumerate(bars) if n != number)]
        shown = fit(text, frame.right - frame.left)
        width = text_width(shown)
        spots = []
        for step in range(10):
            far = step * LINE_HEIGHT
            spots += [
                (x + size + 3, y - far + 4, "start"), (x - size - 3, y - far + 4, "end"),
                (x, y - size - 4 - far, "middle"), (x, y + size + LINE_HEIGHT + far, "middle"),
                (x + size + 3, y + far + 4, "start"), (x - size - 3, y + far + 4, "end"),
            ]  # fmt: skip
        best, cost = None, float("inf")
        for sx, sy, anchor in spots:
            box = _label_box(sx, sy, anchor, width)
            if not box.inside(frame):
                continue
            covered = sum(box.overlap(b) for b in placed) + sum(box.overlap(m) for m in others)
            if covered < cost:
                best, cost = (sx, sy, anchor, box), covered
            if covered == 0:
                break
        if best is None:  # nothing fits beside it: the frame's edge nearest the point
            left = min(max(x, frame.left), frame.right - width)
            top = min(max(y + 4, frame.top + LINE_HEIGHT), frame.bottom - 3)
            best = (left, top, "start", _label_box(left, top, "start", width))
        sx, sy, anchor, box = best
        placed.append(box)
        out.append(Placed(sx, sy, anchor, shown))
    return out


def spread(
    points: Sequence[tuple[float, float]], size: float, low: float, high: float
) -> list[float]:
    """New x for points so that none covers another: a point within ``size`` * 2 of one
    already placed moves sideways, right, left, further right..., staying in low..high."""
    gap = size * 2 + 2
    done: list[tuple[float, float]] = []
    out = []
    for x, y in points:
        for step in range(64):
            shift = (step + 1) // 2 * gap * (1 if step % 2 else -1)
            nx = min(max(x + shift, low), high)
            if all(abs(nx - a) >= gap or abs(y - b) >= gap for a, b in done):
                break
        done.append((nx, y))
        out.append(nx)
    return out


def legend_rows(
    names: Sequence[str], left: float, right: float, marker: float = 14.0
) -> list[list[tuple[float, str]]]:
    """The legend's entries in rows that fit between ``left`` and ``right``: (x, name)
    each, a name cut when it cannot fit a row alone."""
    rows: list[list[tuple[float, str]]] = [[]]
    x = left
    for name in names:
        shown = fit(name, right - left - marker)
        width = marker + text_width(shown) + 14
        if rows[-1] and x + width > right:
            rows.append([])
            x = left
        rows[-1].append((x, shown))
        x += width
    return rows


def _nice(span: float, rounded: bool) -> float:
    """Heckbert's nice number: 1, 2, 5 or 10 times a power of ten, near ``span``."""
    exponent = math.floor(math.log10(span))
    fraction = span / 10**exponent
    if rounded:
        nice = 1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10
    else:
        nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return nice * 10.0**exponent


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``low``..``high`` (the first at or below
    ``low``, the last at or above ``high``)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        low, high = 0.0, 1.0
    if high == low:
        high = low + (abs(low) or 1.0)
    step = _nice(_nice(high - low, False) / max(1, count - 1), True)
    start, stop = math.floor(low / step), math.ceil(high / step)
    return [round(i * step, 10) for i in range(start, stop + 1)]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def axis_ticks(values: Sequence[float], low: float | None = 0.0) -> list[float]:
    """Nice ticks from ``low`` (None: the least value) to the largest value; one tick when
    every value is the same (the axis then says so instead of drawing a made-up scale)."""
    if not values or min(values) == max(values):
        return [values[0] if values else 0.0]
    return nice_ticks(min(values) if low is None else low, max(values))
