"""End-of-run output: the terminal section and ``summary.json`` in the run folder."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness.fileio import dumps, write_atomic
from harness.models import OUTCOMES, arm
from harness.plugin.state import RunState
from harness.reports.terminal import (
    budget_rank,
    item_id,
    summary_headers,
    summary_lines,
    summary_rows,
)

# pytest's exit codes (this module does not import pytest), and the harness's own
OK, FAILED, INTERRUPTED = 0, 1, 2
API_ERRORS = 6  # items ended in `error` (the API failed after retries, or refused the token)
CANARY_FAILED = 7  # the canaries found the endpoint changed: nothing of the suites was sent


def endpoint_line(state: RunState) -> str:
    where = state.settings.base_url or "no endpoint"
    local = " (local llama-server)" if state.local is not None else ""
    return f"endpoint: {where}{local}  model: {state.model_shown()}"


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


def sampled(items: list[dict[str, Any]]) -> dict[str, list[int]]:
    """--glm-sample: per suite, [cases run, cases in the suite] (items carry it, so it
    reaches the controller under xdist too)."""
    return {str(i["suite"]): list(i["sampled"]) for i in items if i.get("sampled")}


def sample_line(items: list[dict[str, Any]]) -> list[str]:
    found = sampled(items)
    if not found:
        return []
    each = ", ".join(f"{suite} {n} of {m}" for suite, (n, m) in sorted(found.items()))
    return [f"sampled (--glm-sample): {each} cases; the gate judged the sampled cases only"]


def terminal_lines(state: RunState, root: Path) -> list[str]:
    from harness.plugin.preflight import server_lines, stop_line

    first, stopped = server_lines(state), stop_line(state)  # the gate says these first
    if stopped is not None:
        return [*first, stopped, endpoint_line(state), *state.loss_lines()]
    lines = [*first, endpoint_line(state), *sample_line(state.items)]
    lines += summary_lines(state.items)
    lines += [f"effort: {n['text']}" for n in state.ignored]  # right under the table
    lines += [f"thinking budget: {n['text']}" for n in state.budgets]
    stats = state.stats()
    lines += [requests_line(stats), *judge_lines(stats)]
    lines += change_lines(state, root)
    lines += decision_lines(state.decisions, state.server_changes)
    records = state.run_dir / "records.jsonl"
    if records.exists():
        lines.append(f"records: {os.path.relpath(records, root)}")
    return lines + state.loss_lines()


def summary_data(state: RunState, exitstatus: int) -> dict[str, Any]:
    items = Counter(str(item["outcome"]) for item in state.items)
    samples = Counter(str(o) for item in state.items for o in item["outcomes"])
    return {
        "run_id": state.run_id,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exit_status": exitstatus,
        "interrupted": exitstatus == INTERRUPTED,
        "endpoint": state.settings.base_url,
        "model": state.settings.model,
        **state.model_file_data(),
        "server": state.server,
        **({"server_changes": state.server_changes} if state.server_changes else {}),
        **({"canary": state.canary} if state.canary is not None else {}),
        "items": {outcome: items[outcome] for outcome in OUTCOMES},
        **({"sampled": sampled(state.items)} if sampled(state.items) else {}),
        **({"shard": list(state.settings.shard)} if state.settings.shard else {}),
        "samples": {outcome: samples[outcome] for outcome in OUTCOMES},
        "requests": state.stats(),
        "groups": [
            dict(zip(summary_headers(state.items), row, strict=True))
            for row in summary_rows(state.items)
        ],
        "records": "records.jsonl",
        **state.losses(),
        "changes": dict(Counter(str(item.get("change", "")) for item in state.items)),
        "baselines": list(state.baseline_reports),
        "decisions": state.decisions,
        "ignored_efforts": state.ignored,
        "budgets": state.budgets,
    }


def write_summary(state: RunState, exitstatus: int) -> Path | None:
    """summary.json (and items.jsonl, unless the run wrote its baselines) beside the
    records; None (and a line in ``state.problems`` for the terminal) when it cannot be
    written, e.g. on a full disk."""
    from harness.gate.records import ITEMS_FILE, item_lines

    items = state.run_dir / ITEMS_FILE  # each item's change and baseline, for the HTML page
    try:
        if state.items and not state.update_baselines:
            write_atomic(items, item_lines(state.items))
    except OSError as exc:
        state.problems.append(f"{items}: not written ({exc.strerror or exc})")
    path = state.run_dir / "summary.json"
    try:
        write_atomic(path, dumps(summary_data(state, exitstatus)))
    except OSError as exc:
        state.problems.append(f"{path}: not written ({exc.strerror or exc})")
        return None
    return path


def write_baselines(state: RunState, *, interrupted: bool) -> None:
    """--glm-update-baselines / --glm-prune-baselines, at the end of the run. An
    interrupted run writes nothing: a baseline is all of a run or none of it. Every file
    lands at once or none does (:func:`harness.gate.baseline.update_all`); a Ctrl-C before the
    renames writes nothing, one during them is honoured once all have landed."""
    from harness.gate.baseline import plan_updates, update_all

    state.baselines_unwritten = True  # until the files are in place
    if interrupted:
        state.baseline_reports.append("run interrupted; nothing written")
        return
    try:
        done = update_all(
            state.baselines_dir,
            plan_updates(
                state.baseline_updates,
                state.suite_paths,
                prune=state.prune_baselines,
                evals_dir=state.evals_dir,
                root=state.root,
            ),
            prune=state.prune_baselines,
            model_sha256=state.model_sha256,
            server=state.server,
        )
    except KeyboardInterrupt:
        state.late_interrupt = True
        state.baseline_reports.append("interrupted before any file was replaced; nothing written")
        return
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        state.baseline_reports.append(
            f"not written ({where}{exc.strerror or exc}); every file is as it was"
        )
        return
    state.baselines_unwritten = bool(done.problems)  # a file not touched keeps its failures
    state.baseline_reports += done.problems
    state.baseline_reports += [report.line() for report in done.reports]
    if done.interrupted:
        state.late_interrupt = True
        state.baseline_reports.append(
            "interrupted while the files were replaced; all of them were written"
        )


def change_lines(state: RunState, root: Path) -> list[str]:
    """Regressions first, then improvements, new items and known failures (a regression
    on a suite whose baseline was made on another server says so)."""
    from harness.plugin.preflight import regression_lines

    changes = Counter(str(item.get("change", "")) for item in state.items)
    lines = []
    for kind, title in (
        ("regression", "REGRESSIONS"),
        ("worse", "worse than baseline (sampled; see the paired test)"),
        ("improved", "improved"),
        ("new", "new"),
    ):
        ids = sorted(item_id(item) for item in state.items if item.get("change") == kind)
        if ids and not (kind == "new" and state.update_baselines):
            lines.append(
                f"{title} ({len(ids)}): {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}"
            )
            lines += regression_lines(state, kind)
    if not state.update_baselines and any(changes.values()):
        counts = ", ".join(
            f"{changes[k]} {k}"
            for k in ("regression", "worse", "improved", "known failure", "new")
            if changes[k]
        )
        lines.append(f"against baselines: {counts or 'no changes'}")
    other = sorted({str(i["baseline_note"]) for i in state.items if i.get("baseline_note")})
    if other:
        count = sum(1 for i in state.items if i.get("baseline_note"))
        lines.append(f"baselines: {count} items judged as new: {'; '.join(other)}")
    problems = [b.problem for b in state.loaded_baselines() if b.problem]
    lines += [f"baselines: {p}" for p in problems]
    lines += [
        f"baselines: {os.path.relpath(r, root) if os.path.isabs(r) else r}"
        for r in state.baseline_reports
    ]
    return lines


def exit_code(state: RunState, pytest_status: int) -> int:
    """0 clean; 1 a regression or a failing (new) case; 6 API errors and nothing worse;
    7 the canaries failed (6 when they could not run); pytest's own codes otherwise (2
    interrupted, 3 internal error, 4 usage, 5 no items)."""
    refused = any(item.get("auth_refused") for item in state.items)
    if state.late_interrupt:
        return INTERRUPTED  # Ctrl-C while the baselines were written
    stopped = (state.canary or {}).get("state")
    if stopped in ("failed", "error") and pytest_status != INTERRUPTED:
        return CANARY_FAILED if stopped == "failed" else API_ERRORS
    if pytest_status not in (OK, FAILED, INTERRUPTED) or (
        pytest_status == INTERRUPTED and not refused
    ):
        return pytest_status
    # --glm-update-baselines accepts the failures it wrote as known ones (xfailed)
    accepted = state.update_baselines and not state.baselines_unwritten
    failing = not accepted and any(
        item["outcome"] in ("fail", "truncated")
        and item.get("change") not in ("known failure", "worse")  # xfailed; the paired test gates
        for item in state.items
    )
    if failing or any(d["state"] == "regression" and d["gates"] for d in state.decisions):
        return FAILED
    if refused or any(item["outcome"] == "error" for item in state.items):
        return API_ERRORS
    return pytest_status


def decisions(state: RunState) -> list[dict[str, Any]]:
    """The paired test per suite x api x effort with a baseline: regression, no regression,
    or inconclusive. It gates the run for sampled answers (more than one sample per case);
    with one sample per case each item is judged on its own (the README's table) and the
    exact McNemar test is reported for information."""
    from harness.gate.stats import decide

    groups: dict[tuple[str, str, str, str, int | None], list[dict[str, Any]]] = {}
    for item in state.items:
        if item.get("baseline_outcomes") and item["outcome"] != "error":
            where = (item["suite"], item.get("variant", ""), item["api"], item["effort"])
            groups.setdefault((*where, item.get("budget")), []).append(item)
    out = []
    for (suite, variant, api, effort, budget), items in sorted(
        groups.items(), key=lambda kv: (*kv[0][:4], budget_rank(kv[0][4]))
    ):
        single = all(len(i["outcomes"]) <= 1 and len(i["baseline_outcomes"]) <= 1 for i in items)
        base = [[o == "pass" for o in i["baseline_outcomes"]] for i in items]
        now = [[o == "pass" for o in i["outcomes"]] for i in items]
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


def ignored_efforts(state: RunState) -> list[dict[str, Any]]:
    """Effort levels that differ in the request where the evidence rules out a change in
    pass rate and reasoning length (``glm-harness compare --by effort`` on this run's
    records: its "no effect"; too few cases to tell is not one)."""
    from harness.gate.compare import CompareError, compare_runs, load_run

    levels: dict[tuple[str, str, str, str], set[str]] = {}
    for item in state.items:
        where = (item["suite"], item.get("variant", ""), item["api"], str(item.get("budget")))
        levels.setdefault(where, set()).add(item["effort"])
    records = state.run_dir / "records.jsonl"
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


def budget_notes(state: RunState) -> list[dict[str, Any]]:
    """Per suite x prompt x API x effort that ran thinking budgets: the budget needed for
    90% of cases and each case's smallest passing budget (``glm-harness compare --by
    budget`` on this run's records has the whole table)."""
    records = state.run_dir / "records.jsonl"
    if not any(item.get("budget") is not None for item in state.items) or not records.is_file():
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


def decision_lines(
    found: list[dict[str, Any]], server_changes: dict[str, str] | None = None
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


def write_markdown(state: RunState, target: Path, exitstatus: int) -> None:
    """--glm-report FILE.md: the run as Markdown for a PR comment or a step summary."""
    from harness.plugin.preflight import notices, stop_title
    from harness.reports.markdown import markdown_report

    text = markdown_report(
        state.items,
        run_id=state.run_id,
        endpoint=state.settings.base_url,
        model=state.model_shown(),
        requests=state.stats(),
        baseline_lines=state.baseline_reports,
        decisions=[d for d in state.decisions if d["gates"]],  # the ones that decide the run
        ignored=[n["text"] for n in state.ignored],
        exit_status=exitstatus,
        notices=notices(state),
        server_changed=state.server_changes,
        stopped=stop_title(state),
    )
    try:
        write_atomic(target, text)
    except OSError as exc:
        state.problems.append(f"{target}: not written ({exc.strerror or exc})")
