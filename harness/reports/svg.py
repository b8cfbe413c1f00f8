"""Pure SVG for the HTML report: axes with nice ticks, a scatter with error bars, box
plots, a line chart over categories.

Functions return SVG text for inline use in an HTML page (no ``xmlns``, no script, no
external reference). Every text that goes in is escaped here, so callers pass raw record
text. Coordinates are printed with one decimal, so the same data gives the same bytes.

Any data stays readable (:mod:`harness.reports.layout` does the geometry): every label is
inside its chart, points that coincide are spread apart, an axis whose values are all one
value draws that value and says so, and legends and category names wrap.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.gate.stats import percentile
from harness.reports import layout
from harness.reports.layout import axis_ticks, nice_ticks, tick_label
from harness.reports.terminal import visible

WIDTH, HEIGHT = 540, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 40, 52  # plot margins: tick labels, legend, axis labels
PALETTE = ("#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e")
MARKERS = ("circle", "square", "diamond", "triangle")
STRIP_LIMIT = 100  # a box with more samples than this is drawn without its sample dots
MIN_BAND = 64.0  # px a category needs for its name (wrapped on three lines) and its marks


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


class _Frame:
    """Maps data to pixels inside the plot area and draws the axes. An axis given one tick
    has one value: everything on it sits in the middle."""

    def __init__(
        self, x_ticks: Sequence[float], y_ticks: Sequence[float], top: float = TOP,
        bottom: float = BOTTOM, width: float = WIDTH,
    ) -> None:  # fmt: skip
        self.x_ticks, self.y_ticks = list(x_ticks), list(y_ticks)
        self.top, self.height = top, top + (HEIGHT - TOP - BOTTOM) + bottom
        self.width, self.right, self.bottom = width, width - RIGHT, self.height - bottom

    @property
    def box(self) -> layout.Box:
        return layout.Box(LEFT, self.top, self.right, self.bottom)

    def x(self, value: float) -> float:
        low, high = self.x_ticks[0], self.x_ticks[-1]
        if high == low:
            return (LEFT + self.right) / 2
        return LEFT + (value - low) / (high - low) * (self.right - LEFT)

    def y(self, value: float) -> float:
        low, high = self.y_ticks[0], self.y_ticks[-1]
        if high == low:
            return (self.top + self.bottom) / 2
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)

    def axes(self, x_label: str, y_label: str, x_names: Sequence[str] = ()) -> str:
        """Grid lines, ticks and their labels, axis lines and labels. ``x_names`` replaces
        numeric x ticks with category names centred in equal bands (wrapped, cut to fit)."""
        out = []
        for value in self.y_ticks:
            y = self.y(value)
            out.append(el("line", class_="grid", x1=LEFT, x2=self.right, y1=y, y2=y))
            text = tick_label(value, self.y_ticks)
            out.append(label(text, LEFT - 6, y, class_="tick", text_anchor="end", dy="0.32em"))
        bottom = self.bottom
        if x_names:
            band = (self.right - LEFT) / len(x_names)
            for i, name in enumerate(x_names):
                x = LEFT + band * (i + 0.5)
                out.append(el("line", class_="tick-mark", x1=x, x2=x, y1=bottom, y2=bottom + 5))
                lines = layout.wrap_name(name, band - 4)
                tip = el("title", esc(name)) if " ".join(lines) != name else ""
                spans = "".join(
                    el("tspan", esc(line), x=x, dy="0" if n == 0 else f"{layout.LINE_HEIGHT:g}")
                    for n, line in enumerate(lines)
                )
                at = {"x": x, "y": bottom + 18, "class_": "tick", "text_anchor": "middle"}
                out.append(el("text", tip + spans, **at))
        else:
            for value in self.x_ticks:
                x = self.x(value)
                out.append(el("line", class_="tick-mark", x1=x, x2=x, y1=bottom, y2=bottom + 5))
                text = tick_label(value, self.x_ticks)
                out.append(label(text, x, bottom + 18, class_="tick", text_anchor="middle"))
        out.append(el("path", class_="axis", d=f"M{LEFT},{self.top} V{bottom} H{self.right}"))
        middle = (LEFT + self.right) / 2
        if len(self.x_ticks) == 1 and not x_names:
            x_label += f": every point at {tick_label(self.x_ticks[0], self.x_ticks)}"
        shown = layout.fit(x_label, self.right - LEFT)
        out.append(label(shown, middle, self.height - 8, class_="axis-label", text_anchor="middle"))
        if len(self.y_ticks) == 1:
            y_label += f": all {tick_label(self.y_ticks[0], self.y_ticks)}"
        turn = f"translate(14,{_f((self.top + bottom) / 2)}) rotate(-90)"
        shown = layout.fit(y_label, bottom - self.top)
        out.append(label(shown, 0, 0, class_="axis-label", text_anchor="middle", transform=turn))
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


def chart_width(categories: int, per_band: float = MIN_BAND) -> float:
    """Wide enough for ``categories`` bands of at least ``per_band`` px (and MIN_BAND)."""
    return max(float(WIDTH), LEFT + RIGHT + max(MIN_BAND, per_band) * categories)


def _legend(series: Mapping[str, Style], width: float = WIDTH) -> tuple[str, float]:
    """The legend, wrapped to the chart's width, and the top margin it leaves the plot."""
    names = list(series)
    rows = layout.legend_rows(names, float(LEFT), float(width - RIGHT))
    out, n = [], 0
    for number, row in enumerate(rows):
        y = 16.0 + number * 16
        for x, shown in row:
            style, n = series[names[n]], n + 1
            out += [marker(style, x + 5, y, size=4.5), label(shown, x + 14, y, dy="0.32em")]
    return el("g", *out, class_="legend"), TOP + 16.0 * (len(rows) - 1)


def _svg(css: str, ident: str, title: str, desc: str, body: list[str], frame: _Frame) -> str:
    wide, tall = f"{frame.width:g}", f"{frame.height:g}"
    head = (
        f'<svg class="chart {css}" role="img" aria-labelledby="{ident}-title {ident}-desc"'
        f' viewBox="0 0 {wide} {tall}" width="{wide}" height="{tall}">'
    )
    about = [el("title", esc(title), id=f"{ident}-title")]
    about.append(el("desc", esc(desc), id=f"{ident}-desc"))
    return "\n".join([head, *about, *body, "</svg>"])


def _points(
    body: list[str], frame: _Frame, series: Mapping[str, Style], points: Sequence[Point],
    spots: list[tuple[float, float]],
) -> list[tuple[float, float]]:  # fmt: skip
    """Draw each point with its error bar, spread sideways where points coincide; the
    places they were drawn at."""
    xs = layout.spread(spots, 5.5, LEFT + 6.0, frame.right - 6.0)
    spots = [(x, y) for x, (_, y) in zip(xs, spots, strict=True)]
    for p, (x, y) in zip(points, spots, strict=True):
        style = series[p.series]
        low, high = _f(frame.y(p.low)), _f(frame.y(p.high))
        d = f"M{_f(x)},{low} V{high} M{_f(x - 4)},{low} h8 M{_f(x - 4)},{high} h8"
        body.append(el("path", class_="error-bar", stroke=style.colour, d=d))
        body.append(marker(style, x, y, el("title", esc(p.note))))
    return spots


def scatter(
    points: Sequence[Point], series: Mapping[str, Style], *, css: str, ident: str,
    title: str, desc: str, x_label: str, y_label: str,
) -> str:  # fmt: skip
    """Points with vertical error bars on a 0..1 y axis and a numeric x axis from 0; each
    point labelled inside the plot, points that coincide spread sideways.

    When every point has the same x the axis has nothing to show: it says so (``x_label:
    every point at 0``) and the points stand side by side in bands named by their labels,
    the series within a band as in a box plot."""
    xs = [p.x for p in points]
    if len(set(xs)) > 1:
        legend, top = _legend(series)
        frame = _Frame(axis_ticks(xs), nice_ticks(0, 1), top=top)
        body = [frame.axes(x_label, y_label), legend]
        spots = _points(body, frame, series, points, [(frame.x(p.x), frame.y(p.y)) for p in points])
        bars = [
            layout.Box(x - 4, frame.y(p.high), x + 4, frame.y(p.low))
            for p, (x, _) in zip(points, spots, strict=True)
        ]
        labels = layout.place_labels(spots, [p.label for p in points], frame.box, bars=bars)
        for placed, p in zip(labels, points, strict=True):
            tip = el("title", esc(p.label)) if placed.text != p.label else ""
            anchor = {} if placed.anchor == "start" else {"text_anchor": placed.anchor}
            where = {"x": placed.x, "y": placed.y, "class_": "point-label", **anchor}
            body.append(el("text", tip + esc(placed.text), **where))
        return _svg(css, ident, title, desc, body, frame)
    names = list(dict.fromkeys(p.label for p in points))
    width = chart_width(len(names), 14.0 * len(series) + 12)
    legend, top = _legend(series, width)
    bottom = _name_lines(names, width)
    frame = _Frame(axis_ticks(xs), nice_ticks(0, 1), top=top, bottom=bottom, width=width)
    note = f"{x_label}: every point at {tick_label(xs[0], [xs[0]]) if xs else 0}"
    body = [frame.axes(note, y_label, names), legend]
    band, order = (frame.right - LEFT) / max(1, len(names)), list(series)
    step = min(14.0, band * 0.8 / max(1, len(order)))

    def at(p: Point) -> float:
        middle = LEFT + band * (names.index(p.label) + 0.5)
        return middle + (order.index(p.series) - (len(order) - 1) / 2) * step

    spots = [(at(p), frame.y(p.y)) for p in points]
    _points(body, frame, series, points, spots)
    return _svg(css, ident, title, desc, body, frame)


def box_stats(values: Sequence[float]) -> tuple[float, float, float, float, float, float]:
    """min, p25, median, p75, p95, max."""
    found = [percentile(values, q) for q in (0, 25, 50, 75, 95, 100)]
    a, b, c, d, e, f = (0.0 if v is None else v for v in found)
    return a, b, c, d, e, f


def _name_lines(names: Sequence[str], width: float) -> float:
    """The bottom margin category names need under the axis (one line in BOTTOM)."""
    band = (width - RIGHT - LEFT) / max(1, len(names))
    lines = max((len(layout.wrap_name(n, band - 4)) for n in names), default=1)
    return BOTTOM + layout.LINE_HEIGHT * (lines - 1)


def box_plot(
    boxes: Sequence[Box], series: Mapping[str, Style], *, css: str, ident: str,
    title: str, desc: str, x_label: str, y_label: str,
) -> str:  # fmt: skip
    """Per group, one box per series side by side: whiskers min..max, box p25..p75, a thick
    median line, a dashed p95 line and, for up to STRIP_LIMIT values, every value as a dot."""
    groups = list(dict.fromkeys(b.group for b in boxes))
    width = chart_width(len(groups), 15.0 * len(series))
    legend, top = _legend(series, width)
    values = [v for b in boxes for v in b.values]
    ticks = nice_ticks(0.0, max(values)) if values and max(values) > 0 else axis_ticks(values)
    frame = _Frame([0.0, 1.0], ticks, top=top, bottom=_name_lines(groups, width), width=width)
    body = [frame.axes(x_label, y_label, groups), legend]
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
    return _svg(css, ident, title, desc, body, frame)


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
    bands, in order), each with a vertical error bar; series side by side within a band,
    and points that still coincide spread further, so that each stays visible."""
    width = chart_width(len(categories), 13.0 * len(series) + 12)
    legend, top = _legend(series, width)
    bottom = _name_lines(categories, width)
    frame = _Frame([0.0, 1.0], nice_ticks(0, 1), top=top, bottom=bottom, width=width)
    body = [frame.axes(x_label, y_label, categories), legend]
    band = (frame.right - LEFT) / max(1, len(categories))
    names = list(series)
    placed: list[tuple[str, float, float, float, float, str]] = []  # series, x, y, low, high
    for line in lines:
        offset = names.index(line.series)
        shift = (offset - (len(names) - 1) / 2) * min(8.0, band / (2 * max(1, len(names))))
        for category, y, low, high, note in line.points:
            x = LEFT + band * (categories.index(category) + 0.5) + shift
            placed.append((line.series, x, frame.y(y), low, high, note))
    xs = layout.spread([(x, y) for _, x, y, *_ in placed], 5.0, LEFT + 6.0, frame.right - 6.0)
    curves: dict[str, list[tuple[float, float]]] = {}
    for (name, _, y, low, high, note), x in zip(placed, xs, strict=True):
        style = series[name]
        curves.setdefault(name, []).append((x, y))
        a, b = _f(frame.y(low)), _f(frame.y(high))
        d = f"M{_f(x)},{a} V{b} M{_f(x - 4)},{a} h8 M{_f(x - 4)},{b} h8"
        body.append(el("path", class_="error-bar", stroke=style.colour, d=d))
        body.append(marker(style, x, y, el("title", esc(note))))
    for name, spots in curves.items():
        if len(spots) > 1:
            d = "M" + " L".join(f"{_f(x)},{_f(y)}" for x, y in spots)
            body.insert(2, el("path", class_="curve", fill="none", stroke=series[name].colour, d=d))
    return _svg(css, ident, title, desc, body, frame)
