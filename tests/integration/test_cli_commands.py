"""The console script reaches every subcommand (the modules are tested on their own)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.gate.records import RecordWriter
from tests.server.app import Rule, ScriptedServer


def test_doctor_through_the_cli(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.rules = [Rule(match=".", answer="OK", reasoning="easy")]
    assert main(["doctor", "--base-url", server.url, "--format", "json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert "verdict" in json.dumps(facts)
    assert main(["doctor", "--base-url", "http://127.0.0.1:9"]) == 1  # nothing listens there
    assert "not usable" in capsys.readouterr().out


def test_report_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "results" / "runs" / "r1"
    writer = RecordWriter(run / "records.jsonl")
    for effort, reasoning in (("low", "a" * 40), ("high", "a" * 400)):
        writer.write({
            "suite": "s", "case": "c1", "api": "chat", "effort": effort, "sample": 0,
            "request": {"path": "/v1/chat/completions", "body": {"reasoning_effort": effort}},
            "answer": "5", "reasoning": reasoning, "usage": {"output_tokens": 3},
            "latency_ms": 10.0, "finish": "stop", "outcome": "pass", "checks": [], "score": 1.0,
        })  # fmt: skip
    writer.close()
    out = tmp_path / "report.html"
    assert main(["report", "r1", "--html", str(out), "--results", str(tmp_path / "results")]) == 0
    assert out.read_text().count("<svg") >= 2
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["report", "nope", "--html", str(out)]) == 2
    assert capsys.readouterr().err.startswith("glm-harness report: ")


def test_doctor_reads_the_ini_file_a_run_would(
    server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("GLM_BASE_URL", "GLM_MODEL", "GLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        f'glm_base_url = "{server.url}"\nglm_model = "my-glm"\n'
        'glm_headers = ["azureml-model-deployment: blue"]\n'
    )
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # found walking up, as pytest finds it
    server.rules = [Rule(match=".", answer="OK")]
    main(["doctor"])
    assert "glm-harness doctor: http://127.0.0.1:" in capsys.readouterr().out
    assert server.requests
    assert {r.headers.get("azureml-model-deployment") for r in server.requests} == {"blue"}
    bodies = [r.body for r in server.requests if r.body]
    assert {b["model"] for b in bodies} == {"my-glm"}
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options\n")
    assert main(["doctor"]) == 2
    assert "pyproject.toml: cannot read it" in capsys.readouterr().err


SAY = 'prompt: "Say {{ w }}"\napis: [chat]\ncases:\n'
SAY += "  - {id: alpha, vars: {w: alpha}, expect: [{contains: ok}]}\n"
SAY += "  - {id: beta, vars: {w: beta}, expect: [{contains: ok}]}\n"


@pytest.mark.parametrize(
    "args",
    [["-k", "alpha"], ["--", "-k", "alpha"], ["-k", "alpha", "--glm-results", "OUT"]],
    ids=["pytest-options", "after-double-dash", "value-outside-the-project"],
)
def test_run_hands_everything_after_it_to_pytest(
    tmp_path: Path, server: ScriptedServer, args: list[str]
) -> None:
    """`glm-harness run -k alpha` is `pytest --glm-suite -k alpha`: the console script, a real pytest."""
    import os
    import subprocess
    import sys

    project, out = tmp_path / "project", tmp_path / "out"
    (project / "suites").mkdir(parents=True)
    (project / "suites" / "say.yaml").write_text(SAY)
    (project / "pytest.ini").write_text(f"[pytest]\nglm_base_url = {server.url}\n")
    out.mkdir()  # there already: pytest would take it for a test path
    server.rules = [Rule(match="Say", answer="ok")]
    script = Path(sys.executable).with_name("glm-harness")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "PYTEST_"))}
    done = subprocess.run(
        [str(script), "run", *(str(out) if a == "OUT" else a for a in args),
         "-p", "no:cacheprovider"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 deselected" in done.stdout
    assert [r.body["messages"][0]["content"] for r in server.suite_requests] == ["Say alpha"]


@pytest.mark.parametrize(
    "command", [[], ["validate"], ["local"], ["compare"], ["report"], ["doctor"],
                ["judge-agreement"]],
)  # fmt: skip
def test_help_is_plain_text(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert "usage: glm-harness" in out
    assert "`" not in out  # no reStructuredText from the docstrings


def test_the_pytest_options_help_is_plain_text() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    lines = done.stdout.splitlines()
    start = lines.index("glm-harness: evaluate prompts against a model endpoint:")
    section = lines[start + 1 : lines.index("", start)]
    assert any("--glm-suite" in line for line in section)
    ini = [line for line in lines if line.lstrip().startswith("glm_")]
    assert len(ini) > 10
    assert [line for line in section + ini if "`" in line] == []
