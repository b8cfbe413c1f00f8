"""``glm-harness report RUN --html OUT``: one self-contained HTML page about a run.

The page holds a summary table per suite x prompt x API x effort x budget
(:mod:`~harness.reports.groups`), the charts of each suite (:mod:`~harness.reports.charts`),
the comparisons of :mod:`harness.gate.compare` (:mod:`~harness.reports.comparisons`) and
the case matrix (:mod:`~harness.reports.grid`), whose baseline marks come from the run's
items.jsonl. No script, no external resource: a Content-Security-Policy meta forbids
everything but inline styles and data: images. Every text from the records is escaped.
The same records (and items.jsonl and summary.json) give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.fileio import write_atomic
from harness.gate import compare
from harness.gate.runs import read_items
from harness.models import APIS
from harness.reports import matrix
from harness.reports.charts import suite_charts
from harness.reports.comparisons import comparison_section, inconsistent
from harness.reports.grid import matrix_section
from harness.reports.groups import HEADERS, groups, rank, summary_table
from harness.reports.markup import est
from harness.reports.stylesheet import MATRIX, PAGE
from harness.reports.svg import esc

__all__ = ["CSP", "HEADERS", "Page", "build_page", "main"]

EXIT_OK, EXIT_INVALID = 0, 2
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True, slots=True)
class Page:
    text: str
    samples: int
    charts: int
    apis: tuple[str, ...]  # the chart series, in colour order
    cases: int = 0  # rows of the case matrices


def _summary(path: Path) -> tuple[str, dict[str, Any]]:
    """The line about how the run ended, and summary.json ({} when there is none)."""
    try:
        summary = json.loads((path.parent / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no summary.json: the run did not finish, or is still running", {}
    if not isinstance(summary, dict):
        return "summary.json is not an object", {}
    keys = ("model", "finished_at", "exit_status")
    said = ", ".join(f"{key}: {summary.get(key, '-')}" for key in keys)
    return said + _shard(summary.get("shard")), summary


def _shard(shard: Any) -> str:
    """Which shard of a --glm-shard run, or which shards a merged run holds."""
    if isinstance(shard, list) and len(shard) == 2:
        return f"; shard {shard[0]} of {shard[1]}"
    if isinstance(shard, dict) and isinstance(shard.get("merged"), list):
        of = shard.get("of")
        said = f"; merged from shards {', '.join(f'{k}/{of}' for k in shard['merged'])}"
        missing = shard.get("missing")
        return said + (f" (missing: {', '.join(map(str, missing))})" if missing else "")
    return ""


def _regressed(summary: dict[str, Any]) -> set[tuple[str, matrix.Column]]:
    """The suite x columns whose gating paired test found a regression (summary.json)."""
    found = set()
    for d in summary.get("decisions") or ():
        if isinstance(d, dict) and d.get("state") == "regression" and d.get("gates"):
            budget = "" if d.get("budget") is None else str(d["budget"])
            where = (str(d.get("variant") or ""), str(d.get("api")), str(d.get("effort")))
            found.add((str(d.get("suite")), matrix.Column(*where, budget)))
    return found


def build_page(run: str, results: Path = Path("results")) -> Page:
    """The report of ``run`` (a run folder, its records.jsonl, or a run id under results)."""
    path, records = compare.read_records(run, results)  # checks every record, or raises
    loaded = compare.run_of(path, records)
    items, no_marks = read_items(path)
    finished, summary = _summary(path)
    found = groups(records)
    apis = sorted({g.api for g in found}, key=rank(APIS))
    grids = matrix.from_records(records, items)
    title = f"glm-harness run {loaded.label}"
    cases = sum(len(grid.rows) for grid in grids)
    body = [f"<h1>{esc(title)}</h1>", f"<p>{len(records)} samples; {esc(finished)}</p>"]
    body.append(f'<p><a href="#matrix">The case matrix</a>: {cases} cases.</p>')
    body += ["<h2>Summary</h2>", summary_table(found)]
    body.append(
        "<p>Pass rate over all samples (errors count as not passing) with its 95% Wilson"
        " interval; latency, output and reasoning tokens over the samples that got an answer."
        f" Reasoning tokens marked{est(True)} are estimated as reasoning characters / 4.</p>"
    )
    charts = 0
    for number, suite in enumerate(sorted({g.suite for g in found}), 1):
        drawn = suite_charts(suite, [g for g in found if g.suite == suite], number, apis)
        charts += len(drawn)
        body += [f"<h2>Suite {esc(suite)}</h2>", '<div class="charts">', *drawn, "</div>"]
    body += comparison_section(loaded, apis)
    body += inconsistent(records)
    body += matrix_section(grids, no_marks, _regressed(summary))
    head = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{PAGE}{MATRIX}</style></head>\n<body>"
    )
    text = "\n".join([head, *body, "</body></html>"]) + "\n"
    return Page(text, len(records), charts, tuple(apis), cases)


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
