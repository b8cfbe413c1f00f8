"""Before a run's first request: the server's fingerprint and the canaries; and the words
for a server that changed since a baseline.

:func:`before_requests` runs once selection is final. It reads the fingerprint
(:mod:`harness.engine.fingerprint`; not under ``--glm-cache only``, which sends nothing)
and, for a gating run (a collected suite has a baseline, or ``--glm-canary``; never with
``--glm-no-canary``, nor against ``--glm-local``'s model unless asked), the canaries
(:mod:`harness.engine.canary`). Under pytest-xdist
every worker collects the same items, so the first worker to take the lock in the run
folder does both and the others read what it found: one fingerprint and one set of
canaries for the run, sent back to the controller in ``workeroutput``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.engine import canary, fingerprint
from harness.fileio import dumps, locked, write_atomic
from harness.plugin.state import RunState

if TYPE_CHECKING:
    from harness.plugin.collect import CaseItem

MODES = ("auto", "always", "never")
SHARED = ".preflight.json"  # what the first xdist worker found, for the others
LOCK = ".preflight.lock"
LOCAL = "--glm-local: the local model does not think; --glm-canary probes it anyway"


def before_requests(state: RunState, items: Sequence[CaseItem], *, worker: bool) -> None:
    """Fill ``state.server``, ``state.canary`` and ``state.server_changes`` (once for the
    run, see the module docstring). Never raises for what the server does."""
    if not worker:
        found = _preflight(state, items)
    else:
        shared = state.run_dir / SHARED
        with locked(state.run_dir / LOCK):
            try:
                found = json.loads(shared.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                found = _preflight(state, items)
                with contextlib.suppress(OSError):  # the others then read the server again
                    write_atomic(shared, dumps(found))
    take(state, found)


def take(state: RunState, found: Any) -> None:
    """What :func:`shared` gave (another worker's, or an xdist worker's for the
    controller), into ``state``."""
    if not isinstance(found, dict):
        return
    server, outcome, changed = found.get("server"), found.get("canary"), found.get("changes")
    state.server = server if isinstance(server, dict) else None
    state.canary = outcome if isinstance(outcome, dict) else None
    state.server_changes = dict(changed) if isinstance(changed, dict) else {}


def shared(state: RunState) -> dict[str, Any]:
    """What :func:`before_requests` found, as an xdist worker reports it."""
    return {"server": state.server, "canary": state.canary, "changes": state.server_changes}


def cleanup(state: RunState) -> None:
    """Remove the xdist workers' shared files from the run folder (the controller, at the
    end: summary.json holds what they said)."""
    for name in (SHARED, LOCK):
        with contextlib.suppress(OSError):
            (state.run_dir / name).unlink(missing_ok=True)


def _preflight(state: RunState, items: Sequence[CaseItem]) -> dict[str, Any]:
    settings = state.settings
    offline = settings.cache_mode == "only"
    server = None
    if not offline:
        timeout = min(fingerprint.TIMEOUT, settings.timeout)
        server = fingerprint.read(state.engine(), timeout=timeout)
    suites = sorted({item.suite.name for item in items})
    changes = {}
    for suite in suites:
        found = fingerprint.changes(state.baseline(suite).server, server)
        if found:
            changes[suite] = "; ".join(found)
    gating = any(state.baseline(suite).entries for suite in suites)
    outcome: dict[str, Any] | None = None
    # the local model (--glm-local) is a small stand-in that does not think: in auto the
    # canaries, which check GLM's thinking switches, would always fail there
    auto = state.canary_mode == "auto" and gating and not state.local_run
    if state.canary_mode == "always" or auto:
        if offline:
            outcome = {"state": "skipped", "why": "--glm-cache only sends nothing"}
        else:
            probes = canary.plan((i.api, i.effort, _budgeted(i)) for i in items)
            outcome = canary.run(state.engine(), probes, model=settings.model).data()
    elif gating:
        why = "--glm-no-canary" if state.canary_mode == "never" else LOCAL
        outcome = {"state": "skipped", "why": why}
    return {"server": server, "canary": outcome, "changes": changes}


def _budgeted(item: CaseItem) -> bool:
    """Does the item send a thinking budget (or, where items carry none, its case?)."""
    if hasattr(item, "budget"):
        return getattr(item, "budget", None) is not None
    return any(b is not None for b in getattr(item.case, "budgets", ()))


def stop_line(state: RunState) -> str | None:
    """The one line that ended the run before any request of the suites, or None."""
    found = state.canary or {}
    if found.get("state") == "failed":
        said = "; ".join(str(f) for f in found.get("failures") or ())
        return (
            f"glm-harness: canary failed: {said}. Nothing of the suites was sent; "
            "--glm-no-canary runs them anyway"
        )
    if found.get("state") == "error":
        return (
            f"glm-harness: canary could not run ({found.get('problem')}): an API error, not a "
            "canary failure. Nothing of the suites was sent"
        )
    return None


def stop_title(state: RunState) -> str | None:
    """The Markdown report's title for a run the canaries ended."""
    found = (state.canary or {}).get("state")
    return {"failed": "canary failed", "error": "canary could not run"}.get(str(found))


def notices(state: RunState) -> list[str]:
    """What the gate says first: the server's changes, the line that ended the run."""
    stopped = stop_line(state)
    return [*server_lines(state), *([stopped] if stopped else [])]


def server_lines(state: RunState) -> list[str]:
    """``server changed: vLLM 0.16.0 -> 0.33.0 (since the baseline of math)``, one line
    per distinct change; and the canaries when they were skipped although asked for."""
    from harness.reports.endrun import server_change_lines

    lines = server_change_lines(state.server_changes)
    found = state.canary or {}
    if found.get("state") == "skipped" and state.canary_mode == "always":
        lines.append(f"canary: skipped ({found.get('why')})")
    return lines


def regression_label(state: RunState, suite: str) -> str | None:
    """``regression (the server changed since the baseline: ...)`` for a suite's
    regressions when its baseline was made on another server, else None."""
    from harness.reports.endrun import regression_label as label

    return label(state.server_changes, suite)
