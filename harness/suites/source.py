"""YAML -> plain Python data, remembering the line of every node (from ``yaml.compose`` marks).

Every path that reads a suite goes through :func:`read_yaml` (collection, ``validate``,
``--glm-changed-since``), so the limits below hold everywhere: a file over ``MAX_BYTES`` is
refused before it is read whole, an alias bomb past ``MAX_NODES`` before it is expanded.

Scalars are read as YAML 1.2's core schema, as promptfoo's js-yaml reads them, not as
PyYAML's YAML 1.1: ``yes``/``no``/``on``/``off``/``y``/``n``, sexagesimal ``12:30``, dates,
``1_000`` and ``0b101`` stay strings; ``true``/``false`` (also ``True``, ``TRUE``...), ints
(``12``, ``0o14``, ``0xC``), floats (``1.5``, ``1e3``, ``.inf``, ``.nan``) and null (``~``,
``null``, empty) are what 1.2 says. ``<<`` merge keys still merge.

Lines are 1-based. ``lines[path]`` is the line of the value at ``path`` (a tuple of keys and
indices); ``key_lines[path]`` the line of the mapping key that ends ``path``. Duplicate
keys, which PyYAML silently overwrites, are reported as problems.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, ClassVar

import yaml

from harness.errors import Problem

Path = tuple[str | int, ...]

MAX_BYTES = 2_000_000
MAX_NODES = 200_000
MAX_INT_DIGITS = 4_000  # below Python's limit on int <-> str conversions (4,300 digits)
_INT_LIMIT = 10**MAX_INT_DIGITS

# YAML 1.2.2, 10.3 "Core Schema": the plain scalars that are not strings.
_TAG = "tag:yaml.org,2002:"
_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_INT = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_FLOAT = re.compile(
    r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)
_MERGE = re.compile(r"<<\Z")
_STR = "tag:yaml.org,2002:str"


def _construct_bool(loader: Any, node: yaml.ScalarNode) -> bool:
    text = loader.construct_scalar(node)
    if not _BOOL.match(text):
        raise ValueError(f"{text!r} is not a boolean (YAML 1.2: true or false)")
    return text[0] in "tT"


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if not _INT.match(text):
        raise ValueError(f"{text!r} is not an integer (YAML 1.2: 12, 0o14 or 0xC)")
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node)
    if not _FLOAT.match(text) and not _INT.match(text):  # `!!float 1` is 1.0
        raise ValueError(f"{text!r} is not a number (YAML 1.2: 1.5, 1e3, .inf or .nan)")
    if text.startswith(("0o", "0x")):
        return float(_construct_int(loader, node))
    return float(text.lower().replace(".inf", "inf").replace(".nan", "nan"))


# libyaml's parser when PyYAML was built with it (several times faster), else pure Python;
# both give the same nodes and marks, and both ask the Python resolver for each plain
# scalar's tag, so the class attributes below apply to either.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """The safe loader with YAML 1.2 core schema resolvers (and ``<<`` merges)."""

    # Own copies: PyYAML's classmethods would otherwise add to SafeLoader's.
    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}
    yaml_constructors: ClassVar[dict[str | None, Any]] = dict(_Base.yaml_constructors)


for _tag, _pattern, _first in (
    ("bool", _BOOL, "tTfF"),
    ("int", _INT, "-+0123456789"),
    ("float", _FLOAT, "-+.0123456789"),
    ("null", _NULL, "~nN"),
    ("merge", _MERGE, "<"),
):
    _Loader.add_implicit_resolver(_TAG + _tag, _pattern, list(_first))
_Loader.add_implicit_resolver(_TAG + "null", _NULL, [""])  # the empty scalar
_Loader.add_constructor(_TAG + "bool", _construct_bool)
_Loader.add_constructor(_TAG + "int", _construct_int)
_Loader.add_constructor(_TAG + "float", _construct_float)


@dataclass(slots=True)
class Located:
    """Parsed data and where each part of it came from."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    key_lines: dict[Path, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: Path, *, key: bool = False) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        if key and path in self.key_lines:
            return self.key_lines[path]
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def format_path(path: Path) -> str:
    """``("cases", 2, "expect", 0, "fuzzy")`` -> ``cases[2].expect[0].fuzzy``."""
    out = ""
    for part in path:
        if isinstance(part, str) and not part.isprintable():
            out += f"[{part!r}]"  # a key with a line break must not break the line
        else:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Walker:
    def __init__(self, loader: Any, filename: str, located: Located) -> None:
        self.loader = loader
        self.filename = filename
        self.located = located
        self.count = 0
        self.own: set[tuple[int, int]] = set()

    def note_own_keys(self, root: yaml.Node) -> None:
        """Remember which keys each mapping writes itself, before ``flatten_mapping`` mixes
        in the keys of ``<<`` merges (which a mapping's own keys override, by design)."""
        seen: set[int] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.tag != "tag:yaml.org,2002:merge":
                        self.own.add((id(node), id(key_node)))
                    stack += [key_node, value_node]
            elif isinstance(node, yaml.SequenceNode):
                stack += node.value

    def walk(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node.start_mark.line + 1)
        self.located.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            written: set[Any] = set()
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    # Never built: a list key made of aliases is an alias bomb MAX_NODES misses.
                    where = format_path(path)
                    message = "a key must be a plain value, not a list or mapping"
                    self.located.problems.append(Problem(self.filename, line, where, message))
                    continue
                key = self.scalar(key_node)
                if not isinstance(key, str | int | float | bool) or key is None:
                    key = str(key)
                # Keys a ``<<`` merge brought in may be overridden; only own keys clash.
                if (id(node), id(key_node)) in self.own:
                    if key in written:
                        where = format_path((*path, key))
                        self.located.problems.append(
                            Problem(self.filename, line, where, f"duplicate key {key!r}")
                        )
                    written.add(key)
                self.located.key_lines[(*path, key)] = line
                out[key] = self.walk(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        """A scalar's value. Refused: an explicit tag on a value it cannot hold
        (``!!bool yes``, ``!!timestamp 2024-02-30``) and an integer too long to print
        (Python refuses past 4,300 digits; every message about the value would fail)."""
        if node.tag == _STR and isinstance(node, yaml.ScalarNode):
            return node.value  # what construct_object gives a plain string, much sooner
        line = node.start_mark.line + 1
        try:
            value = self.loader.construct_object(node, deep=True)
        except ValueError as exc:
            raise _BadValue(line, str(exc)) from None
        if isinstance(value, int) and abs(value) >= _INT_LIMIT:  # 0x..., 0b... have no limit
            raise _BadValue(line, f"integer of more than {MAX_INT_DIGITS} digits")
        return value


class _TooBig(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _BadValue(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message


def load_yaml(text: str, filename: str) -> Located:
    """Parse one YAML document. Syntax errors come back as problems, never raised."""
    located = Located(data=None)
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        located.problems.append(
            Problem(filename, 1, "", f"file is larger than {MAX_BYTES // 1_000_000} MB; refused")
        )
        return located
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            located.problems.append(Problem(filename, 1, "", "the file is empty"))
            return located
        walker = _Walker(loader, filename, located)
        walker.note_own_keys(node)
        located.data = walker.walk(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        located.problems.append(Problem(filename, line, "", f"invalid YAML: {what}"))
    except yaml.reader.ReaderError as exc:
        # A character YAML refuses (e.g. a control character). The C reader's position
        # counts bytes, not characters; the reader stops at the character's first use.
        at = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
        line = text.count("\n", 0, at) + 1 if at >= 0 else 1
        what = str(exc).partition("\n")[0]  # then `in "<unicode string>", position 8`
        located.problems.append(Problem(filename, line, "", f"invalid YAML: {what}"))
    except yaml.YAMLError as exc:
        located.problems.append(Problem(filename, 1, "", f"invalid YAML: {exc}"))
    except _BadValue as exc:
        located.problems.append(Problem(filename, exc.line, "", f"invalid value: {exc.message}"))
    except _TooBig as exc:
        located.problems.append(
            Problem(
                filename, exc.line, "", f"more than {MAX_NODES} YAML nodes (alias bomb?); refused"
            )
        )
    finally:
        loader.dispose()
    return located


def read_yaml(path: FsPath, filename: str) -> Located:
    """Read and parse the suite file at ``path`` (``filename`` is how messages name it).
    A file that cannot be read, is not a regular file, is over ``MAX_BYTES`` or is not
    UTF-8 comes back as a problem; at most ``MAX_BYTES + 1`` bytes are ever read."""
    located = Located(data=None)
    try:
        # O_NONBLOCK: opening a FIFO named like a suite must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                problem = "cannot read the file: not a regular file"
                located.problems.append(Problem(filename, 1, "", problem))
                return located
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        located.problems.append(Problem(filename, 1, "", f"cannot read the file: {exc}"))
        return located
    if len(raw) > MAX_BYTES:
        message = f"file is larger than {MAX_BYTES // 1_000_000} MB; refused"
        located.problems.append(Problem(filename, 1, "", message))
        return located
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        located.problems.append(Problem(filename, 1, "", f"cannot read the file: {exc}"))
        return located
    return load_yaml(text, filename)
