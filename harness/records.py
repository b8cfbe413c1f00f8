"""Run records: ``results/runs/<run-id>/records.jsonl``, one JSON line per graded sample,
appended as each sample completes, then ``summary.json`` at the end of the run.

Every line is written with one ``write`` under an exclusive ``flock``, so pytest-xdist
workers appending to the same file never interleave, and an interrupted run leaves a
file of whole lines. The request body is recorded; headers (where the token lives) never.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.models import CheckResult, Request, SampleResult


def new_run_id() -> str:
    """``20261126-120512345-3fa9c1``: date, time to the millisecond, random; sorts by time."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(seconds))
    return f"{stamp}{nanos // 1_000_000:03d}-{secrets.token_hex(3)}"


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "passed": result.passed,
        "observed": result.observed,
        "detail": result.detail,
        "weight": result.weight,
        "children": [check_json(child) for child in result.children],
    }


def sample_record(
    where: dict[str, Any], request: Request, sample: SampleResult, attempts: int
) -> dict[str, Any]:
    """The JSON line of one graded sample."""
    done = sample.completion
    return {
        **where,
        "sample": sample.index,
        "request": {"path": request.path, "body": request.body},
        "answer": done.answer,
        "reasoning": done.reasoning,
        "extracted": sample.extracted,
        "usage": asdict(done.usage),
        "latency_ms": round(done.latency_ms, 3),
        "status": done.status,
        "finish": done.finish,
        "error": done.error,
        "cached": done.cached,
        "attempts": attempts,
        "checks": [check_json(c) for c in sample.checks],
        "score": sample.score,
        "outcome": sample.outcome,
    }


class RecordWriter:
    """Appends JSON lines to one file; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # flock excludes other open files (processes), not threads sharing this one
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str, sort_keys=True) + "\n"
        data = line.encode("utf-8", "replace")
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
