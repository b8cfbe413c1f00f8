"""One shard's run folder read back and checked (``glm-harness merge``).

Each ``--glm-shard K/N`` run writes its own folder: ``summary.json``, ``items.jsonl``
(the gate's verdict per item, with its samples' outcomes) and ``records.jsonl``.
:func:`read_shard` reads one, checking what merge uses of each file (every key's type);
a problem is one :class:`~harness.errors.MergeError` line naming the file, line and key.
The files come from other jobs (a pull request's), so each is read only when it is a
regular file (not a symlink, FIFO or device) and only up to its bound, as baselines are.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import MergeError
from harness.gate.records import ITEMS_FILE
from harness.models import OUTCOMES
from harness.secret import redact

SUMMARY_FILE, RECORDS_FILE = "summary.json", "records.jsonl"
MAX_SUMMARY_BYTES = 64 << 20  # a shard's summary.json (a baseline's bound, gate/baseline.py)
MAX_LINES_BYTES = 1 << 30  # a shard's items.jsonl or records.jsonl
ITEM_KEYS = ("suite", "case", "api", "effort", "outcome", "outcomes", "score")  # every item
RECORD_KEYS = ("suite", "case", "api", "effort", "outcome")
NUMBER = (int, float)
OPTIONAL_NUMBER = (int, float, type(None))
ITEM_TYPES: dict[str, Any] = {
    "suite": str, "case": str, "variant": str, "api": str, "effort": str, "budget": int,
    "outcome": str, "outcomes": [str], "baseline_outcomes": [str], "change": str,
    "score": NUMBER, "passes": int, "samples": int,
}  # fmt: skip
RECORD_TYPES: dict[str, Any] = {
    "suite": str, "case": str, "variant": (str, type(None)), "api": str, "effort": str,
    "budget": (int, type(None)), "outcome": str, "sample": int, "usage": (dict, type(None)),
    "latency_ms": OPTIONAL_NUMBER, "first_answer_ms": OPTIONAL_NUMBER,
    "reasoning": (str, type(None)), "reasoning_chars": int, "answer": (str, type(None)),
    "tool_calls": (list, type(None)), "checks": (list, type(None)),
}  # fmt: skip
USAGE_TYPES: dict[str, Any] = {
    "output_tokens": (int, type(None)), "reasoning_tokens": (int, type(None)),
}  # fmt: skip
TYPE_NAMES = {
    str(str): "a string", str(int): "an integer", str(NUMBER): "a number",
    str(OPTIONAL_NUMBER): "a number or null", str([str]): "a list of strings",
    str((str, type(None))): "a string or null", str((int, type(None))): "an integer or null",
    str((dict, type(None))): "an object or null", str((list, type(None))): "a list or null",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ShardRun:
    """One shard's run folder, read."""

    path: Path
    summary: dict[str, Any]
    shard: tuple[int, int]  # (K, N); a run without --glm-shard is (1, 1)
    items: list[dict[str, Any]]  # items.jsonl, one dict a line
    records: list[bytes]  # records.jsonl's whole lines, each with its newline, as written
    parsed: list[dict[str, Any]]  # the same records, read
    torn: int  # bytes of a torn last line left out (0: none)

    @property
    def label(self) -> str:
        return f"shard {self.shard[0]}/{self.shard[1]} ({self.path})"


def find_run(run: str, results: Path) -> Path:
    """A run folder, or a run id under ``results/runs``."""
    for candidate in (Path(run), results / "runs" / run):
        if candidate.is_dir():
            return candidate
    raise MergeError(f"{run}: no such run folder (nor a run id under {results / 'runs'})")


def _read(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them; MergeError for a symlink, FIFO,
    folder or device (refused before a byte is read: O_NONBLOCK, so a FIFO does not wait
    for a writer) or a larger file. FileNotFoundError goes through."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if path.is_symlink():  # O_NOFOLLOW's ELOOP
            raise MergeError(f"{path}: not a regular file; refused") from None
        raise MergeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise MergeError(f"{path}: not a regular file; refused")
        if found.st_size > limit:
            raise MergeError(f"{path}: larger than {limit:,} bytes; refused")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read()
    except OSError as exc:
        raise MergeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while it was read
        raise MergeError(f"{path}: larger than {limit:,} bytes; refused")
    return data


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read(path, MAX_SUMMARY_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{path.parent}: no {path.name} (the run did not finish)") from None
    except RecursionError:
        raise MergeError(f"{path}: cannot be read (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise MergeError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise MergeError(f"{path}: not a run summary (not a JSON object)")
    return data


# what merge reads of a shard's summary.json, and the type each must have when present
SUMMARY_TYPES: dict[str, type | tuple[type, ...]] = {
    "exit_status": int, "items": dict, "requests": dict, "records_lost": int,
    "cache_unwritten": int, "not_written": list, "baselines": list, "sampled": dict,
    "canary": (dict, type(None)), "server_changes": dict, "server": (dict, type(None)),
    "model": (str, type(None)), "endpoint": (str, type(None)),
}  # fmt: skip


def _checked(summary: dict[str, Any], path: Path) -> dict[str, Any]:
    """``summary`` when what merge reads of it has the shape a run writes; else MergeError
    naming the file and the key."""
    for key, kind in SUMMARY_TYPES.items():
        if key in summary and not isinstance(summary[key], kind):
            raise MergeError(f"{path}: {key}: {_shown(summary[key])} is not a run's")
    code = summary.get("exit_status", 0)
    if isinstance(code, bool) or not 0 <= code <= 255:  # 256 would exit 0: a pass
        said = f"exit_status: {json.dumps(code)} is not an exit status (0 to 255)"
        raise MergeError(f"{path}: {said}")
    found = summary.get("requests", {})
    for key, value in found.items():
        values = value.items() if isinstance(value, dict) else [("", value)]
        for name, count in values:
            if not isinstance(count, int) or isinstance(count, bool):
                where = f"requests.{key}{'.' + name if name else ''}"
                raise MergeError(f"{path}: {where}: {_shown(count)} is not a count")
    for key, value in summary.get("sampled", {}).items():
        if not (
            isinstance(value, list) and len(value) == 2 and _wrong({"n": value}, COUNT) is None
        ):
            raise MergeError(f"{path}: sampled.{key}: {_shown(value)} is not [n, of]")
    for key in ("baselines", "not_written"):
        if _wrong(summary, {key: [str]}):
            raise MergeError(f"{path}: {key}: not a list of strings")
    changes = summary.get("server_changes", {})
    if _wrong({"said": list(changes.values())}, {"said": [str]}):
        raise MergeError(f"{path}: server_changes: not an object of strings")
    return summary


COUNT = {"n": [int]}


def _shard_of(summary: dict[str, Any], path: Path) -> tuple[int, int]:
    found = summary.get("shard")
    if found is None:
        return 1, 1
    if isinstance(found, dict):
        raise MergeError(f"{path}: shard: a merged run already (merge the shards' own runs)")
    ok = isinstance(found, list) and len(found) == 2
    ok = ok and all(isinstance(n, int) and not isinstance(n, bool) for n in found)
    if not ok or not 1 <= found[0] <= found[1]:
        raise MergeError(f"{path}: shard: {json.dumps(found)} is not [K, N] with 1 <= K <= N")
    return found[0], found[1]


def _item_lines(folder: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
    path = folder / ITEMS_FILE
    try:
        lines = _read(path, MAX_LINES_BYTES).decode("utf-8").split("\n")
    except FileNotFoundError:
        counts = summary.get("items")
        if isinstance(counts, dict) and not any(counts.values()):
            return []  # a shard whose run had no item (it says so): nothing to add
        raise MergeError(
            f"{folder}: no {ITEMS_FILE} (a run that did not finish or wrote its baselines "
            "cannot be merged)"
        ) from None
    except UnicodeDecodeError as exc:
        raise MergeError(f"{path}: cannot be read ({exc})") from None
    items = []
    for number, line in ((n, text) for n, text in enumerate(lines, 1) if text.strip()):
        try:
            item = json.loads(line)
        except RecursionError:
            raise MergeError(f"{path}:{number}: not an item line (nested too deeply)") from None
        except ValueError:
            raise MergeError(f"{path}:{number}: not an item line (not JSON)") from None
        missing = [k for k in ITEM_KEYS if not isinstance(item, dict) or k not in item]
        if missing:
            older = " (written by an older glm-harness: run the shard again)"
            why = older if missing == ["outcomes"] else ""
            raise MergeError(f"{path}:{number}: not an item line (no {missing[0]!r}){why}")
        wrong = _wrong(item, ITEM_TYPES) or _unknown_outcome(item)
        if wrong:
            raise MergeError(f"{path}:{number}: {wrong}")
        items.append(item)
    return items


def _record_lines(folder: Path) -> tuple[list[bytes], list[dict[str, Any]], int]:
    """The whole lines of records.jsonl as bytes, the records they hold, and the size of a
    torn last line (a last line with no newline that is not JSON: a run that stopped while
    writing)."""
    path = folder / RECORDS_FILE
    try:
        data = _read(path, MAX_LINES_BYTES)
    except FileNotFoundError:
        return [], [], 0  # every record lost, or every item an early stop: the items count
    chunks = data.split(b"\n")
    last = chunks.pop()  # b"" when the file ends with a newline
    lines, parsed = [chunk + b"\n" for chunk in chunks], []
    for number, line in enumerate(lines, 1):
        if line.strip():
            record, wrong = _record(line)
            if wrong is not None:
                raise MergeError(f"{path}:{number}: {wrong}")
            parsed.append(record)
    if not last:
        return lines, parsed, 0
    record, wrong = _record(last)
    if wrong is None:
        return [*lines, last + b"\n"], [*parsed, record], 0  # whole, only its newline missing
    if wrong == NOT_JSON:
        return lines, parsed, len(last)  # torn: cut short while it was written
    raise MergeError(f"{path}:{len(lines) + 1}: {wrong}")


NOT_JSON = "not a run record (not JSON)"


def _record(line: bytes) -> tuple[dict[str, Any], str | None]:
    """A records.jsonl line read, and why it is not a record merge can use (or None)."""
    try:
        record = json.loads(line)
    except RecursionError:
        return {}, "not a run record (nested too deeply)"
    except ValueError:
        return {}, NOT_JSON
    if not isinstance(record, dict):
        return {}, "not a run record (not a JSON object)"
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        return record, f"not a run record (no {missing[0]!r})"
    usage = record.get("usage") or {}
    wrong = _wrong(record, RECORD_TYPES) or _wrong(usage, USAGE_TYPES, "usage.")
    return record, wrong or _unknown_outcome(record)


def _unknown_outcome(found: dict[str, Any]) -> str | None:
    """``outcome: "ok" is not one of ...`` for the first outcome that is none the harness
    writes (the gate reads an unknown one as no failure), in a line whose types are right."""
    for key in ("outcome", "outcomes", "baseline_outcomes"):
        values = found.get(key, [])
        for outcome in values if isinstance(values, list) else [values]:
            if outcome not in OUTCOMES:
                return f"{key}: {_shown(outcome)} is not one of {', '.join(OUTCOMES)}"
    return None


def _shown(value: Any) -> str:
    """A refused value as a message quotes it: its first 80 characters of JSON, any live
    secret masked first (a cut could keep a token's head that masking no longer finds)."""
    return redact(json.dumps(value, default=str))[:80]


def _wrong(found: dict[str, Any], types: dict[str, Any], where: str = "") -> str | None:
    """``key: value is not <what>`` for the first key of ``found`` whose value is not of
    its type in ``types`` (``[str]``: a list of strings); None when all are."""
    for key, kind in types.items():
        if key not in found:
            continue
        value = found[key]
        if isinstance(kind, list):
            ok = isinstance(value, list) and all(isinstance(v, kind[0]) for v in value)
        else:
            ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if not ok:
            return f"{where}{key}: {_shown(value)} is not {TYPE_NAMES[str(kind)]}"
    return None


def read_shard(run: str, results: Path = Path("results")) -> ShardRun:
    """One run folder (or run id), read and checked; raises MergeError."""
    folder = find_run(run, results)
    summary = _checked(_json_object(folder / SUMMARY_FILE), folder / SUMMARY_FILE)
    shard = _shard_of(summary, folder / SUMMARY_FILE)
    items = _item_lines(folder, summary)
    records, parsed, torn = _record_lines(folder)
    return ShardRun(folder, summary, shard, items, records, parsed, torn)
