"""Baselines: ``results/baselines/<suite>.json``, one entry per case x api x effort.

An entry keeps what a later run is judged against: the outcome, pass rate and samples (with
each sample's outcome, for the paired statistics), the mean score, the checks of one
sample, one answer, the hashes of the prompt's files and of the rendered prompt, the
model (with ``--glm-local``, also ``model_sha256``: the GGUF's hash, as the alias says
nothing about the weights) and the date. Files are written with sorted keys, so a PR diff
of a baseline is readable. A file's top-level ``server`` is the fingerprint of the server
its last update ran on (``harness.engine.fingerprint``; files from before it have none).

An update (:func:`update_all`) holds ``baselines/.lock`` (``flock``), re-reads each file
under it and merges this run's entries into what is there now, so two runs updating
different selections at once both land; then it writes every changed file to a temporary
file and renames them all in one step (:func:`harness.fileio.replace_all`): all land, or
none.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.checks.grading import Verdict
from harness.fileio import InterruptedAfter, dumps, locked, replace_all, write_atomic, write_temp
from harness.gate.records import check_json
from harness.models import Case, Message, arm

MAX_BASELINE_BYTES = 64 << 20  # a baseline file larger than this is not read
VERSION = 1
LOCK_FILE = ".lock"
ANSWER_CHARS = 4000  # an answer kept in a baseline is cut here (baselines are reviewed in PRs)

Change = Literal["pass", "known failure", "regression", "improved", "new", "error"]


def entry_key(
    case_id: str, api: str, effort: str, variant: str = "", budget: int | None = None
) -> str:
    """``add_small[chat-default]``; with a prompt variant ``r3[terse-chat-default]``; with a
    thinking budget ``q1[chat-high-t1024]``."""
    return f"{case_id}[{arm(variant, api, effort, budget)}]"


def prompt_hash(messages: Iterable[Message]) -> str:
    parts = [[m.role, m.content, *([m.name] if m.name else [])] for m in messages]
    text = json.dumps(parts, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def files_hash(evals_dir: Path, names: Iterable[str]) -> str:
    """One hash over the template, partial and schema files a case uses."""
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode("utf-8") + b"\0")
        try:
            digest.update((evals_dir / name).read_bytes())
        except OSError:
            digest.update(b"<missing>")
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def make_entry(
    case: Case, api: str, effort: str, result: Verdict, *, model: str, evals_dir: Path,
    budget: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    shown = result.first_bad() or (result.samples[0] if result.samples else None)
    answer = shown.completion.answer if shown is not None else ""
    return {
        "case": case.id,
        **({"variant": case.variant} if case.variant else {}),
        "api": api,
        "effort": effort,
        **({"budget": budget} if budget is not None else {}),
        "outcome": result.outcome,
        "pass_rate": round(result.pass_rate, 6),
        "samples": len(result.samples),
        "outcomes": [s.outcome for s in result.samples],
        "score": round(result.score, 6),
        "checks": [check_json(c) for c in shown.checks] if shown is not None else [],
        "answer": answer[:ANSWER_CHARS],
        "template_hash": files_hash(evals_dir, case.files),
        "prompt_hash": prompt_hash(case.messages),
        "model": model,
        "date": time.strftime("%Y-%m-%d"),
    }


def same_result(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Unchanged means the same verdict on the same prompt; the date and latency may move."""
    keys = (
        "outcome",
        "outcomes",
        "answer",
        "template_hash",
        "prompt_hash",
        "model",
        "model_sha256",
    )
    return all(old.get(k) == new.get(k) for k in keys)


@dataclass(slots=True)
class BaselineFile:
    path: Path
    suite: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem: str | None = None  # the file exists but cannot be used
    server: dict[str, Any] | None = None  # the server's fingerprint at the last update

    @classmethod
    def load(cls, root: Path, suite: str) -> BaselineFile:
        path = root / f"{suite}.json"
        baseline = cls(path, suite)
        if not path.exists() and not path.is_symlink():
            return baseline
        try:
            # baselines arrive in pull requests: a symlink (to /dev/zero, a FIFO, a file
            # outside the project) or a huge file is refused before it is read
            if path.is_symlink() or not path.is_file():
                raise ValueError("not a regular file")
            if path.stat().st_size > MAX_BASELINE_BYTES:
                raise ValueError(f"larger than {MAX_BASELINE_BYTES // (1 << 20)} MiB")
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != VERSION or not isinstance(data.get("entries"), dict):
                raise ValueError(f"not a version {VERSION} baseline")
            baseline.entries = {str(k): dict(v) for k, v in data["entries"].items()}
            server = data.get("server")
            baseline.server = dict(server) if isinstance(server, dict) else None
        except RecursionError:
            baseline.problem = (
                f"{path}: unreadable baseline (nested too deeply); judged as if it were absent"
            )
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            baseline.problem = f"{path}: unreadable baseline ({exc}); judged as if it were absent"
        return baseline

    def text(self) -> str:
        server = {} if self.server is None else {"server": self.server}
        return dumps({"suite": self.suite, "version": VERSION, "entries": self.entries, **server})

    def write(self) -> None:
        write_atomic(self.path, self.text())


def change(entry: Mapping[str, Any] | None, outcome: str) -> Change:
    """How an item's outcome compares with its baseline entry (the table of every pair in
    docs/decisions.md, summed up in the README's "Baselines and CI gating").

    An API error now is never compared. ``truncated`` is a failure on either side: pass ->
    truncated is a regression, fail <-> truncated a known failure. An entry whose outcome is
    not pass, fail or truncated (an API error: the harness never writes one) records no
    answer to compare with, so the item is judged as new, on its checks.
    """
    if outcome == "error":
        return "error"  # the API failed: nothing to compare
    was = None if entry is None else entry.get("outcome")
    if was not in ("pass", "fail", "truncated"):
        return "new"
    if outcome == "pass":
        return "pass" if was == "pass" else "improved"
    return "regression" if was == "pass" else "known failure"


@dataclass(frozen=True, slots=True)
class UpdateReport:
    path: Path
    created: int
    updated: int
    unchanged: int
    unused: tuple[str, ...]
    pruned: bool

    def line(self) -> str:
        unused = ""
        if self.unused:
            what = "removed" if self.pruned else "kept; remove with --glm-prune-baselines"
            unused = f"; unused ({what}): {', '.join(self.unused)}"
        return (
            f"{self.path}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.unused)} unused{unused}"
        )


def merge_updates(
    baseline: BaselineFile,
    updates: Mapping[str, dict[str, Any]],
    known: set[str] | None,
    *,
    prune: bool,
) -> tuple[UpdateReport, bool]:
    """Put ``updates`` into the file's entries (in memory), keep every other entry; entries
    whose case x api x effort no longer exists (not in ``known``; None: cannot tell, so
    none) are listed, and removed only with ``prune``. True when the file must be written."""
    created = updated = unchanged = 0
    for key, entry in updates.items():
        old = baseline.entries.get(key)
        if old is None:
            created += 1
        elif same_result(old, entry):
            unchanged += 1
            continue  # keep the old date: nothing to review
        else:
            updated += 1
        baseline.entries[key] = entry
    exists = set(baseline.entries) if known is None else known
    unused = tuple(sorted(k for k in baseline.entries if k not in exists and k not in updates))
    if prune:
        for key in unused:
            del baseline.entries[key]
    report = UpdateReport(baseline.path, created, updated, unchanged, unused, prune)
    return report, bool(created or updated or (prune and unused))


@dataclass(frozen=True, slots=True)
class Planned:
    """One suite's part of an update: this run's entries and the keys its file defines."""

    suite: str
    updates: Mapping[str, dict[str, Any]]
    known: set[str] | None  # None: the suite could not be read


@dataclass(slots=True)
class Outcome:
    reports: list[UpdateReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files left alone, and why
    interrupted: bool = False  # a signal arrived while the files were replaced (all were)


def plan_updates(
    updates: Mapping[str, Mapping[str, dict[str, Any]]],
    suite_paths: Mapping[str, str],
    *,
    prune: bool,
    evals_dir: Path,
    root: Path | None,
) -> list[Planned]:
    """Per suite to write: this run's entries and the keys the suite defines now (read
    before the lock is taken: loading suites takes time)."""
    from harness.errors import SuiteError
    from harness.suites.loader import load_suite

    planned = []
    for suite in sorted(set(updates) | (set(suite_paths) if prune else set())):
        known: set[str] | None
        try:
            path = Path(suite_paths.get(suite) or "")
            known = known_keys(load_suite(path, evals_dir=evals_dir, project_root=root).cases)
        except SuiteError:
            known = None  # cannot tell what exists: call nothing unused
        planned.append(Planned(suite, updates.get(suite, {}), known))
    return planned


def update_all(
    root: Path, planned: Iterable[Planned], *, prune: bool, model_sha256: str | None = None,
    server: Mapping[str, Any] | None = None,
) -> Outcome:  # fmt: skip
    """Merge and write every planned suite's baseline, all at once or not at all, under the
    lock. A file this run adds entries to takes ``server`` (the run's fingerprint; None:
    not read, the file keeps its own). Raises OSError (nothing written) or
    KeyboardInterrupt before the renames (nothing written); a signal during the renames is
    held until all are done, then reported in ``interrupted``."""
    done = Outcome()
    moves: list[tuple[Path, Path]] = []
    with locked(root / LOCK_FILE):
        _sweep(root)  # what a run killed outright here left behind
        try:
            for plan in planned:
                baseline = BaselineFile.load(root, plan.suite)  # as it is now, under the lock
                if baseline.problem is not None:
                    done.problems.append(f"{baseline.problem}; not touched")
                    continue
                updates = plan.updates
                if model_sha256 is not None:
                    updates = {k: {**e, "model_sha256": model_sha256} for k, e in updates.items()}
                report, dirty = merge_updates(baseline, updates, plan.known, prune=prune)
                if server is not None and updates:
                    now = {k: v for k, v in server.items() if k != "unread"}
                    dirty = dirty or baseline.server != now
                    baseline.server = now
                done.reports.append(report)
                if dirty:
                    moves.append((write_temp(baseline.path, baseline.text()), baseline.path))
        except BaseException:
            _sweep(root)  # also a temporary file whose name a Ctrl-C kept from ``moves``
            raise
        try:
            replace_all(moves)
        except InterruptedAfter:
            done.interrupted = True
    return done


def _sweep(root: Path) -> None:
    """Remove temporary and old-version files (``.<suite>.json.*``); only under the lock,
    when no other writer can be using them."""
    for leftover in [*root.glob(".*.json.*.tmp"), *root.glob(".*.json.*.old")]:
        leftover.unlink(missing_ok=True)


def known_keys(cases: Iterable[Case]) -> set[str]:
    return {
        entry_key(c.id, api, effort, c.variant, budget)
        for c in cases
        for api in c.apis
        for effort in c.efforts
        for budget in c.budgets
    }
