"""A sample record's tool calls: what is written of each, capped; tool-less records as
before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.gate.records import RECORD_TEXT_CAP, RecordWriter, sample_record
from harness.models import Completion, Request, SampleResult, ToolCall, Usage

REQUEST = Request("chat", "/v1/chat/completions", {"messages": []})
WHERE = {"suite": "suites/tools.yaml", "case": "weather"}


def record(*calls: ToolCall, answer: str = "") -> dict[str, Any]:
    done = Completion(answer, "", Usage(), "tool_calls" if calls else "stop", False, 1.0, 200,
                      tool_calls=calls)  # fmt: skip
    return sample_record(WHERE, REQUEST, SampleResult(0, "pass", 1.0, done), 1)


def test_each_call_keeps_what_carries_something() -> None:
    calls = record(
        ToolCall("c1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'),
        ToolCall("c2", "get_time", None, "{oops", "not JSON: Expecting ... (char 1)"),
        ToolCall("c3", "now", {}, ""),
    )["tool_calls"]
    assert calls == [
        {"id": "c1", "name": "get_weather", "raw": '{"city": "Paris"}', "arguments": {"city": "Paris"}},
        {"id": "c2", "name": "get_time", "raw": "{oops", "error": "not JSON: Expecting ... (char 1)"},
        {"id": "c3", "name": "now", "raw": "", "arguments": {}},
    ]  # fmt: skip


def test_a_tool_less_record_has_no_tool_calls_key() -> None:
    assert "tool_calls" not in record(answer="4")


def test_huge_arguments_are_capped_like_an_answer(tmp_path: Path) -> None:
    raw = json.dumps({"blob": "x" * (RECORD_TEXT_CAP * 3)})
    big = ToolCall("c1", "store", json.loads(raw), raw)
    [call] = record(big)["tool_calls"]
    assert call["raw_chars"] == len(raw)
    assert call["raw"].endswith(f"... [{len(raw) - RECORD_TEXT_CAP} more chars]")
    assert "arguments" not in call  # its text was cut: the whole value would be as big
    writer = RecordWriter(tmp_path / "records.jsonl")
    assert writer.write(record(big))
    writer.close()
    assert (tmp_path / "records.jsonl").stat().st_size < RECORD_TEXT_CAP * 1.1
