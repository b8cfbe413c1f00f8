"""`make run`'s script: it prints the command it runs and exits with pytest's own code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.server.app import Rule, ScriptedServer

ROOT = Path(__file__).resolve().parents[2]
SUITE = 'prompt: "Say {{ w }}"\napis: [chat]\ncases:\n'
SUITE += "  - {id: one, vars: {w: one}, expect: [{contains: ok}]}\n"


@pytest.mark.parametrize(("answer", "code"), [("ok", 0), ("no", 1)], ids=["clean", "failing"])
def test_scripts_run_prints_its_command_and_exits_with_pytests_code(
    tmp_path: Path, server: ScriptedServer, answer: str, code: int
) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "s.yaml").write_text(SUITE)
    server.rules = [Rule(match="Say", answer=answer)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "PYTEST_", "MAKE"))}
    env["GLM_BASE_URL"] = server.url
    done = subprocess.run(
        [str(ROOT / "scripts" / "run"), "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "+ .venv/bin/pytest --glm-suite -p no:cacheprovider" in lines
    assert lines[-1] == f"pytest exited with status {code}"


def test_make_run_runs_the_script() -> None:
    # under `make test` this runs inside another make: its MAKEFLAGS would add
    # "make[1]: Leaving directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "ARGS=-k add_small"], cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=True, env=env,
    )  # fmt: skip
    assert done.stdout.splitlines()[-1] == "scripts/run -k add_small"
