"""The model's function calls, read from either API's reply, bounded. Pure.

A hostile server can send any number of calls, names and ids of any length and arguments
of any size or depth. What is kept of a reply:

- at most :data:`MAX_CALLS` calls: a reply with more is an error completion
  (:data:`TOO_MANY`), never a silently shortened list a check would grade;
- a name or id of at most :data:`MAX_NAME` characters (longer ones end ``... [N more
  chars]``, so they match no tool and show that they were cut);
- the arguments text whole (the reply cap bounds it), parsed as JSON by :func:`decode`:
  a text that does not parse, or nests deeper than :data:`MAX_DEPTH` levels, keeps
  ``raw`` and gets ``error`` (``not JSON: Expecting ',' delimiter (char 17)``,
  :data:`DEEP`).
  An empty text is ``{}`` (a call without arguments); arguments a server sent as a JSON
  object rather than a string are taken as they are (``raw`` is their JSON text).

Chat: ``message.tool_calls: [{id, type, function: {name, arguments}}]`` (streamed:
``delta.tool_calls`` pieces, joined by ``index`` in :class:`ChatPieces`). Responses:
``function_call`` output items ``{call_id, id, name, arguments}``, the id being
``call_id`` (``id`` when it is missing); streamed, :class:`ResponsesPieces`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.models import ToolCall

MAX_CALLS = 64  # calls read from one reply
MAX_NAME = 256  # characters of a call's name or id
MAX_DEPTH = 64  # levels of arrays and objects in a call's arguments
DEEP = f"arguments nest deeper than {MAX_DEPTH} levels"
TOO_MANY = f"more than {MAX_CALLS} tool calls in one reply; the harness reads at most {MAX_CALLS}"


class TooManyCalls(ValueError):
    """The reply holds more than :data:`MAX_CALLS` calls."""

    def __init__(self) -> None:
        super().__init__(TOO_MANY)


def decode(raw: str) -> tuple[Any, str | None]:
    """``(arguments, None)`` for a JSON text, else ``(None, why)``. Linear in the text:
    ``json.loads`` (C), and a depth walk without recursion."""
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        return None, DEEP
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} (char {exc.pos})"
    except ValueError as exc:  # an integer past Python's conversion limit
        return None, f"not JSON: {' '.join(str(exc).split())[:200]}"
    if not shallow(value):
        return None, DEEP
    return value, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def shallow(value: Any) -> bool:
    """Whether ``value`` nests at most :data:`MAX_DEPTH` arrays and objects."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def cut(text: str) -> str:
    """A name or id within :data:`MAX_NAME` characters."""
    if len(text) <= MAX_NAME:
        return text
    return f"{text[:MAX_NAME]}... [{len(text) - MAX_NAME} more chars]"


def make_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """One call from what a server sent: ids and names that are not strings are ``""``."""
    if isinstance(arguments, dict | list):  # some servers send the object itself
        if not shallow(arguments):
            return ToolCall(cut(_str(call_id)), cut(_str(name)), None, "", DEEP)
        raw = json.dumps(arguments, ensure_ascii=False)
    else:
        raw = _str(arguments)
    value, error = decode(raw)
    return ToolCall(cut(_str(call_id)), cut(_str(name)), value, raw, error)


def chat_calls(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    """The calls of a Chat ``message``; raises :class:`TooManyCalls`."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return ()
    entries = [c for c in calls if isinstance(c, dict)]
    if len(entries) > MAX_CALLS:
        raise TooManyCalls
    out = []
    for entry in entries:
        function = entry.get("function")
        function = function if isinstance(function, dict) else {}
        out.append(make_call(entry.get("id"), function.get("name"), function.get("arguments")))
    return tuple(out)


def responses_calls(output: list[Any]) -> tuple[ToolCall, ...]:
    """The calls among Responses ``output`` items; raises :class:`TooManyCalls`."""
    items = [i for i in output if isinstance(i, dict) and i.get("type") == "function_call"]
    if len(items) > MAX_CALLS:
        raise TooManyCalls
    return tuple(make_call(_id_of(item), item.get("name"), item.get("arguments")) for item in items)


def scrubbed(call: ToolCall, scrub: Callable[[str], str]) -> ToolCall:
    """``call`` with its id, name and arguments text scrubbed (``scrub`` masks the token);
    arguments that changed are decoded again from the scrubbed text."""
    call_id, name, raw = scrub(call.id), scrub(call.name), scrub(call.raw)
    error = None if call.error is None else scrub(call.error)
    if (call_id, name, raw, error) == (call.id, call.name, call.raw, call.error):
        return call
    value, error = decode(raw) if raw != call.raw else (call.arguments, error)
    return ToolCall(call_id, name, value, raw, error)


@dataclass(slots=True)
class _Pieces:
    """One call being streamed: id and name from the first piece that has them, the
    arguments text joined."""

    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    whole: str | None = None  # Responses: the text of a ``.done`` event, which wins

    def add(self, call_id: Any, name: Any, arguments: Any) -> None:
        if self.id is None and isinstance(call_id, str) and call_id:
            self.id = call_id
        if self.name is None and isinstance(name, str) and name:
            self.name = name
        if isinstance(arguments, str):
            self.arguments.append(arguments)

    def text(self) -> str:
        return self.whole if self.whole is not None else "".join(self.arguments)


class ChatPieces:
    """Chat ``delta.tool_calls`` pieces joined by ``index`` (a missing index is 0)."""

    def __init__(self) -> None:
        self._calls: dict[int, _Pieces] = {}
        self.too_many = False

    def feed(self, pieces: Any) -> None:
        for piece in pieces if isinstance(pieces, list) else []:
            if not isinstance(piece, dict):
                continue
            index = piece.get("index", 0)
            index = index if isinstance(index, int) and not isinstance(index, bool) else 0
            call = self._calls.get(index)
            if call is None:
                if len(self._calls) >= MAX_CALLS:
                    self.too_many = True  # nothing more is kept
                    continue
                call = self._calls[index] = _Pieces()
            function = piece.get("function")
            function = function if isinstance(function, dict) else {}
            call.add(piece.get("id"), function.get("name"), function.get("arguments"))

    def message_calls(self) -> list[dict[str, Any]]:
        """The calls as a Chat message's ``tool_calls``, in index order."""
        return [
            {
                "id": call.id or "",
                "type": "function",
                "function": {"name": call.name or "", "arguments": call.text()},
            }
            for _, call in sorted(self._calls.items())
        ]


class ResponsesPieces:
    """Responses ``function_call`` items from the stream's events: ``output_item.added``,
    ``function_call_arguments.delta`` / ``.done``, ``output_item.done`` (whose item wins).
    Items are told apart by their id, else their ``output_index``."""

    def __init__(self) -> None:
        self._calls: dict[str, _Pieces] = {}
        self._items: dict[str, dict[str, Any]] = {}  # output_item.done's whole items
        self._by_index: dict[int, str] = {}  # output_index -> the key of its call
        self.too_many = False

    def feed(self, kind: str, payload: dict[str, Any]) -> None:
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = payload.get("item")
            if not isinstance(item, dict) or item.get("type") != "function_call":
                return
            key = self._key(item.get("id"), payload.get("output_index"))
            call = self._call(key, payload.get("output_index"))
            if call is None:
                return
            call.add(_id_of(item), item.get("name"), None)
            if kind == "response.output_item.done":
                self._items[key] = item
        elif kind.startswith("response.function_call_arguments."):
            index = payload.get("output_index")
            call = self._call(self._key(payload.get("item_id"), index), index)
            if call is None:
                return
            if kind.endswith(".delta"):
                call.add(None, None, payload.get("delta"))
            elif kind.endswith(".done") and isinstance(payload.get("arguments"), str):
                call.whole = payload["arguments"]
                call.add(None, payload.get("name"), None)

    def _key(self, item_id: Any, output_index: Any) -> str:
        if isinstance(item_id, str) and item_id:
            return f"id:{item_id}"
        if isinstance(output_index, int) and output_index in self._by_index:
            return self._by_index[output_index]
        return f"index:{output_index if isinstance(output_index, int) else 0}"

    def _call(self, key: str, output_index: Any) -> _Pieces | None:
        call = self._calls.get(key)
        if call is None:
            if len(self._calls) >= MAX_CALLS:
                self.too_many = True
                return None
            call = self._calls[key] = _Pieces()
            if isinstance(output_index, int):
                self._by_index.setdefault(output_index, key)
        return call

    def output_items(self) -> list[dict[str, Any]]:
        """The calls as Responses ``function_call`` output items, in the stream's order."""
        items = []
        for key, call in self._calls.items():
            done = self._items.get(key)
            if done is not None:
                items.append(done)
                continue
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id or "",
                    "name": call.name or "",
                    "arguments": call.text(),
                }
            )
        return items


def _id_of(item: dict[str, Any]) -> Any:
    call_id = item.get("call_id")
    return call_id if isinstance(call_id, str) and call_id else item.get("id")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
