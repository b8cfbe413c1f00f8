"""``glm-harness merge`` refuses what is not the shards of one run, with one line naming
the folder and what is wrong (exit 4), and keeps every whole record line of those it
merges."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.gate.records import item_lines

SERVER = {"version": "0.33.0", "models": ["m"], "openapi_sha256": None}


def record(case: str, outcome: str = "pass", sample: int = 0) -> dict[str, Any]:
    return {
        "suite": "s", "case": case, "api": "chat", "effort": "default", "sample": sample,
        "outcome": outcome, "answer": "ok", "reasoning": "", "latency_ms": 5.0,
        "first_answer_ms": None, "usage": {"output_tokens": 1}, "error": None, "checks": [],
    }  # fmt: skip


def item(case: str, outcome: str = "pass", change: str = "pass") -> dict[str, Any]:
    return {
        "suite": "s", "case": case, "api": "chat", "effort": "default", "outcome": outcome,
        "passes": int(outcome == "pass"), "samples": 1, "score": 1.0, "outcomes": [outcome],
        "change": change, "baseline_outcomes": ["pass"],
    }  # fmt: skip


def shard(root: Path, name: str, k: int | None, n: int, cases: list[str], **summary: Any) -> Path:
    """A shard's run folder: summary.json, items.jsonl and records.jsonl of ``cases``."""
    folder = root / name
    folder.mkdir()
    found = [item(c, "fail" if c.startswith("bad") else "pass") for c in cases]
    for one in found:
        one["change"] = "regression" if one["outcome"] == "fail" else "pass"
    data = {
        "run_id": name, "exit_status": 0, "endpoint": "http://e", "model": "m",
        "server": SERVER, "items": {"pass": len(cases)}, "requests": {"requests": len(cases)},
        "records_lost": 0, "baselines": [], "decisions": [],
        **({"shard": [k, n]} if k is not None else {}), **summary,
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(data))
    (folder / "items.jsonl").write_text(item_lines(found))
    lines = [json.dumps(record(one["case"], one["outcome"])) + "\n" for one in found]
    (folder / "records.jsonl").write_text("".join(lines))
    return folder


def edit(path: Path, **values: Any) -> None:
    """The first line of a JSON lines file with ``values`` in it."""
    first, *rest = path.read_text().splitlines(keepends=True)
    path.write_text(json.dumps({**json.loads(first), **values}) + "\n" + "".join(rest))


def drop(path: Path, key: str) -> None:
    """The first line of a JSON lines file without ``key``."""
    first, *rest = path.read_text().splitlines(keepends=True)
    line = {k: v for k, v in json.loads(first).items() if k != key}
    path.write_text(json.dumps(line) + "\n" + "".join(rest))


DEEP = "[" * 100_000 + "]" * 100_000  # past the JSON parser's recursion limit


def merge(capsys: pytest.CaptureFixture[str], *args: Path | str) -> tuple[int, str, str]:
    status = main(["merge", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def three(tmp_path: Path) -> list[Path]:
    return [shard(tmp_path, f"r{k}", k, 3, [f"c{k}", f"d{k}"]) for k in (1, 2, 3)]


def test_three_shards_merge_into_one_run(
    three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status, said, err = merge(capsys, *three, "--out", out)
    assert (status, err) == (0, "")
    data = json.loads((out / "summary.json").read_text())
    assert data["shard"] == {
        "of": 3, "merged": [1, 2, 3], "missing": [], "runs": {"1": "r1", "2": "r2", "3": "r3"}
    }  # fmt: skip
    assert data["items"]["pass"] == 6
    assert data["requests"]["requests"] == 6
    assert len((out / "items.jsonl").read_text().splitlines()) == 6
    assert said.startswith(f"merged: shards 1/3 {three[0]}, 2/3 {three[1]}, 3/3 {three[2]}")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: shutil.rmtree(f), r"r2: no such run folder"),
        (lambda f: (f / "summary.json").unlink(), r"r2: no summary.json \(the run did not finish\)"),
        (lambda f: (f / "summary.json").write_text("[1"), r"r2/summary.json: cannot be read"),
        (lambda f: (f / "items.jsonl").unlink(), r"r2: no items.jsonl \(a run that did not finish"),
        (lambda f: (f / "items.jsonl").write_text("{}\n"), r"r2/items.jsonl:1: not an item line \(no 'suite'\)"),
        (lambda f: (f / "records.jsonl").write_text("{\n{}\n"), r"r2/records.jsonl:1: not a run record"),
        (lambda f: (f / "summary.json").write_text('{"requests": {"sent": "x"}}'), r'r2/summary.json: requests.sent: "x" is not a count'),
        (lambda f: (f / "summary.json").write_text('{"shard": [4, 3]}'), r"r2/summary.json: shard: \[4, 3\] is not \[K, N\]"),
        (lambda f: edit(f / "summary.json", sampled={"s": 3}), r"r2/summary.json: sampled.s: 3 is not \[n, of\]"),
        (lambda f: edit(f / "summary.json", server_changes={"s": []}), r"r2/summary.json: server_changes: not an object of strings"),
        (lambda f: edit(f / "items.jsonl", baseline_outcomes=3), r"r2/items.jsonl:1: baseline_outcomes: 3 is not a list of strings"),
        (lambda f: edit(f / "items.jsonl", score="high"), r'r2/items.jsonl:1: score: "high" is not a number'),
        (lambda f: edit(f / "records.jsonl", latency_ms="x"), r'r2/records.jsonl:1: latency_ms: "x" is not a number or null'),
        (lambda f: edit(f / "records.jsonl", usage={"output_tokens": 1.5}), r"r2/records.jsonl:1: usage.output_tokens: 1.5 is not an integer or null"),
        (lambda f: edit(f / "records.jsonl", effort=None), r"r2/records.jsonl:1: effort: null is not a string"),
        (lambda f: (f / "records.jsonl").write_text('{"suite": "s"}'), r"r2/records.jsonl:1: not a run record \(no 'case'\)"),
        (lambda f: (f / "summary.json").write_text(DEEP), r"r2/summary.json: cannot be read \(nested too deeply\)"),
        (lambda f: (f / "items.jsonl").write_text(DEEP + "\n"), r"r2/items.jsonl:1: not an item line \(nested too deeply\)"),
        (lambda f: (f / "records.jsonl").write_text(DEEP + "\n"), r"r2/records.jsonl:1: not a run record \(nested too deeply\)"),
        (lambda f: (f / "records.jsonl").write_text(DEEP), r"r2/records.jsonl:1: not a run record \(nested too deeply\)"),
        (lambda f: edit(f / "summary.json", exit_status=256), r"r2/summary.json: exit_status: 256 is not an exit status \(0 to 255\)"),
        (lambda f: edit(f / "summary.json", exit_status=-1), r"r2/summary.json: exit_status: -1 is not an exit status \(0 to 255\)"),
        (lambda f: edit(f / "items.jsonl", outcome="passed"), r'r2/items.jsonl:1: outcome: "passed" is not one of pass, fail, truncated, error'),
        (lambda f: edit(f / "items.jsonl", outcomes=["pass", "ok"]), r'r2/items.jsonl:1: outcomes: "ok" is not one of pass, fail, truncated, error'),
        (lambda f: edit(f / "items.jsonl", baseline_outcomes=["?"]), r'r2/items.jsonl:1: baseline_outcomes: "\?" is not one of pass'),
        (lambda f: edit(f / "records.jsonl", outcome="ok"), r'r2/records.jsonl:1: outcome: "ok" is not one of pass, fail, truncated, error'),
        (lambda f: drop(f / "items.jsonl", "score"), r"r2/items.jsonl:1: not an item line \(no 'score'\)"),
    ],
)  # fmt: skip
def test_a_folder_that_is_not_a_run_is_refused_naming_it(
    three: list[Path], capsys: pytest.CaptureFixture[str], damage: Any, message: str
) -> None:
    damage(three[1])
    status, out, err = merge(capsys, *three)
    assert (status, out) == (4, "")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert err.startswith("glm-harness merge: ")
    assert re.search(message, err), err


def test_shards_that_are_not_one_run_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = shard(tmp_path, "a", 1, 3, ["c1"])
    cases = {
        "other N": (shard(tmp_path, "b", 2, 2, ["c2"]), "b: shard 2/2, but .*a is shard 1/3"),
        "twice": (shard(tmp_path, "c", 1, 3, ["c3"]), "c: shard 1/3 given twice \\(also .*a\\)"),
        "missing": (
            shard(tmp_path, "d", 3, 3, ["c4"]),
            r"shard 2/3 is missing \(given: 1/3 .*a, 3/3 .*d\); --allow-partial merges the others",
        ),
    }
    for folder, message in cases.values():
        status, _, err = merge(capsys, a, folder)
        assert status == 4
        assert re.search(message, err), err
    both = shard(tmp_path, "e", 2, 2, ["c1"])
    status, _, err = merge(capsys, shard(tmp_path, "f", 1, 2, ["c1"]), both)
    assert status == 4
    assert "e: item s::c1[chat-default] is also in " in err


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"model": "n"}, "model 'n', but .*a ran 'm'"),
        ({"endpoint": "http://f"}, "endpoint http://f, but .*a asked http://e"),
        ({"server": {**SERVER, "version": "0.34.0"}}, r'server version "0.34.0", but .*"0.33.0"'),
    ],
)
def test_runs_against_another_model_or_server_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], other: dict[str, Any], message: str
) -> None:
    a = shard(tmp_path, "a", 1, 2, ["c1"])
    status, _, err = merge(capsys, a, shard(tmp_path, "b", 2, 2, ["c2"], **other))
    assert status == 4
    assert re.search(message, err), err


def test_an_unknown_fingerprint_is_not_a_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = shard(tmp_path, "a", 1, 2, ["c1"])
    b = shard(tmp_path, "b", 2, 2, ["c2"], server={**SERVER, "version": "unknown"})
    assert merge(capsys, a, b, "--out", tmp_path / "o")[0] == 0


def test_allow_partial_merges_the_others_and_says_which_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, c = shard(tmp_path, "a", 1, 3, ["c1"]), shard(tmp_path, "c", 3, 3, ["bad3"])
    out = tmp_path / "o"
    status, said, _ = merge(capsys, a, c, "--allow-partial", "--out", out)
    assert status == 1  # the regression in shard 3 gates the partial run
    data = json.loads((out / "summary.json").read_text())
    assert (data["shard"]["merged"], data["shard"]["missing"]) == ([1, 3], [2])
    assert "WARNING partial: shard 2/3 missing" in said.splitlines()


def test_a_torn_last_record_is_skipped_and_said_every_whole_line_kept(
    three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = three[2] / "records.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"suite": "s", "ca')
    out = tmp_path / "o"
    status, said, _ = merge(capsys, *three, "--out", out)
    assert status == 0
    assert f"WARNING {path}: last line is incomplete (18 bytes), skipped" in said.splitlines()
    expected = b"".join((f / "records.jsonl").read_bytes() for f in three[:2]) + whole
    assert (out / "records.jsonl").read_bytes() == expected
    notes = json.loads((out / "summary.json").read_text())["shard"]["notes"]
    assert notes == [f"{path}: last line is incomplete (18 bytes), skipped"]


def test_an_out_folder_with_files_is_not_overwritten(
    three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = merge(capsys, *three, "--out", three[0])
    assert status == 4
    assert f"{three[0]}: --out exists and is not an empty folder" in err


def test_a_merged_run_is_not_a_shard(
    three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    assert merge(capsys, *three, "--out", out)[0] == 0
    status, _, err = merge(capsys, out)
    assert status == 4
    assert "shard: a merged run already" in err


def test_the_token_is_never_written(
    three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    token = "sk-merge-secret-0123456789abcdef"
    monkeypatch.setenv("GLM_API_KEY", token)
    summary = three[0] / "summary.json"
    data = json.loads(summary.read_text())
    data["not_written"] = [f"a file: the server said {token}"]  # a shard that leaked it
    summary.write_text(json.dumps(data))
    out = tmp_path / "o"
    status, said, _ = merge(capsys, *three, "--out", out)
    assert status == 0
    assert token not in said
    assert "WARNING a file: the server said ***" in said.splitlines()
    for path in out.iterdir():
        assert token not in path.read_text()


def test_a_token_in_a_refused_value_is_masked_before_the_value_is_cut(
    three: list[Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "sk-merge-secret-0123456789abcdef"
    monkeypatch.setenv("GLM_API_KEY", token)
    # the 80 characters shown of a refused value end inside the token
    edit(three[0] / "summary.json", baselines=f"{'x' * 70}{token}")
    status, _, err = merge(capsys, *three)
    assert status == 4
    assert "baselines:" in err
    assert token[:8] not in err  # not even the head a cut would have left


def test_a_shard_its_canaries_stopped_stops_the_merged_run(
    three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = shard(tmp_path, "stopped", 2, 3, [], exit_status=7, canary={"state": "failed"})
    (stopped / "items.jsonl").unlink()  # a run the canaries stopped has no item
    status, said, _ = merge(capsys, three[0], stopped, three[2], "--out", tmp_path / "o")
    assert status == 7
    assert f"shard 2/3 ({stopped}): canary failed; nothing of its suites was sent" in said


def test_a_shard_that_ran_no_case_is_given_as_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, c = shard(tmp_path, "a", 1, 3, ["c1"]), shard(tmp_path, "c", 3, 3, ["c3"])
    out = tmp_path / "o"
    status, said, err = merge(capsys, a, c, "--empty-shard", "2", "--out", out)
    assert (status, err) == (0, "")
    found = json.loads((out / "summary.json").read_text())["shard"]
    assert (found["merged"], found["empty"], found["missing"]) == ([1, 3], [2], [])
    assert "shard 2/3: no case ran in it (--empty-shard)" in said.splitlines()
    for given, message in (("1", f"--empty-shard 1: its run is {a}"), ("4", "shards of 3")):
        status, _, err = merge(capsys, a, c, "--empty-shard", given)
        assert status == 4
        assert message in err


@pytest.mark.parametrize("name", ["summary.json", "items.jsonl", "records.jsonl"])
@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_a_shard_file_that_is_not_a_regular_file_is_refused_unread(
    three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, kind: str
) -> None:
    path = three[1] / name
    if kind == "symlink":  # a whole run's file, elsewhere: still not this shard's own
        target = tmp_path / f"elsewhere-{name}"
        path.rename(target)
        path.symlink_to(target)
    else:
        path.unlink()
        os.mkfifo(path) if kind == "fifo" else path.mkdir()  # a FIFO would block a read
    status, out, err = merge(capsys, *three)
    assert (status, out) == (4, "")
    assert err == f"glm-harness merge: {path}: not a regular file; refused\n"


@pytest.mark.parametrize(
    ("name", "bound"),
    [("summary.json", "MAX_SUMMARY_BYTES"), ("items.jsonl", "MAX_LINES_BYTES"),
     ("records.jsonl", "MAX_LINES_BYTES")],
)  # fmt: skip
def test_a_shard_file_past_its_bound_is_refused(
    three: list[Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    name: str, bound: str,
) -> None:  # fmt: skip
    from harness.gate import shards

    path = three[0] / name  # the first read: every shard's file is as large
    monkeypatch.setattr(shards, bound, path.stat().st_size - 1)
    status, out, err = merge(capsys, *three)
    assert (status, out) == (4, "")
    limit = getattr(shards, bound)
    assert err == f"glm-harness merge: {path}: larger than {limit:,} bytes; refused\n"
