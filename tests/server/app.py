"""A scripted OpenAI-compatible server on 127.0.0.1 that answers like vLLM does.

Real sockets, both APIs (``POST /v1/chat/completions``, ``POST /v1/responses``, ``GET
/health``). Replies mirror the JSON shapes in /work/shared/notes/vllm-shapes.md. What it
answers is scripted by :class:`Rule` s, matched against the prompt text (all message
contents, the input string or input item contents, and ``instructions``, joined by
newlines). Every request is recorded. Test code only: ``harness`` never imports it.

Fault injection, for tests of a retrying request engine: a rule's ``faults`` are served, in
order, to the first ``len(faults)`` requests that match that rule (counted per rule object,
thread-safe); later matches get the rule's normal answer. A :class:`Fault` is an error
status (with ``Retry-After`` and extra headers), a connection reset, a body cut short, a
stall before the normal answer, a malformed 200 body, or a 200 carrying an error object.

Streaming: a request with ``"stream": true`` gets a 200 ``text/event-stream`` answer sent
with chunked transfer encoding, one flushed chunk per event (``Rule.stream_delay`` seconds
apart), shaped like vLLM's: Chat ``data: {chunk}`` lines (a role chunk, reasoning deltas,
content deltas, a finish chunk, a usage chunk with ``choices: []`` only when
``stream_options.include_usage`` is set, then ``data: [DONE]``); Responses ``event: <type>``
/ ``data: {...}`` pairs with a ``sequence_number``, ending with ``response.completed``
carrying the same response object a non-streamed request gets. Error replies (status
faults, a rule's ``status``) stay plain JSON, as vLLM answers before a stream starts. The
``stream_cut`` and ``stream_error`` faults break a stream part-way.

Tool calls: a rule's ``tool_calls`` (``[{"name", "arguments": <dict, or a raw string sent
as it is>, "id"?}]``) answer with those calls, with the rule's ``answer`` as text beside
them when it has one. Chat: ``message.tool_calls`` (``content: null`` without text),
``finish_reason: tool_calls``; Responses: ``function_call`` items after the message,
status completed; streamed as vLLM streams them (Chat ``delta.tool_calls`` pieces by
``index``, the arguments in three; Responses ``output_item.added``,
``function_call_arguments.delta`` / ``.done``, ``output_item.done``). A tool turn's content
(Chat ``role: tool``, Responses ``function_call_output``) is part of the prompt text, so a
follow-up after a tool result can be scripted. ``auto_tools=False`` is vLLM started
without ``--enable-auto-tool-choice``: a request offering tools with ``tool_choice`` auto
(or none given, which vLLM takes as auto) is a 400.

The server's fingerprint: ``GET /version`` answers ``{"version": <version>}`` (vLLM's
shape; default ``0.33.0``, settable; None: 404, as llama-server answers), without the token
(vLLM guards ``/v1`` paths only). Canaries: a prompt with ``glm-harness canary`` in it is
answered by ``canary`` (default :data:`CANARY_RULE`, a model that needs 48 tokens of thought:
it honours effort none, caps and budgets as the server's ``thinking_off`` and ``budgets``
say) before any of ``rules``; set ``canary`` to None (or another rule) to script them.

For ``glm-harness doctor``: ``GET /v1/models`` lists the server's ``model`` (vLLM's
shape); ``GET /openapi.json`` serves the ``openapi`` document given to the constructor, or
404 when it is None (as llama-server does); :func:`vllm_openapi` builds a document shaped
like FastAPI's for vLLM (pydantic ``anyOf`` / ``$ref`` into ``components/schemas``), with
chosen fields left out. Both GETs check the token when ``api_key`` is set; ``/health``
never does (vLLM's ``--api-key`` guards ``/v1`` paths only). Paths in ``not_served`` answer
a POST with 404, like a server without that API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import re
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

DEFAULT_MODEL = "zai-org/GLM-4.7-Flash"
FALLBACK_ANSWER = "I don't know."
CANARY_MARK = "glm-harness canary"  # in harness.engine.canary.PROMPT
ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "RequestTimeoutError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}
FAULT_KINDS = (
    "status", "reset", "cut", "stall", "malformed", "error200", "stream_cut", "stream_error"
)  # fmt: skip
ERROR_SHAPES = ("nested", "flat", "html")
AUTO_TOOLS_REFUSED = (  # vLLM's words, without --enable-auto-tool-choice
    '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
)


@dataclass
class Fault:
    """One injected failure, served instead of (or, for "stall", before) a rule's answer.

    ``kind``:

    - ``"status"``: ``status`` with an error body of ``error_shape`` saying ``message``;
    - ``"reset"``: read the request, then close the socket with SO_LINGER 0 (a TCP RST, no
      response at all);
    - ``"cut"``: a 200 whose ``Content-Length`` is the full answer's, but only the first half
      of the body is sent before the connection is closed;
    - ``"stall"``: wait ``stall`` seconds, then send the normal answer (client read timeouts);
    - ``"malformed"``: a 200 with the body ``{"choices": [`` (invalid JSON);
    - ``"error200"``: a 200 whose body is a nested error object saying ``message``;
    - ``"stream_cut"``: a streamed 200 (even if the request did not ask to stream) that sends
      the first half of the events before the stream's end, then closes the connection
      without the end (chat: no finish chunk and no ``[DONE]``; responses: no
      ``response.completed``) and without the last (zero-length) chunk;
    - ``"stream_error"``: a streamed 200 that sends the same first events, then an error
      event saying ``message`` and ends properly (chat: ``data: {"error": {...}}`` then
      ``data: [DONE]``; responses: ``event: error`` with ``{"type": "error", "code":
      "server_error", "message": ...}``).

    ``retry_after`` (sent verbatim as ``Retry-After``: seconds or an HTTP date) and
    ``headers`` go out with every kind that sends a response (all but "reset").
    """

    status: int = 500
    retry_after: str | None = None
    headers: dict[str, str] | None = None
    error_shape: str = "nested"  # "nested" | "flat" | "html"
    message: str = "injected fault"
    kind: str = "status"  # see FAULT_KINDS
    stall: float = 0.0  # seconds, for kind "stall"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault kind {self.kind!r} is not one of {FAULT_KINDS}")
        if self.error_shape not in ERROR_SHAPES:
            raise ValueError(f"Fault error_shape {self.error_shape!r} is not one of {ERROR_SHAPES}")

    def response_headers(self) -> dict[str, str]:
        extra = dict(self.headers or {})
        if self.retry_after is not None:
            extra["Retry-After"] = self.retry_after
        return extra


@dataclass
class Rule:
    """One scripted reply. The first rule whose conditions all hold answers."""

    match: str  # regex searched in the prompt text
    answer: str = ""
    reasoning: str = ""
    api: str | None = None  # only for this API when set
    effort: str | None = None  # only for this effort ("default" = no effort field sent)
    finish: str = "stop"  # "length": chat finish_reason length / responses incomplete
    content_null: bool = False  # chat content null; responses: no message item
    # "reasoning" | "reasoning_content" | "both" | "none" (leaked: "<reasoning></think><answer>")
    reasoning_field: str = "reasoning"
    # Override usage numbers: input_tokens / output_tokens (or the chat names
    # prompt_tokens / completion_tokens), mapped to the API's own names.
    usage: dict[str, int] | None = None
    reasoning_tokens: int | None = None  # chat: adds completion_tokens_details; responses: 0
    status: int = 200  # non-200: an error body of error_shape
    error_shape: str = "nested"  # "nested" | "flat" | "html"
    error_message: str = "scripted error"
    delay: float = 0.0  # seconds to wait before answering
    stream_delay: float = 0.0  # streamed answers: seconds between events
    old_incomplete: bool = False  # responses: say "completed" although truncated (old vLLM)
    raw: str | None = None  # send this body verbatim with ``status`` (malformed JSON, ...)
    raw_bytes: bytes | None = None  # like ``raw``, as bytes (invalid UTF-8, ...); wins over it
    # A model that is right only sometimes: with ``accuracy`` set, each reply is ``answer``
    # with that probability, else ``wrong_answer``; draws come from random.Random(seed).
    accuracy: float | None = None
    wrong_answer: str = "I don't know."
    seed: int = 0
    # Served, in order, to the first len(faults) matching requests; then answers as above.
    faults: list[Fault] | None = None
    # A model that must think: ``thinking`` tokens (words of reasoning) before it can give
    # ``answer``. Thinking off (effort none, ``enable_thinking: false``; see the server's
    # ``thinking_off``): no reasoning, ``wrong_answer``. Chat ``thinking_token_budget``
    # below it: reasoning cut at the budget, then ``wrong_answer``. A token cap below it:
    # all reasoning, no content, ``finish`` length (as vLLM's GLM parser gives).
    thinking: int | None = None
    # Function calls the model makes: [{"name", "arguments": dict | raw str, "id"?}]
    tool_calls: list[dict[str, Any]] | None = None


# A GLM-like model for the canary prompt (harness.engine.canary): 48 tokens of thought
# before the answer, so effort none, a 16-token cap and a 16-token budget each show.
CANARY_RULE = Rule(match=CANARY_MARK, answer="49403", thinking=48)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None for GET / unparsable bodies
    prompt: str = ""  # the text rules are matched against ("" for GET / other paths)
    method: str = "POST"


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # "send" | "reset" (RST, no response) | "cut" (half the body) | "stream" (``events``
    # as chunks) | "stream_cut" (``events`` as chunks, then hang up without the last chunk)
    action: str = "send"
    events: list[bytes] = field(default_factory=list)
    stream_delay: float = 0.0  # seconds between events


class ScriptedServer:
    """A threaded HTTP server; use as a context manager or call start() / stop()."""

    def __init__(
        self,
        rules: list[Rule] | None = None,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = DEFAULT_MODEL,
        openapi: dict[str, Any] | None = None,
        not_served: tuple[str, ...] = (),
        budgets: bool | str = True,
        thinking_off: str = "both",
        version: str | None = "0.33.0",
        auto_tools: bool = True,
    ) -> None:
        self.rules: list[Rule] = list(rules or [])
        # started with --reasoning-parser and --reasoning-config: thinking_token_budget
        # works on Chat; False: a request with one is a 400, as vLLM answers; "ignored":
        # accepted and without effect (a vLLM from before thinking budgets)
        self.budgets = budgets
        # which APIs honour effort none / enable_thinking false for ``Rule.thinking``:
        # "both" (vLLM 0.33.0), "chat" (vLLM before May 2026), "none" (a template or
        # --default-chat-template-kwargs that ignores it)
        self.thinking_off = thinking_off
        self._initial_thinking = (budgets, thinking_off)
        self.version = version  # GET /version; None: 404
        self.canary: Rule | None = CANARY_RULE  # answers the canary prompt, before ``rules``
        self._initial_server = (version, self.canary, model)
        # started with --enable-auto-tool-choice --tool-call-parser: tool_choice auto works
        self.auto_tools = self._initial_auto_tools = auto_tools
        self.api_key = self._initial_api_key = api_key
        self.model = model
        self.openapi: dict[str, Any] | bytes | None = openapi  # GET /openapi.json; None: 404
        self.not_served = not_served  # POST paths that answer 404
        self._initial_get = (openapi, not_served)
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._rngs: dict[int, random.Random] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()  # wakes stalling handlers on stop()
        # id(rule) -> (rule, faults served); holding the rule keeps its id from being reused
        self._faults_served: dict[int, tuple[Rule, int]] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        # bumped by reset(): a POST of an earlier round (a stall its client gave up on) is
        # no longer counted, so it cannot inflate the next test's numbers
        self._round = 0

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def max_in_flight(self) -> int:
        """The most POSTs handled at the same time since start or the last reset(). A POST
        counts from when its request is read until just before the last byte of its reply
        (or its reset) goes out: never after the client has it."""
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        """POSTs being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def suite_requests(self) -> list[RecordedRequest]:
        """The recorded requests of the suites: every POST but the canary probes (a run's
        GETs are the server's fingerprint)."""
        return [r for r in self.requests if r.method == "POST" and CANARY_MARK not in r.prompt]

    def requests_for(self, pattern: str) -> int:
        """How many recorded requests have a prompt in which ``pattern`` (a regex) is found."""
        return sum(1 for r in self.requests if re.search(pattern, r.prompt))

    def faults_served(self, rule: Rule) -> int:
        """How many of ``rule``'s faults have been served (by this server, since reset)."""
        with self._lock:
            return self._faults_served.get(id(rule), (rule, 0))[1]

    def reset(self) -> None:
        """Forget rules, recorded requests, fault counters and the in-flight counts (POSTs
        still being handled are no longer counted); restore the API key, ``openapi``,
        ``not_served``, ``budgets`` and ``thinking_off`` it was built with."""
        with self._lock:
            self.rules = []
            self.api_key = self._initial_api_key
            self.openapi, self.not_served = self._initial_get
            self.budgets, self.thinking_off = self._initial_thinking
            self.version, self.canary, self.model = self._initial_server
            self.auto_tools = self._initial_auto_tools
            self._requests.clear()
            self._faults_served.clear()
            self._in_flight = self._max_in_flight = 0
            self._round += 1
            self._rngs.clear()

    def start(self) -> ScriptedServer:
        httpd = _HTTPServer(self._address, _Handler)
        httpd.scripted = self
        self._httpd = httpd
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-server"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections; stalling handlers wake up and give up."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            for conn in self._connections:  # idle keep-alive connections
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- called from handler threads ------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _enter(self) -> int:
        """Count a POST in flight; its round, for :meth:`_leave`."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            return self._round

    def _leave(self, round_: int) -> None:
        with self._lock:
            if round_ == self._round:  # else reset() has already stopped counting it
                self._in_flight -= 1

    def _next_fault(self, rule: Rule) -> Fault | None:
        """The fault this match of ``rule`` gets, if any; counts it."""
        if not rule.faults:
            return None
        with self._lock:
            served = self._faults_served.get(id(rule), (rule, 0))[1]
            if served >= len(rule.faults):
                return None
            self._faults_served[id(rule)] = (rule, served + 1)
            return rule.faults[served]

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _find_rule(self, api: str, effort: str, prompt: str) -> Rule:
        with self._lock:
            rules = [*([self.canary] if self.canary is not None else []), *self.rules]
        for rule in rules:
            if rule.api is not None and rule.api != api:
                continue
            if rule.effort is not None and rule.effort != effort:
                continue
            if re.search(rule.match, prompt):
                return rule
        return Rule(match="", answer=FALLBACK_ANSWER)

    def _get_reply(self, path: str, headers: dict[str, str]) -> _Reply:
        if path == "/health":
            return _Reply(200, b"")
        if path == "/version" and self.version is not None:
            return _Reply(200, _json({"version": self.version}))
        if path not in ("/v1/models", "/openapi.json"):
            return _Reply(404, _json({"detail": "Not Found"}))
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _error_reply(401, "nested", "Unauthorized: invalid or missing API key")
        if path == "/v1/models":
            entry = {"id": self.model, "object": "model", "owned_by": "vllm", "root": self.model}
            return _Reply(200, _json({"object": "list", "data": [entry]}))
        if self.openapi is None:
            return _Reply(404, _json({"detail": "Not Found"}))
        raw = self.openapi if isinstance(self.openapi, bytes) else None  # e.g. a hostile body
        return _Reply(200, raw if raw is not None else _json(self.openapi))

    def _reply(self, path: str, headers: dict[str, str], body: Any) -> _Reply:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _error_reply(401, "nested", "Unauthorized: invalid or missing API key")
        if path not in ("/v1/chat/completions", "/v1/responses") or path in self.not_served:
            return _Reply(404, _json({"detail": "Not Found"}))
        if not isinstance(body, dict):
            return _error_reply(400, "nested", "request body must be a JSON object")
        api = "chat" if path == "/v1/chat/completions" else "responses"
        if api == "chat" and "thinking_token_budget" in body and self.budgets is False:
            message = (
                "thinking_token_budget is set but reasoning_config is not configured; "
                "start the server with --reasoning-parser and --reasoning-config"
            )
            return _error_reply(400, "nested", message)
        if body.get("tools") and body.get("tool_choice", "auto") == "auto" and not self.auto_tools:
            return _error_reply(400, "nested", AUTO_TOOLS_REFUSED)
        effort, prompt = _chat_view(body) if api == "chat" else _responses_view(body)
        rule = self._find_rule(api, effort, prompt)
        fault = self._next_fault(rule)
        if rule.delay:
            time.sleep(rule.delay)
        if fault is None:
            return self._answer(rule, api, body, prompt)
        if fault.kind == "stall":
            if self._stopping.wait(fault.stall):
                return _Reply(0, b"", action="reset")  # stopping: give up at once
            reply = self._answer(rule, api, body, prompt)
        elif fault.kind == "status":
            reply = _error_reply(fault.status, fault.error_shape, fault.message)
        elif fault.kind == "reset":
            reply = _Reply(0, b"", action="reset")
        elif fault.kind == "cut":
            reply = _Reply(200, self._success_body(rule, api, body, prompt), action="cut")
        elif fault.kind == "malformed":
            reply = _Reply(200, b'{"choices": [')
        elif fault.kind == "error200":
            error = {"message": fault.message, "type": "InternalServerError", "code": 500}
            reply = _Reply(200, _json({"error": error}))
        else:  # "stream_cut" | "stream_error": half the events before the end, then break
            events, _ = self._stream_events(self._drawn(rule), api, body, prompt)
            sent = events[: (len(events) + 1) // 2]
            if fault.kind == "stream_cut":
                reply = _stream_reply(rule, sent, action="stream_cut")
            else:
                reply = _stream_reply(rule, sent + _stream_error(api, len(sent), fault.message))
        reply.headers.update(fault.response_headers())
        return reply

    def _answer(self, rule: Rule, api: str, body: dict[str, Any], prompt: str) -> _Reply:
        """The rule's normal reply (no fault)."""
        if rule.raw_bytes is not None:
            return _Reply(rule.status, rule.raw_bytes)
        if rule.raw is not None:
            return _Reply(rule.status, rule.raw.encode())
        if rule.status != 200:
            return _error_reply(rule.status, rule.error_shape, rule.error_message)
        rule = self._thought(self._drawn(rule), api, body)
        if body.get("stream") is True:
            events, end = self._stream_events(rule, api, body, prompt)
            return _stream_reply(rule, events + end)
        return _Reply(200, self._success_body(rule, api, body, prompt))

    def _thought(self, rule: Rule, api: str, body: dict[str, Any]) -> Rule:
        """``rule`` as a model that needs ``rule.thinking`` tokens of thought answers this
        request (see :class:`Rule`)."""
        if rule.thinking is None:
            return rule
        need = rule.thinking
        if _thinking_off(api, body) and self.thinking_off in ("both", api):
            answer = rule.wrong_answer if need > 0 else rule.answer
            return dataclasses.replace(rule, reasoning="", reasoning_tokens=0, answer=answer)
        cap = body.get("max_completion_tokens" if api == "chat" else "max_output_tokens")
        if isinstance(cap, int) and cap < need:
            return dataclasses.replace(
                rule, reasoning=_thoughts(cap), reasoning_tokens=cap, answer="",
                content_null=True, finish="length", usage={"output_tokens": cap},
            )  # fmt: skip
        honoured = api == "chat" and self.budgets is True
        budget = body.get("thinking_token_budget") if honoured else None
        if isinstance(budget, int) and budget < need:
            return dataclasses.replace(
                rule, reasoning=_thoughts(budget), reasoning_tokens=budget,
                answer=rule.wrong_answer,
            )  # fmt: skip
        return dataclasses.replace(rule, reasoning=_thoughts(need), reasoning_tokens=need)

    def _drawn(self, rule: Rule) -> Rule:
        """``rule``, or for a rule with ``accuracy``, maybe its wrong answer (one draw)."""
        if rule.accuracy is None:
            return rule
        with self._lock:
            draw = self._rngs.setdefault(id(rule), random.Random(rule.seed)).random()
        if draw >= rule.accuracy:
            return dataclasses.replace(rule, answer=rule.wrong_answer)
        return rule

    def _stream_events(
        self, rule: Rule, api: str, body: dict[str, Any], prompt: str
    ) -> tuple[list[bytes], list[bytes]]:
        """The SSE events of the rule's streamed answer: (those before the end, the end)."""
        model = body.get("model") or self.model
        if api == "chat":
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            return _chat_stream(rule, _chat_body(rule, body, model, prompt), usage)
        return _responses_stream(_responses_body(rule, body, model, prompt))

    def _success_body(self, rule: Rule, api: str, body: dict[str, Any], prompt: str) -> bytes:
        model = body.get("model") or self.model
        if api == "chat":
            return _json(_chat_body(rule, body, model, prompt))
        return _json(_responses_body(rule, body, model, prompt))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: bursts of concurrent clients connect at once
    scripted: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are expected; stay quiet


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's pool is exercised
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: _HTTPServer
    _counted: int | None = None  # the round this POST is counted in flight in

    def setup(self) -> None:
        super().setup()
        self.server.scripted._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.scripted._track(self.connection, add=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.scripted._record(RecordedRequest(self.path, headers, None, method="GET"))
        self._send(self.server.scripted._get_reply(self.path, headers))

    def do_POST(self) -> None:
        scripted = self.server.scripted
        self._counted = scripted._enter()
        try:
            headers = {k.lower(): v for k, v in self.headers.items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            prompt = _prompt_of(self.path, body)
            scripted._record(RecordedRequest(self.path, headers, body, prompt))
            self._send(scripted._reply(self.path, headers, body))
        finally:
            self._done()  # a reply that never went out (the server stopping, an error)

    def _done(self) -> None:
        """This POST stops counting as in flight: just before the reply can be complete on
        the client's side (its last bytes, a reset). Once the client has it, it may send
        its next request, which must not find this one still counted."""
        if self._counted is not None:
            self.server.scripted._leave(self._counted)
            self._counted = None

    def _send(self, reply: _Reply) -> None:
        if reply.action == "reset":
            self._reset()
            return
        if reply.action in ("stream", "stream_cut"):
            self._stream(reply)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self._done()  # the headers (and the body, if empty) go out with end_headers
        self.end_headers()
        if reply.action == "cut":  # promise the whole body, send half, hang up (FIN)
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(reply.body)

    def _stream(self, reply: _Reply) -> None:
        """Send ``reply.events`` as HTTP/1.1 chunks, one flushed chunk per event."""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        stopping = self.server.scripted._stopping
        for i, event in enumerate(reply.events):
            if i and reply.stream_delay and stopping.wait(reply.stream_delay):
                self.close_connection = True  # stopping: give up at once
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        if reply.action == "stream_cut":  # hang up (FIN) without the terminating chunk
            self.close_connection = True
            return
        self._done()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _reset(self) -> None:
        """Close the connection with a TCP RST instead of a response."""
        self._done()
        self.close_connection = True
        with contextlib.suppress(OSError):
            linger = struct.pack("ii", 1, 0)  # on, 0 s: close() discards and sends RST
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        # The file objects hold references to the socket; it only closes with the last one.
        self.rfile.close()
        self.wfile.close()
        self.connection.close()


# -- request views and reply bodies ----------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _prompt_of(path: str, body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if path == "/v1/chat/completions":
        return _chat_view(body)[1]
    if path == "/v1/responses":
        return _responses_view(body)[1]
    return ""


def _chat_view(body: dict[str, Any]) -> tuple[str, str]:
    effort = body.get("reasoning_effort") or "default"
    messages = body.get("messages") or []
    prompt = "\n".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))
    return str(effort), prompt


def _responses_view(body: dict[str, Any]) -> tuple[str, str]:
    reasoning = body.get("reasoning")
    effort = (reasoning.get("effort") if isinstance(reasoning, dict) else None) or "default"
    parts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    given = body.get("input")
    if isinstance(given, str):
        parts.append(given)
    elif isinstance(given, list):
        for item in (i for i in given if isinstance(i, dict)):
            if item.get("type") == "function_call_output":  # a tool's result
                parts.append(_content_text(item.get("output")))
            elif "content" in item:
                parts.append(_content_text(item.get("content")))
    return str(effort), "\n".join(parts)


def _thinking_off(api: str, body: dict[str, Any]) -> bool:
    """Does the request turn thinking off (effort none, or ``enable_thinking: false``)?"""
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False:
        return True
    if api == "chat":
        return body.get("reasoning_effort") == "none"
    reasoning = body.get("reasoning")
    return isinstance(reasoning, dict) and reasoning.get("effort") == "none"


def _thoughts(tokens: int) -> str:
    """Reasoning text of ``tokens`` words (the server counts words as tokens)."""
    return " ".join(f"step{n}" for n in range(tokens))


def _token_counts(rule: Rule, prompt: str, budget: Any) -> tuple[int, int]:
    """Rough word counts; a truncated reply used the whole budget."""
    used = len(f"{rule.reasoning} {rule.answer}".split())
    if rule.finish == "length" and isinstance(budget, int):
        used = budget
    given = rule.usage or {}
    prompt_tokens = given.get("input_tokens", given.get("prompt_tokens", len(prompt.split())))
    output_tokens = given.get("output_tokens", given.get("completion_tokens", used))
    return prompt_tokens, output_tokens


def _visible_answer(rule: Rule) -> str:
    if rule.reasoning_field == "none":  # an old glm45 parser leaves the thinking in content
        return f"{rule.reasoning}</think>{rule.answer}"
    return rule.answer


def _calls(rule: Rule) -> list[tuple[str, str, str]]:
    """The rule's calls as (id, name, arguments text)."""
    out = []
    for n, call in enumerate(rule.tool_calls or []):
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        out.append((str(call.get("id") or f"call_{n}_{uuid.uuid4().hex[:12]}"), call["name"], text))
    return out


def _chat_body(rule: Rule, body: dict[str, Any], model: str, prompt: str) -> dict[str, Any]:
    text = _visible_answer(rule)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if rule.content_null or (rule.tool_calls and not text) else text,
    }
    reasoning = rule.reasoning or None
    if rule.reasoning_field in ("reasoning", "both"):
        message["reasoning"] = reasoning
    if rule.reasoning_field in ("reasoning_content", "both"):
        message["reasoning_content"] = reasoning
    message["tool_calls"] = [
        {"id": i, "type": "function", "function": {"name": name, "arguments": arguments}}
        for i, name, arguments in _calls(rule)
    ]
    finish = "tool_calls" if rule.tool_calls and rule.finish == "stop" else rule.finish
    budget = body.get("max_completion_tokens", body.get("max_tokens"))
    prompt_tokens, completion_tokens = _token_counts(rule, prompt, budget)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": None,
    }
    if rule.reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": rule.reasoning_tokens}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish,
                "stop_reason": None,
                "token_ids": None,
            }
        ],
        "usage": usage,
    }


def _responses_body(rule: Rule, body: dict[str, Any], model: str, prompt: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if rule.reasoning and rule.reasoning_field != "none":
        output.append(
            {
                "type": "reasoning",
                "id": f"rs_{uuid.uuid4().hex}",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": rule.reasoning}],
                "status": None,
            }
        )
    text = _visible_answer(rule)
    if text and not rule.content_null:  # vLLM omits the message item without content
        output.append(
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex}",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": None}
                ],
            }
        )
    output += [
        {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex}",
            "call_id": i,
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }
        for i, name, arguments in _calls(rule)
    ]
    truncated = rule.finish == "length" and not rule.old_incomplete
    input_tokens, output_tokens = _token_counts(rule, prompt, body.get("max_output_tokens"))
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "incomplete" if truncated else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": body.get("instructions"),
        "output": output,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {
                "reasoning_tokens": rule.reasoning_tokens or 0,
                "tool_output_tokens": 0,
            },
            "total_tokens": input_tokens + output_tokens,
        },
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "max_output_tokens": body.get("max_output_tokens"),
        "reasoning": body.get("reasoning"),
        "text": body.get("text"),
        "tools": body.get("tools") or [],
        "tool_choice": body.get("tool_choice", "auto"),
        "parallel_tool_calls": True,
        "truncation": "disabled",
        "background": False,
        "service_tier": "auto",
    }


# -- streamed replies ------------------------------------------------------------------


def _pieces(text: str, n: int = 3) -> list[str]:
    """``text`` in up to ``n`` pieces split between words; they join back to ``text``."""
    words = [w for w in re.split(r"(?<=\s)(?=\S)", text) if w]
    size = max(1, -(-len(words) // n))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def _thirds(text: str) -> list[str]:
    """``text`` in three pieces (of characters: arguments are not split between words)."""
    size = max(1, -(-len(text) // 3))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _stream_reply(rule: Rule, events: list[bytes], action: str = "stream") -> _Reply:
    return _Reply(
        200,
        b"",
        content_type="text/event-stream",
        action=action,
        events=events,
        stream_delay=rule.stream_delay,
    )


def _chat_stream(
    rule: Rule, full: dict[str, Any], include_usage: bool
) -> tuple[list[bytes], list[bytes]]:
    """vLLM's chunks for the chat answer ``full``: (role, reasoning and content deltas),
    (finish chunk, usage chunk if asked for, [DONE])."""
    base = {
        "id": full["id"],
        "object": "chat.completion.chunk",
        "created": full["created"],
        "model": full["model"],
    }

    def chunk(delta: dict[str, Any], **finish: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None, **finish}
        return _sse({**base, "choices": [choice]})

    keys = {
        "reasoning": ("reasoning",),
        "reasoning_content": ("reasoning_content",),
        "both": ("reasoning", "reasoning_content"),
    }.get(rule.reasoning_field, ())  # "none": the reasoning is leaked into the content
    events = [chunk({"role": "assistant", "content": ""})]
    if keys:
        events += [chunk(dict.fromkeys(keys, piece)) for piece in _pieces(rule.reasoning)]
    content = full["choices"][0]["message"]["content"]
    events += [chunk({"content": piece}) for piece in _pieces(content or "")]
    for index, call in enumerate(full["choices"][0]["message"]["tool_calls"]):
        function = {"name": call["function"]["name"], "arguments": ""}
        events.append(chunk({"tool_calls": [{**call, "index": index, "function": function}]}))
        events += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _thirds(call["function"]["arguments"])
        ]
    finish = full["choices"][0]["finish_reason"]
    end = [chunk({}, finish_reason=finish, stop_reason=None)]
    if include_usage:
        end.append(_sse({**base, "choices": [], "usage": full["usage"]}))
    return events, [*end, b"data: [DONE]\n\n"]


def _responses_stream(full: dict[str, Any]) -> tuple[list[bytes], list[bytes]]:
    """vLLM's events for the response ``full``: (created ... last output_item.done),
    (response.completed carrying ``full``)."""
    start = {**full, "status": "in_progress", "incomplete_details": None, "output": []}
    start["usage"] = None
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
    ]
    for index, item in enumerate(full["output"]):
        if item["type"] == "function_call":
            events += _call_events(index, item)
            continue
        part = item["content"][0]
        text = part["text"]
        if item["type"] == "reasoning":
            prefix, extra = "response.reasoning_text", {}
            added = {**item, "content": []}
        else:
            prefix, extra = "response.output_text", {"logprobs": []}
            added = {**item, "status": "in_progress", "content": []}
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        events += [
            {"type": "response.output_item.added", "output_index": index, "item": added},
            {"type": "response.content_part.added", **where, "part": {**part, "text": ""}},
            *({"type": f"{prefix}.delta", **where, "delta": p, **extra} for p in _pieces(text)),
            {"type": f"{prefix}.done", **where, "text": text, **extra},
            {"type": "response.content_part.done", **where, "part": part},
            {"type": "response.output_item.done", "output_index": index, "item": item},
        ]
    events.append({"type": "response.completed", "response": full})
    encoded = [_sse({**e, "sequence_number": n}, e["type"]) for n, e in enumerate(events)]
    return encoded[:-1], encoded[-1:]


def _call_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    """vLLM's events for the ``function_call`` output item ``item`` at ``index``."""
    where = {"item_id": item["id"], "output_index": index}
    added = {**item, "arguments": "", "status": "in_progress"}
    return [
        {"type": "response.output_item.added", "output_index": index, "item": added},
        *(
            {"type": "response.function_call_arguments.delta", **where, "delta": piece}
            for piece in _thirds(item["arguments"])
        ),
        {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]},
        {"type": "response.output_item.done", "output_index": index, "item": item},
    ]


def _stream_error(api: str, sequence_number: int, message: str) -> list[bytes]:
    """The events of a failure mid-stream (after ``sequence_number`` events)."""
    if api == "chat":
        error = {"message": message, "type": "InternalServerError", "code": 500}
        return [_sse({"error": error}), b"data: [DONE]\n\n"]
    data = {
        "type": "error",
        "code": "server_error",
        "message": message,
        "param": None,
        "sequence_number": sequence_number,
    }
    return [_sse(data, "error")]


def _error_reply(status: int, shape: str, message: str) -> _Reply:
    kind = ERROR_TYPES.get(status, "APIError")
    if shape == "html":
        try:
            phrase = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:  # a status http.HTTPStatus does not know, e.g. 529
            phrase = str(status)
        page = (
            f"<html>\n<head><title>{phrase}</title></head>\n<body>\n"
            f"<center><h1>{phrase}</h1></center>\n<p>{message}</p>\n"
            "<hr><center>nginx</center>\n</body>\n</html>\n"
        )
        return _Reply(status, page.encode(), content_type="text/html")
    if shape == "flat":
        err = {"object": "error", "message": message, "type": kind, "param": None, "code": status}
        return _Reply(status, _json(err))
    nested = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return _Reply(status, _json(nested))


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


# -- GET /openapi.json -----------------------------------------------------------------

# Nested models keep the names FastAPI gives them (tests point $refs at some of them).
_MODEL_NAMES = {
    ("chat", "stream_options"): "StreamOptions",
    ("chat", "response_format"): "ResponseFormat",
    ("responses", "reasoning"): "Reasoning",
    ("responses", "text"): "ResponseTextConfig",
}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def _field_schema(field: dict[str, Any], ref: str | None) -> dict[str, Any]:
    """A pydantic-like schema for a field of the pinned copy: one ``anyOf`` branch per
    type (the enum values on the branch of their type); an object with fields of its own
    is a ``$ref`` to ``ref``, one without a free-form ``dict``."""
    branches: list[dict[str, Any]] = []
    for kind in field["type"]:
        if kind == "object":
            branches.append(
                {"$ref": f"#/components/schemas/{ref}"}
                if ref is not None
                else {"type": "object", "additionalProperties": True}
            )
            continue
        values = [v for v in field.get("enum", []) if _JSON_TYPES.get(type(v)) == kind]
        branches.append({"type": kind, **({"enum": values} if values else {})})
    if not branches:
        return {}  # Any
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def vllm_openapi(
    *,
    drop_chat: tuple[str, ...] = (),
    drop_responses: tuple[str, ...] = (),
    add_chat: dict[str, Any] | None = None,
    add_responses: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``/openapi.json`` shaped like the one FastAPI serves for vLLM 0.33.0: both
    request bodies are ``$ref`` s into ``components/schemas``, optional fields are
    pydantic's ``anyOf [..., null]``, nested models are ``$ref`` s. Its request fields are
    those of the harness's pinned copy (``harness/doctor/vllm-0.33.0-requests.json``, made
    from vLLM 0.33.0's own document), except those named in ``drop_chat`` /
    ``drop_responses`` (a nested one as ``parent.key``, e.g. ``reasoning.effort``), plus
    the schemas of ``add_chat`` / ``add_responses`` (name -> schema)."""
    from harness.doctor.pinned import load_pinned
    from harness.engine.requests import PATHS

    pinned = load_pinned()["requests"]
    schemas: dict[str, Any] = {}

    def model(name: str, properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "title": name, "type": "object", "properties": properties,
            "additionalProperties": True,
        }  # fmt: skip

    def body(api: str, name: str, drop: tuple[str, ...], add: dict[str, Any] | None) -> None:
        properties: dict[str, Any] = {}
        for key, described in pinned[PATHS[api]].items():
            if key in drop:
                continue
            ref = None
            if described.get("properties"):
                ref = _MODEL_NAMES.get((api, key)) or f"{name}_{key}"
                gone = {d.partition(".")[2] for d in drop if d.startswith(f"{key}.")}
                nested = {
                    k: _field_schema(v, None)
                    for k, v in described["properties"].items()
                    if k not in gone
                }
                schemas[ref] = model(ref, nested)
            properties[key] = _field_schema(described, ref)
        schemas[name] = model(name, {**properties, **(add or {})})

    body("chat", "ChatCompletionRequest", drop_chat, add_chat)
    body("responses", "ResponsesRequest", drop_responses, add_responses)

    def post(name: str) -> dict[str, Any]:
        schema = {"$ref": f"#/components/schemas/{name}"}
        return {
            "post": {
                "requestBody": {"content": {"application/json": {"schema": schema}}},
                "responses": {"200": {"description": "Successful Response"}},
            }
        }

    ok = {"get": {"responses": {"200": {"description": "Successful Response"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "FastAPI", "version": "0.1.0"},
        "paths": {
            "/health": ok,
            "/version": ok,
            "/v1/models": ok,
            "/v1/chat/completions": post("ChatCompletionRequest"),
            "/v1/responses": post("ResponsesRequest"),
        },
        "components": {"schemas": schemas},
    }
