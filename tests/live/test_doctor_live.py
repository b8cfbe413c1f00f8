"""glm-harness doctor against llama.cpp's llama-server: a server nobody here wrote."""

from __future__ import annotations

import argparse
import json

import pytest

from harness.doctor import command as doctor
from harness.doctor.report import render_text
from harness.local.server import MODEL_ALIAS, LocalServer

pytestmark = pytest.mark.live


@pytest.fixture(autouse=True)
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_doctor_against_llama_server(llama: LocalServer) -> None:
    report = doctor.diagnose(llama.url, MODEL_ALIAS, None, 120.0)
    steps = {step.name: step for step in report.steps}
    text = render_text(report, None)
    assert [s.status for s in report.steps if s.name in ("reach", "auth", "model")] == ["ok"] * 3
    # llama-server serves no /openapi.json: said, not guessed
    assert steps["openapi"].status == "warn"
    assert "GET /openapi.json: not served; cannot tell which fields are declared" in text
    assert "chat fields" not in steps
    # both APIs answer
    for api in ("chat", "responses"):
        assert steps[api].status == "ok", text
        assert steps[api].facts["status"] == 200
        assert steps[api].facts["answer"].strip() != ""
        assert steps[api].facts["output_tokens"] <= doctor.MAX_OUTPUT_TOKENS
    # SmolLM2 does not think and llama-server fills no reasoning field for it: said so
    assert steps["chat reasoning"].facts["field"] is None
    assert "neither message.reasoning nor message.reasoning_content" in text
    assert steps["responses reasoning"].facts["field"] is None
    assert "the reply has no reasoning output item" in text
    assert report.exit_code == 0
    assert report.verdict == "usable with warnings (3)"


def test_doctor_local_starts_its_own_server(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="glm-harness doctor")
    doctor.add_arguments(parser)
    code = doctor.main(parser.parse_args(["--local", "--format", "json"]))
    data = json.loads(capsys.readouterr().out)
    assert code == data["exit_code"] == 0
    assert data["model"] == MODEL_ALIAS
    assert data["base_url"].startswith("http://127.0.0.1:")
    statuses = {s["name"]: s["status"] for s in data["steps"]}
    assert statuses["chat"] == statuses["responses"] == "ok"
    assert statuses["openapi"] == "warn"
