"""glm-harness doctor against the scripted vLLM-like server, over real sockets."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.doctor import command as doctor
from harness.doctor.tools import tools_request
from harness.engine.requests import build_request
from harness.local.server import free_port
from harness.models import Message
from tests.server.app import DEFAULT_MODEL, Fault, Rule, ScriptedServer, vllm_openapi

THINKING = Rule(".", answer="OK", reasoning="The user wants the word OK.")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="glm-harness doctor")
    doctor.add_arguments(parser)
    code = doctor.main(parser.parse_args(["--timeout", "20", *argv]))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


def line(output: str, name: str) -> str:
    """The step's line, with its wrapped continuation lines joined."""
    match = re.search(rf"^(ok|warn|FAIL|skip) +{name}  .*(\n {{20,}}.*)*", output, re.M)
    assert match is not None, f"no {name!r} line in:\n{output}"
    return " ".join(match.group(0).split())


def healthy(server: ScriptedServer, **openapi: Any) -> ScriptedServer:
    server.rules = [THINKING]
    server.openapi = vllm_openapi(**openapi)
    return server


def test_a_healthy_vllm_like_server_is_ready(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "--base-url", healthy(server).url + "/v1")
    assert code == 0
    assert out.rstrip().endswith("verdict: ready")
    assert len(out.splitlines()) < 25
    assert line(out, "reach").startswith("ok reach GET /health: 200")
    assert "no token set (GLM_API_KEY)" in line(out, "auth")
    assert line(out, "model") == f"ok model {DEFAULT_MODEL} is served"
    assert line(out, "chat fields").startswith("ok chat fields all 21 fields")
    assert line(out, "responses fields").startswith("ok responses fields all 19 fields")
    assert line(out, "chat schema") == "ok chat schema the request fields of vLLM 0.33.0"
    assert line(out, "responses schema") == (
        "ok responses schema the request fields of vLLM 0.33.0"
    )
    assert re.match(
        r'ok chat 200 in \d+ ms, answer "OK", finish stop, usage \d+ in / \d+ out',
        line(out, "chat"),
    )
    assert line(out, "chat reasoning").startswith("ok chat reasoning message.reasoning (")
    assert "reasoning item, content" in line(out, "responses reasoning")
    assert line(out, "chat tools").startswith("ok chat tools tools accepted (tool_choice auto)")
    assert line(out, "responses tools").startswith("ok responses tools tools accepted")
    # the requests are those a run sends: build_request's bodies
    posts = [(r.path, r.body) for r in server.requests if r.body is not None]
    for api in ("chat", "responses"):
        sent = build_request(
            api,
            messages=(Message("user", doctor.PROMPT),),
            effort="default",
            params={"max_output_tokens": doctor.MAX_OUTPUT_TOKENS, "temperature": 0},
            model=DEFAULT_MODEL,
        )
        tools = tools_request(api, DEFAULT_MODEL, doctor.MAX_OUTPUT_TOKENS)
        assert [body for path, body in posts if path == sent.path] == [sent.body, tools.body]
    assert {r.path for r in server.requests if r.body is None} >= {
        "/health",
        "/v1/models",
        "/openapi.json",
    }


def test_settings_come_from_the_environment(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_BASE_URL", healthy(server).url)
    monkeypatch.setenv("GLM_MODEL", "some/other-model")
    code, out = run(capsys)
    assert code == 0
    assert out.startswith(
        f"glm-harness doctor: {server.url}, model some/other-model, token not set"
    )
    assert f"warn model some/other-model is not in /v1/models; served: {DEFAULT_MODEL}" in (
        line(out, "model")
    )
    assert "verdict: usable with warnings (1)" in out
    assert all(r.body["model"] == "some/other-model" for r in server.requests if r.body)


def test_a_field_the_schema_lacks_is_named(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy(server, drop_chat=("reasoning_effort",), drop_responses=("seed", "reasoning.effort"))
    code, out = run(capsys, "--base-url", server.url)
    assert code == 0
    assert line(out, "chat fields") == (
        "warn chat fields not declared (may be silently ignored): reasoning_effort "
        "the other 20 are declared"
    )
    assert "not declared (may be silently ignored): seed, reasoning.effort" in (
        line(out, "responses fields")
    )
    # and against vLLM 0.33.0's request fields: the same fields, removed
    assert line(out, "chat schema").startswith(
        "warn chat schema not vLLM 0.33.0's request fields: removed: reasoning_effort"
    )
    assert line(out, "responses schema").startswith(
        "warn responses schema not vLLM 0.33.0's request fields: removed: seed, reasoning.effort"
    )
    assert "verdict: usable with warnings (4)" in out


def test_request_fields_are_listed_against_vllm_0_33_0(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # an older server: no thinking_token_budget, no Responses chat_template_kwargs, fewer
    # efforts; and a field of its own
    doc = vllm_openapi(
        drop_chat=("thinking_token_budget",),
        drop_responses=("chat_template_kwargs", "reasoning.context"),
        add_chat={"guided_json": {"anyOf": [{"type": "object"}, {"type": "null"}]}},
    )
    effort = {"anyOf": [{"type": "string", "enum": ["low", "medium", "high"]}, {"type": "null"}]}
    doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]["reasoning_effort"] = effort
    healthy(server).openapi = doc
    code, out = run(capsys, "--base-url", server.url)
    assert code == 0
    assert line(out, "chat schema") == (
        "warn chat schema not vLLM 0.33.0's request fields: added: guided_json; removed: "
        'thinking_token_budget; changed: reasoning_effort (enum -"max" -"minimal" -"none" '
        '-"xhigh") the harness is checked against vLLM 0.33.0; see docs/doctor.md'
    )
    assert line(out, "responses schema").startswith(
        "warn responses schema not vLLM 0.33.0's request fields: removed: chat_template_kwargs, "
        "reasoning.context"
    )
    code, out = run(capsys, "--base-url", healthy(server).url, "--format", "json")
    steps = {s["name"]: s for s in json.loads(out)["steps"]}
    assert steps["chat schema"]["status"] == "ok"
    assert steps["chat schema"]["summary"] == "the request fields of vLLM 0.33.0"


def test_a_hostile_openapi_document_is_bounded_and_scrubbed(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("GLM_API_KEY", token)
    healthy(server).api_key = token
    # the token echoed as a field name and in the title, unions nested deep
    doc = vllm_openapi(add_chat={f"x_{token}": {"type": "string"}})
    doc["info"]["title"] = f"proxy for {token}"
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(300):
        deep = {"anyOf": [deep]}
    doc["components"]["schemas"]["ResponsesRequest"]["properties"]["deep"] = deep
    server.openapi = doc
    code, out = run(capsys, "--base-url", server.url)
    assert code == 0
    assert_token_hidden(token, out)
    assert "added: x_" in line(out, "chat schema")
    assert "added: deep" in line(out, "responses schema")
    # a document nested deeper than JSON can be parsed, and one over the reply cap
    server.openapi = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    code, out = run(capsys, "--base-url", server.url)
    assert line(out, "openapi").startswith("warn openapi GET /openapi.json: not a JSON object")
    with monkeypatch.context() as patched:
        patched.setattr(doctor, "REPLY_CAP", 64 * 1024)
        server.openapi = {"openapi": "3.1.0", "pad": "x" * 100_000}
        code, out = run(capsys, "--base-url", server.url)
    assert line(out, "openapi").startswith("warn openapi GET /openapi.json: reply larger than")
    assert_token_hidden(token, out)


def test_no_openapi_is_a_warning(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.rules = [THINKING]
    code, out = run(capsys, "--base-url", server.url)
    assert code == 0
    assert line(out, "openapi") == (
        "warn openapi GET /openapi.json: not served; cannot tell which fields are declared"
    )
    assert "chat fields" not in out
    assert "verdict: usable with warnings (1)" in out


@pytest.mark.parametrize(
    ("field", "chat", "responses"),
    [
        ("reasoning", "ok chat reasoning message.reasoning (", "ok responses reasoning reasoning item"),
        ("reasoning_content", "ok chat reasoning message.reasoning_content (",
         "ok responses reasoning reasoning item"),
        ("both", "ok chat reasoning message.reasoning and message.reasoning_content (",
         "ok responses reasoning reasoning item"),
        ("none", "warn chat reasoning leaked into message.content before </think>",
         "warn responses reasoning leaked into the output text"),
    ],
)  # fmt: skip
def test_which_reasoning_field_the_server_fills(
    server: ScriptedServer,
    capsys: pytest.CaptureFixture[str],
    field: str,
    chat: str,
    responses: str,
) -> None:
    healthy(server).rules = [Rule(".", answer="OK", reasoning="hmm", reasoning_field=field)]
    code, out = run(capsys, "--base-url", server.url)
    assert code == 0
    assert line(out, "chat reasoning").startswith(chat)
    assert line(out, "responses reasoning").startswith(responses)
    assert 'answer "OK"' in line(out, "chat")  # the client split the leak off, as in a run


def test_no_reasoning_at_all(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(server).rules = [Rule(".", answer="OK")]
    code, out = run(capsys, "--base-url", server.url)
    assert (code, "verdict: usable with warnings (2)" in out) == (0, True)
    assert line(out, "chat reasoning").startswith("warn chat reasoning none: neither")
    assert line(out, "responses reasoning").startswith("warn responses reasoning none:")


def test_thinking_that_uses_the_whole_budget(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy(server).rules = [
        Rule(".", reasoning="long thought", finish="length", content_null=True)
    ]
    code, out = run(capsys, "--base-url", server.url)
    assert code == 0
    assert "finish length" in line(out, "chat")
    assert f"no answer within {doctor.MAX_OUTPUT_TOKENS} tokens" in line(out, "chat")
    assert line(out, "chat").startswith("warn")


def assert_token_hidden(token: str, output: str) -> None:
    pieces = {token[i : i + 12] for i in range(len(token) - 11)}
    assert not [p for p in pieces if p in output]


def test_a_wrong_token_fails_auth_and_is_never_shown(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy(server).api_key = secrets.token_urlsafe(24)
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("GLM_API_KEY", token)
    for fmt in ("text", "json"):
        code, out = run(capsys, "--base-url", server.url, "--format", fmt)
        assert code == 1
        assert_token_hidden(token, out)
    code, out = run(capsys, "--base-url", server.url)
    assert line(out, "auth") == "FAIL auth the endpoint refused the token (GLM_API_KEY) (HTTP 401)"
    assert "verdict: not usable: auth: the endpoint refused the token (GLM_API_KEY)" in out
    assert line(out, "chat").startswith("FAIL chat the endpoint refused the token")


def test_the_right_token_and_a_server_that_echoes_it(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = secrets.token_urlsafe(24)
    healthy(server).api_key = token
    server.rules = [Rule(".", answer=f"OK {token}", reasoning=f"the key is {token}")]
    monkeypatch.setenv("GLM_API_KEY", token)
    for fmt in ("text", "json"):
        code, out = run(capsys, "--base-url", server.url, "--format", fmt)
        assert code == 0
        assert_token_hidden(token, out)
    code, out = run(capsys, "--base-url", server.url)
    assert line(out, "auth") == "ok auth GET /v1/models accepted the token"
    assert "header" not in out.lower()
    assert all(r.headers.get("authorization") == f"Bearer {token}" for r in server.requests)


def test_no_token_for_a_server_that_wants_one(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy(server).api_key = secrets.token_urlsafe(24)
    code, out = run(capsys, "--base-url", server.url)
    assert code == 1
    assert line(out, "auth") == "FAIL auth the endpoint wants a token: set GLM_API_KEY (HTTP 401)"


def test_nothing_listening_fails_reach(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, out = run(capsys, "--base-url", f"http://127.0.0.1:{port}")
    assert code == 1
    assert line(out, "reach").startswith(f"FAIL reach connection refused at 127.0.0.1:{port}")
    assert "check GLM_BASE_URL" in out
    assert line(out, "chat") == "skip chat the endpoint cannot be reached"
    assert f"verdict: not usable: reach: connection refused at 127.0.0.1:{port}" in out


def test_a_server_without_the_responses_api(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy(server).not_served = ("/v1/responses",)
    code, out = run(capsys, "--base-url", server.url)
    assert code == 1
    assert line(out, "chat").startswith("ok chat 200")
    assert line(out, "responses").startswith("FAIL responses HTTP 404: Not Found")
    assert line(out, "responses reasoning") == "skip responses reasoning no answer"
    assert "verdict: not usable: responses: HTTP 404" in out


def test_a_400_shows_the_server_message(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "'max_tokens' or 'max_completion_tokens' is too large: 256."
    healthy(server).rules = [Rule(".", api="chat", status=400, error_message=message), THINKING]
    code, out = run(capsys, "--base-url", server.url)
    assert code == 1
    assert line(out, "chat") == f"FAIL chat HTTP 400: BadRequestError: {message}"
    assert line(out, "responses").startswith("ok responses 200")


def test_a_retryable_failure_is_retried(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = Rule(".", answer="OK", reasoning="r", faults=[Fault(503, retry_after="0")])
    healthy(server).rules = [rule]
    code, out = run(capsys, "--base-url", server.url, "--format", "json")
    assert code == 0
    steps = {s["name"]: s for s in json.loads(out)["steps"]}
    attempts = [steps[api]["facts"]["attempts"] for api in ("chat", "responses")]
    assert sorted(attempts) == [1, 2]  # one fault, served to whichever came first


def test_json_output(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(server, drop_chat=("chat_template_kwargs",))
    code, out = run(capsys, "--base-url", server.url, "--format", "json")
    data = json.loads(out)
    assert code == data["exit_code"] == 0
    assert data["verdict"] == "usable with warnings (2)"  # chat fields, chat schema
    assert (data["base_url"], data["model"], data["token_set"]) == (
        server.url,
        DEFAULT_MODEL,
        False,
    )
    steps = {s["name"]: s for s in data["steps"]}
    assert list(steps) == [
        "reach",
        "auth",
        "model",
        "openapi",
        "chat fields",
        "responses fields",
        "chat schema",
        "responses schema",
        "chat",
        "chat reasoning",
        "chat tools",
        "responses",
        "responses reasoning",
        "responses tools",
    ]
    assert steps["chat fields"]["facts"]["undeclared"] == ["chat_template_kwargs"]
    assert steps["chat schema"]["facts"] == {
        "added": [], "removed": ["chat_template_kwargs"], "changed": [], "pinned": "0.33.0",
    }  # fmt: skip
    assert steps["responses schema"]["status"] == "ok"
    assert "reasoning_effort" in steps["chat fields"]["facts"]["declared"]
    assert steps["chat reasoning"]["facts"]["field"] == "message.reasoning"
    assert steps["chat"]["facts"]["status"] == 200
    assert steps["chat"]["facts"]["answer"] == "OK"
    assert steps["model"]["facts"]["served"] == [DEFAULT_MODEL]


class _Loading(BaseHTTPRequestHandler):
    """/health says 503 (llama-server loading its model, vLLM's engine dead); all else 404."""

    def do_GET(self) -> None:
        self._answer(503 if self.path == "/health" else 404)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(404)

    def _answer(self, status: int) -> None:
        body = b'{"detail": "Not Found"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_an_unhealthy_server_is_reached_and_warned(capsys: pytest.CaptureFixture[str]) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Loading) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            code, out = run(capsys, "--base-url", f"http://127.0.0.1:{httpd.server_port}")
        finally:
            httpd.shutdown()
            thread.join()
    assert code == 1
    assert line(out, "reach").startswith("warn reach GET /health: 503: the server is up but not")
    assert line(out, "auth").startswith("warn auth GET /v1/models: not served")
    assert line(out, "chat").startswith("FAIL chat HTTP 404")
