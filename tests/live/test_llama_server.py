"""The client and the plugin against llama.cpp's llama-server: a server nobody here wrote."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from harness.engine.client import Client, build_request
from harness.local.server import MODEL_ALIAS, LocalServer
from harness.models import Completion, Message, Request

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
QUESTION = (Message("user", "What is 2 + 3? Answer with a number."),)
PARAMS = {"max_output_tokens": 32, "temperature": 0, "seed": 7}


def complete(server: LocalServer, *requests: Request) -> list[Completion]:
    async def go() -> list[Completion]:
        async with Client(server.url, api_key=None, timeout=120) as client:
            return list(await asyncio.gather(*(client.complete(r) for r in requests)))

    return asyncio.run(go())


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_every_field_the_client_reads(llama: LocalServer, api: str) -> None:
    request = build_request(
        api, messages=QUESTION, effort="default", params=PARAMS, model=MODEL_ALIAS
    )
    [done] = complete(llama, request)
    assert done.error is None
    assert done.status == 200
    assert done.answer.strip() != ""
    assert done.finish in ("stop", "length")
    assert done.truncated == (done.finish == "length")
    assert done.usage.input_tokens is not None
    assert done.usage.input_tokens > 5
    assert done.usage.output_tokens is not None
    assert 0 < done.usage.output_tokens <= 32
    assert done.latency_ms > 0
    # llama.cpp reports no reasoning for this model: the client must say so, not invent it
    assert done.reasoning == ""
    assert done.usage.reasoning_tokens is None


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_tiny_budget_is_truncated(llama: LocalServer, api: str) -> None:
    params = {**PARAMS, "max_output_tokens": 2}
    messages = (Message("user", "Write a long story about a dragon."),)
    [done] = complete(
        llama, build_request(api, messages=messages, effort="default", params=params, model="")
    )
    assert done.truncated
    assert done.finish == "length"
    assert done.usage.output_tokens == 2


@pytest.mark.parametrize(
    ("api", "body", "message"),
    [
        ("chat", {"messages": "hello"}, "Expected 'messages' to be an array"),
        (
            "chat",
            {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": -5},
            "Value must be between",
        ),
        ("responses", {"input": 42}, "'input' must be a string or array of objects"),
    ],
)
def test_a_rejected_request_reaches_the_user_intact(
    llama: LocalServer, api: str, body: dict[str, object], message: str
) -> None:
    path = "/v1/chat/completions" if api == "chat" else "/v1/responses"
    real = httpx.post(llama.url + path, json=body, timeout=30)
    assert real.status_code == 400
    server_message = real.json()["error"]["message"]
    [done] = complete(llama, Request(api, path, body))  # type: ignore[arg-type]
    assert done.status == 400
    assert done.error is not None
    assert message in done.error
    assert server_message in done.error
    assert done.finish == "error"


def test_several_requests_in_flight_at_once(llama: LocalServer) -> None:
    requests = [
        build_request(
            api,
            messages=(Message("user", f"Say the number {n}."),),
            effort="default",
            params={**PARAMS, "max_output_tokens": 16},
            model="",
        )
        for n in range(4)
        for api in ("chat", "responses")
    ]
    results = complete(llama, *requests)
    assert len(results) == 8
    assert [r.status for r in results] == [200] * 8
    assert all(r.error is None for r in results)
    assert all(r.usage.output_tokens for r in results)


def test_every_example_suite_end_to_end_with_glm_local(
    local_paths: tuple[Path, Path], pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_LLAMA_SERVER", str(local_paths[0]))  # pytester moves HOME
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(local_paths[1]))
    # the four example suites of one prompt each: the dataset, variant and tool suites run
    # against the scripted server (tests/plugin/test_examples.py); on SmolLM2 at ~100
    # tokens a second their 36 more items would take minutes
    (pytester.path / "suites").mkdir()
    for name in ("arithmetic", "explanations", "json_extraction", "summaries"):
        shutil.copy(REPO / "suites" / f"{name}.yaml", pytester.path / "suites")
    shutil.copytree(REPO / "evals", pytester.path / "evals")
    xml = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--glm-suite",
        "--glm-local",
        "--glm-timeout=600",
        "-v",
        "-p",
        "no:cacheprovider",
        f"--junitxml={xml}",
        timeout=540,
    )
    out = result.stdout.str()
    ids = re.findall(r"^(suites/\S+\.yaml::\S+\[(?:chat|responses)-default\]) (\w+)", out, re.M)
    items = 2 * (5 + 3 + 2 + 3)
    assert len(ids) == items
    assert {word for _, word in ids} <= {"PASSED", "FAILED", "TRUNCATED", "ERROR"}
    assert {i.split("::")[0] for i, _ in ids} == {
        "suites/arithmetic.yaml",
        "suites/explanations.yaml",
        "suites/json_extraction.yaml",
        "suites/summaries.yaml",
    }
    counts = re.search(r"^items: (\d+) pass, (\d+) fail, (\d+) truncated, (\d+) error$", out, re.M)
    assert counts is not None
    assert sum(map(int, counts.groups())) == items
    assert int(counts.group(4)) == 0  # the pipeline works: no API errors against a healthy server
    assert re.search(r"^endpoint: http://127\.0\.0\.1:\d+ \(local llama-server\)", out, re.M)
    # each item's record is complete: outcome, samples, latencies and token counts
    props = ElementTree.parse(xml).iter("property")
    records = [json.loads(p.get("value", "")) for p in props if p.get("name") == "glm"]
    assert len(records) == items
    for rec in records:
        assert rec["outcome"] in ("pass", "fail", "truncated", "error")
        assert rec["samples"] == 1
        assert len(rec["latency_ms"]) == 1
        assert rec["output_tokens"]
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_streaming_against_the_real_server(llama: LocalServer, api: str) -> None:
    streamed = build_request(
        api, messages=QUESTION, effort="default", params=PARAMS, model="", stream=True
    )
    plain = build_request(api, messages=QUESTION, effort="default", params=PARAMS, model="")
    got, want = complete(llama, streamed, plain)
    assert got.error is None, got.error
    assert got.answer.strip() == want.answer.strip()  # temperature 0, same seed
    assert got.first_answer_ms is not None
    assert 0 < got.first_answer_ms <= got.latency_ms
    assert got.usage.output_tokens == want.usage.output_tokens


def test_a_thinking_budget_reaches_a_server_that_does_not_think(
    llama: LocalServer, tmp_path: Path
) -> None:
    """What applies of a budget against llama-server: the field goes out on Chat and the
    server, which ignores fields it does not know (vLLM without --reasoning-config would
    answer 400), answers as usual; SmolLM2 does not think, so there is nothing to cut."""
    request = build_request(
        "chat", messages=QUESTION, effort="default", params=PARAMS, model=MODEL_ALIAS,
        budget=16,
    )  # fmt: skip
    assert request.body["thinking_token_budget"] == 16
    [done] = complete(llama, request)
    assert done.error is None, done.error
    assert done.answer.strip() != ""
    assert done.reasoning == ""  # nothing to cut: the model does not think
