"""Request bodies for the two APIs, built from one set of suite parameter names.

``build_request`` is pure: it returns a :class:`~harness.models.Request` whose body is a
plain, JSON-serialisable dict. Bodies hold exactly these keys, in this order, and nothing
else (``None`` parameters are left out; ``model`` is left out when it is ``""``):

Chat Completions, ``POST /v1/chat/completions``::

    model, messages: [{role, content[, name]}, ...],
    max_completion_tokens, temperature, top_p, seed, stop, top_k, min_p,
    presence_penalty, frequency_penalty,
    reasoning_effort: <effort>                         unless effort is "default"
    chat_template_kwargs: {enable_thinking: false}     effort "none" only
    thinking_token_budget: <N>                         a thinking budget only
    response_format: {type: json_schema,
                      json_schema: {name, schema, strict: true}}   structured output only
    stream: true, stream_options: {include_usage: true}   stream only
    ...extra                                           merged last, may override

Responses, ``POST /v1/responses``::

    model, instructions (system messages joined by a blank line; only when there are any),
    input: "<text>" (one user message, no system) | [{role, content}, ...]
           (a message's ``name`` is not sent: Responses input items have no such field),
    max_output_tokens, temperature, top_p, seed, stop, top_k, min_p,
    presence_penalty, frequency_penalty,
    reasoning: {effort: <effort>}                      unless effort is "default"
    chat_template_kwargs: {enable_thinking: false}     effort "none" only
    text: {format: {type: json_schema, name, schema, strict: true}}   structured output only
    stream: true                                       stream only
    ...extra                                           merged last, may override

Effort ``none`` turns thinking off on both APIs: vLLM 0.33.0 maps every effort but
``none`` to ``enable_thinking: true`` on both (PR #43401), and its Responses accepts
``chat_template_kwargs`` (PR #43761); the explicit ``chat_template_kwargs`` also turns it
off on servers from before May 2026, whose Chat read only that (their Responses had
neither, and thought whatever the effort). ``chat_template_kwargs`` given in ``extra`` is
merged with the one effort ``none`` adds, ``extra`` winning key by key.

A thinking budget (``thinking_token_budget``) is Chat only: vLLM's Responses ignores it,
so :func:`build_request` refuses one there (the suite loader says so first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.models import Api, Message, Request, StructuredOutput

PATHS: dict[Api, str] = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}
BUDGET_CHAT_ONLY = (
    "a thinking budget is Chat only: vLLM sends thinking_token_budget to the model on Chat "
    "and ignores it on Responses"
)

# Suite name -> body key, per API; insertion order is the order keys appear in a body.
PARAM_NAMES: dict[Api, dict[str, str]] = {
    api: {
        "max_output_tokens": "max_completion_tokens" if api == "chat" else "max_output_tokens",
        "temperature": "temperature",
        "top_p": "top_p",
        "seed": "seed",
        "stop": "stop",
        "top_k": "top_k",
        "min_p": "min_p",
        "presence_penalty": "presence_penalty",
        "frequency_penalty": "frequency_penalty",
    }
    for api in ("chat", "responses")
}
SUITE_PARAMS: tuple[str, ...] = (*PARAM_NAMES["chat"], "extra")


def build_request(
    api: Api,
    *,
    messages: Sequence[Message],
    effort: str,
    params: Mapping[str, Any],
    model: str,
    structured_output: StructuredOutput | None = None,
    stream: bool = False,
    budget: int | None = None,
) -> Request:
    """Build the request for ``api``; see the module docstring for the exact bodies.

    Raises ``ValueError`` for an unknown API, an unknown parameter name, a non-mapping
    ``extra`` or a budget on Responses (the suite schema and loader reject these first;
    this guards direct callers).
    """
    if api not in PATHS:
        raise ValueError(f"unknown API {api!r}; allowed: {', '.join(PATHS)}")
    if budget is not None and api != "chat":
        raise ValueError(BUDGET_CHAT_ONLY)
    unknown = sorted(set(params) - set(SUITE_PARAMS))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(SUITE_PARAMS)}"
        )
    extra = params.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise ValueError(f"params.extra must be a mapping, not {type(extra).__name__}")

    body: dict[str, Any] = {}
    if model:
        body["model"] = model
    if api == "chat":
        body["messages"] = [_chat_message(m) for m in messages]
    else:
        body.update(_responses_input(messages))
    for name, key in PARAM_NAMES[api].items():
        if params.get(name) is not None:
            body[key] = _plain(params[name])

    extra = {k: _plain(v) for k, v in extra.items()}
    if api == "chat":
        if effort != "default":
            body["reasoning_effort"] = effort
        _thinking_off(body, extra, effort)
        if budget is not None:
            body["thinking_token_budget"] = budget
        if structured_output is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": structured_output.name,
                    "schema": _plain(structured_output.schema),
                    "strict": True,
                },
            }
    else:
        if effort != "default":
            body["reasoning"] = {"effort": effort}
        _thinking_off(body, extra, effort)
        if structured_output is not None:
            body["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": structured_output.name,
                    "schema": _plain(structured_output.schema),
                    "strict": True,
                }
            }
    if stream:
        body["stream"] = True
        if api == "chat":  # vLLM sends usage in a final chunk only when asked
            body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return Request(api=api, path=PATHS[api], body=body)


def _thinking_off(body: dict[str, Any], extra: dict[str, Any], effort: str) -> None:
    """Effort ``none``: ``chat_template_kwargs: {enable_thinking: false}``, merged with the
    suite's own ``chat_template_kwargs`` (which wins key by key)."""
    if effort == "none":
        kwargs = extra.pop("chat_template_kwargs", None)
        body["chat_template_kwargs"] = {
            "enable_thinking": False,
            **(kwargs if isinstance(kwargs, dict) else {}),
        }


def _chat_message(message: Message) -> dict[str, str]:
    out = {"role": message.role, "content": message.content}
    if message.name is not None:
        out["name"] = message.name
    return out


def _responses_input(messages: Sequence[Message]) -> dict[str, Any]:
    system = [m.content for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    if not system and len(rest) == 1 and rest[0].role == "user":
        return {"input": rest[0].content}
    out: dict[str, Any] = {}
    if system:
        out["instructions"] = "\n\n".join(system)
    out["input"] = [{"role": m.role, "content": m.content} for m in rest]
    return out


def _plain(value: Any) -> Any:
    """Deep-copy mappings to dicts and sequences to lists, so bodies are plain JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
