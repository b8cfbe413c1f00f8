"""Run records: ``results/runs/<run-id>/records.jsonl``, one JSON line per graded sample,
appended as each sample completes, then ``summary.json`` at the end of the run.

Every line is written with one ``write`` under an exclusive ``flock``, so pytest-xdist
workers appending to the same file never interleave, and an interrupted run leaves a
file of whole lines. A line is written whole or not at all: when a write fails or falls
short (disk full, a file size limit), the file is cut back to its length before the line,
still under the lock, and the loss is counted (``lost``, ``lost_reason``) for the run's
summary; the run goes on. The request body is recorded; headers (where the token lives) never.

At the end of the run ``items.jsonl`` holds one line per item with the gate's verdict on it
(:func:`item_lines`): its outcome and its samples' outcomes, its change against the
baseline (regression, improved, new, ...; why a baseline did not apply; a refused token)
and the baseline's outcomes and answer, which no sample record says. It holds everything
the gate decides on, so ``glm-harness merge`` can judge shards' items as one run.

Texts are capped: ``answer``, ``reasoning``, ``extracted`` and string values a check
observed keep their first :data:`RECORD_TEXT_CAP` characters and end with ``... [N more
chars]``; a record whose answer or reasoning was cut says the original length in
``answer_chars`` / ``reasoning_chars`` (absent when nothing was cut). A sample whose model
made tool calls has ``tool_calls``: ``[{id, name, raw, arguments, error}]`` (``raw`` capped
the same way, ``arguments`` left out when it did not parse or its text was cut; no
``tool_calls`` key when there were none). The answer cache keeps the whole text. Control
characters (NUL included) are JSON escapes, and so are U+0085, U+2028 and U+2029, which
``str.splitlines`` would take for line ends.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.models import CheckResult, Request, SampleResult, ToolCall
from harness.secret import redact

RECORD_TEXT_CAP = 100_000  # characters of an answer, reasoning or observed text kept
ITEMS_FILE = "items.jsonl"
ITEM_TEXT_CAP = 4000  # a baseline answer in items.jsonl (baselines keep as much)
# what items.jsonl keeps of an item's summary: where it ran, the verdict, the baseline's side
ITEM_FIELDS: tuple[str, ...] = ("suite", "case", "variant", "api", "effort", "budget")
ITEM_FIELDS += ("outcome", "passes", "samples", "score", "outcomes", "change")
ITEM_FIELDS += ("baseline_outcomes", "baseline_date", "baseline_note", "auth_refused")
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def capped(text: str, limit: int = RECORD_TEXT_CAP) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out (the format of
    the failure report's ``shorten``)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more chars]"


def _capped_value(value: Any) -> Any:
    """An observed value with every string in it capped."""
    if isinstance(value, str):
        return capped(value)
    if isinstance(value, list | tuple):
        return [_capped_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _capped_value(v) for k, v in value.items()}
    return value


def new_run_id() -> str:
    """``20261126-120512345-3fa9c1``: date, time to the millisecond, random; sorts by time."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(seconds))
    return f"{stamp}{nanos // 1_000_000:03d}-{secrets.token_hex(3)}"


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "passed": result.passed,
        "observed": _capped_value(result.observed),
        "detail": result.detail,
        "weight": result.weight,
        "children": [check_json(child) for child in result.children],
    }


def sample_record(
    where: dict[str, Any], request: Request, sample: SampleResult, attempts: int
) -> dict[str, Any]:
    """The JSON line of one graded sample (texts capped, see the module's docstring)."""
    done = sample.completion
    lengths = {
        f"{name}_chars": len(text)
        for name, text in (("answer", done.answer), ("reasoning", done.reasoning))
        if len(text) > RECORD_TEXT_CAP
    }
    return {
        **where,
        "sample": sample.index,
        "request": {"path": request.path, "body": request.body},
        "answer": capped(done.answer),
        "reasoning": capped(done.reasoning),
        **lengths,
        **_tool_calls(done.tool_calls),
        "extracted": None if sample.extracted is None else capped(sample.extracted),
        "usage": asdict(done.usage),
        "latency_ms": round(done.latency_ms, 3),
        "first_reasoning_ms": _ms(done.first_reasoning_ms),
        "first_answer_ms": _ms(done.first_answer_ms),
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
        self.lost = 0  # records not written (the file was cut back to whole lines)
        self.lost_reason: str | None = None
        self._broken = False  # could not be cut back: nothing more is appended after it

    def write(self, record: dict[str, Any]) -> bool:
        """Append one record as one line; False when it could not be written whole (the
        file is then as it was before)."""
        line = redact(json.dumps(record, ensure_ascii=False, default=str, sort_keys=True))
        if not line.isascii():  # the rare line with text that splitlines() would break
            for char, escape in _LINE_BREAKS.items():
                line = line.replace(char, escape)  # only inside strings: JSON escapes them
        line += "\n"
        data = line.encode("utf-8", "replace")
        with self._lock:
            if self._broken:
                self.lost += 1
                return False
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                before = os.fstat(self._fd).st_size  # nobody else appends while we hold it
                try:
                    view = memoryview(data)
                    while view:
                        written = os.write(self._fd, view)
                        if written <= 0:
                            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                        view = view[written:]
                except OSError as exc:
                    try:
                        os.ftruncate(self._fd, before)  # no torn line: cut what was written
                    except OSError:
                        self._broken = True  # a torn last line, which readers skip
                    self.lost += 1
                    self.lost_reason = self.lost_reason or (exc.strerror or str(exc))
                    return False
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def item_lines(items: list[dict[str, Any]]) -> str:
    """``items.jsonl``: per item (an end-of-run summary dict) its place, outcome, change and
    the baseline's outcomes and answer (capped at :data:`ITEM_TEXT_CAP`), one sorted JSON
    line each, ASCII only; the same items give the same text."""
    kept_items = []
    for item in items:
        kept = {name: item[name] for name in ITEM_FIELDS if item.get(name) is not None}
        if isinstance(item.get("baseline_answer"), str):
            kept["baseline_answer"] = capped(item["baseline_answer"], ITEM_TEXT_CAP)
        kept_items.append(kept)
    return item_text(kept_items)


def item_text(kept: list[dict[str, Any]]) -> str:
    """Item lines (as :func:`item_lines` keeps them, or read back from items.jsonl) as the
    file's text: sorted by where the item ran, one JSON line each."""
    lines = []
    for item in kept:
        where = [str(item.get(name, "")) for name in ITEM_FIELDS[:6]]
        lines.append((where, json.dumps(item, sort_keys=True, default=str)))
    return "".join(line + "\n" for _, line in sorted(lines))


def _tool_calls(calls: tuple[ToolCall, ...]) -> dict[str, Any]:
    """``{"tool_calls": [...]}`` for a completion with calls (none: no key, so a tool-less
    record is as before). Each call: ``id``, ``name``, ``raw`` (capped, with ``raw_chars``
    when cut), ``arguments`` when they parsed and their text fits the cap, ``error``."""
    if not calls:
        return {}
    out = []
    for call in calls:
        entry: dict[str, Any] = {"id": call.id, "name": call.name, "raw": capped(call.raw)}
        if len(call.raw) > RECORD_TEXT_CAP:
            entry["raw_chars"] = len(call.raw)
        elif call.arguments is not None:
            entry["arguments"] = call.arguments
        if call.error is not None:
            entry["error"] = call.error
        out.append(entry)
    return {"tool_calls": out}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
