"""The example GitHub workflow: the pull request's suites run with the base branch's code
in a shard matrix, each shard keeps its run, and one merge job merges them, reports and
gates on merge's exit status (scripts/merge-shards, tested here on shards' run folders)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.gate.test_merge_refusals import shard

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "prompt-regression.yml"
SCRIPT = ROOT / "scripts" / "merge-shards"


@pytest.fixture(scope="module")
def jobs() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return found


def step(job: dict[str, Any], uses: str = "", runs: str = "") -> dict[str, Any]:
    [found] = [
        s
        for s in job["steps"]
        if (uses and s.get("uses", "").startswith(uses)) or (runs and runs in s.get("run", ""))
    ]
    return found


def test_the_shards_run_the_pull_requests_suites_with_the_base_code(
    jobs: dict[str, Any],
) -> None:
    suites = jobs["suites"]
    shards = suites["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1))
    assert len(shards) > 1
    assert suites["strategy"]["fail-fast"] is False  # a failing shard still leaves the others
    names = [s.get("uses", s.get("run", "")) for s in suites["steps"]]
    checkout = step(suites, uses="actions/checkout")
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    take = names.index(next(n for n in names if "scripts/take-pr-suites" in n))
    test = step(suites, runs="pytest --glm-suite")
    assert take < names.index(test["run"])  # the suites are swapped in before anything runs
    assert f"--glm-shard ${{{{ matrix.shard }}}}/{len(shards)}" in test["run"]
    assert "--glm-changed-since" in test["run"]
    assert "echo $? > glm-shard-status" in test["run"]
    assert set(test["env"]) == {"GLM_BASE_URL", "GLM_API_KEY"}
    keep = step(suites, uses="actions/upload-artifact")
    assert keep["if"] == "always()"
    assert keep["with"]["name"] == "glm-shard-${{ matrix.shard }}"
    assert {"results/runs/", "glm-shard-status"} <= set(keep["with"]["path"].split())
    # the token is given to the one step that sends requests
    given = [s for s in suites["steps"] if "secrets." in json.dumps(s)]
    assert given == [test]


def test_only_the_merge_job_may_write_to_the_pull_request() -> None:
    """The shard jobs run the pull request's suites: their GITHUB_TOKEN (which checkout
    leaves in .git/config) reads, and only the job that posts the comment may write."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    assert "permissions" not in workflow["jobs"]["suites"]  # the workflow's: read only
    assert workflow["jobs"]["merge"]["permissions"] == {
        "contents": "read", "pull-requests": "write"
    }  # fmt: skip


def test_one_merge_job_merges_reports_and_gates_on_merge(jobs: dict[str, Any]) -> None:
    merge, shards = jobs["merge"], len(jobs["suites"]["strategy"]["matrix"]["shard"])
    assert merge["needs"] == "suites"
    assert "!cancelled()" in merge["if"]  # also after a failed shard: merge says it is missing
    assert "secrets." not in json.dumps(merge)  # no token where nothing is sent
    assert step(merge, uses="actions/checkout")["with"]["ref"] == (
        "${{ github.event.pull_request.base.sha }}"
    )
    assert not any("take-pr-suites" in s.get("run", "") for s in merge["steps"])
    fetch = step(merge, uses="actions/download-artifact")
    assert fetch["with"] == {"pattern": "glm-shard-*", "path": "shards"}
    run = step(merge, runs="scripts/merge-shards")
    assert re.search(
        rf"scripts/merge-shards {shards} shards --out (\S+) --report glm-report.md", run["run"]
    )
    assert 'echo "status=$status" >> "$GITHUB_OUTPUT"' in run["run"]
    html = step(merge, runs="glm-harness report")
    assert "--html glm-report.html" in html["run"]
    assert step(merge, uses="actions/github-script")["if"].startswith("always()")
    kept = step(merge, uses="actions/upload-artifact")["with"]["path"].split()
    assert {"glm-report.md", "glm-report.html"} <= set(kept)
    assert merge["steps"][-1]["run"] == f"exit ${{{{ steps.{run['id']}.outputs.status }}}}"


def artifact(root: Path, k: int, status: int | None, cases: list[str] | None) -> None:
    """What shard k's job uploads: its run folder (none when pytest wrote none) and its
    exit status (none when the job never got there)."""
    folder = root / f"glm-shard-{k}"
    (folder / "results" / "runs").mkdir(parents=True)
    if cases is not None:
        shard(folder / "results" / "runs", f"run{k}", k, 3, cases)
    if status is not None:
        (folder / "glm-shard-status").write_text(f"{status}\n")


def merge_shards(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    harness = str(Path(sys.executable).parent / "glm-harness")
    return subprocess.run(
        [str(SCRIPT), "3", str(root), *args],
        capture_output=True, text=True, env={**os.environ, "GLM_HARNESS": harness},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("shards", "code", "said"),
    [
        ({1: (0, ["a"]), 2: (0, ["b"]), 3: (0, ["c"])}, 0, "merged: shards 1/3"),
        ({1: (0, ["a"]), 2: (5, None), 3: (0, ["c"])}, 0, "shard 2/3: no case ran in it"),
        ({1: (0, ["a"]), 2: (0, ["b"]), 3: (1, ["bad"])}, 1, "REGRESSIONS (1): s::bad"),
        ({1: (0, ["a"]), 3: (0, ["c"])}, 4, "shard 2/3 is missing"),
        ({1: (0, ["a"]), 2: (None, None), 3: (0, ["c"])}, 4, "shard 2/3 is missing"),
        ({1: (0, ["a"]), 2: (2, None), 3: (0, ["c"])}, 2, "shard 2/3 exited 2 and wrote no run"),
        ({1: (0, None), 2: (0, None), 3: (0, None)}, 0, "no shard ran a case"),
        ({1: (0, ["a"]), 2: (256, None), 3: (0, ["c"])}, 4, "status: 256 is not an exit status"),
    ],
)
def test_merge_shards_merges_what_the_shards_kept(
    tmp_path: Path, shards: dict[int, tuple[int | None, list[str] | None]], code: int, said: str
) -> None:
    root = tmp_path / "shards"
    for k, (status, cases) in shards.items():
        artifact(root, k, status, cases)
    out = tmp_path / "merged"
    done = merge_shards(root, "--out", str(out), "--report", str(tmp_path / "r.md"))
    assert done.returncode == code, done.stderr
    assert said in done.stdout + done.stderr
    if code in (0, 1) and "no shard" not in said:
        assert json.loads((out / "summary.json").read_text())["exit_status"] == code
        assert (tmp_path / "r.md").is_file()
