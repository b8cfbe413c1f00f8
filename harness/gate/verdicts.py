"""The run's verdict from its items, pure: the paired decisions, the gate's exit status,
the effort levels with no effect and what thinking budgets buy.

An item here is an end-of-run summary dict (``reports.terminal.record`` plus the gate's
``change`` and ``baseline_outcomes``). The plugin calls these at the end of a run and
``glm-harness merge`` on the items of the shards it merges, so a sharded run is judged by
the same code as an unsharded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

# pytest's exit codes (no pytest import here), and the harness's own
OK, FAILED, INTERRUPTED = 0, 1, 2
API_ERRORS = 6  # items ended in `error` (the API failed after retries, or refused the token)
CANARY_FAILED = 7  # the canaries found the endpoint changed: nothing of the suites was sent


def _budget_rank(budget: object) -> tuple[int, int]:
    """Budgets small to large; no budget (unlimited) after them all."""
    return (1, 0) if not isinstance(budget, int) else (0, budget)


def paired_decisions(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paired test per suite x prompt x api x effort x budget with a baseline:
    regression, no regression, or inconclusive. It gates the run for sampled answers (more
    than one sample per case); with one sample per case each item is judged on its own
    (the README's table) and the exact McNemar test is reported for information."""
    from harness.gate.stats import decide

    groups: dict[tuple[str, str, str, str, int | None], list[dict[str, Any]]] = {}
    for item in items:
        if item.get("baseline_outcomes") and item["outcome"] != "error":
            where = (item["suite"], item.get("variant", ""), item["api"], item["effort"])
            groups.setdefault((*where, item.get("budget")), []).append(item)
    out = []
    for (suite, variant, api, effort, budget), found in sorted(
        groups.items(), key=lambda kv: (*kv[0][:4], _budget_rank(kv[0][4]))
    ):
        # the same cases in the same order whatever order the items finished in (xdist,
        # shards): the bootstrap's draws depend on the order
        found = sorted(found, key=lambda i: str(i["case"]))
        single = all(len(i["outcomes"]) <= 1 and len(i["baseline_outcomes"]) <= 1 for i in found)
        base = [[o == "pass" for o in i["baseline_outcomes"]] for i in found]
        now = [[o == "pass" for o in i["outcomes"]] for i in found]
        decision = decide(base, now)
        out.append({
            "suite": suite, **({"variant": variant} if variant else {}),
            "api": api, "effort": effort, **({"budget": budget} if budget is not None else {}),
            "state": decision.state,
            "p_value": decision.p_value, "delta": decision.delta,
            "interval": list(decision.interval), "method": decision.method,
            "cases": decision.cases, "more_samples": decision.more_samples,
            "reason": decision.reason, "gates": not single,
        })  # fmt: skip
    return out


def gate_status(
    items: Sequence[dict[str, Any]],
    decisions: Sequence[dict[str, Any]],
    status: int,
    *,
    accepted: bool = False,
) -> int:
    """The exit status the items and decisions give a run that pytest ended with
    ``status``: 1 a regression or a failing (new) case; 6 API errors and nothing worse;
    ``status`` otherwise (0 clean, 2 interrupted, 5 no items). ``accepted``: the run wrote
    its failures as baselines (--glm-update-baselines), so they are known ones."""
    refused = any(item.get("auth_refused") for item in items)
    if status not in (OK, FAILED, INTERRUPTED) or (status == INTERRUPTED and not refused):
        return status
    failing = not accepted and any(
        item["outcome"] in ("fail", "truncated")
        and item.get("change") not in ("known failure", "worse")  # xfailed; the paired test gates
        for item in items
    )
    if failing or any(d["state"] == "regression" and d["gates"] for d in decisions):
        return FAILED
    if refused or any(item["outcome"] == "error" for item in items):
        return API_ERRORS
    return status


def no_effect_efforts(items: Sequence[dict[str, Any]], records: Path) -> list[dict[str, Any]]:
    """Effort levels that differ in the request where the evidence rules out a change in
    pass rate and reasoning length (``glm-harness compare --by effort`` on the run's
    ``records``: its "no effect"; too few cases to tell is not one)."""
    from harness.gate.compare import CompareError, compare_runs, load_run

    levels: dict[tuple[str, str, str, str], set[str]] = {}
    for item in items:
        where = (item["suite"], item.get("variant", ""), item["api"], str(item.get("budget")))
        levels.setdefault(where, set()).add(item["effort"])
    if all(len(found) < 2 for found in levels.values()) or not records.is_file():
        return []
    try:
        comparisons = compare_runs(load_run(str(records)), by="effort")
    except CompareError:
        return []
    return [
        {
            "suite": c.suite, "api": c.shared, "ref": c.ref, "other": c.other,
            "cases": c.cases, "message": c.message,
            "text": f"{c.suite} [{c.shared}] {c.ref} -> {c.other} ({c.cases} cases): {c.message}",
        }
        for c in comparisons
        if c.verdict == "no effect" and c.requests_differ
    ]  # fmt: skip


def budget_notes(items: Sequence[dict[str, Any]], records: Path) -> list[dict[str, Any]]:
    """Per suite x prompt x API x effort that ran thinking budgets: the budget needed for
    90% of cases and each case's smallest passing budget (``glm-harness compare --by
    budget`` on the run's ``records`` has the whole table)."""
    if not any(item.get("budget") is not None for item in items) or not records.is_file():
        return []
    from harness.gate.budgets import budget_curves
    from harness.gate.compare import CompareError, load_run

    try:
        curves = budget_curves(load_run(str(records)))
    except CompareError:
        return []
    return [
        {
            "suite": c.suite, "shared": c.shared, "needed": c.needed, "cases": len(c.smallest),
            "reached": c.reached, "smallest": c.smallest,
            "text": f"{c.suite} [{c.shared}]: {c.summary}",
        }
        for c in curves
    ]  # fmt: skip
