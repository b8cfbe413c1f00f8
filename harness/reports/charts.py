"""A suite's charts on the page, from its groups: pass rate against mean reasoning tokens,
latency per effort and API, and pass rate against thinking budget when the run has
budgets (:mod:`harness.reports.svg` draws them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from harness.reports import svg as svg_charts
from harness.reports.groups import Group, budget_rank, level_name


def suite_charts(suite: str, found: Sequence[Group], number: int, apis: Sequence[str]) -> list[str]:
    """The charts of one suite (``number`` keeps their ids apart on the page)."""
    series = svg_charts.styles(apis)
    points = []
    for g in found:
        if g.samples and g.reasoning is not None:
            low, high = g.interval
            note = (
                f"{g.api} {level_name(g)}: pass rate {g.passes / g.samples:.2f} (95% CI"
                f" {low:.2f}..{high:.2f}, {g.samples} samples), {g.reasoning:.0f} reasoning"
                " tokens" + (" (est.)" if g.estimated else "")
            )
            label = level_name(g) + (" (est.)" if g.estimated else "")
            rate = g.passes / g.samples
            points.append(svg_charts.Point(g.reasoning, rate, low, high, label, g.api, note))
    charts = []
    if points:
        charts.append(svg_charts.scatter(
            points, series, css="pass-vs-reasoning", ident=f"s{number}-pass",
            title=f"{suite}: pass rate against mean reasoning tokens",
            desc="One point per effort and API: the pass rate over samples with its 95% Wilson"
            " interval as a vertical bar, against the mean reasoning tokens per sample.",
            x_label="mean reasoning tokens per sample", y_label="pass rate",
        ))  # fmt: skip
    boxes = [svg_charts.Box(level_name(g), g.api, g.latencies) for g in found if g.latencies]
    if boxes:
        charts.append(svg_charts.box_plot(
            boxes, series, css="latency", ident=f"s{number}-latency",
            title=f"{suite}: latency per effort and API",
            desc="Box plots of request latency in ms per effort, one box per API: whiskers"
            " min to max, box p25 to p75, thick line the median, dashed line p95; dots are"
            " the samples.",
            x_label="effort", y_label="latency (ms)",
        ))  # fmt: skip
    if any(g.budget for g in found):
        charts.append(budget_chart(suite, found, number))
    return [f'<div class="chart-box">{chart}</div>' for chart in charts]


def budget_chart(suite: str, found: Sequence[Group], number: int) -> str:
    """Pass rate against thinking budget: one line per prompt x API x effort, budgets small
    to large (no budget last), each point with its 95% Wilson interval."""
    lines: dict[str, list[tuple[str, float, float, float, str]]] = defaultdict(list)
    for g in found:
        if not g.samples:
            continue
        name = "/".join(part for part in (g.variant, g.api, g.effort) if part)
        level = g.budget or "none"
        low, high = g.interval
        note = (
            f"{name} budget {level}: pass rate {g.passes / g.samples:.2f} (95% CI {low:.2f}"
            f"..{high:.2f}, {g.samples} samples), {g.truncated} truncated"
        )
        lines[name].append((level, g.passes / g.samples, low, high, note))
    budgets = sorted({g.budget for g in found}, key=budget_rank)
    categories = [b or "none" for b in budgets]
    return svg_charts.line_chart(
        [svg_charts.Line(name, tuple(points)) for name, points in lines.items()],
        categories, svg_charts.styles(list(lines)), css="pass-vs-budget",
        ident=f"s{number}-budget", title=f"{suite}: pass rate against thinking budget",
        desc="One line per prompt, API and effort: the pass rate over samples at each thinking"
        " budget (tokens; none: no budget), with its 95% Wilson interval as a vertical bar.",
        x_label="thinking budget (tokens)", y_label="pass rate",
    )  # fmt: skip
