"""Streamed replies of either API (server-sent events) -> one Completion. Pure.

:class:`StreamParser` takes the stream a line at a time and, at the end, gives the same
:class:`~harness.models.Completion` the non-streamed reply would have given: its texts,
usage and finish go through :func:`~harness.engine.parse.parse_response`, so the ``</think>``
leak split and the truncation rules are the same. It also records when the first
reasoning and answer text arrived.

- Chat: ``data: {...}`` chunks; reasoning from ``delta.reasoning`` else
  ``delta.reasoning_content`` (a chunk may carry both: counted once), answer from
  ``delta.content``, calls from ``delta.tool_calls`` pieces joined by ``index``,
  ``finish_reason`` from the last choice that had one, usage from the chunk that has it
  (``choices: []``); the stream ends with ``data: [DONE]``.
- Responses: ``event: <type>`` + ``data: {...}``; text from ``response.reasoning_text.delta``
  (OpenAI: ``response.reasoning_summary_text.delta``) and ``response.output_text.delta``,
  calls from ``response.output_item.added`` / ``.done`` and
  ``response.function_call_arguments.delta`` / ``.done``; the outcome from the
  ``response`` object of ``response.completed`` (OpenAI also sends
  ``response.incomplete`` and ``response.failed``), whose texts and calls win over the
  deltas. More than 64 calls in a stream is an error, as in a whole reply.
- Failures: an error chunk or ``error`` event, a data line that is not a JSON object, or a
  stream that stops before its end (Chat: no ``[DONE]`` and no ``finish_reason``;
  Responses: no final event) give an error completion. Unknown events are ignored.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from harness.engine.parse import error_completion, error_message, parse_response
from harness.engine.toolcalls import TOO_MANY, ChatPieces, ResponsesPieces
from harness.models import Api, Completion, Request

__all__ = ["StreamParser", "is_stream"]

_THINK_END = "</think>"
_SNIPPET = 200
_REASONING_DELTAS = frozenset(
    {"response.reasoning_text.delta", "response.reasoning_summary_text.delta"}
)
_ANSWER_DELTA = "response.output_text.delta"
_CALL_EVENTS = frozenset({"response.output_item.added", "response.output_item.done"})
_FINAL_EVENTS = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}


def is_stream(request: Request) -> bool:
    """Whether ``request`` asks for a streamed (SSE) reply."""
    return request.body.get("stream") is True


class StreamParser:
    """Incremental SSE parser for one streamed reply of ``api``.

    Feed it every line of the body (without its newline) with the ms elapsed since the
    request was sent, then call :meth:`finish`. ``max_output_tokens`` is the budget that
    was asked for (see :func:`~harness.engine.parse.parse_response`). The first failure wins:
    lines after it are ignored.
    """

    def __init__(self, api: Api, *, max_output_tokens: int | None) -> None:
        self.api: Api = api
        self._max_output_tokens = max_output_tokens
        self._event = ""  # the pending event's type, from its ``event:`` line
        self._data: list[str] = []  # the pending event's ``data:`` lines
        self._data_ms = 0.0
        self._events = 0
        self._reasoning: list[str] = []
        self._answer: list[str] = []
        self._answer_marks: list[tuple[int, float]] = []  # (answer length after a delta, ms)
        self._answer_len = 0
        self._first_reasoning_ms: float | None = None
        self._done = False  # Chat's [DONE]
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._final: dict[str, Any] | None = None  # Responses' final response object
        self._error: dict[str, Any] | None = None  # an error payload, formatted at finish
        self._malformed: str | None = None
        self._chat_calls = ChatPieces()
        self._responses_calls = ResponsesPieces()

    def feed(self, line: str, elapsed_ms: float) -> None:
        """Take one line of the stream; ``elapsed_ms`` since the request was sent."""
        if self._error is not None or self._malformed is not None or self._ended():
            return
        if not line:
            self._dispatch()
            return
        # SSE: "field: value" (one optional space); ":" starts a comment; id/retry unused
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            if not self._data:
                self._data_ms = elapsed_ms
            self._data.append(value)
        elif name == "event":
            self._event = value

    def finish(self, status: int, latency_ms: float) -> Completion:
        """The reply as a :class:`Completion` (an error one if the stream failed)."""
        if self._error is None and self._malformed is None and not self._ended():
            self._dispatch()  # a last event without its blank line
        if self._malformed is not None:
            return error_completion(
                status, latency_ms, f"malformed stream event: {self._malformed}"
            )
        if self._error is not None:
            try:
                message = error_message(status, json.dumps(self._error).encode())
            except (ValueError, RecursionError):
                message = "error event nested too deeply to read"
            return error_completion(status, latency_ms, message)
        if self._chat_calls.too_many or self._responses_calls.too_many:
            return error_completion(status, latency_ms, TOO_MANY)
        if not self._ended() and (self.api == "responses" or self._finish_reason is None):
            message = f"stream ended before its end (got {self._events} events)"
            return error_completion(status, latency_ms, message)
        body = self._chat_body() if self.api == "chat" else self._responses_body()
        try:
            encoded = json.dumps(body).encode()
        except (ValueError, RecursionError):
            return error_completion(status, latency_ms, "stream event nested too deeply to read")
        completion = parse_response(
            self.api, status, encoded, latency_ms, max_output_tokens=self._max_output_tokens
        )
        if completion.error is not None:
            return completion
        first_reasoning, first_answer = self._first_times()
        return dataclasses.replace(
            completion, first_reasoning_ms=first_reasoning, first_answer_ms=first_answer
        )

    def _ended(self) -> bool:
        return self._done if self.api == "chat" else self._final is not None

    def _dispatch(self) -> None:
        data, event, elapsed_ms = "\n".join(self._data), self._event, self._data_ms
        self._data, self._event = [], ""
        if not data:
            return
        if data.strip() == "[DONE]":
            self._done = True  # Responses streams have none; harmless there
            return
        self._events += 1
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            payload = None
        if not isinstance(payload, dict):
            self._malformed = " ".join(data.split())[:_SNIPPET]
            return
        if payload.get("error") or payload.get("object") == "error":
            # Chat: ``data: {"error": {...}}`` on a 200; flat bodies of old vLLM too
            self._error = payload
        elif self.api == "chat":
            self._chat(payload, elapsed_ms)
        else:
            kind = payload.get("type")
            self._responses(payload, kind if isinstance(kind, str) else event, elapsed_ms)

    def _chat(self, payload: dict[str, Any], elapsed_ms: float) -> None:
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        choices = payload.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            reasoning = _str(delta.get("reasoning")) or _str(delta.get("reasoning_content"))
            self._add(reasoning, answer=False, elapsed_ms=elapsed_ms)
            self._add(_str(delta.get("content")), answer=True, elapsed_ms=elapsed_ms)
            self._chat_calls.feed(delta.get("tool_calls"))
            finish = choice.get("finish_reason")
            if isinstance(finish, str):
                self._finish_reason = finish

    def _responses(self, payload: dict[str, Any], kind: str, elapsed_ms: float) -> None:
        if kind in _REASONING_DELTAS:
            self._add(_str(payload.get("delta")), answer=False, elapsed_ms=elapsed_ms)
        elif kind == _ANSWER_DELTA:
            self._add(_str(payload.get("delta")), answer=True, elapsed_ms=elapsed_ms)
        elif kind in _CALL_EVENTS or kind.startswith("response.function_call_arguments."):
            self._responses_calls.feed(kind, payload)
        elif kind in _FINAL_EVENTS:
            final = payload.get("response")
            final = dict(final) if isinstance(final, dict) else {}
            final.setdefault("status", _FINAL_EVENTS[kind])
            self._final = final
        elif kind == "error":
            # OpenAI: {"type": "error", "code": ..., "message": ..., "param": ...}
            code = payload.get("code")
            self._error = {"error": {"type": code or "error", "message": payload.get("message")}}

    def _add(self, text: str, *, answer: bool, elapsed_ms: float) -> None:
        if not text:
            return
        if answer:
            self._answer.append(text)
            self._answer_len += len(text)
            self._answer_marks.append((self._answer_len, elapsed_ms))
        else:
            self._reasoning.append(text)
            if self._first_reasoning_ms is None:
                self._first_reasoning_ms = elapsed_ms

    def _chat_body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self._answer)}
        message["reasoning"] = "".join(self._reasoning)
        calls = self._chat_calls.message_calls()
        if calls:
            message["tool_calls"] = calls
        choice = {"index": 0, "message": message, "finish_reason": self._finish_reason}
        return {"choices": [choice], "usage": self._usage}

    def _responses_body(self) -> dict[str, Any]:
        final = dict(self._final or {})
        output = final.get("output")
        output = list(output) if isinstance(output, list) else []
        answer, reasoning = "".join(self._answer), "".join(self._reasoning)
        calls = self._responses_calls.output_items()
        if calls and not any(_dict(i).get("type") == "function_call" for i in output):
            output += calls  # the final object should carry them; the stream did
        if answer and not _has_text(output, "message", "output_text"):
            part = {"type": "output_text", "text": answer}
            output.append({"type": "message", "role": "assistant", "content": [part]})
        if reasoning and not _has_text(output, "reasoning", "reasoning_text", "summary_text"):
            part = {"type": "reasoning_text", "text": reasoning}
            output.insert(0, {"type": "reasoning", "summary": [], "content": [part]})
        final["output"] = output
        return final

    def _first_times(self) -> tuple[float | None, float | None]:
        first_reasoning = self._first_reasoning_ms
        marks = self._answer_marks
        first_answer = marks[0][1] if marks else None
        answer = "".join(self._answer)
        if _THINK_END in answer:
            # leaked thinking (see parse._finish): the answer starts after the last tag
            head, _, tail = answer.rpartition(_THINK_END)
            start = len(head) + len(_THINK_END) + len(tail) - len(tail.lstrip())
            first_answer = next((ms for end, ms in marks if end > start), None)
            if head.strip().removeprefix("<think>").strip():
                leaked = marks[0][1]  # the thinking came first, in the content
                known = first_reasoning
                first_reasoning = leaked if known is None else min(known, leaked)
        return first_reasoning, first_answer


def _has_text(output: list[Any], item_type: str, *part_types: str) -> bool:
    for item in output:
        if not isinstance(item, dict) or item.get("type") != item_type:
            continue
        for key in ("content", "summary"):
            parts = item.get(key)
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, dict) and part.get("type") in part_types and part.get("text"):
                    return True
    return False


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
