"""The end of a run, pure: its lines for the terminal and its ``summary.json`` document,
from the items and counters of the run. The plugin writes them for a run
(``plugin/summary.py``), and ``glm-harness merge`` for the run it makes of shards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.models import OUTCOMES, arm
from harness.reports.terminal import item_id, summary_headers, summary_rows

CHANGE_TITLES = (
    ("regression", "REGRESSIONS"),
    ("worse", "worse than baseline (sampled; see the paired test)"),
    ("improved", "improved"),
    ("new", "new"),
)
SHOWN = 20  # item ids listed per kind of change


def endpoint_text(endpoint: str | None, model: str, *, local: bool = False) -> str:
    where = endpoint or "no endpoint"
    return f"endpoint: {where}{' (local llama-server)' if local else ''}  model: {model}"


def requests_line(stats: dict[str, Any]) -> str:
    shrank = stats["shrinks"]
    return (
        f"requests: {stats['requests']} samples, {stats['cached']} from cache, "
        f"{stats['sent']} sent ({stats['retries']} retries), {stats['failed']} failed; "
        f"concurrency {stats['max_concurrency']}, final {stats['concurrency']} "
        f"(shrank {shrank} time{'' if shrank == 1 else 's'} on 429); {_tokens(stats)}"
    )


def judge_lines(stats: dict[str, Any]) -> list[str]:
    """The judge's traffic, apart from the graded answers' (only when there was any)."""
    judge = stats.get("judge") or {}
    if not judge.get("requests"):
        return []
    return [
        f"judge: {judge['requests']} verdicts, {judge['cached']} from cache, "
        f"{judge['sent']} sent ({judge['retries']} retries), {judge['failed']} failed; "
        f"{_tokens(judge)}"
    ]


def _tokens(stats: dict[str, Any]) -> str:
    return f"tokens {stats.get('input_tokens', 0)} in, {stats.get('output_tokens', 0)} out"


def sampled(items: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """--glm-sample: per suite, [cases run, cases in the suite] (items carry it, so it
    reaches the controller under xdist too)."""
    return {str(i["suite"]): list(i["sampled"]) for i in items if i.get("sampled")}


def sample_line(items: Sequence[dict[str, Any]]) -> list[str]:
    found = sampled(items)
    if not found:
        return []
    each = ", ".join(f"{suite} {n} of {m}" for suite, (n, m) in sorted(found.items()))
    return [f"sampled (--glm-sample): {each} cases; the gate judged the sampled cases only"]


def server_change_lines(server_changes: dict[str, str]) -> list[str]:
    """``server changed: vLLM 0.16.0 -> 0.33.0 (since the baseline of math)``, one line
    per distinct change."""
    by: dict[str, list[str]] = {}
    for suite, said in sorted(server_changes.items()):
        by.setdefault(said, []).append(suite)
    lines = []
    for said, suites in by.items():
        which = "baseline of" if len(suites) == 1 else "baselines of"
        lines.append(f"server changed: {said} (since the {which} {', '.join(suites)})")
    return lines


def change_list(
    items: Sequence[dict[str, Any]],
    server_changes: dict[str, str],
    *,
    update_baselines: bool = False,
) -> list[str]:
    """Regressions first, then improvements, new items and known failures (a regression
    on a suite whose baseline was made on another server says so), the counts, and the
    items judged as new because their baseline did not apply."""
    changes = Counter(str(item.get("change", "")) for item in items)
    lines = []
    for kind, title in CHANGE_TITLES:
        ids = sorted(item_id(item) for item in items if item.get("change") == kind)
        if ids and not (kind == "new" and update_baselines):
            more = " ..." if len(ids) > SHOWN else ""
            lines.append(f"{title} ({len(ids)}): {', '.join(ids[:SHOWN])}{more}")
            lines += _server_regressions(items, server_changes, kind)
    if not update_baselines and any(changes.values()):
        counts = ", ".join(
            f"{changes[k]} {k}"
            for k in ("regression", "worse", "improved", "known failure", "new")
            if changes[k]
        )
        lines.append(f"against baselines: {counts or 'no changes'}")
    other = sorted({str(i["baseline_note"]) for i in items if i.get("baseline_note")})
    if other:
        count = sum(1 for i in items if i.get("baseline_note"))
        lines.append(f"baselines: {count} items judged as new: {'; '.join(other)}")
    return lines


def regression_label(server_changes: dict[str, str], suite: str) -> str | None:
    """``regression (the server changed since the baseline: ...)`` for a suite's
    regressions when its baseline was made on another server, else None."""
    said = server_changes.get(suite)
    return None if said is None else f"regression (the server changed since the baseline: {said})"


def _server_regressions(
    items: Sequence[dict[str, Any]], server_changes: dict[str, str], kind: str
) -> list[str]:
    if kind not in ("regression", "worse"):
        return []
    lines = []
    for suite in sorted(server_changes):
        ids = sorted(item_id(i) for i in items if i.get("change") == kind and i["suite"] == suite)
        if ids:
            more = " ..." if len(ids) > SHOWN else ""
            label = regression_label(server_changes, suite)
            lines.append(f"  {label}: {', '.join(ids[:SHOWN])}{more}")
    return lines


def decision_lines(
    found: Sequence[dict[str, Any]], server_changes: dict[str, str] | None = None
) -> list[str]:
    """Gating paired tests, regressions first (the reason already says how many more
    samples would decide an inconclusive one); informational ones only when they see a
    regression (summary.json keeps them all); a regression on a suite whose baseline was
    made on another server says so."""
    lines = []
    for d in sorted(found, key=lambda d: (d["state"] != "regression", d["state"])):
        if not d["gates"] and d["state"] != "regression":
            continue
        label = {"regression": "REGRESSION", "inconclusive": "inconclusive"}.get(d["state"], "ok")
        if not d["gates"]:
            label += " (one sample per case: for information)"
        said = (server_changes or {}).get(d["suite"])
        if said and d["state"] == "regression":
            label += f" (the server changed since the baseline: {said})"
        where = arm(d.get("variant", ""), d["api"], d["effort"], d.get("budget"))
        lines.append(f"paired test {label}: {d['suite']} [{where}]: {d['reason']}")
    return lines


def summary_document(
    items: Sequence[dict[str, Any]], head: dict[str, Any], tail: dict[str, Any]
) -> dict[str, Any]:
    """``summary.json``: ``head`` (run id, time, exit status, endpoint, model, server,
    canary: what the run says of itself), then what the items give (counts per outcome,
    the table per suite x api x effort, the changes against baselines) around ``tail``
    (shard, requests, losses, baselines, decisions, efforts, budgets)."""
    outcomes = Counter(str(item["outcome"]) for item in items)
    samples = Counter(str(o) for item in items for o in item["outcomes"])
    found = sampled(items)
    return {
        **head,
        "items": {outcome: outcomes[outcome] for outcome in OUTCOMES},
        **({"sampled": found} if found else {}),
        "samples": {outcome: samples[outcome] for outcome in OUTCOMES},
        "groups": [
            dict(zip(summary_headers(items), row, strict=True)) for row in summary_rows(items)
        ],
        "records": "records.jsonl",
        "changes": dict(Counter(str(item.get("change", "")) for item in items)),
        **tail,
    }
