"""Run records (JSON lines safe across threads and processes), run ids, atomic writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness import fileio
from harness.fileio import dumps, write_atomic
from harness.gate import records
from harness.gate.records import RecordWriter, new_run_id, sample_record
from harness.models import CheckResult, Completion, Request, SampleResult, Usage

ROOT = Path(__file__).resolve().parents[3]
LINE_SIZE = 20_000  # bytes of padding a line: far above PIPE_BUF and one page
LINES_EACH = 200


class ChunkedOs:
    """Stands in for ``os`` in a module: ``write`` writes at most ``chunk`` bytes a call and
    then yields, as a slow disk or a signal can; everything else is the real ``os``."""

    def __init__(self, chunk: int) -> None:
        self.chunk = chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        written = os.write(fd, bytes(data[: self.chunk]))
        time.sleep(0)  # let another thread run mid-line
        return written


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# --- RecordWriter -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "line"),
    [
        pytest.param({"b": 1, "a": 2}, '{"a": 2, "b": 1}', id="sorted-keys"),
        pytest.param({"z": {"y": 1, "x": 2}}, '{"z": {"x": 2, "y": 1}}', id="nested-sorted"),
        pytest.param({"text": "ünïcødé ✓ 数学"}, '{"text": "ünïcødé ✓ 数学"}', id="non-ascii-kept"),
        pytest.param({"path": Path("/tmp/x.yaml")}, '{"path": "/tmp/x.yaml"}', id="path-str"),
        pytest.param({"n": None, "f": 0.5}, '{"f": 0.5, "n": null}', id="json-values"),
        pytest.param({"s": "a\nb"}, '{"s": "a\\nb"}', id="newline-escaped"),
        pytest.param({"s": "x\ud800y"}, '{"s": "x?y"}', id="lone-surrogate-replaced"),
    ],
)
def test_writer_line_format(tmp_path: Path, record: dict[str, Any], line: str) -> None:
    path = tmp_path / "runs" / "r1" / "records.jsonl"  # parent folders created
    writer = RecordWriter(path)
    try:
        writer.write(record)
    finally:
        writer.close()
    assert path.read_bytes() == (line + "\n").encode("utf-8")


def test_writer_appends_one_line_per_write(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")  # appended to, not truncated
    writer = RecordWriter(path)
    try:
        for i in range(5):
            writer.write({"i": i})
    finally:
        writer.close()
    assert read_lines(path) == [{"earlier": True}] + [{"i": i} for i in range(5)]


def fds_of(path: Path) -> list[int]:
    """This process's open file descriptors on ``path``."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                found.append(int(name))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return found


def test_writer_close_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    writer = RecordWriter(path)
    [fd] = fds_of(path)
    writer.write({"i": 1})
    writer.close()
    assert fds_of(path) == []  # the first close closes the file
    # the next file opened gets the freed number (POSIX: the lowest free one): a second
    # close that closed its number again would close this file, someone else's
    other = os.open(tmp_path / "other", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert other == fd
        writer.close()
        assert os.write(other, b"still open") == 10
    finally:
        os.close(other)
    assert read_lines(path) == [{"i": 1}]


@pytest.mark.parametrize(
    "chunk", [pytest.param(None, id="whole-writes"), pytest.param(1024, id="partial-writes")]
)
def test_threads_write_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int | None
) -> None:
    if chunk is not None:
        monkeypatch.setattr(records, "os", ChunkedOs(chunk))
    path = tmp_path / "records.jsonl"
    writer = RecordWriter(path)
    threads_n, each = 4, 50
    start = threading.Barrier(threads_n)

    def work(worker: int) -> None:
        start.wait()
        for i in range(each):
            writer.write({"worker": worker, "i": i, "pad": chr(65 + worker) * LINE_SIZE})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(threads_n)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        writer.close()

    lines = read_lines(path)  # raises on any torn line
    assert len(lines) == threads_n * each
    assert all(line["pad"] == chr(65 + line["worker"]) * LINE_SIZE for line in lines)
    assert sorted((line["worker"], line["i"]) for line in lines) == [
        (w, i) for w in range(threads_n) for i in range(each)
    ]
    for w in range(threads_n):  # each writer's lines stay in its order
        assert [line["i"] for line in lines if line["worker"] == w] == list(range(each))


WORKER = """
import os, sys, time
from pathlib import Path

import harness.gate.records as records

path, worker, lines, size, chunk = sys.argv[1], *map(int, sys.argv[2:])
if chunk:
    class ChunkedOs:
        def __getattr__(self, name):
            return getattr(os, name)

        def write(self, fd, data):
            written = os.write(fd, bytes(data[:chunk]))
            os.sched_yield()
            return written

    records.os = ChunkedOs()
writer = records.RecordWriter(Path(path))
sys.stdin.readline()  # start together
for i in range(lines):
    writer.write({"worker": worker, "i": i, "pad": chr(65 + worker) * size})
writer.close()
"""


@pytest.mark.parametrize(
    "chunk", [pytest.param(0, id="whole-writes"), pytest.param(4096, id="partial-writes")]
)
def test_processes_write_whole_lines(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "runs" / "records.jsonl"
    workers = 4
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(path),
                str(w),
                str(LINES_EACH),
                str(LINE_SIZE),
                str(chunk),
            ],
            stdin=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.close()
        codes = [proc.wait(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert codes == [0] * workers

    lines = read_lines(path)  # raises on any torn line
    assert len(lines) == workers * LINES_EACH
    assert all(line["pad"] == chr(65 + line["worker"]) * LINE_SIZE for line in lines)
    for w in range(workers):
        assert [line["i"] for line in lines if line["worker"] == w] == list(range(LINES_EACH))


# --- sample_record ----------------------------------------------------------------------

WHERE = {"suite": "math", "case": "add", "api": "responses", "effort": "low"}
REQUEST = Request(
    api="responses",
    path="/responses",
    body={"model": "glm", "input": "2+2?", "reasoning": {"effort": "low"}},
)
CHECKS = (
    CheckResult(
        name="all",
        passed=False,
        observed=0.5,
        detail="1 of 2",
        weight=2.0,
        children=(
            CheckResult(name="contains", passed=True, observed="4"),
            CheckResult(name="fuzzy", passed=False, observed=61.5, detail="below 80"),
        ),
    ),
    CheckResult(name="max_tokens", passed=True, observed=3),
)
COMPLETION = Completion(
    answer="It is 4.",
    reasoning="add them",
    usage=Usage(input_tokens=10, output_tokens=3, reasoning_tokens=None),
    finish="stop",
    truncated=False,
    latency_ms=12.34567,
    status=200,
    cached=True,
)
SAMPLE = SampleResult(
    index=2, outcome="fail", score=0.4, completion=COMPLETION, checks=CHECKS, extracted="4"
)


def test_sample_record_fields() -> None:
    record = sample_record(WHERE, REQUEST, SAMPLE, attempts=3)
    assert record == {
        "suite": "math",
        "case": "add",
        "api": "responses",
        "effort": "low",
        "sample": 2,
        "request": {
            "path": "/responses",
            "body": {"model": "glm", "input": "2+2?", "reasoning": {"effort": "low"}},
        },
        "answer": "It is 4.",
        "reasoning": "add them",
        "extracted": "4",
        "usage": {"input_tokens": 10, "output_tokens": 3, "reasoning_tokens": None},
        "latency_ms": 12.346,
        "first_reasoning_ms": None,
        "first_answer_ms": None,
        "status": 200,
        "finish": "stop",
        "error": None,
        "cached": True,
        "attempts": 3,
        "checks": [
            {
                "name": "all",
                "passed": False,
                "observed": 0.5,
                "detail": "1 of 2",
                "weight": 2.0,
                "children": [
                    {
                        "name": "contains",
                        "passed": True,
                        "observed": "4",
                        "detail": "",
                        "weight": 1.0,
                        "children": [],
                    },
                    {
                        "name": "fuzzy",
                        "passed": False,
                        "observed": 61.5,
                        "detail": "below 80",
                        "weight": 1.0,
                        "children": [],
                    },
                ],
            },
            {
                "name": "max_tokens",
                "passed": True,
                "observed": 3,
                "detail": "",
                "weight": 1.0,
                "children": [],
            },
        ],
        "score": 0.4,
        "outcome": "fail",
    }


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


@pytest.mark.parametrize(
    ("outcome", "completion"),
    [
        pytest.param("pass", COMPLETION, id="pass"),
        pytest.param(
            "error",
            Completion("", "", Usage(), "error", False, 5.0, 503, error="HTTP 503: busy"),
            id="error",
        ),
        pytest.param(
            "truncated",
            Completion("It is", "", Usage(output_tokens=64), "length", True, 9.0, 200),
            id="truncated",
        ),
    ],
)
def test_sample_record_never_has_headers_and_roundtrips(
    tmp_path: Path, outcome: Any, completion: Completion
) -> None:
    sample = SampleResult(index=0, outcome=outcome, score=0.0, completion=completion)
    record = sample_record(WHERE, REQUEST, sample, attempts=1)
    keys = {k.lower() for k in all_keys(record)}
    assert not keys & {"headers", "authorization", "api_key", "api-key"}
    assert (record["outcome"], record["error"], record["finish"]) == (
        outcome,
        completion.error,
        completion.finish,
    )
    assert record["checks"] == []
    path = tmp_path / "records.jsonl"
    writer = RecordWriter(path)
    try:
        writer.write(record)
    finally:
        writer.close()
    assert read_lines(path) == [record]


# --- new_run_id -------------------------------------------------------------------------


def test_run_ids_are_unique_and_shaped() -> None:
    ids = [new_run_id() for _ in range(500)]
    assert len(set(ids)) == len(ids)
    for run_id in ids:
        date, clock, token = run_id.split("-")
        assert (len(date), len(clock), len(token)) == (8, 9, 6)
        assert date.isdigit()
        assert clock.isdigit()
        int(token, 16)


class FrozenTime:
    def __init__(self, when: float) -> None:
        self.when = when

    def time_ns(self) -> int:
        return round(self.when * 1000) * 1_000_000

    def localtime(self, when: float) -> time.struct_time:
        return time.localtime(when)

    def strftime(self, fmt: str, when: time.struct_time) -> str:
        return time.strftime(fmt, when)


@pytest.mark.parametrize(
    "moments",
    [
        pytest.param([0.0, 0.001, 0.5, 0.999], id="within-a-second"),
        pytest.param([0.0, 1.0, 59.0, 60.0], id="seconds-minutes"),
        pytest.param([0.0, 3600.0 * 9, 3600.0 * 11], id="hours-9-11"),
        pytest.param([0.0, 86400.0 * 9, 86400.0 * 40, 86400.0 * 400], id="days-months-years"),
    ],
)
def test_run_ids_sort_by_time(monkeypatch: pytest.MonkeyPatch, moments: list[float]) -> None:
    base = 1_700_000_000.0  # 2023-11-14
    ids = []
    for moment in moments:
        monkeypatch.setattr(records, "time", FrozenTime(base + moment))
        ids.append(new_run_id())
    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)


# --- fileio.write_atomic ----------------------------------------------------------------


def test_write_atomic_creates_parents_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "baseline.json"
    write_atomic(path, "first\n")
    assert path.read_text(encoding="utf-8") == "first\n"
    write_atomic(path, "sécond ✓\n")
    assert path.read_text(encoding="utf-8") == "sécond ✓\n"
    write_atomic(path, "")
    assert path.read_bytes() == b""
    assert sorted(p.name for p in path.parent.iterdir()) == ["baseline.json"]


class ReplaceFails:
    """``os`` for harness.fileio whose ``replace`` fails, as on a full or read-only disk."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def replace(self, src: str, dst: str) -> None:
        assert Path(src).exists()  # the temp file was there to be cleaned up
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("existing", [None, "old\n"], ids=["new-file", "existing-file"])
@pytest.mark.parametrize(
    ("failure", "text", "error"),
    [
        pytest.param("encode", "bad \ud800 surrogate", UnicodeEncodeError, id="encode-error"),
        pytest.param("replace", "fine\n", OSError, id="replace-error"),
    ],
)
def test_write_atomic_failure_leaves_no_temp_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    existing: str | None,
    failure: str,
    text: str,
    error: type[Exception],
) -> None:
    path = tmp_path / "out" / "summary.json"
    if existing is not None:
        path.parent.mkdir()
        path.write_text(existing, encoding="utf-8")
    if failure == "replace":
        monkeypatch.setattr(fileio, "os", ReplaceFails())
    with pytest.raises(error):
        write_atomic(path, text)
    expected = [] if existing is None else ["summary.json"]
    assert sorted(p.name for p in path.parent.iterdir()) == expected
    if existing is not None:
        assert path.read_text(encoding="utf-8") == existing


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(
            {"b": 1, "a": [1, 2]}, '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n', id="sorted"
        ),
        pytest.param({"é": "✓"}, '{\n  "é": "✓"\n}\n', id="non-ascii"),
        pytest.param({"p": Path("x/y")}, '{\n  "p": "x/y"\n}\n', id="path-str"),
    ],
)
def test_dumps_is_stable(data: Any, text: str) -> None:
    assert dumps(data) == text


# --- disk full: a line is written whole or not at all -----------------------------------


class FillingOs:
    """``os`` for harness.gate.records on a disk with ``room`` bytes left: a write that does
    not fit writes what fits (a short write), the next one fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        if self.room <= 0:
            raise OSError(28, "No space left on device")
        written = os.write(fd, bytes(data[: self.room]))
        self.room -= written
        return written


def test_a_line_that_does_not_fit_is_cut_back_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "records.jsonl"
    writer = RecordWriter(path)
    assert writer.write({"n": 0, "pad": "x" * 50})
    whole = path.read_bytes()
    disk = FillingOs(room=30)  # half of the next line fits
    monkeypatch.setattr(records, "os", disk)
    assert writer.write({"n": 1, "pad": "x" * 50}) is False
    assert writer.write({"n": 2}) is False  # the disk is full: not even a little line
    assert path.read_bytes() == whole  # no torn line: cut back to the last whole one
    assert (writer.lost, writer.lost_reason) == (2, "No space left on device")
    disk.room = 10_000  # space again (a cache evicted, a log rotated): whole lines again
    assert writer.write({"n": 3})
    writer.close()
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [0, 3]


def test_a_file_that_cannot_be_cut_back_gets_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "records.jsonl"
    writer = RecordWriter(path)
    disk = FillingOs(room=5)

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(5, "Input/output error")

    disk.ftruncate = no_truncate  # type: ignore[attr-defined]
    monkeypatch.setattr(records, "os", disk)
    assert writer.write({"n": 1}) is False
    disk.room = 10_000
    assert writer.write({"n": 2}) is False  # after a torn line nothing is appended
    writer.close()
    assert path.read_bytes() == b'{"n":'  # the torn last line, which readers skip
    assert writer.lost == 2
