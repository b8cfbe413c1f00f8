"""harness.doctor.openapi, harness.doctor.report and doctor's options: no sockets."""

from __future__ import annotations

import argparse
import copy
import json
from typing import Any

import pytest

from harness.doctor import command as doctor
from harness.doctor.openapi import FieldReport, check_fields, request_schema, sent_fields
from harness.doctor.report import (
    Report,
    Step,
    chat_reasoning,
    field_step,
    render_json,
    render_text,
    responses_reasoning,
    snippet,
)
from harness.secret import Secret
from tests.server.app import vllm_openapi

# --- which fields the harness sends -----------------------------------------------------


def test_sent_fields_come_from_build_request() -> None:
    chat, responses = sent_fields("chat"), sent_fields("responses")
    assert set(chat) >= {
        "model", "messages", "max_completion_tokens", "temperature", "top_p", "reasoning_effort",
        "chat_template_kwargs", "chat_template_kwargs.enable_thinking", "response_format",
        "stream", "stream_options", "stream_options.include_usage",
    }  # fmt: skip
    assert set(responses) >= {
        "model", "input", "instructions", "max_output_tokens", "reasoning", "reasoning.effort",
        "text", "text.format", "stream",
    }  # fmt: skip
    assert "max_completion_tokens" not in responses
    assert "max_output_tokens" not in chat
    assert "stream_options" not in responses
    assert chat[:3] == ("model", "messages", "max_completion_tokens")  # body order
    assert len(set(chat)) == len(chat)


# --- the fields a vLLM-like schema declares ---------------------------------------------


def test_a_full_vllm_schema_declares_every_field() -> None:
    reports = check_fields(vllm_openapi())
    for api in ("chat", "responses"):
        report = reports[api]
        assert report.found
        assert not report.open_body
        assert report.undeclared == ()
        assert report.declared == sent_fields(api)


@pytest.mark.parametrize(
    ("drop_chat", "drop_responses", "chat_missing", "responses_missing"),
    [
        (("reasoning_effort",), (), ("reasoning_effort",), ()),
        # an undeclared parent is reported once, not again for each of its keys
        (("chat_template_kwargs",), (), ("chat_template_kwargs",), ()),
        (("stream_options.include_usage",), (), ("stream_options.include_usage",), ()),
        ((), ("reasoning.effort",), (), ("reasoning.effort",)),
        ((), ("reasoning",), (), ("reasoning",)),
        ((), ("seed", "stop", "min_p"), (), ("seed", "stop", "min_p")),
        (("max_completion_tokens",), ("max_output_tokens",), ("max_completion_tokens",),
         ("max_output_tokens",)),
    ],
)  # fmt: skip
def test_fields_left_out_of_the_schema_are_named(
    drop_chat: tuple[str, ...],
    drop_responses: tuple[str, ...],
    chat_missing: tuple[str, ...],
    responses_missing: tuple[str, ...],
) -> None:
    reports = check_fields(vllm_openapi(drop_chat=drop_chat, drop_responses=drop_responses))
    assert reports["chat"].undeclared == chat_missing
    assert reports["responses"].undeclared == responses_missing
    for api in ("chat", "responses"):
        shown = set(reports[api].declared) | set(reports[api].undeclared)
        assert shown <= set(sent_fields(api))


def test_free_form_objects_take_any_key() -> None:
    # chat_template_kwargs: dict[str, Any] -> {"anyOf": [{"type": "object",
    # "additionalProperties": true}, {"type": "null"}]}: any key is declared
    assert "chat_template_kwargs.enable_thinking" in check_fields(vllm_openapi())["chat"].declared


def test_additional_properties_on_the_body_is_not_a_declaration() -> None:
    doc = vllm_openapi(drop_chat=("top_k",))
    assert doc["components"]["schemas"]["ChatCompletionRequest"]["additionalProperties"] is True
    assert check_fields(doc)["chat"].undeclared == ("top_k",)


def _inline(properties: dict[str, Any], path: str = "/v1/chat/completions") -> dict[str, Any]:
    schema = {"type": "object", "properties": properties}
    return {
        "paths": {
            path: {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}
        }
    }


def test_an_inline_schema_and_a_path_without_v1() -> None:
    doc = _inline({"model": {}, "messages": {}}, path="/chat/completions")
    report = check_fields(doc)["chat"]
    assert report.found
    assert report.declared == ("model", "messages")
    assert "reasoning_effort" in report.undeclared
    assert not check_fields(doc)["responses"].found


def test_request_bodies_behind_a_ref_and_all_of_wrappers() -> None:
    doc = vllm_openapi()
    op = doc["paths"]["/v1/responses"]["post"]
    doc["components"]["requestBodies"] = {"R": op.pop("requestBody")}
    op["requestBody"] = {"$ref": "#/components/requestBodies/R"}
    # pydantic v1 wrapped nested models in allOf
    props = doc["components"]["schemas"]["ResponsesRequest"]["properties"]
    props["reasoning"] = {"allOf": [{"$ref": "#/components/schemas/Reasoning"}]}
    assert check_fields(doc)["responses"].undeclared == ()


def test_missing_cyclic_and_external_refs_do_not_hang_or_crash() -> None:
    doc = vllm_openapi()
    schemas = doc["components"]["schemas"]
    schemas["ChatCompletionRequest"] = {"$ref": "#/components/schemas/Loop"}
    schemas["Loop"] = {"$ref": "#/components/schemas/ChatCompletionRequest"}
    schemas["ResponsesRequest"]["properties"]["reasoning"] = {"$ref": "other.json#/Reasoning"}
    reports = check_fields(doc)
    assert not reports["chat"].found  # the cycle resolves to nothing
    assert reports["responses"].undeclared == ("reasoning.effort",)
    assert request_schema({"paths": "nonsense"}, "/v1/responses") is None
    assert request_schema({}, "/v1/responses") is None


def test_a_schema_without_properties_cannot_tell() -> None:
    doc = copy.deepcopy(vllm_openapi())
    doc["components"]["schemas"]["ChatCompletionRequest"] = {"type": "object"}
    report = check_fields(doc)["chat"]
    assert (report.found, report.open_body, report.undeclared) == (True, True, ())


@pytest.mark.parametrize(
    ("report", "status", "text"),
    [
        (FieldReport("chat", "/v1/chat/completions", True, ("model",)), "ok", "all 1 fields"),
        (FieldReport("chat", "/v1/chat/completions", True, ("model",), ("reasoning_effort",)),
         "warn", "not declared (may be silently ignored): reasoning_effort"),
        (FieldReport("responses", "/v1/responses", False), "warn", "no request schema for POST /v1/responses"),
        (FieldReport("chat", "/v1/chat/completions", True, open_body=True), "warn", "cannot tell"),
    ],
)  # fmt: skip
def test_field_steps(report: FieldReport, status: str, text: str) -> None:
    step = field_step(report.api, report)
    assert step.status == status
    assert text in step.summary
    assert step.facts["undeclared"] == list(report.undeclared)


# --- which reasoning field the server filled --------------------------------------------


def chat_body(message: dict[str, Any]) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", **message}}]}).encode()


@pytest.mark.parametrize(
    ("message", "status", "text"),
    [
        ({"content": "OK", "reasoning": "think"}, "ok", "message.reasoning (5 chars)"),
        ({"content": "OK", "reasoning_content": "think"}, "ok", "message.reasoning_content (5"),
        ({"content": "OK", "reasoning": "think", "reasoning_content": "think"}, "ok",
         "message.reasoning and message.reasoning_content"),
        ({"content": "OK", "reasoning": None, "reasoning_content": ""}, "warn", "none"),
        ({"content": "think</think>OK"}, "warn", "leaked into message.content"),
        ({"content": None}, "warn", "none"),
        ({"content": [{"type": "text", "text": "a</think>b"}]}, "warn", "leaked"),
    ],
)  # fmt: skip
def test_chat_reasoning_field(message: dict[str, Any], status: str, text: str) -> None:
    step = chat_reasoning(chat_body(message))
    assert (step.name, step.status) == ("chat reasoning", status)
    assert text in step.summary


def responses_body(*items: dict[str, Any]) -> bytes:
    return json.dumps({"output": list(items), "status": "completed"}).encode()


MESSAGE = {"type": "message", "content": [{"type": "output_text", "text": "OK"}]}


@pytest.mark.parametrize(
    ("items", "status", "text"),
    [
        ([{"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "hm"}]},
          MESSAGE], "ok", "reasoning item, content (2 chars)"),
        ([{"type": "reasoning", "summary": [{"type": "summary_text", "text": "sum"}]}, MESSAGE],
         "ok", "reasoning item, summary (3 chars)"),
        ([{"type": "reasoning", "summary": [], "content": []}, MESSAGE], "warn", "no text"),
        ([MESSAGE], "warn", "no reasoning output item"),
        ([{"type": "message", "content": [{"type": "output_text", "text": "x</think>OK"}]}],
         "warn", "leaked into the output text"),
    ],
)  # fmt: skip
def test_responses_reasoning_field(items: list[dict[str, Any]], status: str, text: str) -> None:
    step = responses_reasoning(responses_body(*items))
    assert (step.name, step.status) == ("responses reasoning", status)
    assert text in step.summary


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"choices": "x"}'])
def test_reasoning_detection_survives_odd_bodies(body: bytes) -> None:
    assert chat_reasoning(body).status == "warn"
    assert responses_reasoning(body).status == "warn"


# --- verdict and rendering --------------------------------------------------------------


def report(*statuses: str) -> Report:
    steps = tuple(Step(f"step{i}", s, f"summary {i}") for i, s in enumerate(statuses))
    return Report("http://h:1", "m", False, steps)


@pytest.mark.parametrize(
    ("statuses", "verdict", "code"),
    [
        (("ok", "ok"), "ready", 0),
        (("ok", "warn", "warn", "skip"), "usable with warnings (2)", 0),
        (("ok", "warn", "FAIL", "FAIL", "skip"), "not usable: step2: summary 2", 1),
    ],
)
def test_verdict_and_exit_code(statuses: tuple[str, ...], verdict: str, code: int) -> None:
    done = report(*statuses)
    assert (done.verdict, done.exit_code) == (verdict, code)
    assert render_text(done, None).splitlines()[-2 if code or "warn" in statuses else -1] == (
        f"verdict: {verdict}"
    )
    assert json.loads(render_json(done, None))["verdict"] == verdict


def test_a_full_report_fits_one_screen() -> None:
    long = "x " * 120
    steps = tuple(
        Step(n, "warn", long, ("detail",))
        for n in ("reach", "auth", "model", "openapi", "chat fields", "responses fields")
    ) + tuple(
        Step(n, "ok", "200 in 5 ms")
        for n in ("chat", "chat reasoning", "responses", "responses reasoning")
    )
    lines = render_text(Report("http://h:1", "m", True, steps), None).splitlines()
    assert len(lines) <= 40  # worst case: every warning wraps; a real report is ~15 lines
    assert all(len(line) <= 100 for line in lines)
    assert lines[0] == "glm-harness doctor: http://h:1, model m, token set"
    assert lines[1].startswith("warn  reach ")


def test_the_token_is_scrubbed_from_text_and_json() -> None:
    token = 'sk-"quoted\\token-123'
    step = Step("chat", "ok", f"answer {token}", (f"echo {token}",), {"answer": token})
    done = Report("http://h:1", "m", True, (step,))
    text, data = render_text(done, Secret(token)), render_json(done, Secret(token))
    assert token not in text
    assert token not in data
    assert json.dumps(token)[1:-1] not in data  # not even JSON-escaped
    assert json.loads(data)["steps"][0]["facts"]["answer"] == "***"


def test_snippet_escapes_and_cuts() -> None:
    assert snippet("OK") == '"OK"'
    assert snippet("a\x1b[31mb\x00") == '"a\\u001b[31mb\\u0000"'
    assert snippet("a  b\n c") == '"a b c"'
    assert snippet("x" * 100, 10) == '"xxxxxxxxxx..."'


# --- options -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="glm-harness doctor")
    doctor.add_arguments(made)
    return made


def test_options_and_defaults() -> None:
    args = parser().parse_args([])
    assert (args.base_url, args.model, args.timeout, args.local, args.format) == (
        None,
        None,
        180.0,
        False,
        "text",
    )
    args = parser().parse_args(["--base-url", "http://x", "--timeout", "2.5", "--format", "json"])
    assert (args.base_url, args.timeout, args.format) == ("http://x", 2.5, "json")


@pytest.mark.parametrize(
    "argv", [["--format", "yaml"], ["--timeout", "soon"], ["--timeout", "0"], ["--timeout", "-1"]]
)
def test_bad_option_values_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


KEY = "sk-doctor-7Hq2R9vXw4"  # distinctive: a message that shows it (or half of it) is caught


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        ({}, [], "no endpoint: set GLM_BASE_URL"),
        ({"GLM_API_KEY": KEY}, [], "no endpoint: set GLM_BASE_URL"),
        ({}, ["--base-url", "ftp://x"], "base URL must start with http"),
        ({"GLM_API_KEY": KEY}, ["--base-url", "ftp://x"], "base URL must start with http"),
        ({"GLM_API_KEY": f"{KEY}\nLm0Tz8"}, ["--base-url", "http://x"], "cannot be sent in an HTTP header"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_without_a_request(
    env: dict[str, str],
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert doctor.main(parser().parse_args(argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    for value in env.values():  # no line of the key, however the message shows it (repr too)
        for line in value.splitlines():
            assert line not in err
            assert line[: len(line) // 2] not in err
