"""harness.gate.baseline updates: merged under the lock into what is there now, the local
model file's hash recorded and compared."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.gate.baseline import MAX_BASELINE_BYTES, BaselineFile, Planned, update_all
from harness.plugin.state import RunState
from harness.settings.values import Settings


def entry(case: str, answer: str = "4", **extra: Any) -> dict[str, Any]:
    return {"case": case, "outcome": "pass", "outcomes": ["pass"], "answer": answer,
            "template_hash": "t", "prompt_hash": "p", "model": "m", **extra}  # fmt: skip


def stored(root: Path, suite: str) -> dict[str, Any]:
    entries: dict[str, Any] = json.loads((root / f"{suite}.json").read_text())["entries"]
    return entries


def test_two_updates_of_disjoint_selections_both_land(tmp_path: Path) -> None:
    chat = {"add[chat-default]": entry("add")}
    responses = {"add[responses-default]": entry("add")}
    first = update_all(tmp_path, [Planned("math", chat, None)], prune=False)
    second = update_all(tmp_path, [Planned("math", responses, None)], prune=False)
    assert set(stored(tmp_path, "math")) == {"add[chat-default]", "add[responses-default]"}
    assert [r.created for r in first.reports + second.reports] == [1, 1]
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_local_model_file_hash_is_recorded_and_decides(tmp_path: Path) -> None:
    updates = {"add[chat-default]": entry("add")}
    update_all(tmp_path, [Planned("math", updates, None)], prune=False, model_sha256="a" * 64)
    assert stored(tmp_path, "math")["add[chat-default]"]["model_sha256"] == "a" * 64
    # the same answers from another GGUF are not "unchanged": the entry says which file
    again = update_all(tmp_path, [Planned("math", updates, None)], prune=False,
                       model_sha256="b" * 64)  # fmt: skip
    assert (again.reports[0].updated, again.reports[0].unchanged) == (1, 0)

    state = RunState(Settings(base_url="http://x", model="m"), tmp_path, tmp_path, tmp_path)
    state._baselines["math"] = BaselineFile.load(tmp_path, "math")
    state.model_sha256 = "a" * 64
    found, why = state.baseline_entry("math", "add[chat-default]")
    assert found is None
    assert why == "its baseline is for model file sha256:bbbbbbbbbbbb"
    state.model_sha256 = "b" * 64
    assert state.baseline_entry("math", "add[chat-default]")[0] is not None


def test_real_endpoint_entries_have_no_hash_and_stay_valid(tmp_path: Path) -> None:
    update_all(tmp_path, [Planned("math", {"k": entry("add")}, None)], prune=False)
    assert "model_sha256" not in stored(tmp_path, "math")["k"]
    state = RunState(Settings(base_url="http://x", model="m"), tmp_path, tmp_path, tmp_path)
    state._baselines["math"] = BaselineFile.load(tmp_path, "math")
    assert state.baseline_entry("math", "k") == (stored(tmp_path, "math")["k"], None)


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("symlink-to-dev-zero", "not a regular file"),
        ("fifo", "not a regular file"),
        ("huge", "larger than 64 MiB"),
        ("deep", "nested too deeply"),
        ("not-json", "Expecting property name"),
    ],
)
def test_a_hostile_baseline_file_is_refused_unread(tmp_path: Path, kind: str, why: str) -> None:
    """Baselines arrive in pull requests: a file that would hang, exhaust memory or crash the
    reader is judged as absent, with the reason, and never written through."""
    path = tmp_path / "s.json"
    if kind == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)  # opening it would wait forever for a writer
    elif kind == "huge":
        with path.open("wb") as handle:
            handle.truncate(MAX_BASELINE_BYTES + 1)
    elif kind == "deep":
        path.write_text('{"version": 1, "entries": ' + "[" * 100_000 + "]" * 100_000 + "}")
    else:
        path.write_text("{not json")
    baseline = BaselineFile.load(tmp_path, "s")
    assert baseline.entries == {}
    assert baseline.problem is not None
    assert baseline.problem.startswith(f"{path}: unreadable baseline (")
    assert why in baseline.problem
