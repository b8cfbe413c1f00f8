"""Request bodies for the two APIs, built from one set of suite parameter names.

``build_request`` is pure: it returns a :class:`~harness.models.Request` whose body is a
plain, JSON-serialisable dict. Bodies hold exactly these keys, in this order, and nothing
else (``None`` parameters are left out; ``model`` is left out when it is ``""``):

Chat Completions, ``POST /v1/chat/completions``::

    model, messages: [{role, content[, name]}, ...]
              an assistant turn with calls: {role: assistant, content (null when empty)[,
                name], tool_calls: [{id, type: function, function: {name, arguments}}]}
              a tool turn: {role: tool, tool_call_id, content}
    max_completion_tokens, temperature, top_p, seed, stop, top_k, min_p,
    presence_penalty, frequency_penalty,
    reasoning_effort: <effort>                         unless effort is "default"
    chat_template_kwargs: {enable_thinking: false}     effort "none" only
    thinking_token_budget: <N>                         a thinking budget only
    response_format: {type: json_schema,
                      json_schema: {name, schema, strict: true}}   structured output only
    tools: [{type: function,
             function: {name[, description], parameters}}]      tools only
    tool_choice: auto | required | none
                 | {type: function, function: {name}}           a tool choice only
    stream: true, stream_options: {include_usage: true}   stream only
    ...extra                                           merged last, may override

Responses, ``POST /v1/responses``::

    model, instructions (system messages joined by a blank line; only when there are any),
    input: "<text>" (one user message, no system) | [{role, content}, ...]
           (a message's ``name`` is not sent: Responses input items have no such field)
           an assistant turn with calls: its text (if any) as {role, content}, then
             {type: function_call, call_id, name, arguments} per call
           a tool turn: {type: function_call_output, call_id, output}
    max_output_tokens, temperature, top_p, seed, stop, top_k, min_p,
    presence_penalty, frequency_penalty,
    reasoning: {effort: <effort>}                      unless effort is "default"
    chat_template_kwargs: {enable_thinking: false}     effort "none" only
    text: {format: {type: json_schema, name, schema, strict: true}}   structured output only
    tools: [{type: function, name[, description], parameters}]     tools only
    tool_choice: auto | required | none | {type: function, name}   a tool choice only
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

Tools: an empty description is left out; ``parameters`` is sent as given. A call's
``arguments`` go out as JSON text: its ``raw`` text when it has one, else its
``arguments`` dumped (none: ``{}``). Without ``tool_choice`` none is sent, and vLLM then
takes ``auto`` when tools are offered. A prompt with a tool turn is never the plain
``input`` string. With no tools and no tool turns, bodies are as they were before tools.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harness.models import Api, Message, Request, StructuredOutput, Tool, ToolCall

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
TOOL_CHOICES = ("auto", "required", "none")  # or {"name": X}, one of the tools offered


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
    tools: Sequence[Tool] = (),
    tool_choice: str | Mapping[str, str] | None = None,
) -> Request:
    """Build the request for ``api``; see the module docstring for the exact bodies.

    Raises ``ValueError`` for an unknown API, an unknown parameter name, a non-mapping
    ``extra``, a budget on Responses, a ``tool_choice`` that is not one of
    :data:`TOOL_CHOICES` or ``{"name": X}`` naming an offered tool, a ``tool_choice``
    other than ``none`` without tools, or a tool turn without a ``tool_call_id`` (the
    suite schema and loader reject these first; this guards direct callers).
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
    _check_tool_choice(tool_choice, tools)

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
    if tools:
        body["tools"] = [_tool(api, tool) for tool in tools]
    if tool_choice is not None:
        body["tool_choice"] = _tool_choice(api, tool_choice)
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


def _check_tool_choice(choice: str | Mapping[str, str] | None, tools: Sequence[Tool]) -> None:
    if choice is None:
        return
    if isinstance(choice, Mapping):
        name = choice.get("name")
        if set(choice) != {"name"} or not isinstance(name, str):
            raise ValueError(f"a named tool_choice is {{name: <tool>}}, got {dict(choice)!r}")
        if name not in {tool.name for tool in tools}:
            offered = ", ".join(tool.name for tool in tools) or "none"
            raise ValueError(f"tool_choice names {name!r}, which is not offered ({offered})")
    elif choice not in TOOL_CHOICES:
        allowed = ", ".join(TOOL_CHOICES)
        raise ValueError(f"tool_choice must be {allowed} or {{name: <tool>}}, got {choice!r}")
    elif choice != "none" and not tools:
        raise ValueError(f"tool_choice {choice!r} needs tools to choose from")


def _tool(api: Api, tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = _plain(tool.parameters)
    if api == "chat":
        return {"type": "function", "function": function}
    return {"type": "function", **function}


def _tool_choice(api: Api, choice: str | Mapping[str, str]) -> Any:
    if isinstance(choice, str):
        return choice
    if api == "chat":
        return {"type": "function", "function": {"name": choice["name"]}}
    return {"type": "function", "name": choice["name"]}


def _arguments(call: ToolCall) -> str:
    """A call's arguments as the JSON text the APIs carry."""
    if call.raw:
        return call.raw
    arguments = {} if call.arguments is None else _plain(call.arguments)
    return json.dumps(arguments, ensure_ascii=False)


def _tool_call_id(message: Message) -> str:
    if message.tool_call_id is None:
        raise ValueError("a tool turn needs the tool_call_id of the call it answers")
    return message.tool_call_id


def _chat_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": _tool_call_id(message), "content": message.content}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call)},
            }
            for call in message.tool_calls
        ]
    return out


def _responses_items(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        call_id = _tool_call_id(message)
        return [{"type": "function_call_output", "call_id": call_id, "output": message.content}]
    items: list[dict[str, Any]] = []
    if message.content or not message.tool_calls:
        items.append({"role": message.role, "content": message.content})
    items += [
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": _arguments(c)}
        for c in message.tool_calls
    ]
    return items


def _responses_input(messages: Sequence[Message]) -> dict[str, Any]:
    system = [m.content for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    if not system and len(rest) == 1 and rest[0].role == "user" and not rest[0].tool_calls:
        return {"input": rest[0].content}
    out: dict[str, Any] = {}
    if system:
        out["instructions"] = "\n\n".join(system)
    out["input"] = [item for m in rest for item in _responses_items(m)]
    return out


def _plain(value: Any) -> Any:
    """Deep-copy mappings to dicts and sequences to lists, so bodies are plain JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
