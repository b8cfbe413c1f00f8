"""The page's comparisons: ``glm-harness compare`` by effort, API, prompt and budget on the
run's own records, and the judge verdicts that contradict themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.gate import compare
from harness.models import APIS, EFFORTS
from harness.reports.groups import budget_rank, rank
from harness.reports.markup import number, table
from harness.reports.svg import esc
from harness.reports.terminal import inconsistent_verdicts


def comparison_section(run: compare.Run, apis: Sequence[str]) -> list[str]:
    """compare_runs by effort, by API when there are several, by prompt when there are
    variants and by budget when there are budgets; nothing to compare: []."""
    out = []
    levels: list[compare.By] = ["effort", "api"] if len(apis) > 1 else ["effort"]
    levels += ["prompt"] if any(key[2] for key in run.samples) else []
    levels += ["budget"] if any(key[5] for key in run.samples) else []
    for by in levels:
        try:
            found = compare.compare_runs(run, by=by)
        except compare.CompareError:
            continue
        shown = table(compare.HEADERS, [compare.cells(c) for c in found])
        out += [f"<h2>Comparison by {by}</h2>", shown, "<ul>"]
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
    sample = number(record.get("sample"))
    suite, case, variant, api, effort, budget = compare.key_of(record)
    rank_api, rank_effort = rank(APIS)(api), rank(EFFORTS)(effort)
    at = -1.0 if sample is None else sample
    return suite, case, variant, rank_api, rank_effort, budget_rank(budget), at


def _where(record: dict[str, Any]) -> list[str]:
    """suite, case (with its prompt variant, if any), api, effort (with its budget)."""
    suite, case, variant, api, effort, budget = compare.key_of(record)
    shown = f"{effort} t{budget}" if budget else effort
    return [suite, f"{case} [{variant}]" if variant else case, api, shown]


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
    return ["<h2>Judge verdicts that contradict themselves</h2>", table(headers, rows, text=7)]
