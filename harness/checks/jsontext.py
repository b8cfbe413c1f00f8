"""Find JSON in a model's answer (or parse the whole answer as JSON) and resolve RFC 6901
pointers in it. Pure; the only exception is :class:`NestingTooDeep`, for JSON nested past
``MAX_DEPTH`` levels."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

# An opening fence (any info string: json, JSON, jsonc, none...), its body, the closing fence.
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_OPENERS = re.compile(r"[{\[]")
_INDEX = re.compile(r"0|[1-9][0-9]*")
_DECODER = json.JSONDecoder()


MAX_OPENERS = 200  # `{` / `[` positions tried in prose before giving up
MAX_DEPTH = 200  # levels of arrays and objects; deeper JSON is refused, not walked
SCAN_BUDGET = 4  # times the answer's length the decoder may read trying prose openers,
SCAN_FLOOR = 1_000_000  # plus this many characters (short answers are never cut short)


class NestingTooDeep(ValueError):
    """The answer's JSON nests deeper than ``MAX_DEPTH``: checks cannot grade it (every
    walk over it would recurse), so the sample is an error, not a pass or a fail."""

    def __init__(self) -> None:
        super().__init__(f"the JSON in the answer nests deeper than {MAX_DEPTH} levels")


def find_json(text: str) -> tuple[bool, Any]:
    """Return ``(found, value)`` for the JSON in ``text``, trying in order: the whole text,
    the first fenced code block that parses, then the first ``{`` or ``[`` in the prose from
    which a JSON value decodes (anything after it is ignored). JSON nested deeper than
    ``MAX_DEPTH`` is skipped; when that is all there is, :class:`NestingTooDeep` is raised."""
    deep = False
    for candidate in _candidates(text):
        if candidate is _DEEP:
            deep = True
        else:
            return True, candidate
    if deep:
        raise NestingTooDeep
    return False, None


_DEEP = object()  # a candidate that decoded (or would have) past MAX_DEPTH


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> tuple[bool, Any]:
    """Return ``(True, value)`` when the whole of ``text`` (stripped) is one JSON value,
    strictly (no ``NaN`` or ``Infinity``), else ``(False, why)``. Bounded as
    :func:`find_json`: JSON nested deeper than ``MAX_DEPTH`` raises :class:`NestingTooDeep`,
    an integer too long to convert is a parse error."""
    body = text.strip()
    if not body:
        return False, "the answer is empty"
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise NestingTooDeep from None
    except ValueError as exc:  # JSONDecodeError, NaN, integers past the conversion limit
        return False, str(exc)
    if not _shallow(value):
        raise NestingTooDeep
    return True, value


def _candidates(text: str) -> Iterator[Any]:
    """Each JSON value found, in order of preference; ``_DEEP`` for one nested too deep."""
    bodies = [text.strip()]
    bodies += [fence.group(1).strip() for fence in _FENCE.finditer(text)]  # at most the text
    for body in bodies:
        if not body:
            continue
        try:
            value = json.loads(body)
        except RecursionError:
            yield _DEEP
            continue
        except ValueError:  # also integers longer than Python's int string conversion limit
            continue
        yield value if _shallow(value) else _DEEP
    # Each try may read to the end of the text before failing ("[1,2,..." unclosed):
    # past a budget of reading, the rest of the openers are not tried.
    budget = SCAN_BUDGET * len(text) + SCAN_FLOOR
    opener = _OPENERS.search(text)
    for _tried in range(MAX_OPENERS):
        if opener is None or budget <= 0:
            break
        start = opener.start()
        resume = start + 1
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            budget -= exc.pos - start + 1
        except RecursionError:
            budget -= len(text) - start
            yield _DEEP
        except ValueError:  # an integer too long to convert
            budget -= len(text) - start
        else:
            yield value if _shallow(value) else _DEEP
            resume = end  # not the arrays inside this one
        opener = _OPENERS.search(text, resume)


def _shallow(value: Any) -> bool:
    """Whether ``value`` nests at most ``MAX_DEPTH`` arrays and objects (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


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
