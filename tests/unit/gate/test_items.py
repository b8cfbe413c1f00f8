"""items.jsonl: the gate's verdict per item, written at the end of a run and read back by
the HTML page (its baseline marks), bounded and stable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.gate.records import ITEM_TEXT_CAP, item_lines
from harness.gate.runs import read_items


def item(case: str, **extra: Any) -> dict[str, Any]:
    """An end-of-run summary dict, as ``reports.terminal.record`` plus the gate make it."""
    return {
        "suite": "s", "case": case, "api": "chat", "effort": "low", "outcome": "fail",
        "passes": 0, "samples": 1, "score": 0.0, "outcomes": ["fail"], "latency_ms": [1.0],
        "answer": "now", "failed_checks": ["contains: ..."], "suite_path": "suites/s.yaml",
        **extra,
    }  # fmt: skip


def test_an_item_line_keeps_the_verdict_and_the_baseline_side_only() -> None:
    lines = item_lines([
        item("b", change="regression", baseline_outcomes=["pass"], baseline_answer="was",
             baseline_date="2026-01-01", variant="terse", budget=512),
        item("a", change="new"),
    ])  # fmt: skip
    first, second = (json.loads(line) for line in lines.splitlines())
    assert first == {
        "suite": "s", "case": "a", "api": "chat", "effort": "low", "outcome": "fail",
        "passes": 0, "samples": 1, "score": 0.0, "outcomes": ["fail"], "change": "new",
    }  # fmt: skip
    assert second["baseline_answer"] == "was"
    assert (second["variant"], second["budget"], second["baseline_outcomes"]) == ("terse", 512, ["pass"])  # fmt: skip
    assert lines.endswith("\n")


def test_lines_are_sorted_ascii_and_a_long_baseline_answer_is_capped() -> None:
    long = "é" * (ITEM_TEXT_CAP + 50)
    found = [item("z", change="regression", baseline_answer=long), item("a", change="pass")]
    text = item_lines(found)
    assert text == item_lines(list(reversed(found)))  # the same items, the same bytes
    assert text.isascii()
    kept = json.loads(text.splitlines()[1])["baseline_answer"]
    assert kept == "é" * ITEM_TEXT_CAP + "... [50 more chars]"


def test_read_back_by_item_key(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    (tmp_path / "items.jsonl").write_text(
        item_lines([item("a", change="regression", budget=64), item("a", change="new")])
    )
    found, note = read_items(records)
    assert note == ""
    assert set(found) == {("s", "a", "", "chat", "low", "64"), ("s", "a", "", "chat", "low", "")}
    assert found["s", "a", "", "chat", "low", "64"]["change"] == "regression"


def test_no_file_or_a_bad_one_is_a_note_not_an_error(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    assert read_items(records) == ({}, "no items.jsonl (a run that did not finish, wrote its baselines, or is older)")  # fmt: skip
    (tmp_path / "items.jsonl").write_text('{"suite": "s"}\n')
    assert read_items(records) == ({}, "items.jsonl:1 is not an item line")
    (tmp_path / "items.jsonl").write_text("[1, 2]\n")
    assert read_items(records) == ({}, "items.jsonl:1 is not an item line")
