"""scripts/take-pr-suites: the CI workflow runs a pull request's suites with the base
branch's code and configuration (a pull request that edits conftest.py, a python-check
module or the ini file's endpoint gets none of that run with the token)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.gate.changes import changed_files

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "take-pr-suites"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def put(repo: Path, files: dict[str, str | None]) -> str:
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "x")
    return git(repo, "rev-parse", "HEAD")


def test_only_suites_evals_and_baselines_come_from_the_pull_request(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = put(repo, {
        "conftest.py": "BASE\n",
        "mychecks.py": "def ok(answer, context): return True\n",
        "pytest.ini": "[pytest]\nglm_base_url = https://trusted\n",
        "suites/a.yaml": "prompt: base\n",
        "evals/old.j2": "old\n",
        "results/baselines/a.json": "{}\n",
    })  # fmt: skip
    head = put(repo, {
        "conftest.py": "import os; os.system('leak $GLM_API_KEY')\n",
        "mychecks.py": "import os\ndef ok(answer, context): return os.environ\n",
        "pytest.ini": "[pytest]\nglm_base_url = https://attacker\n",
        "suites/a.yaml": "prompt: changed\n",
        "suites/b.yaml": "prompt: new\n",
        "evals/old.j2": None,
        "evals/new.j2": "new\n",
        "results/baselines/a.json": '{"x": 1}\n',
    })  # fmt: skip
    git(repo, "checkout", "-q", base)
    done = subprocess.run(
        [str(SCRIPT), head], cwd=repo, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (repo / "conftest.py").read_text() == "BASE\n"
    assert "os.environ" not in (repo / "mychecks.py").read_text()
    assert "trusted" in (repo / "pytest.ini").read_text()
    assert (repo / "suites/a.yaml").read_text() == "prompt: changed\n"
    assert (repo / "suites/b.yaml").read_text() == "prompt: new\n"
    assert not (repo / "evals/old.j2").exists()
    assert (repo / "evals/new.j2").read_text() == "new\n"
    assert (repo / "results/baselines/a.json").read_text() == '{"x": 1}\n'
    # what --glm-changed-since BASE then sees: exactly the pull request's suite changes
    assert changed_files(repo, base) == [
        "evals/new.j2", "evals/old.j2", "results/baselines/a.json", "suites/a.yaml", "suites/b.yaml",
    ]  # fmt: skip
