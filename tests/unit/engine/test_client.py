"""harness.engine.client / harness.engine.requests: request bodies, reply parsing, the HTTP client."""

# Table rows stay one case a line (`# fmt: skip`), so some lines run past 100 columns.

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from harness.engine.client import Client, build_request, error_message, parse_response
from harness.errors import AuthError, ConfigError
from harness.models import Api, Completion, Message, Request, StructuredOutput, Usage

M = "zai-org/GLM-4.7-Flash"
Q = "What is 2+2?"
USER = (Message("user", Q),)
PARAMS = {"temperature": 0.6, "top_p": 0.95, "max_output_tokens": 256}
MSGS = [{"role": "user", "content": Q}]
SAMPLE = {"temperature": 0.6, "top_p": 0.95}
CHAT = {"model": M, "messages": MSGS, "max_completion_tokens": 256, **SAMPLE}
RESP = {"model": M, "input": Q, "max_output_tokens": 256, **SAMPLE}
TOKEN = "sk-very-secret-token-123"
EFFORTS = ("minimal", "low", "medium", "high", "xhigh", "max")


def build(api: Api, effort: str = "default", params: Any = None, **kw: Any) -> dict[str, Any]:
    request = build_request(
        api,
        messages=kw.pop("messages", USER),
        effort=effort,
        params=PARAMS if params is None else params,
        model=kw.pop("model", M),
        **kw,
    )
    assert request.api == api
    json.dumps(request.body)  # always plain JSON
    return dict(request.body)


# --- build_request ----------------------------------------------------------------------

NO_THINK_KWARGS = {"chat_template_kwargs": {"enable_thinking": False}}
NO_THINK = {"reasoning_effort": "none", **NO_THINK_KWARGS}


@pytest.mark.parametrize(
    ("api", "effort", "expected"),
    [
        ("chat", "default", CHAT),
        *[("chat", e, {**CHAT, "reasoning_effort": e}) for e in EFFORTS],
        ("chat", "none", {**CHAT, **NO_THINK}),
        ("responses", "default", RESP),
        *[("responses", e, {**RESP, "reasoning": {"effort": e}}) for e in EFFORTS],
        ("responses", "none", {**RESP, "reasoning": {"effort": "none"}, **NO_THINK_KWARGS}),
    ],
)
def test_build_request_efforts(api: Api, effort: str, expected: dict[str, Any]) -> None:
    assert build(api, effort) == expected


@pytest.mark.parametrize(
    ("api", "path"), [("chat", "/v1/chat/completions"), ("responses", "/v1/responses")]
)
def test_build_request_path(api: Api, path: str) -> None:
    assert build_request(api, messages=USER, effort="low", params={}, model=M).path == path


ALL = {
    "temperature": 0.7,
    "top_p": 1.0,
    "max_output_tokens": 100,
    "seed": 7,
    "stop": ["\n\n"],
    "top_k": 40,
    "min_p": 0.05,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.2,
}
SAMPLING = {k: v for k, v in ALL.items() if k != "max_output_tokens"}
PEN = {"temperature": 0.1, "repetition_penalty": 1.05}


@pytest.mark.parametrize(
    ("api", "params", "expected"),
    [
        ("chat", ALL, {"model": M, "messages": MSGS, "max_completion_tokens": 100, **SAMPLING}),
        ("responses", ALL, {"model": M, "input": Q, "max_output_tokens": 100, **SAMPLING}),
        ("chat", {"temperature": None, "top_p": 0.5}, {"model": M, "messages": MSGS, "top_p": 0.5}),
        ("responses", {"max_output_tokens": None, "stop": None}, {"model": M, "input": Q}),
        ("chat", {}, {"model": M, "messages": MSGS}),
        ("chat", {"extra": None}, {"model": M, "messages": MSGS}),
        # extra is merged last, as is, and may override
        ("chat", {"temperature": 0.6, "extra": PEN}, {"model": M, "messages": MSGS, **PEN}),
        ("responses", {"extra": {"store": False, "model": "x"}}, {"model": "x", "input": Q, "store": False}),
    ],
)  # fmt: skip
def test_build_request_params(api: Api, params: dict[str, Any], expected: dict[str, Any]) -> None:
    assert build(api, params=params) == expected


def test_build_request_key_order() -> None:
    so = StructuredOutput("p", {"type": "object"})
    body = build("chat", "none", {**ALL, "extra": {"zz": 1}}, structured_output=so, stream=True)
    assert list(body) == [
        "model", "messages", "max_completion_tokens", "temperature", "top_p", "seed", "stop",
        "top_k", "min_p", "presence_penalty", "frequency_penalty", "reasoning_effort",
        "chat_template_kwargs", "response_format", "stream", "stream_options", "zz",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("effort", "extra", "expected"),
    [
        ("none", {"clear_thinking": False}, {"enable_thinking": False, "clear_thinking": False}),
        ("none", {"enable_thinking": True}, {"enable_thinking": True}),  # extra wins per key
        ("low", {"clear_thinking": False}, {"clear_thinking": False}),
    ],
)
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_chat_template_kwargs_merge(
    api: Api, effort: str, extra: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = build(api, effort, {"extra": {"chat_template_kwargs": extra}})
    assert body["chat_template_kwargs"] == expected


def test_responses_turns_thinking_off_as_vllm_0_33_reads_it() -> None:
    """Effort none on Responses: vLLM 0.33.0 maps it to enable_thinking false; servers from
    before May 2026 read chat_template_kwargs on Chat only, and this costs them nothing."""
    assert build("responses", "none", {}) == {
        "model": M,
        "input": Q,
        "reasoning": {"effort": "none"},
        "chat_template_kwargs": {"enable_thinking": False},
    }


def test_a_thinking_budget_is_sent_on_chat_and_refused_on_responses() -> None:
    body = build("chat", "high", {"max_output_tokens": 4096}, budget=512)
    assert body["thinking_token_budget"] == 512
    assert list(body)[-1] == "thinking_token_budget"
    assert "thinking_token_budget" not in build("chat", "high", {})
    with pytest.raises(ValueError, match="a thinking budget is Chat only"):
        build("responses", "high", {}, budget=512)


def test_structured_output() -> None:
    so = StructuredOutput("person", MappingProxyType({"type": "object", "required": ("age",)}))
    schema = {"type": "object", "required": ["age"]}  # plain dicts and lists in the body
    assert build("chat", params={}, structured_output=so) == {
        "model": M,
        "messages": MSGS,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    }
    assert build("responses", params={}, structured_output=so) == {
        "model": M,
        "input": Q,
        "text": {"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}},
    }  # fmt: skip


def msgs(*pairs: str) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in (p.split(":", 1) for p in pairs)]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["user:hi"], {"input": "hi"}),
        (["system:Be brief.", "user:hi"], {"instructions": "Be brief.", "input": msgs("user:hi")}),
        (
            ["system:A.", "user:q1", "assistant:a1", "system:B.", "user:q2"],
            {"instructions": "A.\n\nB.", "input": msgs("user:q1", "assistant:a1", "user:q2")},
        ),
        (["user:q1", "user:q2"], {"input": msgs("user:q1", "user:q2")}),
        (["assistant:only"], {"input": msgs("assistant:only")}),
    ],
)
def test_responses_input_shapes(messages: list[str], expected: dict[str, Any]) -> None:
    given = [Message(**m) for m in msgs(*messages)]
    assert build("responses", params={}, model="", messages=given) == expected  # no model


def test_chat_messages_keep_roles_and_order() -> None:
    given = msgs("system:S", "user:U", "assistant:A")
    body = build("chat", params={}, model="", messages=[Message(**m) for m in given])
    assert body == {"messages": given}


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_stream_flag(api: Api) -> None:
    assert build(api, params={}, stream=True)["stream"] is True
    assert "stream" not in build(api, params={})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_tokens": 5}, r"^unknown parameter\(s\) max_tokens; allowed: max_output_tokens, "),
        ({"extra": [1]}, r"^params\.extra must be a mapping, not list$"),
    ],
)
def test_build_request_rejects(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build("chat", params=params)


# --- parse_response: successful replies ----------------------------------------------------


def chat(
    finish: Any = "stop", usage: Any = "vllm", drop: tuple[str, ...] = (), **message: Any
) -> dict[str, Any]:
    """vLLM's chat reply (vllm-shapes.md §1) with message fields changed or dropped."""
    msg = {"role": "assistant", "content": "4", "reasoning": "2+2=4", "tool_calls": [], **message}
    choice = {
        "index": 0,
        "message": {k: v for k, v in msg.items() if k not in drop},
        "logprobs": None,
        "finish_reason": finish,
        "stop_reason": None,
        "token_ids": None,
    }
    vllm_usage = {"prompt_tokens": 12, "completion_tokens": 85, "total_tokens": 97}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1737000000,
        "model": M,
        "choices": [choice],
        "usage": {**vllm_usage, "prompt_tokens_details": None} if usage == "vllm" else usage,
    }


RS = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [],
    "content": [{"type": "reasoning_text", "text": "2+2=4"}],
    "status": None,
}


def msg(*texts: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"type": "output_text", "text": t, "annotations": [], "logprobs": None} for t in texts
    ]
    return {"type": "message", "id": "m", "role": "assistant", "status": "completed", "content": parts}  # fmt: skip


def resp(
    *output: dict[str, Any],
    status: str = "completed",
    out: int = 85,
    details: Any = "vllm",
    **top: Any,
) -> dict[str, Any]:
    """vLLM's Responses reply (vllm-shapes.md §2); default output: reasoning + message "4"."""
    usage: dict[str, Any] = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0, "tool_output_tokens": 0},
        "total_tokens": 12 + out,
    }
    if details != "vllm":
        usage["output_tokens_details"] = details
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1737000000,
        "model": M,
        "status": status,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None,
        "output": list(output) if output else [RS, msg("4")],
        "usage": usage,
        "temperature": 1.0,
        "top_p": 0.95,
        "max_output_tokens": 2048,
        "reasoning": {"effort": "medium", "summary": None},
        **top,
    }  # fmt: skip


U = Usage(12, 85, None)
U0 = Usage(12, 85, 0)


def ok(answer: str, reasoning: str, finish: str = "stop", usage: Usage = U) -> dict[str, Any]:
    truncated = finish == "length"
    return dict(answer=answer, reasoning=reasoning, finish=finish, truncated=truncated, usage=usage)  # noqa: C408


def dets(n: Any) -> dict[str, Any]:
    return {"prompt_tokens": 1, "completion_tokens": 9, "completion_tokens_details": n}


CHAT_CASES = [
    # where the reasoning is, by vLLM version
    pytest.param(chat(), ok("4", "2+2=4"), id="reasoning (>=0.16)"),
    pytest.param(chat(drop=("reasoning",), reasoning_content="r"), ok("4", "r"), id="reasoning_content (<=0.11)"),
    pytest.param(chat(reasoning="r", reasoning_content="r"), ok("4", "r"), id="both (0.11.1-0.15)"),
    pytest.param(chat(reasoning=None, reasoning_content="r"), ok("4", "r"), id="reasoning null, content set"),
    pytest.param(chat(reasoning_content="other"), ok("4", "2+2=4"), id="reasoning read first"),
    pytest.param(chat(reasoning=None), ok("4", ""), id="reasoning null"),
    pytest.param(chat(drop=("reasoning", "tool_calls")), ok("4", ""), id="no reasoning keys"),
    # truncation and finish reasons
    pytest.param(chat("length", content=None), ok("", "2+2=4", "length"), id="content null + length"),
    pytest.param(chat("length", content=""), ok("", "2+2=4", "length"), id="content empty + length"),
    pytest.param(chat("length", drop=("content",)), ok("", "2+2=4", "length"), id="no content + length"),
    pytest.param(chat("length", content="The a"), ok("The a", "2+2=4", "length"), id="length with text"),
    pytest.param(chat(content=None), ok("", "2+2=4"), id="content null + stop"),
    pytest.param(chat("tool_calls"), ok("4", "2+2=4", "tool_calls"), id="other finish kept"),
    pytest.param(chat(None), ok("4", "2+2=4", "unknown"), id="finish null"),
    pytest.param(chat(content=[{"type": "text", "text": "4"}, {"type": "text", "text": "2"}]), ok("42", "2+2=4"), id="content parts"),
    # </think> leaked into content (old glm45 parser)
    pytest.param(chat(content="I add.</think>\n\n4", reasoning=None), ok("4", "I add."), id="leak"),
    pytest.param(chat(content="<think>I add.</think> 4 ", reasoning=None), ok("4", "I add."), id="leak <think>"),
    pytest.param(chat(content="more</think>4"), ok("4", "2+2=4\nmore"), id="leak appended"),
    pytest.param(chat(content="a</think>b</think>4", reasoning=None), ok("4", "a</think>b"), id="leak last tag"),
    pytest.param(chat("length", content="hm</think>", reasoning=None), ok("", "hm", "length"), id="leak, empty answer"),
    # usage
    pytest.param(chat(usage=dets({"reasoning_tokens": 7})), ok("4", "2+2=4", usage=Usage(1, 9, 7)), id="reasoning_tokens"),
    pytest.param(chat(usage=dets({"reasoning_tokens": 0})), ok("4", "2+2=4", usage=Usage(1, 9, 0)), id="reasoning_tokens 0"),
    pytest.param(chat(usage=dets(None)), ok("4", "2+2=4", usage=Usage(1, 9, None)), id="details null"),
    pytest.param(chat(usage=None), ok("4", "2+2=4", usage=Usage()), id="no usage"),
]  # fmt: skip

SUMMARY_RS = {**RS, "content": [], "summary": [{"type": "summary_text", "text": "sum"}]}
BARE_RS = {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "s"}]}
FILTER = {"reason": "content_filter"}

RESP_CASES = [
    pytest.param(resp(), None, ok("4", "2+2=4", usage=U0), id="reasoning + message"),
    pytest.param(resp(msg("4")), None, ok("4", "", usage=U0), id="no reasoning item"),
    pytest.param(resp(RS, msg("4", "2")), None, ok("42", "2+2=4", usage=U0), id="parts joined"),
    pytest.param(resp(SUMMARY_RS, msg("4")), None, ok("4", "sum", usage=U0), id="summary fallback"),
    pytest.param(resp(BARE_RS, msg("4")), None, ok("4", "s", usage=U0), id="no content key"),
    pytest.param(resp(RS, {"type": "web_search_call", "id": "ws"}, msg("4")), None, ok("4", "2+2=4", usage=U0), id="other items ignored"),
    # truncation
    pytest.param(resp(RS, status="incomplete", out=2048), 2048, ok("", "2+2=4", "length", Usage(12, 2048, 0)), id="incomplete, no message"),
    pytest.param(resp(status="incomplete"), None, ok("4", "2+2=4", "length", U0), id="incomplete with message"),
    pytest.param(resp(status="incomplete", incomplete_details=FILTER), None, ok("4", "2+2=4", "content_filter", U0), id="content_filter"),
    pytest.param(resp(RS, out=256), 256, ok("", "2+2=4", "length", Usage(12, 256, 0)), id="old vLLM completed but truncated"),
    pytest.param(resp(RS, out=2048), None, ok("", "2+2=4", "length", Usage(12, 2048, 0)), id="old vLLM, echoed cap"),
    pytest.param(resp(RS, out=100), 256, ok("", "2+2=4", "stop", Usage(12, 100, 0)), id="empty, under budget"),
    pytest.param(resp(out=256), 256, ok("4", "2+2=4", "length", Usage(12, 256, 0)), id="answer cut at budget (llama.cpp)"),
    pytest.param(resp(status="in_progress"), None, ok("4", "2+2=4", "in_progress", U0), id="other status kept"),
    # leak, usage, error: null
    pytest.param(resp(msg("<think>I add.</think>4")), None, ok("4", "I add.", usage=U0), id="leak"),
    pytest.param(resp(details=None), None, ok("4", "2+2=4", usage=U), id="reasoning_tokens absent"),
    pytest.param(resp(details={"reasoning_tokens": 60}), None, ok("4", "2+2=4", usage=Usage(12, 85, 60)), id="reasoning_tokens 60"),
    pytest.param(resp(error=None), None, ok("4", "2+2=4", usage=U0), id="error null"),
]  # fmt: skip


def parsed(api: Api, reply: Any, budget: int | None = None, status: int = 200) -> Completion:
    body = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
    return parse_response(api, status, body, 12.5, max_output_tokens=budget)


def fields(c: Completion) -> dict[str, Any]:
    return {k: getattr(c, k) for k in ("answer", "reasoning", "finish", "truncated", "usage")}


@pytest.mark.parametrize(("reply", "expected"), CHAT_CASES)
def test_parse_chat(reply: dict[str, Any], expected: dict[str, Any]) -> None:
    completion = parsed("chat", reply)
    assert fields(completion) == expected
    assert (completion.status, completion.latency_ms, completion.error) == (200, 12.5, None)


@pytest.mark.parametrize(("reply", "budget", "expected"), RESP_CASES)
def test_parse_responses(
    reply: dict[str, Any], budget: int | None, expected: dict[str, Any]
) -> None:
    completion = parsed("responses", reply, budget)
    assert fields(completion) == expected
    assert (completion.status, completion.latency_ms, completion.error) == (200, 12.5, None)


# --- parse_response: errors ------------------------------------------------------------------

NESTED = {"error": {"message": "'max_tokens' is too large", "type": "BadRequestError", "param": None, "code": 400}}  # fmt: skip
FLAT = {"object": "error", "message": "bad effort", "type": "BadRequestError", "param": None, "code": 400}  # fmt: skip
NESTED_MSG = "BadRequestError: 'max_tokens' is too large"
HTML = (
    b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
    b"  <center><h1>502   Bad Gateway</h1></center>\n" + b"x" * 300 + b"</body></html>"
)

ERROR_CASES = [
    pytest.param("chat", 400, NESTED, NESTED_MSG, id="nested 400"),
    pytest.param("responses", 400, FLAT, "BadRequestError: bad effort", id="flat 400"),
    pytest.param("chat", 502, HTML, "HTTP 502: " + ("502 Bad Gateway 502 Bad Gateway " + "x" * 300)[:200], id="html 502"),
    pytest.param("chat", 200, NESTED, NESTED_MSG, id="nested on 200"),
    pytest.param("responses", 200, FLAT, "BadRequestError: bad effort", id="flat on 200"),
    pytest.param("chat", 500, {"error": {"message": "boom"}}, "HTTP 500: boom", id="nested, no type"),
    pytest.param("chat", 500, {"error": {"message": "boom", "code": "busy"}}, "busy: boom", id="code as type"),
    pytest.param("chat", 429, {"error": "Too many pending requests"}, "HTTP 429: Too many pending requests", id="error string"),
    pytest.param("responses", 404, {"detail": "Not Found"}, "HTTP 404: Not Found", id="fastapi detail"),
    pytest.param("chat", 500, b"", "HTTP 500: (empty body)", id="empty 500"),
    pytest.param("chat", 424, b"upstream   said\n no", "HTTP 424: upstream said no", id="plain text 424"),
    pytest.param("chat", 200, b'{"choices": [', 'malformed JSON response: {"choices": [', id="malformed"),
    pytest.param("responses", 200, b"[1, 2]", "malformed JSON response: [1, 2]", id="json array"),
    pytest.param("chat", 200, b"\xff\xfe", "malformed JSON response: \ufffd\ufffd", id="not utf-8"),
    pytest.param("chat", 200, chat("error"), "server error: finish_reason 'error'", id="finish error"),
    pytest.param("chat", 200, {"id": "x", "choices": []}, "malformed response: no choices", id="no choices"),
    pytest.param("responses", 200, {"id": "x"}, "malformed response: no output list", id="no output"),
    pytest.param("responses", 200, resp(status="failed"), "server error: response status 'failed'", id="failed"),
]  # fmt: skip


@pytest.mark.parametrize(("api", "status", "reply", "message"), ERROR_CASES)
def test_parse_response_errors(api: Api, status: int, reply: Any, message: str) -> None:
    assert parsed(api, reply, status=status) == Completion(
        answer="", reasoning="", usage=Usage(), finish="error", truncated=False,
        latency_ms=12.5, status=status, error=message,
    )  # fmt: skip


def test_error_message_public() -> None:
    assert error_message(400, json.dumps(NESTED).encode()) == NESTED_MSG
    assert error_message(0, b"") == "error: (empty body)"
    detail = b'{"detail": [{"loc": ["body"], "msg": "x"}]}'
    assert error_message(422, detail) == 'HTTP 422: [{"loc": ["body"], "msg": "x"}]'
    assert len(error_message(502, b"y" * 1000)) == len("HTTP 502: ") + 200


# --- Client over httpx.MockTransport ---------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]
CHAT_REQUEST = build_request("chat", messages=USER, effort="low", params=PARAMS, model=M)
RESP_REQUEST = build_request("responses", messages=USER, effort="low", params=PARAMS, model=M)


def send(
    handler: Handler,
    request: Request = CHAT_REQUEST,
    *,
    base_url: str = "http://h",
    budget: int | None = None,
    **kw: Any,
) -> tuple[Completion, list[httpx.Request]]:
    """Send one request through a Client on a MockTransport; return it and what was sent."""
    seen: list[httpx.Request] = []

    def record(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return handler(req)

    async def go() -> Completion:
        kw.setdefault("api_key", None)
        async with Client(base_url, transport=httpx.MockTransport(record), **kw) as client:
            return await client.complete(request, max_output_tokens=budget)

    return asyncio.run(go()), seen


def reply(data: Any, status: int = 200) -> Handler:
    return lambda _req: httpx.Response(status, json=data)


def raising(exc: Exception) -> Handler:
    def handler(_req: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def test_client_sends_body_and_parses() -> None:
    completion, seen = send(reply(chat()))
    assert (completion.answer, completion.reasoning, completion.status) == ("4", "2+2=4", 200)
    assert completion.latency_ms > 0
    assert seen[0].method == "POST"
    assert seen[0].headers["content-type"] == "application/json"
    assert json.loads(seen[0].content) == CHAT_REQUEST.body


def test_client_auth_header_only_with_key() -> None:
    extra = {"azureml-model-deployment": "blue"}
    _, with_key = send(reply(chat()), api_key=TOKEN, headers=extra)
    assert with_key[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert with_key[0].headers["azureml-model-deployment"] == "blue"
    for key in (None, ""):
        _, without = send(reply(chat()), api_key=key, headers=extra)
        assert "authorization" not in without[0].headers
        assert without[0].headers["azureml-model-deployment"] == "blue"


@pytest.mark.parametrize("status", [401, 403])
def test_client_auth_error_hides_token(status: int) -> None:
    echo = {"error": {"message": f"token {TOKEN} rejected", "type": "AuthenticationError"}}
    with pytest.raises(AuthError) as info:
        send(reply(echo, status), api_key=TOKEN)
    err = info.value
    assert (err.status, err.message) == (status, "AuthenticationError: token *** rejected")
    for text in (str(err), repr(err), repr(err.args), repr(vars(err))):
        assert TOKEN not in text


def test_client_scrubs_token_from_error_completions() -> None:
    echo = {"error": {"message": f"bad header Bearer {TOKEN}", "type": "X"}}
    completion, _ = send(reply(echo, 400), api_key=TOKEN)
    assert completion.error == "X: bad header Bearer ***"
    completion, _ = send(raising(httpx.ConnectError(f"refused ({TOKEN})")), api_key=TOKEN)
    assert completion.error == "connection error: ConnectError: refused (***)"


def test_client_repr_and_attributes_hide_token() -> None:
    async def go() -> None:
        client = Client("http://h/v1", api_key=TOKEN, transport=httpx.MockTransport(reply({})))
        try:
            assert repr(client) == "Client(base_url='http://h')"
            assert TOKEN not in str(vars(client))
            assert TOKEN not in repr(client._headers)
        finally:
            await client.aclose()

    asyncio.run(go())


AZURE = "https://e.westeurope.inference.ml.azure.com"


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("http://h", "http://h/v1/chat/completions"),
        ("http://h/", "http://h/v1/chat/completions"),
        ("http://h/v1", "http://h/v1/chat/completions"),
        ("http://h/v1/", "http://h/v1/chat/completions"),
        (f" {AZURE}/v1 ", f"{AZURE}/v1/chat/completions"),
        ("http://h:8000/proxy/v1", "http://h:8000/proxy/v1/chat/completions"),
        ("http://h/v1x", "http://h/v1x/v1/chat/completions"),
    ],
)
def test_client_base_url(base_url: str, url: str) -> None:
    _, seen = send(reply(chat()), base_url=base_url)
    assert str(seen[0].url) == url


@pytest.mark.parametrize("base_url", ["", "h:8000", "ftp://h", "http://"])
def test_client_rejects_bad_base_url(base_url: str) -> None:
    with pytest.raises(ConfigError, match="base URL must start with http:// or https://"):
        Client(base_url, api_key=None)


@pytest.mark.parametrize("key", ["tök€n-secret", "tok\nen-secret"])
def test_client_rejects_unsendable_key_without_echo(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        Client("http://h", api_key=key)
    assert "secret" not in f"{info.value!s} {info.value!r}"


def test_client_rejects_authorization_in_headers() -> None:
    with pytest.raises(ConfigError, match="not an Authorization header") as info:
        Client("http://h", api_key=None, headers={"authorization": TOKEN})
    assert TOKEN not in repr(info.value)


@pytest.mark.parametrize(
    ("exc", "kw", "message"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), {}, "connection error: ConnectError: [Errno 111] Connection refused"),
        (httpx.RemoteProtocolError("Server disconnected"), {}, "connection error: RemoteProtocolError: Server disconnected"),
        (httpx.ReadTimeout("timed out"), {}, "timeout after 180s"),
        (httpx.ConnectTimeout("timed out"), {"timeout": 2.5}, "timeout after 2.5s"),
        (httpx.DecodingError("bad gzip"), {}, "request error: DecodingError: bad gzip"),
    ],
)  # fmt: skip
def test_client_transport_errors(exc: Exception, kw: dict[str, Any], message: str) -> None:
    completion, _ = send(raising(exc), **kw)
    assert (completion.finish, completion.status, completion.error) == ("error", 0, message)
    assert not completion.truncated
    assert completion.latency_ms >= 0


@pytest.mark.parametrize("status", [400, 404, 408, 424, 429, 500, 503])
def test_client_other_statuses_are_error_completions(status: int) -> None:
    completion, _ = send(reply({"error": {"message": "m", "type": "T"}}, status))
    assert (completion.finish, completion.status, completion.error) == ("error", status, "T: m")


def test_client_old_vllm_budget_from_body_or_argument() -> None:
    old = resp(RS, out=256, max_output_tokens=None)  # PARAMS asked for 256; no echo
    completion, _ = send(reply(old), RESP_REQUEST)
    assert (completion.finish, completion.truncated) == ("length", True)
    completion, _ = send(reply(old), RESP_REQUEST, budget=1000)
    assert (completion.finish, completion.truncated) == ("stop", False)
