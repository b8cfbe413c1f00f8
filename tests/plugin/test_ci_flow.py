"""What CI runs on a pull request: only the suites a change touches, gated on baselines,
with a Markdown report for the PR."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

MATH = """
    template: math/q.j2
    apis: [chat]
    extract: 'Answer:\\s*(.+)'
    cases:
      - {id: add, vars: {q: "2+3"}, expect: [{number: 5}]}
"""
OTHER = """
    prompt: "Say hello"
    apis: [chat]
    cases:
      - {id: hello, expect: [{contains: hello}]}
"""


def git(project: pytest.Pytester, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
    subprocess.run(["git", *args], cwd=project.path, env=env, check=True, capture_output=True)


@pytest.fixture
def repo(project: pytest.Pytester, server: ScriptedServer) -> pytest.Pytester:
    write(project, "suites/math.yaml", MATH)
    write(project, "suites/other.yaml", OTHER)
    write(project, "evals/math/q.j2", "Question: {{ q }}\n{% include 'partials/style.j2' %}")
    write(project, "evals/partials/style.j2", "End with 'Answer: N'.")
    write(project, ".gitignore", "results/runs/\nresults/.cache/\n")
    server.rules = [Rule(match="2\\+3", answer="Answer: 5"), Rule(match="hello", answer="hello")]
    git(project, "init", "-q", "-b", "main")
    project.runpytest("--glm-suite", f"--glm-base-url={server.url}", "--glm-update-baselines")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "suites and baselines")
    return project


def test_only_suites_whose_files_changed_run(repo: pytest.Pytester, server: ScriptedServer) -> None:
    write(repo, "evals/partials/style.j2", "Be brief. End with 'Answer: N'.")
    server.reset()
    server.rules = [Rule(match="2\\+3", answer="Answer: 5")]
    result = repo.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "--glm-changed-since=main", "-v"
    )
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines(
        [
            r"glm-harness --glm-changed-since main: 1 of 2 suites selected",
            r"  suites/math.yaml: evals/partials/style.j2 changed \(included by evals/math/q.j2, .*\)",
            r".*not selected: suites/other.yaml",
            r"suites/math.yaml::add\[chat-default\] PASSED.*",
        ]
    )
    assert all("hello" not in str(r.body) for r in server.suite_requests)


def test_no_change_runs_nothing_and_passes(repo: pytest.Pytester, server: ScriptedServer) -> None:
    server.reset()
    result = repo.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "--glm-changed-since=main"
    )
    assert result.ret == 0
    result.stdout.re_match_lines([r"glm-harness --glm-changed-since main: 0 of 2 suites selected"])
    assert server.suite_requests == []


def test_an_unknown_ref_is_a_usage_error(repo: pytest.Pytester, server: ScriptedServer) -> None:
    result = repo.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "--glm-changed-since=nope"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.re_match_lines([r".*--glm-changed-since nope: unknown git ref 'nope'.*"])
    assert "Traceback" not in result.stderr.str()


def test_the_markdown_report_puts_regressions_first(
    repo: pytest.Pytester, server: ScriptedServer
) -> None:
    write(repo, "evals/partials/style.j2", "Be brief. End with 'Answer: N'.")
    server.reset()
    server.rules = [Rule(match="2\\+3", answer="Answer: 7"), Rule(match="hello", answer="hello")]
    result = repo.runpytest(
        "--glm-suite",
        f"--glm-base-url={server.url}",
        "--glm-changed-since=main",
        "--glm-report=report.md",
    )
    assert result.ret == 1
    text = (repo.path / "report.md").read_text()
    assert text.startswith("## glm-harness: 1 regression")
    assert text.index("### Regressions") < text.index("### Results")
    assert "-Answer: 5" in text
    assert "+Answer: 7" in text
    assert server.url.split("//")[1] in text
