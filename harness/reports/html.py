"""``glm-harness report RUN --html OUT``: one self-contained HTML page about a run.

The page holds a summary table per suite x API x effort, two inline SVG charts per suite
(pass rate against mean reasoning tokens with 95% Wilson intervals; latency box plots per
effort and API), the effort (and API) comparisons of :mod:`harness.gate.compare`, and the
samples that did not pass. No script, no external resource: a Content-Security-Policy
meta forbids everything but inline styles and data: images. Every text from the records
is escaped. The same records (and summary.json) give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.fileio import write_atomic
from harness.gate import compare
from harness.gate.stats import percentile, wilson
from harness.models import APIS, EFFORTS
from harness.reports import svg as svg_charts
from harness.reports.svg import el, esc
from harness.reports.terminal import inconsistent_verdicts, shorten

EXIT_OK, EXIT_INVALID = 0, 2
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
NOT_PASSING_ROWS = 200  # the table of samples that did not pass stops here
ANSWER_CHARS = 300
EST_TITLE = "estimated: reasoning characters / 4 (the server reported no reasoning tokens)"
HEADERS = ["suite", "api", "effort", "cases", "samples", "pass rate [95% CI]", "score"]
HEADERS += ["p50 ms", "p95 ms", "out tok", "reason tok", "trunc", "errors"]
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.text,th.text{text-align:left}.summary td{white-space:nowrap}
.est{color:#8a5a00;font-size:85%}.charts{display:flex;flex-wrap:wrap;gap:16px}
.no-effect{background:#fff4d6}.effect{background:#e6f4ea}
svg.chart{border:1px solid #ddd;background:#fff;font-size:11px}
.grid{stroke:#e5e5e5}.axis,.tick-mark{stroke:#444;fill:none}.tick{fill:#444}
.error-bar,.whisker,.median,.p95{fill:none;stroke-width:1.5}.median{stroke-width:3}
.p95{stroke-dasharray:3 2}.iqr{fill:#f7f7f7}.point-label{fill:#222}
"""


@dataclass(frozen=True, slots=True)
class Group:
    """The samples of one suite x API x effort, summed up."""

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


@dataclass(frozen=True, slots=True)
class Page:
    text: str
    samples: int
    charts: int
    apis: tuple[str, ...]  # the chart series, in colour order


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return math.fsum(items) / len(items) if items else None


def _number(value: object) -> float | None:
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def _rank(order: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    return lambda level: (order.index(level) if level in order else len(order), level)


def _budget_rank(budget: str) -> tuple[int, int]:
    return (0, int(budget)) if budget.isdigit() else (1, 0)


def _level_name(g: Group) -> str:
    """A group's place on a chart's axis: its effort, with its variant and budget."""
    return (f"{g.variant} " if g.variant else "") + g.effort + (f" t{g.budget}" if g.budget else "")


def groups(records: Sequence[dict[str, Any]]) -> list[Group]:
    """One group per suite x prompt x API x effort; pass rates count every sample (errors
    too), as the terminal summary does; reasoning, output tokens and latency come from
    graded samples."""
    found: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        suite, _, variant, api, effort, budget = compare.key_of(record)
        found[(suite, variant, api, effort, budget)].append(record)
    rank_api, rank_effort = _rank(APIS), _rank(EFFORTS)
    out = []
    for (suite, variant, api, effort, budget), recs in sorted(
        found.items(),
        key=lambda kv: (
            kv[0][:2],
            rank_api(kv[0][2]),
            rank_effort(kv[0][3]),
            _budget_rank(kv[0][4]),
        ),
    ):
        graded = [compare.sample_of(r) for r in recs if r["outcome"] != "error"]
        outcomes = [r["outcome"] for r in recs]
        out.append(Group(
            suite=suite, api=api, effort=effort, cases=len({str(r["case"]) for r in recs}),
            variant=variant, budget=budget, samples=len(recs), passes=outcomes.count("pass"),
            score=_mean(s for r in recs if (s := _number(r.get("score"))) is not None),
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
        isinstance(u, dict) and _number(u.get("reasoning_tokens")) is not None for u in reported
    )


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


class Markup(str):
    """Text that is already HTML."""

    __slots__ = ()


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], text: int = 3, css: str = ""
) -> str:
    """A table whose first ``text`` columns are left-aligned; cells are escaped unless they
    are :class:`Markup`."""

    def cells(values: Iterable[object], tag: str) -> str:
        shown = [(v if isinstance(v, Markup) else esc(v)) for v in values]
        return "".join(
            el(tag, v, **({"class_": "text"} if i < text else {})) for i, v in enumerate(shown)
        )

    body = [el("tr", cells(row, "td")) + "\n" for row in rows]
    head = el("thead", el("tr", cells(headers, "th")))
    return el("table", head, el("tbody", *body), **({"class_": css} if css else {}))


def _est(estimated: bool) -> str:
    return f' <span class="est" title="{esc(EST_TITLE)}">est.</span>' if estimated else ""


def summary_table(found: Sequence[Group]) -> str:
    rows = []
    for g in found:
        low, high = g.interval
        rate = f"{g.passes / g.samples:.2f} [{low:.2f}, {high:.2f}]" if g.samples else "-"
        reasoning = Markup(esc(_fmt(g.reasoning)) + _est(g.estimated))
        p50, p95 = (percentile(g.latencies, q) for q in (50, 95))
        named = [g.variant or "-"] if any(f.variant for f in found) else []
        budget = [g.budget or "-"] if any(f.budget for f in found) else []
        rows.append([
            g.suite, *named, g.api, g.effort, *budget, g.cases, g.samples, rate,
            _fmt(g.score, ".2f"), _fmt(p50), _fmt(p95), _fmt(g.output), reasoning,
            g.truncated, g.errors,
        ])  # fmt: skip
    prompt = ["prompt"] if any(g.variant for g in found) else []
    budget = ["budget"] if any(g.budget for g in found) else []
    headers = [HEADERS[0], *prompt, *HEADERS[1:3], *budget, *HEADERS[3:]]
    return _table(headers, rows, text=3 + len(prompt) + len(budget), css="summary")


def suite_charts(suite: str, found: Sequence[Group], number: int, apis: Sequence[str]) -> list[str]:
    """The two charts of one suite."""
    series = svg_charts.styles(apis)
    points = []
    for g in found:
        if g.samples and g.reasoning is not None:
            low, high = g.interval
            note = (
                f"{g.api} {g.effort}: pass rate {g.passes / g.samples:.2f} (95% CI {low:.2f}"
                f"..{high:.2f}, {g.samples} samples), {g.reasoning:.0f} reasoning tokens"
                + (" (est.)" if g.estimated else "")
            )
            label = (f"{g.variant} " if g.variant else "") + g.effort
            label += f" t{g.budget}" if g.budget else ""
            label += " (est.)" if g.estimated else ""
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
    boxes = [svg_charts.Box(_level_name(g), g.api, g.latencies) for g in found if g.latencies]
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
    return charts


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
    budgets = sorted({g.budget for g in found}, key=_budget_rank)
    categories = [b or "none" for b in budgets]
    return svg_charts.line_chart(
        [svg_charts.Line(name, tuple(points)) for name, points in lines.items()],
        categories, svg_charts.styles(list(lines)), css="pass-vs-budget",
        ident=f"s{number}-budget", title=f"{suite}: pass rate against thinking budget",
        desc="One line per prompt, API and effort: the pass rate over samples at each thinking"
        " budget (tokens; none: no budget), with its 95% Wilson interval as a vertical bar.",
        x_label="thinking budget (tokens)", y_label="pass rate",
    )  # fmt: skip


def comparison_section(run: compare.Run, apis: Sequence[str]) -> list[str]:
    """compare_runs by effort, by API when there are several and by prompt when there are
    variants; nothing to compare: []."""
    out = []
    levels: list[compare.By] = ["effort", "api"] if len(apis) > 1 else ["effort"]
    levels += ["prompt"] if any(key[2] for key in run.samples) else []
    levels += ["budget"] if any(key[5] for key in run.samples) else []
    for by in levels:
        try:
            found = compare.compare_runs(run, by=by)
        except compare.CompareError:
            continue
        table = _table(compare.HEADERS, [compare.cells(c) for c in found])
        out += [f"<h2>Comparison by {by}</h2>", table, "<ul>"]
        for c in found:
            css = c.verdict.replace(" ", "-")
            flips = "".join(
                f"<br>{esc(what)}: {esc(', '.join(ids))}"
                for what, ids in (("pass->fail", c.pass_to_fail), ("fail->pass", c.fail_to_pass))
                if ids
            )
            title = f"{c.suite} {c.shared}: {c.ref} -> {c.other}"
            out.append(f'<li class="{css}"><b>{esc(title)}</b>: {esc(c.message)}{flips}</li>')
        out.append("</ul>")
    return out


def _order(record: dict[str, Any]) -> tuple[Any, ...]:
    sample = _number(record.get("sample"))
    suite, case, variant, api, effort, budget = compare.key_of(record)
    rank_api, rank_effort = _rank(APIS)(api), _rank(EFFORTS)(effort)
    at = -1.0 if sample is None else sample
    return suite, case, variant, rank_api, rank_effort, _budget_rank(budget), at


def _where(record: dict[str, Any]) -> list[str]:
    """suite, case (with its prompt variant, if any), api, effort (with its budget)."""
    suite, case, variant, api, effort, budget = compare.key_of(record)
    shown = f"{effort} t{budget}" if budget else effort
    return [suite, f"{case} [{variant}]" if variant else case, api, shown]


def not_passing(records: Sequence[dict[str, Any]]) -> list[str]:
    """The samples that failed, were truncated or errored, with the answer or the error."""
    bad = sorted((r for r in records if r["outcome"] != "pass"), key=_order)
    rows = [
        [*_where(r), r.get("sample", "-"),
         r["outcome"], shorten(str(r.get("error") or r.get("answer") or ""), ANSWER_CHARS)]
        for r in bad[:NOT_PASSING_ROWS]
    ]  # fmt: skip
    if not rows:
        return []
    more = [f"<p>{len(bad) - len(rows)} more not shown.</p>"] if len(bad) > len(rows) else []
    headers = ["suite", "case", "api", "effort", "sample", "outcome", "answer or error"]
    return ["<h2>Samples that did not pass</h2>", _table(headers, rows, text=7), *more]


def inconsistent(records: Sequence[dict[str, Any]]) -> list[str]:
    """The samples whose judge verdict contradicts itself (``checks.judge``'s mark)."""
    rows = [
        [*_where(r), r.get("sample", "-"), r["outcome"], said]
        for r in sorted(records, key=_order)
        for said in inconsistent_verdicts(c for c in r.get("checks") or () if isinstance(c, dict))
    ]  # fmt: skip
    if not rows:
        return []
    headers = ["suite", "case", "api", "effort", "sample", "outcome", "judge verdict"]
    return ["<h2>Judge verdicts that contradict themselves</h2>", _table(headers, rows, text=7)]


def _finished(path: Path) -> str:
    try:
        summary = json.loads((path.parent / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no summary.json: the run did not finish, or is still running"
    if not isinstance(summary, dict):
        return "summary.json is not an object"
    keys = ("model", "finished_at", "exit_status")
    return ", ".join(f"{key}: {summary.get(key, '-')}" for key in keys)


def build_page(run: str, results: Path = Path("results")) -> Page:
    """The report of ``run`` (a run folder, its records.jsonl, or a run id under results)."""
    path, records = compare.read_records(run, results)  # checks every record, or raises
    loaded = compare.run_of(path, records)
    found = groups(records)
    apis = sorted({g.api for g in found}, key=_rank(APIS))
    title = f"glm-harness run {loaded.label}"
    body = [f"<h1>{esc(title)}</h1>", f"<p>{len(records)} samples; {esc(_finished(path))}</p>"]
    body += ["<h2>Summary</h2>", summary_table(found)]
    body.append(
        "<p>Pass rate over all samples (errors count as not passing) with its 95% Wilson"
        " interval; latency, output and reasoning tokens over the samples that got an answer."
        f" Reasoning tokens marked{_est(True)} are estimated as reasoning characters / 4.</p>"
    )
    charts = 0
    for number, suite in enumerate(sorted({g.suite for g in found}), 1):
        drawn = suite_charts(suite, [g for g in found if g.suite == suite], number, apis)
        charts += len(drawn)
        body += [f"<h2>Suite {esc(suite)}</h2>", '<div class="charts">', *drawn, "</div>"]
    body += comparison_section(loaded, apis)
    body += inconsistent(records)
    body += not_passing(records)
    head = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style></head>\n<body>"
    )
    text = "\n".join([head, *body, "</body></html>"]) + "\n"
    return Page(text, len(records), charts, tuple(apis))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``glm-harness report``."""
    parser.add_argument("run", help="run folder, its records.jsonl, or a run id")
    parser.add_argument("--html", required=True, metavar="OUT", help="the HTML file to write")
    parser.add_argument("--results", default="results", help="where run ids are looked up")


def main(args: argparse.Namespace) -> int:
    """Write the page; a run that cannot be read is one line on stderr and exit status 2."""
    try:
        page = build_page(args.run, Path(args.results))
        write_atomic(Path(args.html), page.text)
    except (compare.CompareError, OSError, ValueError) as exc:
        sys.stderr.write(f"glm-harness report: {exc}\n")
        return EXIT_INVALID
    sys.stdout.write(f"wrote {args.html} ({page.samples} samples, {page.charts} charts)\n")
    return EXIT_OK
