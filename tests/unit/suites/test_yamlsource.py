"""YAML -> data with 1-based lines: nested paths, key lines, duplicates, merges, refusals."""

from __future__ import annotations

import pytest
import yaml

from harness.errors import Problem
from harness.suites.source import MAX_BYTES, MAX_NODES, Path, format_path, load_yaml

SUITE = """\
name: demo
cases:
  - id: a
    expect:
      - contains: x
      - fuzzy:
          value: y
          min: 80
  - id: b
    vars: {q: 1, r: [2, 3]}
"""


def bomb(levels: int = 9, width: int = 9) -> str:
    """Billion laughs: each anchor is a list of ``width`` aliases to the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def key_bomb(levels: int = 9, width: int = 9) -> str:
    """The same bomb built only from mapping keys, which the node walker never visits."""
    lines = [f"? &k0 [{', '.join(['lol'] * width)}]", ": 1"]
    for level in range(1, levels):
        lines += [f"? &k{level} [{', '.join([f'*k{level - 1}'] * width)}]", ": 1"]
    return "\n".join(lines) + "\n"


def messages(text: str) -> list[str]:
    return [str(p) for p in load_yaml(text, "s.yaml").problems]


@pytest.mark.parametrize(
    ("path", "line"),
    [
        pytest.param((), 1, id="root"),
        pytest.param(("name",), 1, id="top-key"),
        pytest.param(("cases",), 3, id="list-value-starts-at-first-dash"),
        pytest.param(("cases", 0), 3, id="first-item"),
        pytest.param(("cases", 0, "expect"), 5, id="nested-list"),
        pytest.param(("cases", 0, "expect", 1), 6, id="nested-item"),
        pytest.param(("cases", 0, "expect", 1, "fuzzy"), 7, id="block-mapping-value"),
        pytest.param(("cases", 0, "expect", 1, "fuzzy", "min"), 8, id="deep-scalar"),
        pytest.param(("cases", 1), 9, id="second-item"),
        pytest.param(("cases", 1, "vars", "r", 1), 10, id="flow-item"),
    ],
)
def test_lines_are_one_based_for_every_node(path: Path, line: int) -> None:
    located = load_yaml(SUITE, "s.yaml")
    assert located.problems == []
    assert located.lines[path] == line
    assert located.line_of(path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        pytest.param(("cases",), 2, id="key-above-its-list"),
        pytest.param(("cases", 0, "expect"), 4, id="nested-key"),
        pytest.param(("cases", 0, "expect", 1, "fuzzy"), 6, id="key-above-its-mapping"),
        pytest.param(("cases", 1, "vars", "q"), 10, id="flow-key"),
    ],
)
def test_key_lines_point_at_the_key(path: Path, line: int) -> None:
    located = load_yaml(SUITE, "s.yaml")
    assert located.key_lines[path] == line
    assert located.line_of(path, key=True) == line


@pytest.mark.parametrize(
    ("path", "key", "line"),
    [
        pytest.param(("cases", 0, "nope"), False, 3, id="missing-key-uses-parent"),
        pytest.param(("cases", 0, "expect", 7, "x"), False, 5, id="missing-index-uses-list"),
        pytest.param(("cases", 0, "nope"), True, 3, id="key-without-key-line"),
        pytest.param(("other",), False, 1, id="falls-back-to-root"),
    ],
)
def test_line_of_falls_back_to_the_nearest_ancestor(path: Path, key: bool, line: int) -> None:
    assert load_yaml(SUITE, "s.yaml").line_of(path, key=key) == line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a: 1\nb: 2\na: 3\n", ["s.yaml:3: a: duplicate key 'a'"], id="top-level"),
        pytest.param(
            "cases:\n  - id: x\n    vars: {q: 1}\n    id: y\n",
            ["s.yaml:4: cases[0].id: duplicate key 'id'"],
            id="in-list-item",
        ),
        pytest.param(
            "a:\n  b: 1\n  c: 2\n  b: 3\n  c: 4\n",
            ["s.yaml:4: a.b: duplicate key 'b'", "s.yaml:5: a.c: duplicate key 'c'"],
            id="every-duplicate",
        ),
        pytest.param("a: {x: 1, x: 2}\n", ["s.yaml:1: a.x: duplicate key 'x'"], id="flow"),
        pytest.param("a: {x: 1}\nb: {x: 2}\n", [], id="same-key-elsewhere-is-fine"),
    ],
)
def test_duplicate_keys_are_reported_with_their_line(text: str, expected: list[str]) -> None:
    assert messages(text) == expected


def test_the_last_duplicate_wins_like_pyyaml() -> None:
    assert load_yaml("a: 1\na: 2\n", "s.yaml").data == {"a": 2}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  z: 3\n", id="merge-one"),
        pytest.param("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 5\n", id="own-key-overrides"),
        pytest.param(
            "b: &b {x: 1, y: 2}\no: &o {y: 9, z: 3}\nm:\n  <<: [*b, *o]\n", id="merge-list"
        ),
        pytest.param(
            "b: &b {x: 1, y: 2}\no: &o {y: 9, z: 3}\nm:\n  <<: [*b, *o]\n  y: 5\n",
            id="merge-list-and-override",
        ),
        pytest.param(
            "b: &b {x: 1}\nm: &m\n  <<: *b\n  x: 2\nn: *m\n", id="alias-of-a-merged-mapping"
        ),
        pytest.param(
            "defaults: &d {temperature: 0.2, top_p: 0.9}\n"
            "cases:\n"
            "  - id: a\n    params: {<<: *d, temperature: 0.7}\n"
            "  - id: b\n    params: {<<: *d}\n",
            id="suite-style",
        ),
    ],
)
def test_merge_keys_match_pyyaml_and_overrides_are_not_duplicates(text: str) -> None:
    located = load_yaml(text, "s.yaml")
    assert located.problems == []
    assert located.data == yaml.safe_load(text)


def test_merged_keys_get_the_line_of_their_anchor() -> None:
    located = load_yaml("base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n", "s.yaml")
    assert located.data == {"base": {"x": 1}, "m": {"x": 1, "y": 2}}
    assert located.lines[("m", "x")] == 1
    assert located.lines[("m", "y")] == 4


def test_a_mapping_that_merges_still_reports_its_own_duplicates() -> None:
    text = "base: &b {x: 1}\nm:\n  <<: *b\n  y: 1\n  y: 2\n"
    assert messages(text) == ["s.yaml:5: m.y: duplicate key 'y'"]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param("a: 1\nb: [1, 2\nc: 3\n", 3, "expected ',' or ']'", id="unclosed-flow"),
        # libyaml (used when PyYAML has it) and pure-Python PyYAML word these differently
        pytest.param("a: 1\n\tb: 2\n", 2, "tab", id="tab"),
        pytest.param("a: 'open\n", 2, "found unexpected end of stream", id="unclosed-quote"),
        pytest.param("a: 1\n---\nb: 2\n", 2, "expected a single document", id="two-documents"),
        pytest.param("a: *nowhere\n", 1, "found undefined alias", id="unknown-alias"),
        pytest.param(
            "a: !!python/name:os.system ''\n",
            1,
            "could not determine a constructor for the tag",
            id="python-tag-refused",
        ),
        pytest.param(
            "a:\n  - [1, 2]\n  - ? [x]\n    : 1\n", 3, "must be a plain value", id="list-key"
        ),
    ],
)
def test_invalid_yaml_is_a_problem_with_its_line(text: str, line: int, fragment: str) -> None:
    located = load_yaml(text, "s.yaml")
    assert len(located.problems) == 1
    problem = located.problems[0]
    assert (problem.file, problem.line) == ("s.yaml", line)
    assert fragment in problem.message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("\n\n   \n", id="blank-lines"),
        pytest.param("# just a comment\n", id="comment-only"),
    ],
)
def test_an_empty_file_is_a_problem(text: str) -> None:
    located = load_yaml(text, "s.yaml")
    assert located.data is None
    assert located.problems == [Problem("s.yaml", 1, "", "the file is empty")]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: " + "x" * MAX_BYTES, id="ascii"),
        # fewer characters than MAX_BYTES, more bytes: the limit is on bytes
        pytest.param("a: " + "é" * (MAX_BYTES // 2), id="multibyte"),
    ],
)
def test_a_file_over_max_bytes_is_refused_unparsed(text: str) -> None:
    located = load_yaml(text, "s.yaml")
    assert located.data is None
    assert located.problems == [Problem("s.yaml", 1, "", "file is larger than 2 MB; refused")]


def test_a_file_just_under_max_bytes_is_parsed() -> None:
    text = "a: " + "x" * (MAX_BYTES - 10)
    located = load_yaml(text, "s.yaml")
    assert located.problems == []
    assert len(located.data["a"]) == MAX_BYTES - 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            bomb(), f"more than {MAX_NODES} YAML nodes (alias bomb?); refused", id="values"
        ),
        pytest.param(key_bomb(), "a key must be a plain value, not a list or mapping", id="keys"),
    ],
)
def test_an_alias_bomb_is_refused(text: str, message: str) -> None:
    located = load_yaml(text, "s.yaml")
    assert located.problems
    assert located.problems[0].message == message


def test_many_aliases_below_the_node_limit_are_fine() -> None:
    located = load_yaml(bomb(levels=4), "s.yaml")  # 9**3 leaves in the last list
    assert located.problems == []
    assert len(located.data["l3"]) == 9
    assert located.data["l3"][8][8][8] == ["lol"] * 9


@pytest.mark.parametrize(
    ("path", "text"),
    [
        pytest.param((), "", id="root"),
        pytest.param(("name",), "name", id="one-key"),
        pytest.param(("cases", 2, "expect", 0, "fuzzy"), "cases[2].expect[0].fuzzy", id="mixed"),
        pytest.param(("cases", 0, 1), "cases[0][1]", id="nested-indices"),
        pytest.param((3, "id"), "[3].id", id="starts-with-index"),
        pytest.param(("params", "extra", "top_k"), "params.extra.top_k", id="keys-only"),
    ],
)
def test_format_path(path: Path, text: str) -> None:
    assert format_path(path) == text
