"""harness.engine.fingerprint and Client.get: the server's fingerprint, read bounded and
scrubbed, and how it changed since a baseline. No sockets (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import httpx
import pytest

from harness.engine.client import Client, Fetched
from harness.engine.fingerprint import UNKNOWN, changes, fingerprint

TOKEN = "sk-fingerprint-secret-0123456789"
VERSION = Fetched(200, b'{"version": "0.33.0"}')
MODELS = Fetched(200, b'{"object": "list", "data": [{"id": "b"}, {"id": "a"}, {"id": "a"}]}')
OPENAPI = Fetched(200, b'{"openapi": "3.1.0"}')
NOT_SERVED = Fetched(404, b'{"detail": "Not Found"}')


def test_a_vllm_fingerprint() -> None:
    digest = "sha256:" + hashlib.sha256(OPENAPI.body).hexdigest()[:16]
    assert fingerprint(VERSION, MODELS, OPENAPI) == {
        "version": "0.33.0", "models": ["a", "b"], "openapi_sha256": digest,
    }  # fmt: skip


def test_what_is_not_served_is_null_and_what_cannot_be_read_is_unknown() -> None:
    # llama-server: no /version, no /openapi.json
    assert fingerprint(NOT_SERVED, MODELS, NOT_SERVED) == {
        "version": None, "models": ["a", "b"], "openapi_sha256": None,
    }  # fmt: skip
    found = fingerprint(
        Fetched(0, error="timeout after 5s"),
        Fetched(503, b"busy"),
        Fetched(200, error="reply larger than 16 MiB after decompression"),
    )
    assert found["version"] == found["models"] == found["openapi_sha256"] == UNKNOWN
    assert found["unread"] == {
        "version": "GET /version: timeout after 5s",
        "models": "GET /v1/models: HTTP 503",
        "openapi_sha256": "GET /openapi.json: reply larger than 16 MiB after decompression",
    }


@pytest.mark.parametrize(
    "body",
    [b"<html>proxy</html>", b'{"version": 33}', b'["0.33.0"]', b"[" * 100_000, b'{"version": ""}'],
)
def test_a_version_that_is_not_vllms_shape_is_unknown(body: bytes) -> None:
    assert fingerprint(Fetched(200, body), MODELS, OPENAPI)["version"] == UNKNOWN


def test_hostile_texts_are_one_bounded_printable_line() -> None:
    version = Fetched(200, json.dumps({"version": "0.33.0\x1b[2J\n" + "x" * 10_000}).encode())
    ids = json.dumps({"data": [{"id": f"m{i}\x07"} for i in range(500)]}).encode()
    found = fingerprint(version, Fetched(200, ids), OPENAPI)
    assert found["version"].startswith("0.33.0 [2J x")
    assert len(found["version"]) == 120
    assert len(found["models"]) == 50
    assert all(m.isprintable() for m in found["models"])


@pytest.mark.parametrize(
    ("before", "now", "said"),
    [
        ({"version": "0.16.0"}, {"version": "0.33.0"}, ["vLLM 0.16.0 -> 0.33.0"]),
        ({"version": None}, {"version": "0.33.0"}, ["vLLM (no /version) -> 0.33.0"]),
        ({"models": ["a"]}, {"models": ["a", "b"]}, ["model a -> a, b"]),
        ({"openapi_sha256": "sha256:1"}, {"openapi_sha256": "sha256:2"}, ["openapi.json changed"]),
        ({"version": "0.16.0", "openapi_sha256": None},
         {"version": "0.33.0", "openapi_sha256": "sha256:2"},
         ["vLLM 0.16.0 -> 0.33.0", "openapi.json changed"]),
        # what either side does not know is not compared
        ({"version": UNKNOWN}, {"version": "0.33.0"}, []),
        ({"version": "0.16.0"}, {"version": UNKNOWN}, []),
        ({}, {"version": "0.33.0"}, []),
        (None, {"version": "0.33.0"}, []),
        ({"version": "0.33.0"}, None, []),
        ({"version": "0.33.0", "models": ["a"]}, {"version": "0.33.0", "models": ["a"]}, []),
    ],
)  # fmt: skip
def test_changes(before: Any, now: Any, said: list[str]) -> None:
    assert changes(before, now) == said


def test_a_hostile_baselines_fingerprint_is_shown_bounded() -> None:
    before = {"version": "<img src=x>\x1b[31m" + "9" * 5000, "models": [{"x": 1}, "a" * 999]}
    said = changes(before, {"version": "0.33.0", "models": ["b"]})
    assert all(len(s) < 500 and s.isprintable() for s in said)
    assert said[1].startswith("model aaaa")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_client_get_reads_within_the_cap_scrubbed_and_never_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["azureml-model-deployment"] == "blue"
        if request.url.path == "/version":
            return httpx.Response(200, json={"version": f"0.33.0 {TOKEN}"})
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 5000)
        raise httpx.ConnectError("refused")

    async def go() -> list[Fetched]:
        client = Client(
            "http://vllm/v1", api_key=TOKEN, headers={"azureml-model-deployment": "blue"},
            transport=httpx.MockTransport(handler), max_reply_bytes=1000,
        )  # fmt: skip
        async with client:
            return [await client.get(p) for p in ("/version", "/big", "/down")]

    version, big, down = run(go())
    assert version.status == 200
    assert TOKEN.encode() not in version.body
    assert json.loads(version.body)["version"].startswith("0.33.0 ")
    assert big.error is not None
    assert "larger than" in big.error
    assert (down.status, down.error) == (0, "connection error: ConnectError: refused")
    assert isinstance(down.failure, httpx.ConnectError)


def test_client_get_has_a_deadline() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async def go() -> Fetched:
        async with Client("http://vllm", api_key=None, transport=httpx.MockTransport(slow)) as c:
            return await c.get("/version", timeout=0.2)

    found = run(go())
    assert (found.status, found.error) == (0, "timeout after 0.2s")
