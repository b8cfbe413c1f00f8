"""End-of-run output: the terminal section and ``summary.json`` in the run folder."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness.fileio import dumps, write_atomic
from harness.models import OUTCOMES
from harness.report import HEADERS, summary_lines, summary_rows
from harness.state import RunState

INTERRUPTED = 2  # pytest.ExitCode.INTERRUPTED (this module does not import pytest)


def endpoint_line(state: RunState) -> str:
    where = state.settings.base_url or "no endpoint"
    local = " (local llama-server)" if state.local is not None else ""
    return f"endpoint: {where}{local}  model: {state.settings.model or '-'}"


def requests_line(stats: dict[str, Any]) -> str:
    shrank = stats["shrinks"]
    return (
        f"requests: {stats['requests']} samples, {stats['cached']} from cache, "
        f"{stats['sent']} sent ({stats['retries']} retries), {stats['failed']} failed; "
        f"concurrency {stats['max_concurrency']}, final {stats['concurrency']} "
        f"(shrank {shrank} time{'' if shrank == 1 else 's'} on 429)"
    )


def terminal_lines(state: RunState, root: Path) -> list[str]:
    lines = [endpoint_line(state), *summary_lines(state.items), requests_line(state.stats())]
    records = state.run_dir / "records.jsonl"
    if records.exists():
        lines.append(f"records: {os.path.relpath(records, root)}")
    return lines


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
        "items": {outcome: items[outcome] for outcome in OUTCOMES},
        "samples": {outcome: samples[outcome] for outcome in OUTCOMES},
        "requests": state.stats(),
        "groups": [dict(zip(HEADERS, row, strict=True)) for row in summary_rows(state.items)],
        "records": "records.jsonl",
    }


def write_summary(state: RunState, exitstatus: int) -> Path:
    path = state.run_dir / "summary.json"
    write_atomic(path, dumps(summary_data(state, exitstatus)))
    return path
