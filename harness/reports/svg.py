"""Pure SVG for the HTML report: axes with nice ticks, a scatter with error bars, box plots.

Functions return SVG text for inline use in an HTML page (no ``xmlns``, no script, no
external reference). Every text that goes in is escaped here, so callers pass raw record
text. Coordinates are printed with one decimal, so the same data gives the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.gate.stats import percentile
from harness.reports.terminal import visible

WIDTH, HEIGHT = 540, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 40, 52  # plot margins: tick labels, legend, axis labels
PALETTE = ("#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e")
MARKERS = ("circle", "square", "diamond", "triangle")
STRIP_LIMIT = 100  # a box with more samples than this is drawn without its sample dots


def esc(text: object) -> str:
    """Text safe inside HTML or SVG: control characters shown as escapes, markup escaped."""
    return html.escape(visible(str(text)), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}"


def el(tag: str, *children: str, **attrs: object) -> str:
    """One element: ``children`` are markup; attribute values are escaped, floats get one
    decimal; ``class_`` is ``class`` and other underscores are hyphens. No children: ``/>``."""
    shown = [tag]
    for key, value in attrs.items():
        text = _f(value) if isinstance(value, float) else str(value)
        shown.append(f'{key.rstrip("_").replace("_", "-")}="{esc(text)}"')
    start = " ".join(shown)
    return f"<{start}>{''.join(children)}</{tag}>" if children else f"<{start}/>"


def label(text: str, x: float, y: float, **attrs: object) -> str:
    return el("text", esc(text), x=x, y=y, **attrs)


@dataclass(frozen=True, slots=True)
class Style:
    colour: str
    marker: str


def styles(series: Sequence[str]) -> dict[str, Style]:
    """A colour and a marker per series name, in the order given."""
    return {
        name: Style(PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)])
        for i, name in enumerate(series)
    }


@dataclass(frozen=True, slots=True)
class Point:
    """One scatter point with its interval (``low``..``high`` on the y axis)."""

    x: float
    y: float
    low: float
    high: float
    label: str  # drawn beside the point
    series: str  # picks the colour and marker
    note: str  # the hover text


@dataclass(frozen=True, slots=True)
class Box:
    """The values of one series within one group (an x category)."""

    group: str
    series: str
    values: tuple[float, ...]


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


class _Frame:
    """Maps data to pixels inside the plot area and draws the axes."""

    def __init__(self, x_ticks: Sequence[float], y_ticks: Sequence[float]) -> None:
        self.x_ticks, self.y_ticks = list(x_ticks), list(y_ticks)
        self.right, self.bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def x(self, value: float) -> float:
        low, high = self.x_ticks[0], self.x_ticks[-1]
        return LEFT + (value - low) / (high - low) * (self.right - LEFT)

    def y(self, value: float) -> float:
        low, high = self.y_ticks[0], self.y_ticks[-1]
        return self.bottom - (value - low) / (high - low) * (self.bottom - TOP)

    def axes(self, x_label: str, y_label: str, x_names: Sequence[str] = ()) -> str:
        """Grid lines, ticks and their labels, axis lines and labels. ``x_names`` replaces
        numeric x ticks with category names centred in equal bands."""
        out = []
        for value in self.y_ticks:
            y = self.y(value)
            out.append(el("line", class_="grid", x1=LEFT, x2=self.right, y1=y, y2=y))
            text = tick_label(value, self.y_ticks)
            out.append(label(text, LEFT - 6, y, class_="tick", text_anchor="end", dy="0.32em"))
        bottom = self.bottom
        if x_names:
            band = (self.right - LEFT) / len(x_names)
            spots = [(LEFT + band * (i + 0.5), name) for i, name in enumerate(x_names)]
        else:
            spots = [(self.x(v), tick_label(v, self.x_ticks)) for v in self.x_ticks]
        for x, name in spots:
            out.append(el("line", class_="tick-mark", x1=x, x2=x, y1=bottom, y2=bottom + 5))
            out.append(label(name, x, bottom + 18, class_="tick", text_anchor="middle"))
        out.append(el("path", class_="axis", d=f"M{LEFT},{TOP} V{bottom} H{self.right}"))
        middle = (LEFT + self.right) / 2
        out.append(label(x_label, middle, HEIGHT - 8, class_="axis-label", text_anchor="middle"))
        turn = f"translate(14,{_f((TOP + bottom) / 2)}) rotate(-90)"
        out.append(label(y_label, 0, 0, class_="axis-label", text_anchor="middle", transform=turn))
        return el("g", *out, class_="axes")


def marker(style: Style, x: float, y: float, *title: str, size: float = 5.0) -> str:
    """The series' marker centred on x, y; ``title`` (markup) becomes its hover text."""
    attrs: dict[str, object] = {"class_": "point" if title else "legend-marker"}
    attrs["fill"] = style.colour
    if style.marker == "circle":
        return el("circle", *title, cx=x, cy=y, r=size, **attrs)
    if style.marker == "square":
        return el("rect", *title, x=x - size, y=y - size, width=2 * size, height=2 * size, **attrs)
    s = size * 1.3
    if style.marker == "diamond":
        d = f"M{_f(x)},{_f(y - s)} L{_f(x + s)},{_f(y)} L{_f(x)},{_f(y + s)} L{_f(x - s)},{_f(y)} Z"
    else:
        d = f"M{_f(x)},{_f(y - s)} L{_f(x + s)},{_f(y + s * 0.8)} L{_f(x - s)},{_f(y + s * 0.8)} Z"
    return el("path", *title, d=d, **attrs)


def _legend(series: Mapping[str, Style]) -> str:
    out, x = [], float(LEFT)
    for name, style in series.items():
        out += [marker(style, x + 5, 16.0, size=4.5), label(name, x + 14, 16, dy="0.32em")]
        x += 28 + 7.5 * len(name)
    return el("g", *out, class_="legend")


def _svg(css: str, ident: str, title: str, desc: str, body: list[str]) -> str:
    head = (
        f'<svg class="chart {css}" role="img" aria-labelledby="{ident}-title {ident}-desc"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">'
    )
    about = [el("title", esc(title), id=f"{ident}-title")]
    about.append(el("desc", esc(desc), id=f"{ident}-desc"))
    return "\n".join([head, *about, *body, "</svg>"])


def scatter(
    points: Sequence[Point], series: Mapping[str, Style], *, css: str, ident: str,
    title: str, desc: str, x_label: str, y_label: str,
) -> str:  # fmt: skip
    """Points with vertical error bars on a 0..1 y axis and a numeric x axis from 0."""
    frame = _Frame(nice_ticks(0.0, max((p.x for p in points), default=0.0)), nice_ticks(0, 1))
    body = [frame.axes(x_label, y_label), _legend(series)]
    placed: list[tuple[float, float]] = []  # label positions so far
    for number, p in enumerate(points):
        style, x, y = series[p.series], frame.x(p.x), frame.y(p.y)
        low, high = _f(frame.y(p.low)), _f(frame.y(p.high))
        d = f"M{_f(x)},{low} V{high} M{_f(x - 4)},{low} h8 M{_f(x - 4)},{high} h8"
        body.append(el("path", class_="error-bar", stroke=style.colour, d=d))
        body.append(marker(style, x, y, el("title", esc(p.note))))
        spot = (x + 7, y + (-8 if number % 2 == 0 else 16))  # alternate above / below
        while any(abs(spot[0] - a) < 48 and abs(spot[1] - b) < 12 for a, b in placed):
            spot = (spot[0], spot[1] + 12)  # points on top of each other: stack the labels
        placed.append(spot)
        body.append(label(p.label, *spot, class_="point-label"))
    return _svg(css, ident, title, desc, body)


def box_stats(values: Sequence[float]) -> tuple[float, float, float, float, float, float]:
    """min, p25, median, p75, p95, max."""
    found = [percentile(values, q) for q in (0, 25, 50, 75, 95, 100)]
    a, b, c, d, e, f = (0.0 if v is None else v for v in found)
    return a, b, c, d, e, f


def box_plot(
    boxes: Sequence[Box], series: Mapping[str, Style], *, css: str, ident: str,
    title: str, desc: str, x_label: str, y_label: str,
) -> str:  # fmt: skip
    """Per group, one box per series side by side: whiskers min..max, box p25..p75, a thick
    median line, a dashed p95 line and, for up to STRIP_LIMIT values, every value as a dot."""
    groups = list(dict.fromkeys(b.group for b in boxes))
    top = max((v for b in boxes for v in b.values), default=0.0)
    frame = _Frame([0.0, 1.0], nice_ticks(0.0, top))
    body = [frame.axes(x_label, y_label, groups), _legend(series)]
    band = (frame.right - LEFT) / max(1, len(groups))
    names = list(series)
    width = band * 0.7 / max(1, len(names))
    for box in (b for b in boxes if b.values):
        colour = series[box.series].colour
        slot = groups.index(box.group) * band + band * 0.15 + names.index(box.series) * width
        left, centre, inner = LEFT + slot + width * 0.1, LEFT + slot + width / 2, width * 0.8
        low, q1, med, q3, p95, high = box_stats(box.values)
        note = (
            f"{box.group} {box.series}: n={len(box.values)}, min {low:.0f}, p25 {q1:.0f},"
            f" median {med:.0f}, p75 {q3:.0f}, p95 {p95:.0f}, max {high:.0f} ms"
        )
        y1, y3, c = frame.y(q3), frame.y(q1), _f(centre)
        whiskers = f"M{c},{_f(frame.y(low))} V{_f(y3)} M{c},{_f(y1)} V{_f(frame.y(high))}"
        parts = [el("title", esc(note)), el("path", class_="whisker", d=whiskers)]
        height = max(y3 - y1, 1.0)
        parts.append(el("rect", class_="iqr", x=left, y=y1, width=inner, height=height))
        for name, value in (("median", med), ("p95", p95)):
            y = frame.y(value)
            parts.append(el("line", class_=name, x1=left, x2=left + inner, y1=y, y2=y))
        body.append(el("g", *parts, class_="box", stroke=colour))
        if len(box.values) <= STRIP_LIMIT:
            for i, value in enumerate(box.values):
                jitter = ((i * 7) % 11 - 5) / 5 * inner * 0.35  # spread, the same every time
                x, y = centre + jitter, frame.y(value)
                body.append(el("circle", class_="sample", fill=colour, cx=x, cy=y, r=2.5))
    return _svg(css, ident, title, desc, body)


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a category chart: ``(category, y, low, high, note)`` per point, in
    category order."""

    series: str
    points: tuple[tuple[str, float, float, float, str], ...]


def line_chart(
    lines: Sequence[Line], categories: Sequence[str], series: Mapping[str, Style], *,
    css: str, ident: str, title: str, desc: str, x_label: str, y_label: str,
) -> str:  # fmt: skip
    """Per series, its points joined by a line on a 0..1 y axis over ``categories`` (equal
    bands, in order), each with a vertical error bar; series side by side within a band
    so that points with the same value stay apart."""
    frame = _Frame([0.0, 1.0], nice_ticks(0, 1))
    body = [frame.axes(x_label, y_label, categories), _legend(series)]
    band = (frame.right - LEFT) / max(1, len(categories))
    names = list(series)
    for line in lines:
        style, offset = series[line.series], names.index(line.series)
        shift = (offset - (len(names) - 1) / 2) * min(8.0, band / (2 * max(1, len(names))))
        spots = []
        for category, y, low, high, note in line.points:
            x = LEFT + band * (categories.index(category) + 0.5) + shift
            spots.append((x, frame.y(y)))
            a, b = _f(frame.y(low)), _f(frame.y(high))
            d = f"M{_f(x)},{a} V{b} M{_f(x - 4)},{a} h8 M{_f(x - 4)},{b} h8"
            body.append(el("path", class_="error-bar", stroke=style.colour, d=d))
            body.append(marker(style, x, frame.y(y), el("title", esc(note))))
        if len(spots) > 1:
            d = "M" + " L".join(f"{_f(x)},{_f(y)}" for x, y in spots)
            body.insert(2, el("path", class_="curve", fill="none", stroke=style.colour, d=d))
    return _svg(css, ident, title, desc, body)
