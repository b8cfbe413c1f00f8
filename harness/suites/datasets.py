"""Datasets: ``dataset: data/reviews.csv`` -> rows, each with the line it starts on.

A dataset is a file under ``evals/`` (so a data change is a prompt change): ``.csv`` (a
header row, then one row per record; every value a string), ``.jsonl`` (one JSON object a
line), ``.json`` (a list of objects) or ``.yaml`` / ``.yml`` (a list of mappings). A row
is a flat mapping of vars (``id`` names the case) or, in the JSON and YAML forms, a case
mapping as in ``cases:`` (it has ``vars`` or ``expect``).

Reading is bounded like every other file a suite names: ``MAX_BYTES`` a file (YAML keeps
the suite files' 2 MB), ``MAX_ROWS`` rows, ``MAX_FIELD_CHARS`` a value, regular files only.
Every problem of a file is found in one reading, each at the file's own line: invalid
UTF-8, a CSV row with too many or too few fields, a line that is not JSON, a row that is
not a mapping, a value too large. A row with a problem is left out; the others are kept.
"""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Problem, TemplateError
from harness.suites.source import Located, format_path, load_yaml
from harness.suites.source import Path as KeyPath
from harness.suites.templates import resolve_under

MAX_BYTES = 64_000_000
MAX_ROWS = 100_000
MAX_FIELD_CHARS = 1_000_000
SUFFIXES = (".csv", ".jsonl", ".json", ".yaml", ".yml")
CASE_KEYS = ("vars", "expect")  # a row with one of these is a case mapping, not flat vars


@dataclass(frozen=True, slots=True)
class Row:
    """One record: ``number`` counts data rows from 1 (``row-N``), ``line`` is where it
    starts in the file; ``located`` (YAML only) knows the line of every value in it."""

    number: int
    line: int
    values: dict[str, Any]
    located: Located | None = None

    @property
    def is_case(self) -> bool:
        return any(key in self.values for key in CASE_KEYS)

    def line_of(self, path: KeyPath, *, key: bool = False) -> int:
        """The line of ``path`` within the row (the row's own line where none is known)."""
        if self.located is None:
            return self.line
        return self.located.line_of((self.number - 1, *path), key=key)


@dataclass(slots=True)
class Dataset:
    """A dataset's rows and every problem found reading it (``display`` names the file in
    messages: ``evals/data/reviews.csv``)."""

    name: str
    display: str
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, line: int, message: str, path: str = "") -> None:
        self.problems.append(Problem(self.display, line, path, message))


def read_dataset(evals_dir: Path, name: str) -> Dataset:
    """Read the dataset ``name`` (relative to ``evals_dir``); problems are in the result,
    never raised. A problem with the file as a whole leaves no rows."""
    dataset = Dataset(name, f"{evals_dir.name}/{name}")
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        dataset.problem(1, f"a dataset is one of {', '.join(SUFFIXES)}; got {name!r}")
        return dataset
    try:
        path = resolve_under(evals_dir, name, "dataset")
    except TemplateError as exc:
        dataset.problem(1, exc.message)
        return dataset
    raw = _read_bounded(path, dataset)
    if raw is None:
        return dataset
    text, bad_lines = _decode(raw, dataset)
    if not text.strip():
        dataset.problem(1, "the dataset is empty")
        return dataset
    if suffix == ".csv":
        rows = _csv_rows(text, dataset)
    elif suffix == ".jsonl":
        rows = _jsonl_rows(text, dataset)
    elif suffix == ".json":
        rows = _json_rows(text, dataset)
    else:
        rows = _yaml_rows(text, dataset)
    for row in rows:
        if len(dataset.rows) >= MAX_ROWS:
            dataset.problem(row.line, f"more than {MAX_ROWS:,} rows; refused")
            break
        if row.line in bad_lines:
            continue  # already reported: invalid UTF-8
        if _sized(row, dataset):
            dataset.rows.append(row)
    return dataset


def _read_bounded(path: Path, dataset: Dataset) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                dataset.problem(1, "not a regular file; refused")
                return None
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        dataset.problem(1, f"cannot read the file: {exc.strerror}")
        return None
    if len(raw) > MAX_BYTES:
        dataset.problem(1, f"larger than {MAX_BYTES // 1_000_000} MB; refused")
        return None
    return raw


def _decode(raw: bytes, dataset: Dataset) -> tuple[str, set[int]]:
    """The text (a UTF-8 BOM dropped) and the lines that are not UTF-8, each reported;
    those lines are read with U+FFFD in place of the bad bytes."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8"), set()
    except UnicodeDecodeError:
        pass
    bad: set[int] = set()
    for number, line in enumerate(raw.split(b"\n"), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.add(number)
            byte = line[exc.start : exc.start + 1].hex()
            dataset.problem(number, f"not UTF-8: byte 0x{byte} at column {exc.start + 1}")
    return raw.decode("utf-8", errors="replace"), bad


def _sized(row: Row, dataset: Dataset) -> bool:
    """False (and reported) when a value of the row is longer than ``MAX_FIELD_CHARS``."""
    flat = row.values.values()
    if all(isinstance(v, str) and len(v) <= MAX_FIELD_CHARS for v in flat):
        return True  # a CSV row, or any flat row of short strings
    for path, value in _strings(row.values, ()):
        if len(value) > MAX_FIELD_CHARS:
            what = f"{len(value):,} characters, more than {MAX_FIELD_CHARS:,}"
            dataset.problem(row.line_of(path), f"value too large ({what})", format_path(path))
            return False
    return True


def _strings(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _csv_rows(text: str, dataset: Dataset) -> Iterator[Row]:
    lines = text.splitlines(keepends=True)
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_BYTES)  # long fields are reported as too large, by name
    try:
        reader = csv.reader(lines, strict=False)
        start = 1
        try:
            header = next(reader)
        except StopIteration:
            return
        columns = [h.strip() for h in header]
        if not _header_ok(columns, dataset):
            return
        number = 0
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                dataset.problem(start, f"not CSV: {exc}")
                return
            if not fields or fields == [""]:
                continue  # a blank line
            number += 1
            if len(fields) != len(columns):
                missing = columns[len(fields) :]
                more = f" (no {', '.join(missing)})" if missing else ""
                dataset.problem(start, f"{len(fields)} fields, the header has {len(columns)}{more}")
                continue
            yield Row(number, start, dict(zip(columns, fields, strict=True)))
    finally:
        csv.field_size_limit(limit)


def _header_ok(columns: list[str], dataset: Dataset) -> bool:
    ok = True
    seen: set[str] = set()
    for index, column in enumerate(columns, 1):
        if not column:
            dataset.problem(1, f"column {index} of the header has no name")
            ok = False
        elif column in seen:
            dataset.problem(1, f"the header names column {column!r} twice")
            ok = False
        seen.add(column)
    return ok


def _jsonl_rows(text: str, dataset: Dataset) -> Iterator[Row]:
    number = 0
    for line_number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        number += 1
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            dataset.problem(line_number, f"not JSON: {exc.msg} (column {exc.colno})")
            continue
        except (ValueError, RecursionError) as exc:  # an int too long, nesting too deep
            dataset.problem(line_number, f"not usable JSON: {_why(exc)}")
            continue
        row = _mapping(value, number, line_number, dataset)
        if row is not None:
            yield row


def _json_rows(text: str, dataset: Dataset) -> Iterator[Row]:
    """Elements of a top-level JSON list, decoded one at a time so that each has its line."""
    decoder = json.JSONDecoder()
    at = _skip(text, 0)
    if not text.startswith("[", at):
        dataset.problem(_line(text, at), "a .json dataset is a list of objects")
        return
    at = _skip(text, at + 1)
    number, line, counted = 0, 1, 0
    while not text.startswith("]", at):
        line += text.count("\n", counted, at)
        counted = at
        number += 1
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            dataset.problem(_line(text, exc.pos), f"not JSON: {exc.msg}")
            return
        except (ValueError, RecursionError) as exc:
            dataset.problem(line, f"not usable JSON: {_why(exc)}")
            return
        row = _mapping(value, number, line, dataset)
        if row is not None:
            yield row
        at = _skip(text, end)
        if text.startswith(",", at):
            at = _skip(text, at + 1)
        elif not text.startswith("]", at):
            dataset.problem(_line(text, at), "not JSON: expected ',' or ']' after a row")
            return
    if text[_skip(text, at + 1) :]:
        dataset.problem(_line(text, at), "not JSON: text after the list")


def _yaml_rows(text: str, dataset: Dataset) -> Iterator[Row]:
    located = load_yaml(text, dataset.display)
    dataset.problems += located.problems
    if located.data is None:
        return
    if not isinstance(located.data, list):
        dataset.problem(1, "a YAML dataset is a list of mappings")
        return
    for index, value in enumerate(located.data):
        line = located.line_of((index,))
        if not isinstance(value, dict):
            dataset.problem(line, f"a row is a mapping, got {_kind(value)}")
            continue
        yield Row(index + 1, line, {str(k): v for k, v in value.items()}, located)


def _mapping(value: Any, number: int, line: int, dataset: Dataset) -> Row | None:
    if not isinstance(value, dict):
        dataset.problem(line, f"a row is a mapping (a JSON object), got {_kind(value)}")
        return None
    return Row(number, line, value)


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _why(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1
