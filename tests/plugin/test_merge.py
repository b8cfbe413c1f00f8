"""``glm-harness merge``: three ``--glm-shard K/3`` runs merged are the unsharded run: the
same summary.json, items.jsonl and records (but for run ids, times and latencies), the
same end-of-run lines, the same paired decision over all the cases, the same exit status;
and the merged run reads as any run does (``report --html``, ``compare``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

ONE = "prompt: 'Say {{ n }}'\napis: [chat]\nexpect: [{contains: ok}]\ncases:\n" + "".join(
    f"  - {{id: c{n}, vars: {{n: {n}}}}}\n" for n in range(9)
)
SAMPLED = (
    "prompt: 'Question {{ n }}'\napis: [chat]\nsamples: 3\nmin_pass_rate: 0.6\n"
    "expect: [{contains: right}]\ncases:\n"
    + "".join(f"  - {{id: q{n}, vars: {{n: {n}}}}}\n" for n in range(12))
)
LATENCY = {"latency_ms", "first_answer_ms", "first_reasoning_ms"}  # differ run to run
GROUP_TIMES = {"p50 ms", "p95 ms", "1st tok ms"}


def run(
    project: pytest.Pytester, server: ScriptedServer, *args: str
) -> tuple[Path, int, list[str]]:
    """One run: its folder, exit status and the lines of its glm-harness section."""
    runs = project.path / "results" / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=off", *args,
    )  # fmt: skip
    made = set(runs.iterdir()) - before if runs.exists() else set()
    if not made:  # a shard no case fell in: pytest's 5, and no run (merge's --empty-shard)
        return runs, result.ret, []
    [folder] = made
    lines = result.outlines
    start = next(n for n, line in enumerate(lines) if "glm-harness ==" in line)
    end = next(n for n in range(start + 1, len(lines)) if lines[n].startswith("=="))
    return folder, result.ret, [line for line in lines[start + 1 : end] if line]


def regressed(server: ScriptedServer) -> None:
    """c4 of the one-sample suite fails now (a regression, in one shard), and five of the
    twelve sampled cases drop from every sample right to none: a drop only all the
    cases together make significant."""
    server.rules = [
        Rule(match="Say 4$", answer="no"),
        Rule(match="Question ([0-4])$", answer="wrong"),
        Rule(match="Say", answer="ok"),
        Rule(match="Question", answer="right"),
    ]


def summary(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    for key in ("run_id", "finished_at", "shard"):
        data.pop(key, None)
    for group in data["groups"]:
        for key in GROUP_TIMES:
            group.pop(key)
    return data


def records(folder: Path) -> list[str]:
    found = []
    for line in (folder / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        found.append(json.dumps({k: v for k, v in record.items() if k not in LATENCY}))
    return sorted(found)


def markdown(text: str) -> list[str]:
    """A Markdown report's lines, but for its run id and the table's latency columns."""
    text = re.sub(r"run `[^`]+`", "run `ID`", text)
    return [
        "|".join(c for n, c in enumerate(line.split("|")) if n not in (7, 8, 9))
        if re.match(r"\| [ps] \| chat", line)
        else line
        for line in text.splitlines()
    ]


def merge(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    capsys.readouterr()  # what the pytest runs before printed
    status = main(["merge", *args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def test_three_shards_merged_are_the_unsharded_run(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "suites/s.yaml", ONE)
    write(project, "suites/p.yaml", SAMPLED)
    server.rules = [Rule(match="Say", answer="ok"), Rule(match="Question", answer="right")]
    assert run(project, server, "--glm-update-baselines")[1] == 0
    regressed(server)
    whole, status, said = run(project, server, "--glm-report=whole.md")
    assert status == 1
    shards = [run(project, server, f"--glm-shard={k}/3") for k in (1, 2, 3)]
    # the regression is in one shard only; no shard alone sees all twelve sampled cases
    assert sorted(code for _, code, _ in shards).count(1) >= 1
    holding = [f for f, _, _ in shards if '"case": "c4"' in (f / "items.jsonl").read_text()]
    assert len(holding) == 1
    for folder, _, _ in shards:
        for decision in json.loads((folder / "summary.json").read_text())["decisions"]:
            assert decision["cases"] < (12 if decision["suite"] == "p" else 9)

    out = project.path / "merged"
    given = [str(f) for f, _, _ in shards]
    report = project.path / "merged.md"
    status, lines, err = merge(capsys, *given, "--out", str(out), "--report", str(report))
    assert (status, err) == (1, "")
    # the Markdown report as --glm-report writes the run's, saying it was merged
    text = report.read_text()
    assert "**merged from shards 1/3, 2/3, 3/3 of 3**\n\n" in text
    mine = markdown(text.replace("**merged from shards 1/3, 2/3, 3/3 of 3**\n\n", ""))
    assert mine == markdown((project.path / "whole.md").read_text())
    assert summary(out) == summary(whole)
    assert (out / "items.jsonl").read_bytes() == (whole / "items.jsonl").read_bytes()
    assert records(out) == records(whole)
    data = json.loads((out / "summary.json").read_text())
    assert data["exit_status"] == 1
    assert data["shard"]["of"] == 3
    assert data["shard"]["merged"] == [1, 2, 3]
    assert data["shard"]["missing"] == []
    [paired] = [d for d in data["decisions"] if d["suite"] == "p"]
    assert (paired["state"], paired["cases"], paired["gates"]) == ("regression", 12, True)
    # every record of every shard, byte for byte
    written = (out / "records.jsonl").read_bytes()
    assert written == b"".join((f / "records.jsonl").read_bytes() for f, _, _ in shards)

    # the lines a run prints at its end, but for the table's latencies and where it is
    assert lines[0].startswith(f"merged: shards 1/3 {shards[0][0]}, 2/3 ")
    lines = [line for line in lines if line]
    cut, mine = (
        said.index(next(x for x in said if x.startswith("items:"))),
        lines.index(next(x for x in lines if x.startswith("items:"))),
    )
    assert [x for x in lines[mine:] if not x.startswith("records:")] == [
        x for x in said[cut:] if not x.startswith("records:")
    ]
    assert lines[1] == said[0]  # endpoint and model
    assert [x.split()[:4] for x in lines[2:mine]] == [x.split()[:4] for x in said[1:cut]]
    assert f"records: {out}/records.jsonl" in lines
    assert "REGRESSIONS (1): s::c4[chat-default]" in lines
    assert any(x.startswith("paired test REGRESSION: p [chat-default]") for x in lines)

    # the merged run reads as a run does
    assert main(["report", str(out), "--html", str(project.path / "page.html")]) == 0
    page = (project.path / "page.html").read_text()
    assert "exit_status: 1; merged from shards 1/3, 2/3, 3/3</p>" in page  # which it holds
    assert main(["compare", str(whole), str(out)]) == 0


def test_a_regression_in_one_shard_fails_the_merge_and_a_clean_merge_passes(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "suites/s.yaml", ONE)
    server.rules = [Rule(match="Say", answer="ok")]
    run(project, server, "--glm-update-baselines")
    clean = [run(project, server, f"--glm-shard={k}/3")[0] for k in (1, 2, 3)]
    status, lines, _ = merge(capsys, *map(str, clean), "--out", str(project.path / "a"))
    assert status == 0
    assert "against baselines: no changes" in lines
    server.rules = [Rule(match="Say 4$", answer="no"), Rule(match="Say", answer="ok")]
    shards = [run(project, server, f"--glm-shard={k}/3") for k in (1, 2, 3)]
    assert sorted(code for _, code, _ in shards) == [0, 0, 1]  # c4's shard alone fails
    status, lines, _ = merge(
        capsys, *(str(f) for f, _, _ in shards), "--out", str(project.path / "b")
    )
    assert status == 1
    assert "REGRESSIONS (1): s::c4[chat-default]" in lines


def test_shards_no_case_fell_in_write_no_run_and_are_merged_as_empty(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "suites/s.yaml", ONE.split("  - {id: c1,")[0])  # one case: c0
    server.rules = [Rule(match="Say", answer="ok")]
    whole = run(project, server)[0]
    shards = [run(project, server, f"--glm-shard={k}/3") for k in (1, 2, 3)]
    ran = [k for k, (folder, _, _) in enumerate(shards, 1) if folder.name != "runs"]
    assert len(ran) == 1
    assert sorted(code for _, code, _ in shards) == [0, 5, 5]  # what scripts/merge-shards reads
    empty = [arg for k in (1, 2, 3) if k not in ran for arg in ("--empty-shard", str(k))]
    out = project.path / "merged"
    status, _, _ = merge(capsys, str(shards[ran[0] - 1][0]), *empty, "--out", str(out))
    assert status == 0
    assert summary(out) == summary(whole)
    assert json.loads((out / "summary.json").read_text())["shard"]["missing"] == []
