"""vLLM replies of either API -> one :class:`~harness.models.Completion`. Pure.

- Chat: answer ``choices[0].message.content`` (null -> ""), reasoning ``message.reasoning``
  else ``reasoning_content``, calls ``message.tool_calls``; ``finish_reason`` ->
  ``finish`` (``tool_calls`` when the model called); ``length`` -> truncated.
- Responses: answer = the ``output_text`` parts of ``message`` items (the item is absent
  when thinking used the whole budget), reasoning = ``reasoning_text`` parts of
  ``reasoning`` items (else their ``summary``), calls = the ``function_call`` items;
  ``status: incomplete`` -> ``length``, truncated; ``completed`` with calls ->
  ``tool_calls`` (as Chat says). Old vLLM and llama.cpp say ``completed`` when truncated,
  so a reply with ``output_tokens >= max_output_tokens`` is truncated too.
- Calls (:mod:`harness.engine.toolcalls`): at most 64 (more: an error completion), names
  and ids cut to 256 characters, arguments parsed as JSON or kept raw with the error.
- Both: text before the last ``</think>`` in the answer is reasoning that an old glm45
  parser leaked; it moves to ``reasoning``. Errors (HTTP >= 400, error bodies on a 200,
  chat ``finish_reason: error``, malformed JSON, a body that is not valid UTF-8) become
  ``finish="error"`` completions.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.engine.toolcalls import TooManyCalls, chat_calls, responses_calls
from harness.models import Api, Completion, ToolCall, Usage

_THINK_END = "</think>"
_SNIPPET = 200
_SNIPPET_SCAN = 64 * 1024  # bytes of a non-JSON body read for its snippet
_TAG = re.compile(r"<[^<>]*>")


def error_message(status: int, body: bytes) -> str:
    """``"<type>: <message>"`` from an error body of any shape vLLM or a proxy sends.

    Nested ``{"error": {"message", "type", ...}}``, flat ``{"object": "error", "message",
    ...}``, FastAPI's ``{"detail": ...}``; anything else (an HTML page from a proxy) gives
    its first 200 characters, whitespace collapsed. The type defaults to ``HTTP <status>``.
    """
    fallback_type = f"HTTP {status}" if status else "error"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
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
        return error_completion(status, latency_ms, error_message(status, body))
    try:
        data = json.loads(body)
    except UnicodeDecodeError as exc:
        # JSON on the wire must be UTF-8 (RFC 8259); a body that is not is corrupt, and
        # grading it decoded with replacement characters could pass or fail it wrongly.
        # An error like malformed JSON (a 200 that failed: retried), showing where it broke.
        around = _snippet(body[max(exc.start - 60, 0) : exc.end + 60])
        where = f"not valid {exc.encoding.upper()} at byte {exc.start}"
        return error_completion(status, latency_ms, f"malformed JSON response: {where}: {around}")
    except ValueError:
        return error_completion(status, latency_ms, f"malformed JSON response: {_snippet(body)}")
    except RecursionError:
        said = "malformed JSON response: nested too deeply to parse"
        return error_completion(status, latency_ms, said)
    if not isinstance(data, dict):
        return error_completion(status, latency_ms, f"malformed JSON response: {_snippet(body)}")
    if data.get("error") or data.get("object") == "error":
        return error_completion(status, latency_ms, error_message(status, body))
    if api == "chat":
        return _parse_chat(data, status, latency_ms)
    return _parse_responses(data, status, latency_ms, max_output_tokens)


def _parse_chat(data: dict[str, Any], status: int, latency_ms: float) -> Completion:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return error_completion(status, latency_ms, "malformed response: no choices")
    choice = choices[0]
    message = _dict(choice.get("message"))
    finish = choice.get("finish_reason")
    if finish == "error":
        return error_completion(status, latency_ms, "server error: finish_reason 'error'")
    try:
        calls = chat_calls(message)
    except TooManyCalls as exc:
        return error_completion(status, latency_ms, str(exc))
    reasoning = _text(message.get("reasoning")) or _text(message.get("reasoning_content"))
    usage = _usage(data, "prompt_tokens", "completion_tokens", "completion_tokens_details")
    finish = finish if isinstance(finish, str) else "unknown"
    answer = _text(message.get("content"))
    return _finish(answer, reasoning, usage, finish, status, latency_ms, calls)


def _parse_responses(
    data: dict[str, Any], status: int, latency_ms: float, max_output_tokens: int | None
) -> Completion:
    output = data.get("output")
    if not isinstance(output, list):
        return error_completion(status, latency_ms, "malformed response: no output list")
    state = data.get("status")
    if state in ("failed", "cancelled"):
        return error_completion(status, latency_ms, f"server error: response status {state!r}")
    try:
        calls = responses_calls(output)
    except TooManyCalls as exc:
        return error_completion(status, latency_ms, str(exc))
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
        finish = "tool_calls" if calls else "stop"
        budget = (
            int_or_none(data.get("max_output_tokens"))
            if max_output_tokens is None
            else max_output_tokens
        )
        used = usage.output_tokens
        if used is not None and budget and used >= budget:
            # old vLLM (#24184) and llama.cpp say "completed" for replies cut at the budget
            finish = "length"
    else:
        finish = state if isinstance(state, str) else "unknown"
    reasoning = "\n".join(reasoning_parts)
    return _finish(answer, reasoning, usage, finish, status, latency_ms, calls)


def _usage(data: dict[str, Any], input_key: str, output_key: str, details_key: str) -> Usage:
    usage = _dict(data.get("usage"))
    details = _dict(usage.get(details_key))
    return Usage(
        input_tokens=int_or_none(usage.get(input_key)),
        output_tokens=int_or_none(usage.get(output_key)),
        reasoning_tokens=int_or_none(details.get("reasoning_tokens")),  # 0 stays 0: vLLM says 0
    )


def _finish(
    answer: str, reasoning: str, usage: Usage, finish: str, status: int, latency_ms: float,
    calls: tuple[ToolCall, ...] = (),
) -> Completion:  # fmt: skip
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
        tool_calls=calls,
    )


def error_completion(status: int, latency_ms: float, message: str) -> Completion:
    return Completion(
        answer="", reasoning="", usage=Usage(), finish="error", truncated=False,
        latency_ms=latency_ms, status=status, error=message,
    )  # fmt: skip


def _typed(kind: Any, message: Any, fallback: str) -> str:
    kind_text = str(kind) if kind not in (None, "") else fallback
    text = message if isinstance(message, str) else json.dumps(message)
    return f"{kind_text}: {text}"


def _snippet(body: bytes) -> str:
    """The start of a non-JSON body, as text: an HTML page loses its tags and scripts.
    Linear in the body: only its first :data:`_SNIPPET_SCAN` bytes are read, scripts are
    cut with ``str.find`` (a lazy regex was quadratic on a page of unclosed ``<script>``)."""
    text = body[:_SNIPPET_SCAN].decode("utf-8", "replace")
    if "<" in text and ">" in text:
        text = _TAG.sub(" ", _without_scripts(text))
    return " ".join(text.split())[:_SNIPPET]


def _without_scripts(text: str) -> str:
    """``text`` without ``<script>``/``<style>`` elements; an unclosed one runs to the end."""
    lower = text.lower()
    kept: list[str] = []
    at = 0
    while True:
        opened = [
            i for i in (_open_tag(lower, "script", at), _open_tag(lower, "style", at)) if i >= 0
        ]
        if not opened:
            kept.append(text[at:])
            return " ".join(kept)
        start = min(opened)
        kept.append(text[at:start])
        name = "script" if lower.startswith("<script", start) else "style"
        end = lower.find(f"</{name}", start)
        if end < 0:
            return " ".join(kept)
        close = lower.find(">", end)
        at = len(text) if close < 0 else close + 1


def _open_tag(lower: str, name: str, at: int) -> int:
    """Where the next ``<name`` tag (not ``<names...``) starts at or after ``at``; -1 if none."""
    while True:
        found = lower.find(f"<{name}", at)
        after = found + len(name) + 1
        if found < 0 or after >= len(lower) or not (lower[after].isalnum() or lower[after] in "-_"):
            return found
        at = after


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


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
