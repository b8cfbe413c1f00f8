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
