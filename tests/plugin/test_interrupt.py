"""Ctrl-C in the middle of a run: the records file stays valid with every completed sample,
the cache holds only whole entries, and summary.json says the run was interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server.app import Rule, ScriptedServer

CASES = 30


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_leaves_valid_records_and_an_interrupted_summary(
    tmp_path: Path, server: ScriptedServer, sig: signal.Signals
) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "evals").mkdir()
    cases = "\n".join(f"  - {{id: c{n}, vars: {{n: {n}}}}}" for n in range(CASES))
    (tmp_path / "suites" / "slow.yaml").write_text(
        f'prompt: "Count {{{{ n }}}}"\napis: [chat]\nexpect: [{{contains: ok}}]\ncases:\n{cases}\n'
    )
    server.rules = [Rule(match="Count", answer="ok", delay=0.3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--glm-suite", f"--glm-base-url={server.url}",
         "--glm-concurrency=2", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    runs = tmp_path / "results" / "runs"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            files = list(runs.glob("*/records.jsonl")) if runs.exists() else []
            if files and files[0].read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out.decode(errors="replace")
    [run_dir] = list(runs.iterdir())
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is whole JSON
    assert 4 <= len(records) < CASES
    assert len({r["case"] for r in records}) == len(records)
    assert all(r["outcome"] == "pass" for r in records)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["exit_status"] == pytest.ExitCode.INTERRUPTED
    entries = [json.loads(p.read_text()) for p in (tmp_path / "results" / ".cache").rglob("*.json")]
    assert len(entries) >= len(records)
    assert all(e["completion"]["answer"] == "ok" for e in entries)
    assert not list((tmp_path / "results").rglob("*.tmp"))
