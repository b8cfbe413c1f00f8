"""Shards' runs read back and checked to be parts of one run (``glm-harness merge``).

Each ``--glm-shard K/N`` run writes its own folder: ``summary.json``, ``items.jsonl``
(the gate's verdict per item, with its samples' outcomes) and ``records.jsonl``.
:func:`read_shard` reads one folder; :func:`combine` checks that the folders are the
shards of one run (the same N, each K once, none missing unless allowed, no item twice,
the same model, endpoint and server) and puts their items, records and counters together.
Every refusal is one :class:`~harness.errors.MergeError` line naming the folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import MergeError
from harness.gate.records import ITEMS_FILE
from harness.gate.runs import Key, key_of

SUMMARY_FILE, RECORDS_FILE = "summary.json", "records.jsonl"
ITEM_KEYS = ("suite", "case", "api", "effort", "outcome", "outcomes")  # every item line has
FINGERPRINT = ("version", "models", "openapi_sha256")  # the server's, compared where known
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ShardRun:
    """One shard's run folder, read."""

    path: Path
    summary: dict[str, Any]
    shard: tuple[int, int]  # (K, N); a run without --glm-shard is (1, 1)
    items: list[dict[str, Any]]  # items.jsonl, one dict a line
    records: list[bytes]  # records.jsonl's whole lines, each with its newline, as written
    torn: int  # bytes of a torn last line left out (0: none)

    @property
    def label(self) -> str:
        return f"shard {self.shard[0]}/{self.shard[1]} ({self.path})"


@dataclass(frozen=True, slots=True)
class Merged:
    """The shards of one run, put together (nothing decided yet: see ``gate.verdicts``)."""

    runs: list[ShardRun]  # by K
    of: int  # N
    missing: list[int]  # the Ks not given (only with allow_partial)
    empty: list[int]  # the Ks said to have run no case (--empty-shard): no run folder
    items: list[dict[str, Any]]  # every shard's item lines
    records: list[bytes]  # every shard's record lines, shard by shard
    parsed: list[dict[str, Any]]  # the same records, read

    def notes(self) -> list[str]:
        """What the merged run must say of its parts: torn lines left out, shards missing."""
        said = [
            f"{run.path / RECORDS_FILE}: last line is incomplete ({run.torn} bytes), skipped"
            for run in self.runs
            if run.torn
        ]
        if self.missing:
            gone = ", ".join(f"{k}/{self.of}" for k in self.missing)
            said.append(f"partial: shard{'s' if len(self.missing) > 1 else ''} {gone} missing")
        return said


def find_run(run: str, results: Path) -> Path:
    """A run folder, or a run id under ``results/runs``."""
    for candidate in (Path(run), results / "runs" / run):
        if candidate.is_dir():
            return candidate
    raise MergeError(f"{run}: no such run folder (nor a run id under {results / 'runs'})")


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{path.parent}: no {path.name} (the run did not finish)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
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
COUNTS = ("requests", "sent", "retries", "cached", "failed", "input_tokens", "output_tokens")


def _checked(summary: dict[str, Any], path: Path) -> dict[str, Any]:
    """``summary`` when what merge reads of it has the shape a run writes; else MergeError
    naming the file and the key."""
    for key, kind in SUMMARY_TYPES.items():
        if key in summary and not isinstance(summary[key], kind):
            raise MergeError(f"{path}: {key}: {json.dumps(summary[key])[:80]} is not a run's")
    found = summary.get("requests", {})
    for key, value in found.items():
        values = value.items() if isinstance(value, dict) else [("", value)]
        for name, count in values:
            if not isinstance(count, int) or isinstance(count, bool):
                where = f"requests.{key}{'.' + name if name else ''}"
                raise MergeError(f"{path}: {where}: {json.dumps(count)[:80]} is not a count")
    return summary


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
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        counts = summary.get("items")
        if isinstance(counts, dict) and not any(counts.values()):
            return []  # a shard whose run had no item (it says so): nothing to add
        raise MergeError(
            f"{folder}: no {ITEMS_FILE} (a run that did not finish or wrote its baselines "
            "cannot be merged)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MergeError(f"{path}: cannot be read ({exc})") from None
    items = []
    for number, line in ((n, text) for n, text in enumerate(lines, 1) if text.strip()):
        try:
            item = json.loads(line)
        except ValueError:
            raise MergeError(f"{path}:{number}: not an item line (not JSON)") from None
        missing = [k for k in ITEM_KEYS if not isinstance(item, dict) or k not in item]
        if missing:
            older = " (written by an older glm-harness: run the shard again)"
            why = older if missing == ["outcomes"] else ""
            raise MergeError(f"{path}:{number}: not an item line (no {missing[0]!r}){why}")
        items.append(item)
    return items


def _record_lines(folder: Path) -> tuple[list[bytes], int]:
    """The whole lines of records.jsonl as bytes, and the size of a torn last line (a
    last line with no newline that is not JSON: a run that stopped while writing)."""
    path = folder / RECORDS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0  # every record lost, or every item an early stop: the items still count
    except OSError as exc:
        raise MergeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    chunks = data.split(b"\n")
    last = chunks.pop()  # b"" when the file ends with a newline
    lines = [chunk + b"\n" for chunk in chunks]
    for number, line in enumerate(lines, 1):
        if line.strip() and not _is_record(line):
            raise MergeError(f"{path}:{number}: not a run record")
    if last and _is_record(last):
        return [*lines, last + b"\n"], 0  # whole, only its newline missing
    return lines, len(last)


def _is_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and all(k in record for k in ("suite", "case", "api"))


def read_shard(run: str, results: Path = Path("results")) -> ShardRun:
    """One run folder (or run id), read and checked; raises MergeError."""
    folder = find_run(run, results)
    summary = _checked(_json_object(folder / SUMMARY_FILE), folder / SUMMARY_FILE)
    shard = _shard_of(summary, folder / SUMMARY_FILE)
    items = _item_lines(folder, summary)
    records, torn = _record_lines(folder)
    return ShardRun(folder, summary, shard, items, records, torn)


def combine(
    runs: Sequence[ShardRun], *, allow_partial: bool = False, empty: Sequence[int] = ()
) -> Merged:
    """The shards as one run; raises MergeError when they are not parts of one. ``empty``:
    shards that ran no case (pytest wrote no run: exit 5, or --glm-changed-since selected
    nothing), which count as given."""
    first = runs[0]
    for run in runs[1:]:
        if run.shard[1] != first.shard[1]:
            raise MergeError(
                f"{run.path}: shard {run.shard[0]}/{run.shard[1]}, but {first.path} is shard "
                f"{first.shard[0]}/{first.shard[1]}: runs of different shard counts"
            )
    of = first.shard[1]
    by: dict[int, ShardRun] = {}
    for run in runs:
        if run.shard[0] in by:
            raise MergeError(
                f"{run.path}: shard {run.shard[0]}/{of} given twice (also {by[run.shard[0]].path})"
            )
        by[run.shard[0]] = run
    for k in empty:
        if k in by or not 1 <= k <= of:
            why = f"its run is {by[k].path}" if k in by else f"the runs are shards of {of}"
            raise MergeError(f"--empty-shard {k}: {why}")
    missing = [k for k in range(1, of + 1) if k not in by and k not in empty]
    if missing and not allow_partial:
        gone = ", ".join(f"{k}/{of}" for k in missing)
        given = ", ".join(f"{k}/{of} {by[k].path}" for k in sorted(by))
        raise MergeError(
            f"shard {gone} {'is' if len(missing) == 1 else 'are'} missing (given: {given}); "
            "--allow-partial merges the others"
        )
    ordered = [by[k] for k in sorted(by)]
    for run in ordered[1:]:
        _same_target(ordered[0], run)
    seen: dict[Key, ShardRun] = {}
    for run in ordered:
        for item in run.items:
            key = key_of(item)
            if key in seen:
                raise MergeError(
                    f"{run.path}: item {_shown(key)} is also in {seen[key].path}: "
                    "not shards of one run"
                )
            seen[key] = run
    records = [line for run in ordered for line in run.records]
    return Merged(
        runs=ordered,
        of=of,
        missing=missing,
        empty=sorted(set(empty)),
        items=[item for run in ordered for item in run.items],
        records=records,
        parsed=[json.loads(line) for line in records],
    )


def _shown(key: Key) -> str:
    suite, case, variant, api, effort, budget = key
    where = "-".join(part for part in (variant, api, effort, budget) if part)
    return f"{suite}::{case}[{where}]"


def _same_target(first: ShardRun, run: ShardRun) -> None:
    """Refuse runs that asked another model, endpoint or server: their items do not make
    one run. A local run's port changes every run, so its model file's hash decides."""
    a, b = first.summary, run.summary
    if a.get("model") != b.get("model"):
        raise MergeError(
            f"{run.path}: model {b.get('model')!r}, but {first.path} ran {a.get('model')!r}"
        )
    if a.get("model_sha256") != b.get("model_sha256"):
        raise MergeError(
            f"{run.path}: model file sha256:{str(b.get('model_sha256'))[:12]}, but "
            f"{first.path} ran sha256:{str(a.get('model_sha256'))[:12]}"
        )
    if a.get("model_sha256") is None and a.get("endpoint") != b.get("endpoint"):
        raise MergeError(
            f"{run.path}: endpoint {b.get('endpoint')}, but {first.path} asked {a.get('endpoint')}"
        )
    one, two = a.get("server"), b.get("server")
    if not isinstance(one, dict) or not isinstance(two, dict):
        return  # a fingerprint not read (--glm-cache only) says nothing either way
    for key in FINGERPRINT:
        x, y = one.get(key, UNKNOWN), two.get(key, UNKNOWN)
        if UNKNOWN not in (x, y) and x != y:
            raise MergeError(
                f"{run.path}: server {key} {json.dumps(y)}, but {first.path} found "
                f"{json.dumps(x)}: another server"
            )


def requests(runs: Sequence[ShardRun]) -> dict[str, Any]:
    """summary.json's ``requests`` of the shards together: counts added, the highest
    concurrency limit, the lowest it shrank to, the shrinks added (the judge's apart)."""
    found = [run.summary.get("requests") or {} for run in runs]
    judges = [f.get("judge") or {} for f in found]
    limits = [f for f in found if "max_concurrency" in f and "concurrency" in f]
    return {
        **{key: sum(f.get(key, 0) for f in found) for key in COUNTS},
        "judge": {key: sum(j.get(key, 0) for j in judges) for key in COUNTS},
        "max_concurrency": max((f["max_concurrency"] for f in limits), default=0),
        "concurrency": min((f["concurrency"] for f in limits), default=0),
        "shrinks": sum(f.get("shrinks", 0) for f in found),
    }


def losses(runs: Sequence[ShardRun]) -> dict[str, Any]:
    """summary.json's ``records_lost`` (and why), ``cache_unwritten``, ``not_written``."""
    got = [run.summary for run in runs]
    lost = sum(int(s.get("records_lost", 0)) for s in got)
    why = next((s["records_lost_reason"] for s in got if s.get("records_lost_reason")), None)
    unwritten = sum(int(s.get("cache_unwritten", 0)) for s in got)
    problems = [p for s in got for p in s.get("not_written", ())]
    return {
        "records_lost": lost,
        **({"records_lost_reason": why} if lost else {}),
        **({"cache_unwritten": unwritten} if unwritten else {}),
        **({"not_written": problems} if problems else {}),
    }


def status(merged: Merged, decisions: Sequence[dict[str, Any]]) -> int:
    """The exit status the unsharded run would have had: a shard stopped by its canaries
    stops the run (7; 6 when they could not run); a shard that ended otherwise than the
    gate ends a run (2 interrupted or a suite with errors, 3, 4) ends it so; else the gate
    over every item and the paired decisions over all cases (0, 1, 6), and 5 when no
    shard had an item (0 when every shard exited 0: nothing was selected)."""
    from harness.gate.verdicts import API_ERRORS, CANARY_FAILED, OK, gate_status

    for run in merged.runs:
        stopped = (run.summary.get("canary") or {}).get("state")
        if stopped in ("failed", "error"):
            return CANARY_FAILED if stopped == "failed" else API_ERRORS
    codes = [run.summary.get("exit_status") for run in merged.runs]
    for code in codes:
        if isinstance(code, int) and code not in (0, 1, 5, 6):
            return code
    if not merged.items:
        return OK if all(code == 0 for code in codes) else 5
    return gate_status(merged.items, decisions, OK)
