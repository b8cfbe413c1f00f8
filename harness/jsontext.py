"""Find JSON in a model's answer and resolve RFC 6901 pointers in it. Pure; never raises."""

from __future__ import annotations

import json
import re
from typing import Any

# An opening fence (any info string: json, JSON, jsonc, none...), its body, the closing fence.
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_OPENERS = re.compile(r"[{\[]")
_INDEX = re.compile(r"0|[1-9][0-9]*")
_DECODER = json.JSONDecoder()


MAX_OPENERS = 200  # `{` / `[` positions tried in prose before giving up


def find_json(text: str) -> tuple[bool, Any]:
    """Return ``(found, value)`` for the JSON in ``text``, trying in order: the whole text,
    the first fenced code block that parses, then the first ``{`` or ``[`` in the prose from
    which a JSON value decodes (anything after it is ignored)."""
    found, value = _loads(text.strip())
    if found:
        return True, value
    for fence in _FENCE.finditer(text):
        found, value = _loads(fence.group(1).strip())
        if found:
            return True, value
    for tried, opener in enumerate(_OPENERS.finditer(text)):
        if tried >= MAX_OPENERS:
            break  # a model repeating "[[[[" for 200 KB would make this quadratic
        try:
            value, _end = _DECODER.raw_decode(text, opener.start())
        except (ValueError, RecursionError):
            continue
        return True, value
    return False, None


def _loads(text: str) -> tuple[bool, Any]:
    if not text:
        return False, None
    try:
        return True, json.loads(text)
    # ValueError also covers integers longer than Python's int string conversion limit.
    except (ValueError, RecursionError):
        return False, None


def pointer_problem(pointer: object) -> str | None:
    """Say what is wrong with a JSON pointer's syntax, or ``None`` when it is valid."""
    if not isinstance(pointer, str):
        return f"a JSON pointer is a string, got {type(pointer).__name__}"
    if pointer and not pointer.startswith("/"):
        return f"JSON pointer {pointer!r} must be empty or start with '/' (e.g. /items/0/name)"
    if re.search(r"~(?![01])", pointer):
        return f"JSON pointer {pointer!r}: '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')"
    return None


def resolve_pointer(doc: Any, pointer: str) -> tuple[bool, Any]:
    """Return ``(found, value)`` for an RFC 6901 ``pointer`` into ``doc``: ``""`` is the
    whole document, ``/a/0/b`` walks keys and array indices, ``~1`` is ``/``, ``~0`` is ``~``."""
    if pointer_problem(pointer) is not None:
        return False, None
    if pointer == "":
        return True, doc
    node = doc
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if token not in node:
                return False, None
            node = node[token]
        elif isinstance(node, list):
            # The length guard keeps int() away from absurdly long digit strings.
            if not _INDEX.fullmatch(token) or len(token) > 18 or int(token) >= len(node):
                return False, None
            node = node[int(token)]
        else:
            return False, None
    return True, node


def as_text(value: Any) -> str:
    """A JSON value as a check reads it: a string as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def pointer_of(path: tuple[str | int, ...] | list[str | int]) -> str:
    """The JSON pointer for a path of keys and indices; ``/`` for the root (for messages)."""
    if not path:
        return "/"
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
