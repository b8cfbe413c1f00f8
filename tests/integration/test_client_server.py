"""harness.engine.client against the scripted vLLM-like server, over real sockets, both APIs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from harness.engine.client import Client, build_request
from harness.errors import AuthError
from harness.models import Api, Completion, Message, Request, StructuredOutput, Usage
from tests.server.app import Rule, ScriptedServer

APIS: tuple[Api, ...] = ("chat", "responses")
PARAMS = {"temperature": 0.6, "top_p": 0.95, "max_output_tokens": 64}
TOKEN = "sk-integration-secret-42"


def request(api: Api, prompt: str = "What is 2+2?", effort: str = "default", **kw: Any) -> Request:
    messages = kw.pop("messages", (Message("user", prompt),))
    params = kw.pop("params", PARAMS)
    return build_request(api, messages=messages, effort=effort, params=params, model="m", **kw)


def complete(server: ScriptedServer, req: Request, **client_kw: Any) -> Completion:
    async def go() -> Completion:
        client_kw.setdefault("api_key", None)
        async with Client(server.url, **client_kw) as client:
            return await client.complete(req)

    return asyncio.run(go())


# --- each scripted variant, through both APIs --------------------------------------------

VARIANTS = [
    pytest.param(
        Rule(".", answer="4", reasoning="2 plus 2"),
        {"answer": "4", "reasoning": "2 plus 2", "finish": "stop", "truncated": False},
        id="answer+reasoning",
    ),
    pytest.param(
        Rule(".", answer="4"),
        {"answer": "4", "reasoning": "", "finish": "stop", "truncated": False},
        id="no-reasoning",
    ),
    pytest.param(
        Rule(".", answer="4", reasoning="r", reasoning_field="reasoning_content"),
        {"answer": "4", "reasoning": "r", "finish": "stop"},
        id="reasoning_content",
    ),
    pytest.param(
        Rule(".", answer="4", reasoning="r", reasoning_field="both"),
        {"answer": "4", "reasoning": "r", "finish": "stop"},
        id="both-fields",
    ),
    pytest.param(
        Rule(".", answer="4", reasoning="I add.", reasoning_field="none"),
        {"answer": "4", "reasoning": "I add.", "finish": "stop"},
        id="think-leak",
    ),
    pytest.param(
        Rule(".", reasoning="long thinking", finish="length", content_null=True),
        {"answer": "", "reasoning": "long thinking", "finish": "length", "truncated": True},
        id="truncated-while-thinking",
    ),
    pytest.param(
        Rule(".", answer="The answer is", reasoning="r", finish="length"),
        {"answer": "The answer is", "finish": "length", "truncated": True},
        id="truncated-while-answering",
    ),
    pytest.param(
        Rule(".", reasoning="r", content_null=True),
        {"answer": "", "reasoning": "r", "finish": "stop", "truncated": False},
        id="stopped-after-think",
    ),
]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("rule", "expected"), VARIANTS)
def test_variants(server: ScriptedServer, api: Api, rule: Rule, expected: dict[str, Any]) -> None:
    server.rules = [rule]
    completion = complete(server, request(api))
    assert {k: getattr(completion, k) for k in expected} == expected
    assert (completion.status, completion.error) == (200, None)
    assert completion.latency_ms > 0


def test_old_vllm_completed_but_truncated(server: ScriptedServer) -> None:
    server.rules = [
        Rule(".", reasoning="r", finish="length", content_null=True, old_incomplete=True)
    ]
    completion = complete(server, request("responses"))
    assert (completion.finish, completion.truncated) == ("length", True)
    assert completion.usage.output_tokens == PARAMS["max_output_tokens"]


@pytest.mark.parametrize(
    ("api", "rule", "usage"),
    [
        ("chat", Rule(".", answer="a b c", reasoning="r s"), Usage(3, 5, None)),
        ("responses", Rule(".", answer="a b c", reasoning="r s"), Usage(3, 5, 0)),
        ("chat", Rule(".", answer="a", reasoning_tokens=0), Usage(3, 1, 0)),
        ("chat", Rule(".", answer="a", reasoning_tokens=30), Usage(3, 1, 30)),
        ("responses", Rule(".", answer="a", reasoning_tokens=30), Usage(3, 1, 30)),
        ("chat", Rule(".", usage={"input_tokens": 7, "output_tokens": 99}), Usage(7, 99, None)),
        ("responses", Rule("", usage={"prompt_tokens": 7, "completion_tokens": 9}), Usage(7, 9, 0)),
        ("chat", Rule(".", finish="length", content_null=True), Usage(3, 64, None)),
    ],
)  # fmt: skip
def test_usage(server: ScriptedServer, api: Api, rule: Rule, usage: Usage) -> None:
    server.rules = [rule]
    assert complete(server, request(api)).usage == usage


ERRORS = [
    pytest.param(
        Rule(".", status=400, error_message="'max_tokens' is too large"),
        400,
        "BadRequestError: 'max_tokens' is too large",
        id="nested-400",
    ),
    pytest.param(
        Rule(".", status=400, error_shape="flat", error_message="bad"),
        400,
        "BadRequestError: bad",
        id="flat-400",
    ),
    pytest.param(
        Rule(".", status=503, error_shape="html", error_message="upstream down"),
        503,
        # tags dropped, whitespace collapsed
        "HTTP 503: 503 Service Unavailable 503 Service Unavailable upstream down nginx",
        id="html-503",
    ),
    pytest.param(
        Rule(".", status=429, error_message="Too many pending requests"),
        429,
        "RateLimitError: Too many pending requests",
        id="429",
    ),
    pytest.param(
        Rule(".", raw='{"choices": [', status=200),
        200,
        'malformed JSON response: {"choices": [',
        id="malformed-200",
    ),
    pytest.param(
        Rule(".", raw='{"error": {"message": "mid-flight", "type": "InternalServerError"}}'),
        200,
        "InternalServerError: mid-flight",
        id="error-body-200",
    ),
]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("rule", "status", "message"), ERRORS)
def test_errors(server: ScriptedServer, api: Api, rule: Rule, status: int, message: str) -> None:
    server.rules = [rule]
    completion = complete(server, request(api))
    assert (completion.finish, completion.status, completion.error) == ("error", status, message)
    assert (completion.answer, completion.truncated, completion.usage) == ("", False, Usage())


def test_chat_finish_reason_error(server: ScriptedServer) -> None:
    server.rules = [Rule(".", answer="x", finish="error")]
    completion = complete(server, request("chat"))
    assert (completion.finish, completion.error) == ("error", "server error: finish_reason 'error'")


@pytest.mark.parametrize("api", APIS)
def test_auth(api: Api) -> None:
    with ScriptedServer([Rule(".", answer="ok")], api_key=TOKEN) as server:
        assert complete(server, request(api), api_key=TOKEN).answer == "ok"
        for key in (None, "sk-wrong-key"):
            with pytest.raises(AuthError) as info:
                complete(server, request(api), api_key=key)
            assert info.value.status == 401
            assert "AuthenticationError" in info.value.message
            assert TOKEN not in f"{info.value!s} {info.value!r}"
        assert [r.headers.get("authorization") for r in server.requests] == [
            f"Bearer {TOKEN}",
            None,
            "Bearer sk-wrong-key",
        ]


def test_timeout_and_connection_refused(server: ScriptedServer) -> None:
    server.rules = [Rule(".", answer="late", delay=1.0)]
    completion = complete(server, request("chat"), timeout=0.2)
    assert (completion.finish, completion.status, completion.error) == (
        "error",
        0,
        "timeout after 0.2s",
    )
    assert completion.latency_ms < 1000

    with ScriptedServer() as gone:
        url = gone.url  # nothing listens here once it has stopped
    completion = asyncio.run(_complete_at(url, request("chat")))
    assert (completion.finish, completion.status) == ("error", 0)
    assert completion.error is not None
    assert completion.error.startswith("connection error: ConnectError: ")


async def _complete_at(url: str, req: Request) -> Completion:
    async with Client(url, api_key=None) as client:
        return await client.complete(req)


# --- matching, recording, concurrency ---------------------------------------------------


def test_rules_match_api_effort_and_order(server: ScriptedServer) -> None:
    server.rules = [
        Rule("2\\+2", answer="chat-none", api="chat", effort="none"),
        Rule("2\\+2", answer="responses-high", api="responses", effort="high"),
        Rule("2\\+2", answer="default-only", effort="default"),
        Rule("2\\+2", answer="any"),
        Rule("2\\+2", answer="never"),
    ]
    cases = [
        (request("chat", effort="none"), "chat-none"),
        (request("responses", effort="none"), "any"),
        (request("responses", effort="high"), "responses-high"),
        (request("chat", effort="high"), "any"),
        (request("chat"), "default-only"),
        (request("responses"), "default-only"),
        (request("chat", "something else"), "I don't know."),
    ]
    for req, answer in cases:
        assert complete(server, req).answer == answer


def test_rules_see_instructions_and_input_items(server: ScriptedServer) -> None:
    server.rules = [Rule("(?s)SYSTEM-X.*turn-two", answer="matched")]
    messages = (Message("system", "SYSTEM-X"), Message("user", "one"), Message("assistant", "a"),
                Message("user", "turn-two"))  # fmt: skip
    for api in APIS:
        assert complete(server, request(api, messages=messages)).answer == "matched"


@pytest.mark.parametrize("api", APIS)
def test_recorded_body_is_what_build_request_made(server: ScriptedServer, api: Api) -> None:
    server.rules = [Rule(".", answer='{"age": 36}')]
    req = request(
        api,
        effort="none",
        messages=(Message("system", "JSON only."), Message("user", "Ada, 36")),
        params={**PARAMS, "seed": 1, "extra": {"top_k": 20}},
        structured_output=StructuredOutput("person", {"type": "object"}),
    )
    completion = complete(server, req, headers={"azureml-model-deployment": "blue"})
    assert completion.answer == '{"age": 36}'
    [recorded] = server.requests
    assert recorded.path == req.path
    assert recorded.body == req.body
    assert recorded.headers["azureml-model-deployment"] == "blue"
    assert "authorization" not in recorded.headers
    assert recorded.headers["content-type"] == "application/json"


def test_base_url_with_v1_and_health(server: ScriptedServer) -> None:
    server.rules = [Rule(".", answer="4")]

    async def go() -> tuple[Completion, int]:
        async with Client(server.url + "/v1/", api_key=None) as client:
            completion = await client.complete(request("chat"))
        async with httpx.AsyncClient() as http:
            health = await http.get(server.url + "/health")
        return completion, health.status_code

    completion, health = asyncio.run(go())
    assert (completion.answer, health) == ("4", 200)
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/health"]


def test_reply_shapes_mirror_vllm(server: ScriptedServer) -> None:
    """The server's JSON carries the fields vLLM sends (vllm-shapes.md), not only ours."""
    server.rules = [Rule(".", answer="4", reasoning="r", finish="length")]

    async def go() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.url) as http:
            chat = await http.post(
                "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "q"}], "max_completion_tokens": 9},
            )
            resp = await http.post(
                "/v1/responses", json={"model": "x", "input": "q", "max_output_tokens": 9}
            )
        return [json.loads(chat.content), json.loads(resp.content)]

    chat, resp = asyncio.run(go())
    assert chat["object"] == "chat.completion"
    assert chat["id"].startswith("chatcmpl-")
    assert chat["model"] == "zai-org/GLM-4.7-Flash"  # blank model: the served one
    assert set(chat["choices"][0]) == {
        "index",
        "message",
        "logprobs",
        "finish_reason",
        "stop_reason",
        "token_ids",
    }
    assert chat["choices"][0]["finish_reason"] == "length"
    assert chat["usage"]["completion_tokens"] == 9
    assert resp["object"] == "response"
    assert resp["model"] == "x"
    assert (resp["status"], resp["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert [i["type"] for i in resp["output"]] == ["reasoning", "message"]
    assert resp["output"][0]["content"] == [{"type": "reasoning_text", "text": "r"}]
    assert resp["usage"]["output_tokens_details"] == {
        "reasoning_tokens": 0,
        "tool_output_tokens": 0,
    }


def test_concurrent_requests_all_answered(server: ScriptedServer) -> None:
    server.rules = [Rule(rf"number {i}$", answer=f"ok {i}", delay=0.3) for i in range(20)]
    reqs = [request(APIS[i % 2], f"number {i}") for i in range(20)]

    async def go() -> list[Completion]:
        async with Client(server.url, api_key=None) as client:
            return await asyncio.gather(*(client.complete(r) for r in reqs))

    start = time.perf_counter()
    completions = asyncio.run(go())
    elapsed = time.perf_counter() - start
    assert [c.answer for c in completions] == [f"ok {i}" for i in range(20)]
    assert elapsed < 0.3 * 20 / 2  # they overlapped
    recorded = server.requests
    assert len(recorded) == 20
    assert sorted(json.dumps(r.body, sort_keys=True) for r in recorded) == sorted(
        json.dumps(r.body, sort_keys=True) for r in reqs
    )
