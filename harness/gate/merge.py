"""Shards' runs checked to be the parts of one run and put together (``glm-harness merge``).

:func:`combine` takes the shards' folders as ``gate.shards`` reads them, checks that they
are the shards of one run (the same N, each K once, none missing unless allowed, no item
twice, the same model, endpoint and server) and puts their items, records and counters
together; :func:`status` is the exit status the unsharded run would have had. Every
refusal is one :class:`~harness.errors.MergeError` line naming the folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import MergeError
from harness.gate.runs import Key, key_of
from harness.gate.shards import RECORDS_FILE, ShardRun, read_shard
from harness.secret import redact

__all__ = ["Merged", "ShardRun", "combine", "losses", "read_shard", "requests", "status"]

FINGERPRINT = ("version", "models", "openapi_sha256")  # the server's, compared where known
UNKNOWN = "unknown"
COUNTS = ("requests", "sent", "retries", "cached", "failed", "input_tokens", "output_tokens")


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
    return Merged(
        runs=ordered,
        of=of,
        missing=missing,
        empty=sorted(set(empty)),
        items=[item for run in ordered for item in run.items],
        records=[line for run in ordered for line in run.records],
        parsed=[record for run in ordered for record in run.parsed],
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
            f"{run.path}: model file sha256:{_head(b.get('model_sha256'))}, but "
            f"{first.path} ran sha256:{_head(a.get('model_sha256'))}"
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


def _head(digest: Any) -> str:
    """A model file hash as messages show it: 12 characters, masked before the cut."""
    return redact(str(digest))[:12]
