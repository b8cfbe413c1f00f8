"""One OpenAI-compatible client for vLLM's Chat Completions and Responses APIs.

``build_request`` (from :mod:`harness.requests`) and ``parse_response`` are pure; the
:class:`Client` only sends. Both APIs normalise to one :class:`~harness.models.Completion`:

- Chat: answer ``choices[0].message.content`` (null -> ""), reasoning ``message.reasoning``
  else ``reasoning_content``; ``finish_reason`` -> ``finish``; ``length`` -> truncated.
- Responses: answer = the ``output_text`` parts of ``message`` items (the item is absent
  when thinking used the whole budget), reasoning = ``reasoning_text`` parts of
  ``reasoning`` items (else their ``summary``); ``status: incomplete`` -> ``length``,
  truncated. Old vLLM and llama.cpp say ``completed`` when truncated, so a reply with
  ``output_tokens >= max_output_tokens`` is truncated too.
- Both: text before the last ``</think>`` in the answer is reasoning that an old glm45
  parser leaked; it moves to ``reasoning``. Errors (HTTP >= 400, error bodies on a 200,
  chat ``finish_reason: error``, malformed JSON) become ``finish="error"`` completions,
  except 401/403, which raise :class:`~harness.errors.AuthError`.

The API token lives only in the pooled ``httpx`` client's headers; it is never stored
elsewhere, and any text the client returns or raises is scrubbed of it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from harness.errors import AuthError, ConfigError
from harness.models import Api, Completion, Request, Usage
from harness.requests import build_request

__all__ = ["Client", "build_request", "error_message", "parse_response"]

DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_CONNECTIONS = 32
_THINK_END = "</think>"
_SNIPPET = 200


def error_message(status: int, body: bytes) -> str:
    """``"<type>: <message>"`` from an error body of any shape vLLM or a proxy sends.

    Nested ``{"error": {"message", "type", ...}}``, flat ``{"object": "error", "message",
    ...}``, FastAPI's ``{"detail": ...}``; anything else (an HTML page from a proxy) gives
    its first 200 characters, whitespace collapsed. The type defaults to ``HTTP <status>``.
    """
    fallback_type = f"HTTP {status}" if status else "error"
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return _typed(err.get("type") or err.get("code"), err.get("message"), fallback_type)
        if isinstance(err, str) and err:
            return _typed(data.get("type"), data.get("message") or err, fallback_type)
        if data.get("object") == "error" or "message" in data:
            return _typed(data.get("type"), data.get("message"), fallback_type)
        if "detail" in data:
            return _typed(None, data["detail"], fallback_type)
    return f"{fallback_type}: {_snippet(body) or '(empty body)'}"


def parse_response(
    api: Api, status: int, body: bytes, latency_ms: float, *, max_output_tokens: int | None
) -> Completion:
    """Normalise one non-streaming reply of ``api`` to a :class:`Completion`.

    ``max_output_tokens`` is the budget that was asked for; on Responses it detects
    old vLLM's "completed" replies that were really truncated.
    """
    if status >= 400:
        return _error(status, latency_ms, error_message(status, body))
    try:
        data = json.loads(body)
    except ValueError:
        return _error(status, latency_ms, f"malformed JSON response: {_snippet(body)}")
    if not isinstance(data, dict):
        return _error(status, latency_ms, f"malformed JSON response: {_snippet(body)}")
    if data.get("error") or data.get("object") == "error":
        return _error(status, latency_ms, error_message(status, body))
    if api == "chat":
        return _parse_chat(data, status, latency_ms)
    return _parse_responses(data, status, latency_ms, max_output_tokens)


def _parse_chat(data: dict[str, Any], status: int, latency_ms: float) -> Completion:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return _error(status, latency_ms, "malformed response: no choices")
    choice = choices[0]
    message = _dict(choice.get("message"))
    finish = choice.get("finish_reason")
    if finish == "error":
        return _error(status, latency_ms, "server error: finish_reason 'error'")
    reasoning = _text(message.get("reasoning")) or _text(message.get("reasoning_content"))
    usage = _usage(data, "prompt_tokens", "completion_tokens", "completion_tokens_details")
    finish = finish if isinstance(finish, str) else "unknown"
    return _finish(_text(message.get("content")), reasoning, usage, finish, status, latency_ms)


def _parse_responses(
    data: dict[str, Any], status: int, latency_ms: float, max_output_tokens: int | None
) -> Completion:
    output = data.get("output")
    if not isinstance(output, list):
        return _error(status, latency_ms, "malformed response: no output list")
    state = data.get("status")
    if state in ("failed", "cancelled"):
        return _error(status, latency_ms, f"server error: response status {state!r}")
    answer_parts: list[str] = []
    reasoning_parts: list[str] = []
    for item in map(_dict, output):
        if item.get("type") == "message":
            answer_parts += _part_texts(item.get("content"), "output_text")
        elif item.get("type") == "reasoning":
            texts = _part_texts(item.get("content"), "reasoning_text")
            reasoning_parts += texts or _part_texts(item.get("summary"), "summary_text")
    usage = _usage(data, "input_tokens", "output_tokens", "output_tokens_details")
    answer = "".join(answer_parts)
    if state == "incomplete":
        reason = _dict(data.get("incomplete_details")).get("reason")
        finish = "content_filter" if reason == "content_filter" else "length"
    elif state == "completed":
        finish = "stop"
        budget = (
            _int(data.get("max_output_tokens")) if max_output_tokens is None else max_output_tokens
        )
        used = usage.output_tokens
        if used is not None and budget and used >= budget:
            # old vLLM (#24184) and llama.cpp say "completed" for replies cut at the budget
            finish = "length"
    else:
        finish = state if isinstance(state, str) else "unknown"
    return _finish(answer, "\n".join(reasoning_parts), usage, finish, status, latency_ms)


def _usage(data: dict[str, Any], input_key: str, output_key: str, details_key: str) -> Usage:
    usage = _dict(data.get("usage"))
    details = _dict(usage.get(details_key))
    return Usage(
        input_tokens=_int(usage.get(input_key)),
        output_tokens=_int(usage.get(output_key)),
        reasoning_tokens=_int(details.get("reasoning_tokens")),  # 0 stays 0: vLLM says 0
    )


def _finish(
    answer: str, reasoning: str, usage: Usage, finish: str, status: int, latency_ms: float
) -> Completion:
    if _THINK_END in answer:
        # Old glm45 parsers leave the thinking in the content ("...</think>answer").
        head, _, answer = answer.rpartition(_THINK_END)
        leaked = head.strip().removeprefix("<think>").strip()
        reasoning = f"{reasoning}\n{leaked}" if reasoning and leaked else reasoning or leaked
        answer = answer.strip()
    return Completion(
        answer=answer,
        reasoning=reasoning,
        usage=usage,
        finish=finish,
        truncated=finish == "length",
        latency_ms=latency_ms,
        status=status,
    )


def _error(status: int, latency_ms: float, message: str) -> Completion:
    return Completion(
        answer="", reasoning="", usage=Usage(), finish="error", truncated=False,
        latency_ms=latency_ms, status=status, error=message,
    )  # fmt: skip


def _typed(kind: Any, message: Any, fallback: str) -> str:
    kind_text = str(kind) if kind not in (None, "") else fallback
    text = message if isinstance(message, str) else json.dumps(message)
    return f"{kind_text}: {text}"


def _snippet(body: bytes) -> str:
    return " ".join(body.decode("utf-8", "replace").split())[:_SNIPPET]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content given as parts: [{"type": "text", "text": ...}]
        return "".join(_part_texts(value, "text"))
    return ""


def _part_texts(parts: Any, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    texts = (p.get("text") for p in map(_dict, parts) if p.get("type") == kind)
    return [t for t in texts if isinstance(t, str)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Client:
    """Sends requests over one pooled, keep-alive ``httpx.AsyncClient``.

    ``base_url`` may end in ``/v1`` (request paths already start with it). No retries
    here: every failure but 401/403 comes back as an error :class:`Completion`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        base = base_url.strip().rstrip("/")
        if not re.match(r"https?://[^/\s]+", base):
            raise ConfigError(f"base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base.removesuffix("/v1")
        self.timeout = timeout
        all_headers = dict(headers or {})
        if any(name.lower() == "authorization" for name in all_headers):
            raise ConfigError("set the token through the API key, not an Authorization header")
        if api_key:
            key = api_key.strip()
            if not key.isascii() or not key.isprintable():
                # httpx would raise with the token in the exception's repr.
                raise ConfigError("API key contains characters not allowed in an HTTP header")
            all_headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=all_headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def complete(
        self, request: Request, *, max_output_tokens: int | None = None
    ) -> Completion:
        """Send ``request`` and normalise the reply.

        ``max_output_tokens`` defaults to the one in a Responses body. Raises
        :class:`AuthError` on 401/403; every other failure is an error completion
        (``status`` 0 when no HTTP response arrived).
        """
        if max_output_tokens is None and request.api == "responses":
            max_output_tokens = _int(request.body.get("max_output_tokens"))
        start = time.perf_counter()
        try:
            response = await self._http.post(request.path, json=dict(request.body))
        except httpx.TimeoutException:
            return _error(0, _ms(start), f"timeout after {self.timeout:g}s")
        except httpx.RequestError as exc:
            kind = "connection" if isinstance(exc, httpx.TransportError) else "request"
            text = f"{kind} error: {type(exc).__name__}: {exc}"
            return _error(0, _ms(start), self._scrub(text))
        latency_ms = _ms(start)
        status, content = response.status_code, response.content
        if status in (401, 403):
            raise AuthError(status, self._scrub(error_message(status, content)))
        completion = parse_response(
            request.api, status, content, latency_ms, max_output_tokens=max_output_tokens
        )
        if completion.error is None:
            return completion
        return _error(completion.status, completion.latency_ms, self._scrub(completion.error))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _scrub(self, text: str) -> str:
        # A server or proxy may echo the header back; never let the token out.
        token = self._http.headers.get("authorization", "").removeprefix("Bearer ")
        return text.replace(token, "***") if token else text


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
