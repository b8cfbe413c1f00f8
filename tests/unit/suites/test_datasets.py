"""Datasets read from evals/: rows with their own lines, every problem at its line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.suites import datasets
from harness.suites.datasets import read_dataset


def write(evals: Path, name: str, data: str | bytes) -> None:
    path = evals / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


@pytest.fixture
def evals(tmp_path: Path) -> Path:
    root = tmp_path / "evals"
    root.mkdir()
    return root


def lines_of(problems: list[object]) -> list[str]:
    return [str(p) for p in problems]


def test_csv_rows_keep_their_start_line_across_quoted_line_breaks(evals: Path) -> None:
    write(
        evals,
        "d.csv",
        'id,text,label\nr1,"two\nlines",pos\n\nr2,plain,neg\n,"no id",neg\n',
    )
    found = read_dataset(evals, "d.csv")
    assert found.problems == []
    assert [(r.number, r.line, r.values) for r in found.rows] == [
        (1, 2, {"id": "r1", "text": "two\nlines", "label": "pos"}),
        (2, 5, {"id": "r2", "text": "plain", "label": "neg"}),
        (3, 6, {"id": "", "text": "no id", "label": "neg"}),
    ]
    assert not found.rows[0].is_case


def test_csv_bom_and_crlf_are_read(evals: Path) -> None:
    write(evals, "d.csv", b"\xef\xbb\xbfq,a\r\n1+1,2\r\n2+2,4\r\n")
    found = read_dataset(evals, "d.csv")
    assert found.problems == []
    assert [r.values for r in found.rows] == [{"q": "1+1", "a": "2"}, {"q": "2+2", "a": "4"}]
    assert [r.line for r in found.rows] == [2, 3]


def test_csv_problems_are_all_reported_at_their_lines(evals: Path) -> None:
    write(evals, "d.csv", b"q,a\nok,1\ntoo,many,fields\nshort\n\xff bad,2\nfine,3\n")
    found = read_dataset(evals, "d.csv")
    assert sorted(lines_of(found.problems), key=lambda s: int(s.split(":")[1])) == [
        "evals/d.csv:3: 3 fields, the header has 2",
        "evals/d.csv:4: 1 fields, the header has 2 (no a)",
        "evals/d.csv:5: not UTF-8: byte 0xff at column 1",
    ]
    assert [r.values["q"] for r in found.rows] == ["ok", "fine"]  # the good rows are kept


def test_csv_header_must_name_every_column_once(evals: Path) -> None:
    write(evals, "d.csv", "q,,q\n1,2,3\n")
    found = read_dataset(evals, "d.csv")
    assert lines_of(found.problems) == [
        "evals/d.csv:1: column 2 of the header has no name",
        "evals/d.csv:1: the header names column 'q' twice",
    ]
    assert found.rows == []


def test_jsonl_rows_flat_and_case_mappings(evals: Path) -> None:
    rows = [{"id": "a", "q": "x"}, {"id": "b", "vars": {"q": "y"}, "expect": [{"equals": "y"}]}]
    text = json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n"
    write(evals, "d.jsonl", text)
    found = read_dataset(evals, "d.jsonl")
    assert found.problems == []
    assert [(r.line, r.is_case) for r in found.rows] == [(1, False), (3, True)]


def test_jsonl_problems_name_the_line(evals: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = '{"q": 1}\n{"q": \n[1, 2]\n"text"\n' + deep + "\n" + '{"q": 2}\n'
    write(evals, "d.jsonl", text)
    found = read_dataset(evals, "d.jsonl")
    got = lines_of(found.problems)
    assert got[0].startswith("evals/d.jsonl:2: not JSON: Expecting value")
    assert got[1] == "evals/d.jsonl:3: a row is a mapping (a JSON object), got a list"
    assert got[2] == "evals/d.jsonl:4: a row is a mapping (a JSON object), got a string"
    assert got[3].startswith("evals/d.jsonl:5: not ")
    assert [r.values for r in found.rows] == [{"q": 1}, {"q": 2}]
    assert [r.number for r in found.rows] == [1, 6]


def test_json_list_rows_have_their_lines(evals: Path) -> None:
    write(evals, "d.json", '[\n  {"id": "a", "q": 1},\n\n  {"id": "b",\n   "q": 2}\n]\n')
    found = read_dataset(evals, "d.json")
    assert found.problems == []
    assert [(r.values["id"], r.line) for r in found.rows] == [("a", 2), ("b", 4)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"q": 1}', "evals/d.json:1: a .json dataset is a list of objects"),
        ('[{"q": 1},\n 5]', "evals/d.json:2: a row is a mapping (a JSON object), got a number"),
        ('[{"q": 1}\n {"q": 2}]', "evals/d.json:2: not JSON: expected ',' or ']' after a row"),
        ('[{"q": 1}] trailing', "evals/d.json:1: not JSON: text after the list"),
    ],
)
def test_json_problems(evals: Path, text: str, expected: str) -> None:
    write(evals, "d.json", text)
    assert expected in lines_of(read_dataset(evals, "d.json").problems)


def test_yaml_rows_know_the_line_of_each_value(evals: Path) -> None:
    write(evals, "d.yaml", "- id: a\n  q: one\n- id: b\n  vars:\n    q: two\n- just text\n")
    found = read_dataset(evals, "d.yaml")
    assert lines_of(found.problems) == ["evals/d.yaml:6: a row is a mapping, got a string"]
    assert [r.line for r in found.rows] == [1, 3]
    assert found.rows[1].line_of(("vars", "q")) == 5
    assert found.rows[1].is_case


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("d.txt", "x", "evals/d.txt:1: a dataset is one of .csv, .jsonl, .json, .yaml, .yml"),
        ("../d.csv", "x", "evals/../d.csv:1: dataset '../d.csv' leaves evals/; refused"),
        ("none.csv", None, "evals/none.csv:1: dataset 'none.csv' not found under evals/"),
        ("e.csv", "", "evals/e.csv:1: the dataset is empty"),
    ],
)
def test_file_level_problems(evals: Path, name: str, data: str | None, expected: str) -> None:
    if data is not None:
        write(evals.parent if name.startswith("..") else evals, name.removeprefix("../"), data)
    found = read_dataset(evals, name)
    assert found.rows == []
    assert any(line.startswith(expected) for line in lines_of(found.problems)), found.problems


def test_a_fifo_is_refused_without_waiting(evals: Path) -> None:
    os.mkfifo(evals / "d.csv")
    found = read_dataset(evals, "d.csv")  # returns: nothing waits for a writer
    assert found.rows == []
    assert lines_of(found.problems) == ["evals/d.csv:1: dataset 'd.csv' not found under evals/"]


def test_bounds_on_file_rows_and_values(evals: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "MAX_ROWS", 3)
    monkeypatch.setattr(datasets, "MAX_FIELD_CHARS", 10)
    write(evals, "d.csv", "q\n" + "\n".join(["short", "x" * 11, "a", "b", "c", "d"]) + "\n")
    found = read_dataset(evals, "d.csv")
    assert lines_of(found.problems) == [
        "evals/d.csv:3: q: value too large (11 characters, more than 10)",
        "evals/d.csv:6: more than 3 rows; refused",
    ]
    assert len(found.rows) == 3
    monkeypatch.setattr(datasets, "MAX_BYTES", 5)
    assert lines_of(read_dataset(evals, "d.csv").problems) == [
        "evals/d.csv:1: larger than 0 MB; refused"
    ]
