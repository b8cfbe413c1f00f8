"""``glm-harness doctor``: is the endpoint ready for a run? One screen, one verdict.

Steps: reach (``GET /health``, else ``GET /v1/models``), auth and model (``GET
/v1/models`` with the token), openapi (``GET /openapi.json``: which fields the harness
sends are declared, see :mod:`harness.doctor.openapi`, and which request fields differ
from vLLM 0.33.0's, see :mod:`harness.doctor.pinned`), then one small request per API,
built by ``build_request`` and sent by :class:`~harness.engine.client.Client` as a run sends it,
with the reasoning field the server filled, and one offering a tool with ``tool_choice:
auto`` (:mod:`harness.doctor.tools`). Settings come from where a run takes them:
``--base-url`` / ``GLM_BASE_URL`` / ini ``glm_base_url``, ``--model`` / ``GLM_MODEL`` / ini
``glm_model``, ini ``glm_headers``, ``GLM_API_KEY`` (see :mod:`harness.settings.inifile`);
``--local`` starts the local llama-server as ``--glm-local`` does. Exit 0: ready or
warnings only; 1: a step failed; 2: bad usage. The token never appears in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from harness.doctor.probes import REFUSED, auth_and_model, openapi, reach
from harness.doctor.report import (
    EXIT_FAIL,
    EXIT_USAGE,
    Report,
    Step,
    chat_reasoning,
    render_json,
    render_text,
    responses_reasoning,
    skipped,
    snippet,
)
from harness.doctor.tools import tools_request, tools_step
from harness.engine.bodies import MIB, BadEncoding, BodyReader, ReplyTooLarge
from harness.engine.client import Attempt, Client
from harness.engine.requests import build_request
from harness.engine.retry import RetryPolicy
from harness.errors import AuthError, ConfigError
from harness.models import APIS, Api, Completion, Message, Request
from harness.secret import Secret
from harness.settings import values as s
from harness.settings.inifile import lines, read_ini, text

PROMPT = "Reply with the word OK."
MAX_OUTPUT_TOKENS = 256  # room for a short thinking phase before the answer
GET_TIMEOUT = 10.0  # seconds, at most, for the GET probes (the requests use --timeout)
RETRIES = 2  # retryable failures of the two requests (429, 5xx, resets)
REPLY_CAP = s.DEFAULT_MAX_REPLY_MB * MIB  # bytes of one reply, as a run's default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``doctor`` subcommand's options."""
    parser.add_argument("--base-url", default=None, help="endpoint (else GLM_BASE_URL)")
    parser.add_argument("--model", default=None, help=f"model (else GLM_MODEL, {s.DEFAULT_MODEL})")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=s.DEFAULT_TIMEOUT,
        help=f"seconds per request (default {s.DEFAULT_TIMEOUT:g}; probes wait {GET_TIMEOUT:g})",
    )
    parser.add_argument(
        "--local", action="store_true", help="start the local llama-server and diagnose it"
    )
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output")


def main(args: argparse.Namespace) -> int:
    """Run the diagnosis, write it to stdout; the exit status. Never a traceback."""
    try:
        return _main(args)
    except ConfigError as exc:
        sys.stderr.write(f"glm-harness doctor: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("glm-harness doctor: interrupted\n")
        return EXIT_FAIL


def _main(args: argparse.Namespace) -> int:
    env = os.environ.get
    api_key = s.api_key_from_env()
    _, ini = read_ini(Path.cwd())  # the pytest ini file a run in this folder would read
    model = s.first(args.model, env("GLM_MODEL"), text(ini.get("glm_model"))) or s.DEFAULT_MODEL
    headers = s.parse_headers(lines(ini.get("glm_headers")))
    if args.local:
        from harness.local.server import MODEL_ALIAS, LocalServer

        with LocalServer() as server:  # as --glm-local: its URL, its model's alias
            report = diagnose(server.url, MODEL_ALIAS, api_key, args.timeout)
    else:
        base_url = s.first(args.base_url, env("GLM_BASE_URL"), text(ini.get("glm_base_url")))
        if base_url is None:
            raise ConfigError(
                "no endpoint: set GLM_BASE_URL (and GLM_API_KEY if it needs a token), "
                "pass --base-url URL, or diagnose the local model with --local"
            )
        report = diagnose(base_url, model, api_key, args.timeout, headers)
    render = render_json if args.format == "json" else render_text
    sys.stdout.write(render(report, api_key))
    return report.exit_code


def diagnose(
    base_url: str, model: str, api_key: Secret | None, timeout: float,
    headers: Mapping[str, str] | None = None,
) -> Report:  # fmt: skip
    """Every step against ``base_url`` (with the ini's extra ``headers``); raises
    ConfigError for a malformed URL or key."""
    return asyncio.run(_diagnose(base_url, model, api_key, timeout, dict(headers or {})))


async def _diagnose(
    base_url: str, model: str, api_key: Secret | None, timeout: float, extra: dict[str, str]
) -> Report:
    recorders = {api: _Recorder(api_key) for api in APIS}
    # built first: the client checks the URL and the key before anything is sent
    clients = {
        api: Client(
            base_url, api_key=api_key, headers=extra, timeout=timeout, transport=recorders[api]
        )
        for api in APIS
    }
    base, token_set = clients["chat"].base_url, bool(api_key)
    # the GET probes: the engine's client, as a run reads /version, /v1/models, /openapi.json
    http = Client(
        base_url, api_key=api_key, headers=extra, timeout=min(timeout, GET_TIMEOUT),
        max_reply_bytes=REPLY_CAP,
    )  # fmt: skip
    try:
        steps = [await reach(http)]
        if steps[0].status == "FAIL":
            why = "the endpoint cannot be reached"
            later = ("auth", "model", "openapi", "chat", "responses")
            return Report(base, model, token_set, (*steps, *(skipped(n, why) for n in later)))
        steps += await auth_and_model(http, model, token_set)
        steps += await openapi(http)
        answers = await asyncio.gather(
            *(_request(clients[api], recorders[api], api, model) for api in APIS)
        )
    finally:
        await http.aclose()
        for client in clients.values():
            await client.aclose()
    return Report(base, model, token_set, (*steps, *(step for pair in answers for step in pair)))


class _Recorder(httpx.AsyncBaseTransport):
    """Reads each reply whole, within the run's size cap, and scrubbed of the token before
    anything else sees it; keeps the last body (which reasoning field was filled is not
    part of a :class:`~harness.models.Completion`)."""

    def __init__(self, secret: Secret | None) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._secret = secret
        self.body = b""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        try:
            reader = BodyReader(response.headers.get("content-encoding", ""), REPLY_CAP)
            async for chunk in response.aiter_raw():
                reader.collect(chunk)
            body = reader.body()
        except (ReplyTooLarge, BadEncoding) as exc:
            body = json.dumps({"error": {"type": "doctor", "message": str(exc)}}).encode()
        finally:
            await response.aclose()
        self.body = self._secret.scrub_bytes(body) if self._secret else body
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, content=self.body)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _request(client: Client, recorder: _Recorder, api: Api, model: str) -> list[Step]:
    """One small request of ``api``: its step and, when it answered, its reasoning step;
    then one offering a tool (:mod:`harness.doctor.tools`) and its step."""
    request = build_request(
        api,
        messages=(Message("user", PROMPT),),
        effort="default",
        params={"max_output_tokens": MAX_OUTPUT_TOKENS, "temperature": 0},
        model=model,
    )
    try:
        done, attempt = await _send(client, request)
    except AuthError as exc:
        step = Step(api, "FAIL", f"{REFUSED}: HTTP {exc.status}", facts={"status": exc.status})
        return [step, *(skipped(f"{api} {later}", "no answer") for later in ("reasoning", "tools"))]
    steps = _request_steps(api, done.completion, attempt, recorder.body)
    if done.completion.error is not None:
        return [*steps, skipped(f"{api} tools", "no answer")]
    try:
        tried, attempts = await _send(client, tools_request(api, model, MAX_OUTPUT_TOKENS))
    except AuthError as exc:
        step = Step(f"{api} tools", "FAIL", f"{REFUSED}: HTTP {exc.status}")
        return [*steps, step]
    return [*steps, tools_step(api, tried.completion, attempts)]


async def _send(client: Client, request: Request) -> tuple[Attempt, int]:
    """``request`` with up to :data:`RETRIES` retries: the last attempt and how many."""
    policy = RetryPolicy(retries=RETRIES)
    for attempt in range(1, RETRIES + 2):
        done = await client.attempt(request)
        if not done.retryable or attempt > RETRIES:
            break
        await asyncio.sleep(policy.delay(attempt, done.retry_after))
    return done, attempt


def _request_steps(api: Api, c: Completion, attempts: int, body: bytes) -> list[Step]:
    reasoning = f"{api} reasoning"
    facts: dict[str, Any] = {"status": c.status, "latency_ms": round(c.latency_ms, 1)}
    facts["attempts"] = attempts
    if c.error is not None:
        said = c.error if c.error.startswith("HTTP ") else f"HTTP {c.status}: {c.error}"
        said = c.error if c.status == 0 else said  # no HTTP answer: a connection error
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        hint = ("not served at this path, or no such model",) if c.status == 404 else ()
        step = Step(api, "FAIL", f"{said}{tries}", hint, facts)
        return [step, skipped(reasoning, "no answer")]
    usage = c.usage
    facts |= {
        "finish": c.finish,
        "answer": c.answer[:200],
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }
    summary = (
        f"{c.status} in {c.latency_ms:.0f} ms, answer {snippet(c.answer)}, finish {c.finish}, "
        f"usage {_count(usage.input_tokens)} in / {_count(usage.output_tokens)} out"
    )
    if c.truncated and not c.answer.strip():
        why = f"no answer within {MAX_OUTPUT_TOKENS} tokens (the thinking used them all)"
        step = Step(api, "warn", summary, (why,), facts)
    else:
        step = Step(api, "ok", summary, facts=facts)
    return [step, (chat_reasoning if api == "chat" else responses_reasoning)(body)]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
