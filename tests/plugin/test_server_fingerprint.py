"""The server is part of the baseline: each run records the server's fingerprint
(``GET /version``, the ids of ``GET /v1/models``, a hash of ``GET /openapi.json``) in
summary.json, baselines keep the one they were made on, and a run on another server says
so first, and labels its regressions so, in the terminal and in the Markdown report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import write
from tests.server.app import DEFAULT_MODEL, Rule, ScriptedServer, vllm_openapi
from tests.server.hostile import HostileServer, Seen, chat_body, reply

SUITE = """
    name: math
    template: math/q.j2
    apis: [chat]
    params: {max_output_tokens: 64}
    extract: 'Answer:\\s*(.+)'
    cases:
      - id: add
        vars: {q: "2+3"}
        expect: [{number: 5}]
"""
RIGHT = [Rule(match="2\\+3", answer="Answer: 5")]
WRONG = [Rule(match="2\\+3", answer="Answer: 6")]


def run(project: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={url}", "-p", "no:cacheprovider", "--glm-cache=off", *args
    )


def last_summary(project: pytest.Pytester) -> dict[str, Any]:
    runs = sorted((project.path / "results" / "runs").iterdir())
    data: dict[str, Any] = json.loads((runs[-1] / "summary.json").read_text())
    return data


def baseline_file(project: pytest.Pytester) -> Path:
    return project.path / "results" / "baselines" / "math.json"


def section(result: pytest.RunResult) -> list[str]:
    """The lines of the glm-harness terminal section."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.strip("= ") == "glm-harness")
    return lines[start + 1 :]


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_summary_json_records_the_server_once_per_run(
    project: pytest.Pytester, server: ScriptedServer, workers: tuple[str, ...]
) -> None:
    write(project, "suites/math.yaml", SUITE)
    write(project, "suites/more.yaml", SUITE.replace("name: math", "name: more"))
    server.rules, server.openapi = RIGHT, vllm_openapi()
    result = run(project, server.url, *workers)
    result.assert_outcomes(passed=2)
    digest = hashlib.sha256(json.dumps(server.openapi).encode()).hexdigest()[:16]
    assert last_summary(project)["server"] == {
        "version": "0.33.0",
        "models": [DEFAULT_MODEL],
        "openapi_sha256": f"sha256:{digest}",
    }
    gets = sorted(r.path for r in server.requests if r.method == "GET")
    assert gets == ["/openapi.json", "/v1/models", "/version"]  # once, also under xdist
    assert not list(
        (project.path / "results" / "runs" / last_summary(project)["run_id"]).glob(".*")
    )


def test_a_server_without_version_or_openapi_records_null(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules, server.version, server.openapi = RIGHT, None, None  # as llama-server
    run(project, server.url).assert_outcomes(passed=1)
    assert last_summary(project)["server"] == {
        "version": None,
        "models": [DEFAULT_MODEL],
        "openapi_sha256": None,
    }


def test_cache_only_reads_no_fingerprint(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules = RIGHT
    project.runpytest("--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider")
    server.reset()
    result = project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-cache=only",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    assert server.requests == []
    assert last_summary(project)["server"] is None


def test_a_hostile_fingerprint_is_unknown_bounded_scrubbed_and_never_fails_the_run(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "glmtok-fingerprint-0123456789abcdef0123"
    monkeypatch.setenv("GLM_API_KEY", token)
    write(project, "suites/math.yaml", SUITE)

    def script(seen: Seen) -> list[bytes | float]:
        if seen.path == "/version":  # slower than the fingerprint waits
            return [3.0, *reply(b'{"version": "0.33.0"}')]
        if seen.path == "/v1/models":  # larger than the reply cap
            return reply(b'{"data": [' + b'{"id": "m"},' * 200_000 + b'{"id": "m"}]}')
        if seen.path == "/openapi.json":  # the token echoed, an escape sequence
            said = seen.headers.get("authorization", "")
            return reply(json.dumps({"echo": said, "title": "\x1b[2J"}).encode())
        return reply(chat_body("Answer: 5"))

    with HostileServer(script) as hostile:
        result = run(project, hostile.url, "--glm-timeout=1", "--glm-max-reply-mb=1")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    server = last_summary(project)["server"]
    assert server["version"] == server["models"] == "unknown"
    assert server["unread"]["version"] == "GET /version: timeout after 1s"
    assert "larger than 1 MiB" in server["unread"]["models"]
    assert server["openapi_sha256"].startswith("sha256:")
    text = "\n".join([*result.outlines, *result.errlines])
    for path in project.path.rglob("*"):
        if path.is_file():
            text += path.read_text(errors="replace")
    assert token[:12] not in text
    assert token[-12:] not in text


def test_baselines_keep_their_server_and_a_change_is_said_first(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules, server.version = RIGHT, "0.16.0"
    run(project, server.url, "--glm-update-baselines").assert_outcomes(passed=1)
    text = baseline_file(project).read_text()
    data = json.loads(text)
    assert data["server"] == {
        "version": "0.16.0",
        "models": [DEFAULT_MODEL],
        "openapi_sha256": None,
    }
    assert list(data) == ["entries", "server", "suite", "version"]  # sorted, reviewable
    assert text.endswith("}\n")

    # the same server: nothing said
    result = run(project, server.url)
    result.assert_outcomes(passed=1)
    assert "server changed" not in result.stdout.str()

    # vLLM upgraded, and the answer regressed
    server.version, server.rules = "0.33.0", WRONG
    result = run(project, server.url, "--glm-report=report.md")
    result.assert_outcomes(failed=1)
    assert result.ret == 1  # a regression still fails the run; the words say the server changed
    lines = section(result)
    assert lines[0] == "server changed: vLLM 0.16.0 -> 0.33.0 (since the baseline of math)"
    assert (
        "  regression (the server changed since the baseline: vLLM 0.16.0 -> 0.33.0): "
        "math::add[chat-default]"
    ) in lines
    result.stdout.re_match_lines([r"^regression \(the server changed since the baseline: vLLM"])
    summary = last_summary(project)
    assert summary["server_changes"] == {"math": "vLLM 0.16.0 -> 0.33.0"}
    report = (project.path / "report.md").read_text()
    title, notice = report.split("\n\n")[:2]
    assert title.startswith("## glm-harness: 1 regression")
    assert notice.startswith("**")  # right under the title
    assert notice == "**server changed: vLLM 0.16.0 -&gt; 0.33.0 (since the baseline of math)**"
    assert (
        "math::add[chat-default]: regression (the server changed since the baseline: "
        "vLLM 0.16.0 -&gt; 0.33.0): number"
    ) in report
    # a model id and openapi.json change too
    server.model, server.openapi = "zai-org/GLM-5", vllm_openapi()
    result = run(project, server.url, "--glm-model", DEFAULT_MODEL)
    assert section(result)[0] == (
        f"server changed: vLLM 0.16.0 -> 0.33.0; model {DEFAULT_MODEL} -> zai-org/GLM-5; "
        "openapi.json changed (since the baseline of math)"
    )


def test_a_baseline_file_from_before_fingerprints_still_loads(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", SUITE)
    server.rules = RIGHT
    run(project, server.url, "--glm-update-baselines").assert_outcomes(passed=1)
    data = json.loads(baseline_file(project).read_text())
    del data["server"]
    baseline_file(project).write_text(json.dumps(data))
    server.rules = WRONG
    result = run(project, server.url)
    result.assert_outcomes(failed=1)
    assert "server changed" not in result.stdout.str()
    result.stdout.re_match_lines([r"REGRESSIONS \(1\): math::add\[chat-default\]$"])
    # updating gives the old file its fingerprint
    server.rules = RIGHT
    run(project, server.url, "--glm-update-baselines").assert_outcomes(passed=1)
    assert json.loads(baseline_file(project).read_text())["server"]["version"] == "0.33.0"
