"""End-of-run output: the terminal section and ``summary.json`` in the run folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from harness.fileio import dumps, write_atomic
from harness.gate import verdicts
from harness.gate.verdicts import API_ERRORS, CANARY_FAILED, INTERRUPTED
from harness.plugin.state import RunState
from harness.reports.endrun import (
    change_list,
    decision_lines,
    endpoint_text,
    judge_lines,
    requests_line,
    sample_line,
    summary_document,
)
from harness.reports.terminal import summary_lines

__all__ = ["decision_lines", "judge_lines", "requests_line", "sample_line"]  # their old home


def endpoint_line(state: RunState) -> str:
    local = state.local is not None
    return endpoint_text(state.settings.base_url, state.model_shown(), local=local)


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
    head = {
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
    }
    tail = {
        **({"shard": list(state.settings.shard)} if state.settings.shard else {}),
        "requests": state.stats(),
        **state.losses(),
        "baselines": list(state.baseline_reports),
        "decisions": state.decisions,
        "ignored_efforts": state.ignored,
        "budgets": state.budgets,
    }
    return summary_document(state.items, head, tail)


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
    on a suite whose baseline was made on another server says so); then the baselines'
    problems and what was written."""
    lines = change_list(state.items, state.server_changes, update_baselines=state.update_baselines)
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
    if state.late_interrupt:
        return INTERRUPTED  # Ctrl-C while the baselines were written
    stopped = (state.canary or {}).get("state")
    if stopped in ("failed", "error") and pytest_status != INTERRUPTED:
        return CANARY_FAILED if stopped == "failed" else API_ERRORS
    # --glm-update-baselines accepts the failures it wrote as known ones (xfailed)
    accepted = state.update_baselines and not state.baselines_unwritten
    return verdicts.gate_status(state.items, state.decisions, pytest_status, accepted=accepted)


def decisions(state: RunState) -> list[dict[str, Any]]:
    """The paired tests over the run's items (:func:`harness.gate.verdicts.paired_decisions`)."""
    return verdicts.paired_decisions(state.items)


def ignored_efforts(state: RunState) -> list[dict[str, Any]]:
    """Effort levels with no effect (:func:`harness.gate.verdicts.no_effect_efforts`)."""
    return verdicts.no_effect_efforts(state.items, state.run_dir / "records.jsonl")


def budget_notes(state: RunState) -> list[dict[str, Any]]:
    """What thinking budgets buy (:func:`harness.gate.verdicts.budget_notes`)."""
    return verdicts.budget_notes(state.items, state.run_dir / "records.jsonl")


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
