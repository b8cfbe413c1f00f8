"""The GET probes of ``glm-harness doctor``: reach, auth, model, openapi (and, when it is
served, how its request fields differ from vLLM 0.33.0's: :mod:`harness.doctor.pinned`).

Each takes the engine's :class:`~harness.engine.client.Client` for the endpoint (its
headers carry the token: Azure wants it on every path; each reply is read within the reply
cap and scrubbed of the token, as a run reads it) and returns :class:`Step` s. No request
is retried here: a probe says what one GET found.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from harness.doctor.openapi import check_fields
from harness.doctor.pinned import PINNED_VERSION, differences, load_pinned, reduce
from harness.doctor.report import Step, field_step, schema_step, skipped
from harness.engine.client import Client, Fetched
from harness.engine.parse import error_message

REFUSED = "the endpoint refused the token (GLM_API_KEY)"
_NO_LIST = "GET /v1/models gave no list of models"


async def reach(http: Client) -> Step:
    """``GET /health``; when it is not served (Azure), ``GET /v1/models``: any HTTP answer
    means the endpoint is reached. No answer at all fails, saying what to check."""
    health, problem, ms = await _get(http, "/health")
    if health is None:
        return Step("reach", "FAIL", problem, facts={"path": "/health"})
    code = health.status
    facts = {"health_status": code, "latency_ms": round(ms, 1)}
    if code == 200:
        return Step("reach", "ok", f"GET /health: 200 in {ms:.0f} ms", facts=facts)
    if code >= 500:
        why = "the server is up but not healthy (still loading the model, or its engine died)"
        return Step("reach", "warn", f"GET /health: {code}: {why}", facts=facts)
    models, problem, ms = await _get(http, "/v1/models")
    if models is None:
        return Step("reach", "FAIL", problem, facts=facts)
    summary = f"GET /health: {code}; GET /v1/models: {models.status} in {ms:.0f} ms"
    return Step("reach", "ok", summary, facts=facts)


async def auth_and_model(http: Client, model: str, token_set: bool) -> list[Step]:
    """``GET /v1/models`` with the token: was it accepted, and is ``model`` served?"""
    response, problem, _ = await _get(http, "/v1/models")
    if response is None:
        return [Step("auth", "warn", f"GET /v1/models: {problem}"), skipped("model", _NO_LIST)]
    status = response.status
    if status in (401, 403):
        said = REFUSED if token_set else "the endpoint wants a token: set GLM_API_KEY"
        step = Step("auth", "FAIL", f"{said} (HTTP {status})", facts={"status": status})
        return [step, skipped("model", _NO_LIST)]
    if status != 200:
        said = "not served" if status == 404 else error_message(status, response.body)
        summary = f"GET /v1/models: {said}; the requests below check the token"
        return [Step("auth", "warn", summary, facts={"status": status}), skipped("model", _NO_LIST)]
    if token_set:
        auth = Step("auth", "ok", "GET /v1/models accepted the token")
    else:
        summary = "no token set (GLM_API_KEY), and the endpoint accepted GET /v1/models anyway"
        auth = Step("auth", "ok", f"{summary}: fine for a local server")
    served = _model_ids(response)
    facts = {"served": served}
    if model in served:
        return [auth, Step("model", "ok", f"{model} is served", facts=facts)]
    summary = f"{model} is not in /v1/models; served: {', '.join(served) or 'nothing'}"
    hint = ("set GLM_MODEL or --model to a served name",)
    return [auth, Step("model", "warn", summary, hint, facts)]


async def openapi(http: Client) -> list[Step]:
    """``GET /openapi.json``: the openapi step and, when it is served, one step per API
    saying which of the fields the harness sends its request schema declares, then one
    per API listing the request fields it adds, removes or changes against vLLM 0.33.0."""
    response, problem, _ = await _get(http, "/openapi.json")
    cannot = "cannot tell which fields are declared"
    if response is None or response.status != 200:
        if response is not None:
            problem = "not served" if response.status == 404 else f"HTTP {response.status}"
        summary = f"GET /openapi.json: {problem}; {cannot}"
        return [Step("openapi", "warn", summary, facts={"served": False})]
    try:
        document = json.loads(response.body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        document = None
    if not isinstance(document, dict):
        summary = f"GET /openapi.json: not a JSON object; {cannot}"
        return [Step("openapi", "warn", summary, facts={"served": False})]
    info = document.get("info")
    info = info if isinstance(info, dict) else {}
    title = " ".join(str(info.get(key, "")) for key in ("title", "version")).strip()
    step = Step("openapi", "ok", f"served ({title or 'no title'})", facts={"served": True})
    steps = [step, *(field_step(api, fields) for api, fields in check_fields(document).items())]
    found = differences(load_pinned()["requests"], reduce(document))
    return steps + [schema_step(diff, PINNED_VERSION) for diff in found.values()]


async def _get(http: Client, path: str) -> tuple[Fetched | None, str, float]:
    """``GET path``: the reply (None when no whole reply came), what went wrong, ms."""
    fetched = await http.get(path)
    if fetched.error is None:
        return fetched, "", fetched.latency_ms
    if fetched.failure is not None and fetched.status == 0:
        said = unreachable(fetched.failure, httpx.URL(http.base_url), http.timeout)
        return None, said, fetched.latency_ms
    return None, fetched.error, fetched.latency_ms


def _model_ids(response: Fetched) -> list[str]:
    try:
        data: Any = json.loads(response.body)
    except (ValueError, RecursionError):
        return []
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    ids = (entry.get("id") for entry in entries if isinstance(entry, dict))
    return [i for i in ids if isinstance(i, str)]


def unreachable(exc: BaseException, url: httpx.URL, timeout: float | None) -> str:
    """What failed, in words, and what to check."""
    where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    said = " ".join(str(exc).split())
    lowered = " ".join(str(cause) for cause in _causes(exc)).lower()
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return (
            f"no answer from {where} within {timeout or 0:g} s: check the host, the port, "
            "a firewall or VPN"
        )
    if any(k in lowered for k in ("name or service", "nodename", "name resolution", "getaddrinfo")):
        return f"cannot resolve host {url.host!r} ({said}): check GLM_BASE_URL / --base-url"
    if any(isinstance(cause, ConnectionRefusedError) for cause in _causes(exc)):
        return (
            f"connection refused at {where}: is the server running and listening there? "
            "(check GLM_BASE_URL / --base-url)"
        )
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS handshake with {where} failed ({said})"
    kind = type(exc).__name__
    return f"could not reach {where} ({kind}: {said or 'no details'}): check GLM_BASE_URL"


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it: httpx says "All connection attempts failed" where the
    OS said "connection refused"."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain
