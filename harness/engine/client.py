"""One OpenAI-compatible client for vLLM's Chat Completions and Responses APIs.

``build_request`` (:mod:`harness.engine.requests`) and ``parse_response``
(:mod:`harness.engine.parse`) are pure; the :class:`Client` only sends, once per call:
retries belong to the engine, which asks :meth:`Client.attempt` whether a failure is
worth another try. 401/403 raise :class:`~harness.errors.AuthError`; every other failure is
an error completion.

Requests go out through :class:`~harness.engine.wire.WireTransport` (HTTP/1.1 keep-alive
over asyncio), or the ``httpx`` transport a caller injects. The API token is a
:class:`~harness.secret.Secret`; its header value goes straight into the ``httpx``
headers (whose repr masks it). Every reply is scrubbed of the token in
every encoding before it is parsed, and the parsed texts again, tool calls' names, ids
and arguments included (a token split across stream events comes together only there).
A reply is read within ``max_reply_bytes`` (on the wire and decompressed,
:mod:`harness.engine.bodies`), and the whole attempt, connecting to the last byte of a
stream, within ``timeout`` seconds: a deadline, not a per-read limit.
Nothing but :class:`~harness.errors.AuthError` leaves :meth:`Client.attempt`: any other
failure, a bug included, is an error completion, so no traceback shows its locals.
:meth:`Client.get` reads the GET paths (``/version``, ``/v1/models``, ``/openapi.json``)
the same way, within the same cap and scrubbed, and never raises.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from typing import cast

import httpx

from harness import __version__
from harness.engine.bodies import MIB, BadEncoding, BodyReader, LineSplitter, ReplyTooLarge
from harness.engine.parse import error_completion, error_message, int_or_none, parse_response
from harness.engine.requests import build_request
from harness.engine.retry import parse_retry_after, should_retry
from harness.engine.streaming import StreamParser, is_stream
from harness.engine.toolcalls import scrubbed
from harness.engine.wire import WireTransport
from harness.errors import AuthError, ConfigError
from harness.models import Completion, Request
from harness.secret import Secret
from harness.settings.values import DEFAULT_MAX_REPLY_MB, DEFAULT_TIMEOUT

__all__ = ["Attempt", "Client", "Fetched", "build_request", "error_message", "parse_response"]

DEFAULT_MAX_CONNECTIONS = 32


@dataclass(frozen=True, slots=True)
class Fetched:
    """One ``GET``: the status (0 when no HTTP answer came), the body (read within the
    reply cap, scrubbed of the token) and, when no whole body came, what went wrong in
    ``error`` and the exception in ``failure`` (for a caller that words it itself)."""

    status: int
    body: bytes = b""
    latency_ms: float = 0.0
    error: str | None = None
    failure: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a request: its completion, and whether a failure is worth retrying
    (with the server's ``Retry-After`` in seconds, when it sent one)."""

    completion: Completion
    retryable: bool
    retry_after: float | None = None


class Client:
    """Sends requests over one keep-alive transport (``transport``, by default a
    :class:`~harness.engine.wire.WireTransport` of ``max_connections``).

    ``base_url`` may end in ``/v1`` (request paths already start with it). No retries
    here: every failure but 401/403 comes back as an error :class:`Completion`.

    Requests go straight to the transport's ``handle_async_request`` with a prebuilt
    ``httpx.Request``: the harness needs none of ``AsyncClient``'s per-request work (URL
    merging, cookies, auth flows, redirects), which cost a third of its CPU per request
    in ``benchmarks/throughput.py``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Secret | str | None,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_MB * MIB,
    ) -> None:
        base = base_url.strip().rstrip("/")
        if not re.match(r"https?://[^/\s]+", base):
            raise ConfigError(f"base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base.removesuffix("/v1")
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        all_headers = dict(headers or {})
        if any(name.lower() == "authorization" for name in all_headers):
            raise ConfigError("set the token through the API key, not an Authorization header")
        self._secret = _as_secret(api_key)
        self._headers = httpx.Headers(
            {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"glm-harness/{__version__}",
                **all_headers,
            }
        )
        if self._secret:
            # straight into the headers: no frame holds the value as a plain local
            self._headers["Authorization"] = self._secret.bearer()
        self._stream_headers = self._headers.copy()  # a streamed request asks for SSE
        if not any(name.lower() == "accept" for name in all_headers):
            self._stream_headers["Accept"] = "text/event-stream"
        self._urls: dict[str, httpx.URL] = {}  # path -> URL, parsed once
        # WireTransport writes Host and Content-Length itself: its requests skip httpx's
        # header merging (a tenth of a request's CPU in benchmarks/throughput.py)
        self._frames_itself = transport is None
        if transport is None:
            # a context costs ~10 ms to make: only for https://
            tls = httpx.create_ssl_context() if self.base_url.startswith("https:") else None
            transport = WireTransport(ssl_context=tls, max_connections=max_connections)
        self._transport: httpx.AsyncBaseTransport = transport

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def complete(
        self, request: Request, *, max_output_tokens: int | None = None
    ) -> Completion:
        """Send ``request`` once and normalise the reply.

        ``max_output_tokens`` defaults to the one in a Responses body. Raises
        :class:`AuthError` on 401/403; every other failure is an error completion
        (``status`` 0 when no HTTP response arrived).
        """
        return (await self.attempt(request, max_output_tokens=max_output_tokens)).completion

    async def attempt(self, request: Request, *, max_output_tokens: int | None = None) -> Attempt:
        """Like :meth:`complete`, and says whether a failure is worth retrying."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                attempt = await self._attempt(request, max_output_tokens, start)
        except AuthError:
            raise
        except TimeoutError:
            # the deadline (--glm-timeout) passed: the same words as httpx's own timeouts
            return Attempt(
                error_completion(0, _ms(start), f"timeout after {self.timeout:g}s"), True
            )
        except Exception as exc:  # a bug, or something no rule above foresaw
            said = self._scrub(f"client error: {type(exc).__name__}: {exc}")
            return Attempt(error_completion(0, _ms(start), said[:500]), False)
        if attempt.completion.error is None:
            return dataclasses.replace(attempt, completion=self._scrubbed(attempt.completion))
        return attempt

    async def _attempt(
        self, request: Request, max_output_tokens: int | None, start: float
    ) -> Attempt:
        if max_output_tokens is None and request.api == "responses":
            max_output_tokens = int_or_none(request.body.get("max_output_tokens"))
        body = json.dumps(request.body, ensure_ascii=False).encode("utf-8")
        headers = self._stream_headers if is_stream(request) else self._headers
        outgoing = self._request("POST", request.path, headers, body)
        stream: StreamParser | None = None
        content = b""
        try:
            response = await self._transport.handle_async_request(outgoing)
            try:
                # a reply already read (an injected transport's) was decoded by httpx
                coding = (
                    ""
                    if response.is_stream_consumed
                    else response.headers.get("content-encoding", "")
                )
                reader = BodyReader(coding, self.max_reply_bytes)
                if is_stream(request) and _is_sse(response):
                    stream = StreamParser(request.api, max_output_tokens=max_output_tokens)
                    lines = LineSplitter()
                    async for chunk in _raw(response):
                        for line in lines.feed(reader.feed(chunk)):
                            stream.feed(self._scrub(line), _ms(start))
                    for line in lines.feed(reader.finish(), final=True):
                        stream.feed(self._scrub(line), _ms(start))
                else:
                    async for chunk in _raw(response):
                        reader.collect(chunk)
                    content = reader.body()
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return Attempt(
                error_completion(0, _ms(start), f"timeout after {self.timeout:g}s"), True
            )
        except httpx.RequestError as exc:
            transport = isinstance(exc, httpx.TransportError)
            text = f"{'connection' if transport else 'request'} error: {_describe(exc)}"
            return Attempt(error_completion(0, _ms(start), self._scrub(text)), transport)
        except (ReplyTooLarge, BadEncoding) as exc:
            status = response.status_code
            return Attempt(error_completion(status, _ms(start), self._scrub(str(exc))), False)
        latency_ms = _ms(start)
        if stream is not None:
            # lines were scrubbed as they came; an error event or an early end is like an
            # error body on a 200: retryable
            completion = stream.finish(response.status_code, latency_ms)
            if completion.error is None:
                return Attempt(completion, False)
            headers = response.headers
            retry = should_retry(200, headers, no_response=False, failed=True)
            return Attempt(completion, retry, parse_retry_after(headers) if retry else None)
        status = response.status_code
        if self._secret:
            # before any parsing: a cut (error snippets are 200 characters) could keep half
            content = self._secret.scrub_bytes(content)
        if status in (401, 403):
            raise AuthError(status, self._scrub(error_message(status, content)))
        completion = parse_response(
            request.api, status, content, latency_ms, max_output_tokens=max_output_tokens
        )
        if completion.error is None:
            return Attempt(completion, False)
        failed = error_completion(
            completion.status, completion.latency_ms, self._scrub(completion.error)
        )
        headers = response.headers
        retry = should_retry(status, headers, no_response=False, failed=True)
        return Attempt(failed, retry, parse_retry_after(headers) if retry else None)

    async def get(self, path: str, *, timeout: float | None = None) -> Fetched:
        """``GET path`` once, with the run's headers and token, within ``timeout`` seconds
        (at most the client's deadline) and the reply cap; never raises (a 401 is a
        status like any other: the caller says what it means)."""
        start = time.perf_counter()
        limit = self.timeout if timeout is None else min(timeout, self.timeout)
        outgoing = self._request("GET", path, self._headers, b"")
        status = 0
        try:
            async with asyncio.timeout(limit):
                response = await self._transport.handle_async_request(outgoing)
                status = response.status_code
                try:
                    coding = (
                        ""
                        if response.is_stream_consumed
                        else response.headers.get("content-encoding", "")
                    )
                    reader = BodyReader(coding, self.max_reply_bytes)
                    async for chunk in _raw(response):
                        reader.collect(chunk)
                    body = reader.body()
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            return Fetched(0, latency_ms=_ms(start), error=f"timeout after {limit:g}s", failure=exc)
        except httpx.HTTPError as exc:
            said = self._scrub(f"connection error: {_describe(exc)}")
            return Fetched(0, latency_ms=_ms(start), error=said, failure=exc)
        except (ReplyTooLarge, BadEncoding) as exc:
            return Fetched(status, latency_ms=_ms(start), error=str(exc), failure=exc)
        except Exception as exc:  # a bug, or something no rule above foresaw
            said = self._scrub(f"client error: {type(exc).__name__}: {exc}")[:500]
            return Fetched(status, latency_ms=_ms(start), error=said, failure=exc)
        if self._secret:
            body = self._secret.scrub_bytes(body)
        return Fetched(status, body, _ms(start))

    async def aclose(self) -> None:
        """Close the transport and its connections."""
        await self._transport.aclose()

    def _request(
        self, method: str, path: str, headers: httpx.Headers, body: bytes
    ) -> httpx.Request:
        """The request, its URL parsed once per path. No timeouts in it: the deadline
        around the attempt bounds every step."""
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.base_url + path)
            if len(self._urls) < 64:  # the API paths and the doctor's GETs
                self._urls[path] = url
        if not self._frames_itself:
            return httpx.Request(method, url, headers=headers, content=body or None)
        outgoing = httpx.Request(method, url, headers=headers, stream=httpx.ByteStream(body))
        outgoing.read()
        return outgoing

    def _scrub(self, text: str) -> str:
        # A server or proxy may echo the header back; never let the token out.
        return self._secret.scrub(text) if self._secret else text

    def _scrubbed(self, completion: Completion) -> Completion:
        """The completion's texts scrubbed again, now that they are whole: the answer, the
        reasoning and each call's id, name and arguments."""
        if not self._secret:
            return completion
        answer, reasoning = self._scrub(completion.answer), self._scrub(completion.reasoning)
        calls = tuple(scrubbed(call, self._scrub) for call in completion.tool_calls)
        same = answer == completion.answer and reasoning == completion.reasoning
        if same and calls == completion.tool_calls:  # an unchanged call is the same object
            return completion
        return dataclasses.replace(completion, answer=answer, reasoning=reasoning, tool_calls=calls)


def _as_secret(api_key: Secret | str | None) -> Secret | None:
    """The key as a :class:`Secret`, checked: httpx would raise with the token in the
    exception's repr for a value unfit for a header."""
    if api_key is None or isinstance(api_key, Secret):
        secret = api_key
    else:
        secret = Secret(api_key.strip()) if api_key.strip() else None
    if secret and not secret.fits_header():
        raise ConfigError("API key contains characters not allowed in an HTTP header")
    return secret


def _raw(response: httpx.Response) -> AsyncIterable[bytes]:
    """The body's bytes as they came off the wire (still compressed): the transport's
    stream itself (``aiter_raw`` adds only bookkeeping the client does not read)."""
    if response.is_stream_consumed:
        return _Once(response.content)
    return cast("AsyncIterable[bytes]", response.stream)


class _Once:
    """A body read already, as one chunk."""

    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        content, self._content = self._content, None
        if content is None:
            raise StopAsyncIteration
        return content


def _is_sse(response: httpx.Response) -> bool:
    """A 200 to a streamed request that is not JSON: a non-200 (or a server that ignored
    ``stream``) is read whole and parsed like a non-streamed reply."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return response.status_code == 200 and kind != "application/json"


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


_PLAIN = {
    "ConnectError": "could not connect (refused or unreachable)",
    "ReadError": "the connection was reset or closed before the answer arrived",
    "WriteError": "the connection was reset or closed while sending the request",
    "RemoteProtocolError": "the server closed the connection or broke HTTP",
}


def _describe(exc: Exception) -> str:
    """``ReadError: the connection was reset ...``: where httpx's message is empty or says
    only "All connection attempts failed", say what happened in plain words; a refused
    connection in the words runs have always used."""
    name = type(exc).__name__
    said = " ".join(str(exc).split())
    plain = _PLAIN.get(name)
    if isinstance(exc.__cause__, ConnectionRefusedError):
        said = ""
    if said and said != "All connection attempts failed":
        return f"{name}: {said}"
    return f"{name}: {plain or said or 'no details'}"
