"""The plugin end to end: pytester runs against the scripted server over real sockets."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

MATH = """
    name: math
    template: math/q.j2
    apis: [chat, responses]
    efforts: [default, high]
    params: {max_output_tokens: 256, temperature: 0}
    extract: 'Answer:\\s*(.+)'
    cases:
      - id: add
        vars: {q: "2+3"}
        expect:
          - number: 5
      - id: mul
        vars: {q: "4*5"}
        expect:
          - number: {value: 20}
"""


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", *args
    )


def test_items_are_case_api_effort_and_pass(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", MATH)
    server.rules = [
        Rule(match="2\\+3", answer="Answer: 5", reasoning="2 plus 3"),
        Rule(match="4\\*5", answer="so... Answer: 20"),
    ]
    result = run(project, server, "-v")
    result.assert_outcomes(passed=8)
    result.stdout.re_match_lines(
        [
            r"suites/math.yaml::add\[chat-default\] PASSED.*",
            r"suites/math.yaml::mul\[responses-high\] PASSED.*",
        ]
    )
    assert len(server.suite_requests) == 8
    paths = sorted({r.path for r in server.suite_requests})
    assert paths == ["/v1/chat/completions", "/v1/responses"]
    result.stdout.re_match_lines(
        [
            r".*glm-harness.*",
            r"\s*suite\s+api\s+effort\s+cases.*",
            r"\s*math\s+chat\s+default\s+2\s+1\.00 \[0\.34, 1\.00\].*",
            r"items: 8 pass, 0 fail, 0 truncated, 0 error",
        ]
    )


def test_failure_report_shows_case_prompt_answer_and_observed(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", MATH)
    server.rules = [
        Rule(match="2\\+3", answer="Answer: 7", reasoning="x" * 42),
        Rule(match="4\\*5", answer="Answer: 20"),
    ]
    result = run(project, server, "--glm-api=chat", "--glm-effort=medium")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.re_match_lines(
        [
            r"_+ add\[chat-medium\] _+",
            r"case add \(suites/math.yaml:\d+\)  api: chat  effort: medium",
            r"outcome: FAIL .*",
            r"  \[user\] Question: 2\+3",
            r"  Answer: 7",
            r"extracted: '7'",
            r"reasoning: 42 chars; .*",
            r"  FAIL number: expected 5.*7.*\[observed: 7.*\]",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_effort_and_api_options_override_the_matrix(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", MATH)
    result = run(
        project, server, "--collect-only", "-q", "--glm-api=responses", "--glm-effort=none,low"
    )
    result.stdout.re_match_lines(
        [
            r"suites/math.yaml::add\[responses-none\]",
            r"suites/math.yaml::add\[responses-low\]",
            r"suites/math.yaml::mul\[responses-none\]",
        ]
    )
    assert "chat" not in result.stdout.str()
    assert server.suite_requests == []  # collecting sends nothing


def test_effort_bodies_sent_per_api(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/math.yaml", MATH)
    run(project, server, "--glm-effort=none,high", "-k", "add")
    bodies = {
        (
            r.path,
            r.body.get("reasoning_effort") or (r.body.get("reasoning") or {}).get("effort"),
        ): r.body
        for r in server.suite_requests
    }
    assert len(server.suite_requests) == 4
    chat_none = bodies[("/v1/chat/completions", "none")]
    assert chat_none["chat_template_kwargs"] == {"enable_thinking": False}
    assert chat_none["max_completion_tokens"] == 256
    assert "chat_template_kwargs" not in bodies[("/v1/chat/completions", "high")]
    responses_high = bodies[("/v1/responses", "high")]
    assert responses_high["reasoning"] == {"effort": "high"}
    assert responses_high["max_output_tokens"] == 256
    # vLLM 0.33.0 reads it on Responses too (PR #43761)
    assert bodies[("/v1/responses", "none")]["chat_template_kwargs"] == {"enable_thinking": False}


def test_deselected_items_send_no_request(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/math.yaml", MATH)
    server.rules = [Rule(match="4\\*5", answer="Answer: 20")]
    result = run(project, server, "-k", "mul and chat")
    result.assert_outcomes(passed=2)
    assert len(server.suite_requests) == 2
    assert all("4*5" in str(r.body) for r in server.suite_requests)


def test_truncated_and_error_are_outcomes_of_their_own(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/math.yaml", MATH)
    server.rules = [
        Rule(match="2\\+3", reasoning="thinking " * 50, finish="length", content_null=True),
        Rule(match="4\\*5", status=500, error_message="engine died", error_shape="flat"),
    ]
    result = run(project, server, "-v", "--glm-api=chat", "--glm-effort=default")
    result.stdout.re_match_lines(
        [r".*add\[chat-default\] TRUNCATED.*", r".*mul\[chat-default\] ERROR.*"]
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1
    assert outcomes.get("error", outcomes.get("errors")) == 1
    text = result.stdout.str()
    assert "the token budget ran out" in text
    assert "HTTP 500" in text
    assert "engine died" in text
    assert result.ret == 1
    result.stdout.re_match_lines([r"items: 0 pass, 0 fail, 1 truncated, 1 error"])


def test_samples_and_min_pass_rate(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(
        project,
        "suites/s.yaml",
        """
        prompt: "Say {{ word }}"
        apis: [chat]
        samples: 3
        cases:
          - id: hello
            vars: {word: hello}
            expect: [{contains: hello}]
    """,
    )
    server.rules = [Rule(match="hello", answer="hello there")]
    result = run(project, server)
    result.assert_outcomes(passed=1)
    assert len(server.suite_requests) == 3
    result = run(project, server, "--glm-samples=5")  # samples 0-2 come from the cache
    result.assert_outcomes(passed=1)
    assert len(server.suite_requests) == 5
    result.stdout.re_match_lines(
        [r"requests: 5 samples, 3 from cache, 2 sent \(0 retries\), 0 failed.*"]
    )
    run(project, server, "--glm-samples=5", "--glm-cache=off")
    assert len(server.suite_requests) == 10


def test_plain_pytest_sends_no_request(
    project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_BASE_URL", server.url)
    write(project, "suites/math.yaml", MATH)
    project.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert server.suite_requests == []


def test_without_endpoint_the_run_stops_with_one_message(project: pytest.Pytester) -> None:
    write(project, "suites/math.yaml", MATH)
    result = project.runpytest("--glm-suite", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.re_match_lines(
        [r"ERROR: glm-harness: no model endpoint configured.*GLM_BASE_URL.*--glm-local.*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_env_base_url_and_token_reach_the_server_but_never_the_output(
    project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "test-token-0123456789abcdefSECRET"
    monkeypatch.setenv("GLM_BASE_URL", server.url)
    monkeypatch.setenv("GLM_API_KEY", token)
    write(project, "suites/math.yaml", MATH)
    server.rules = [Rule(match=".", answer="Answer: 1")]
    result = project.runpytest(
        "--glm-suite", "-vv", "--showlocals", "-p", "no:cacheprovider", "--glm-api=chat"
    )
    result.assert_outcomes(failed=4)
    assert server.suite_requests[0].headers["authorization"] == f"Bearer {token}"
    assert token not in result.stdout.str() + result.stderr.str()


def test_rejected_credentials_stop_the_run(
    project: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_API_KEY", "test-token-wrong-wrong-wrong")
    write(project, "suites/math.yaml", MATH)
    server.api_key = "test-token-right-right-right"
    try:
        result = run(project, server, "--glm-concurrency=1")
    finally:
        server.api_key = None
    assert result.ret == 6  # API errors (docs: exit codes)
    outcomes = result.parseoutcomes()
    assert (
        outcomes.get("errors", outcomes.get("error")) == 1
    )  # the first item; the run stopped there
    assert "passed" not in outcomes
    assert "failed" not in outcomes
    result.stdout.re_match_lines(
        [
            r"error: the endpoint refused the credentials: HTTP 401.*",
            r".*Interrupted: glm-harness: the endpoint refused the credentials.*401.*",
        ]
    )
    assert len(server.suite_requests) == 1
    assert "test-token-wrong" not in result.stdout.str()


def test_a_specific_suite_file_runs_alone(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/math.yaml", MATH)
    write(
        project,
        "suites/other.yaml",
        """
        prompt: hi
        cases: [{id: x}]
    """,
    )
    result = run(project, server, "suites/other.yaml", "--collect-only", "-q")
    result.stdout.re_match_lines(
        [r"suites/other.yaml::x\[chat-default\]", r"suites/other.yaml::x\[responses-default\]"]
    )
    assert "math" not in result.stdout.str()
