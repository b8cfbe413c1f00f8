"""find_json's search order, RFC 6901 pointers, and that nothing here ever raises."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.jsontext import as_text, find_json, pointer_of, pointer_problem, resolve_pointer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{"a": 1}', {"a": 1}, id="whole-object"),
        pytest.param("  \n[1, 2]\n ", [1, 2], id="whole-array-stripped"),
        pytest.param("42", 42, id="whole-number"),
        pytest.param('"hi"', "hi", id="whole-string"),
        pytest.param('Here:\n```json\n{"a": 1}\n```\nok', {"a": 1}, id="json-fence"),
        pytest.param("```\n[1]\n```", [1], id="bare-fence"),
        pytest.param('```JSON\n{"a": 1}\n```', {"a": 1}, id="fence-upper-tag"),
        pytest.param(
            '```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```', {"a": 1}, id="first-fence-wins"
        ),
        pytest.param(
            '```python\nprint(1)\n```\nthen\n```json\n{"b": 2}\n```',
            {"b": 2},
            id="skips-fence-that-does-not-parse",
        ),
        pytest.param(
            'Example {"x": 0} below\n```json\n{"a": 1}\n```',
            {"a": 1},
            id="fence-before-prose",
        ),
        pytest.param('The answer is {"a": [1, 2]} as requested.', {"a": [1, 2]}, id="prose"),
        pytest.param(
            'Use {braces} like [this], then {"ok": true} done',
            {"ok": True},
            id="prose-skips-failed-openers",
        ),
        pytest.param('x [1, 2] y {"a": 1}', [1, 2], id="prose-first-opener-wins"),
        pytest.param('```json\n{"a": 1}', {"a": 1}, id="unterminated-fence-via-prose"),
        pytest.param(
            '{"a": {"b": [1, {"c": null}]}} trailing',
            {"a": {"b": [1, {"c": None}]}},
            id="prose-nested-trailing-text",
        ),
    ],
)
def test_find_json_finds(text: str, expected: Any) -> None:
    assert find_json(text) == (True, expected)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("no json here", id="prose"),
        pytest.param("{not json", id="broken-object"),
        pytest.param("[", id="lone-bracket"),
        pytest.param("```json\n{oops}\n```", id="bad-fence"),
        pytest.param("1" * 5000, id="int-over-conversion-limit"),
        pytest.param("[" + "1" * 5000 + "]", id="array-int-over-limit"),
        pytest.param("[" * 3000, id="deep-unclosed"),
    ],
)
def test_find_json_finds_nothing(text: str) -> None:
    assert find_json(text) == (False, None)


def test_find_json_survives_nesting_beyond_recursion_limit() -> None:
    # Too deep to decode from any of the first MAX_OPENERS openers: nothing found, no raise.
    assert find_json("[" * 5000 + "]" * 5000) == (False, None)
    # A shallower value after the deep run is found when it is among the openers tried.
    found, value = find_json("[" * 150 + ' {"ok": 1}')
    assert found
    assert value == {"ok": 1}


def test_find_json_gives_up_after_max_openers() -> None:
    text = "[" * 200_000
    assert find_json(text) == (False, None)  # bounded: MAX_OPENERS attempts, not 200,000


@settings(database=None, max_examples=300, deadline=None)
@given(st.text() | st.text(alphabet='{}[]":,01e-. \n`jsonul', max_size=200))
def test_find_json_never_raises(text: str) -> None:
    found, value = find_json(text)
    assert found or value is None


DOC: dict[str, Any] = {
    "a": [{"b": 1}],
    "items": [{"name": "Ada"}, {"name": "Bob"}],
    "a/b": 2,
    "m~n": 3,
    "~1": 4,
    "": 5,
    "s": "text",
    "n": None,
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        pytest.param("", (True, DOC), id="root"),
        pytest.param("/a/0/b", (True, 1), id="key-index-key"),
        pytest.param("/items/1/name", (True, "Bob"), id="array-index"),
        pytest.param("/a~1b", (True, 2), id="tilde-1-is-slash"),
        pytest.param("/m~0n", (True, 3), id="tilde-0-is-tilde"),
        pytest.param("/~01", (True, 4), id="tilde-01-is-literal-tilde-1"),
        pytest.param("/", (True, 5), id="empty-key"),
        pytest.param("/n", (True, None), id="null-value-exists"),
        pytest.param("/missing", (False, None), id="missing-key"),
        pytest.param("/items/2", (False, None), id="index-out-of-range"),
        pytest.param("/items/01", (False, None), id="leading-zero-index"),
        pytest.param("/items/-", (False, None), id="dash-index"),
        pytest.param("/items/-1", (False, None), id="negative-index"),
        pytest.param("/items/name", (False, None), id="key-into-array"),
        pytest.param("/items/" + "9" * 40, (False, None), id="huge-index"),
        pytest.param("/s/0", (False, None), id="into-string"),
        pytest.param("a", (False, None), id="no-leading-slash"),
        pytest.param("/a~2", (False, None), id="bad-escape"),
    ],
)
def test_resolve_pointer(pointer: str, expected: tuple[bool, Any]) -> None:
    assert resolve_pointer(DOC, pointer) == expected


@pytest.mark.parametrize(
    ("pointer", "problem"),
    [
        pytest.param("", None, id="empty-ok"),
        pytest.param("/a/0", None, id="slash-ok"),
        pytest.param("/a~0~1", None, id="escapes-ok"),
        pytest.param("a/0", "must be empty or start with '/'", id="no-slash"),
        pytest.param("/a~", "'~' must be followed by 0 or 1", id="dangling-tilde"),
        pytest.param("/a~2", "'~' must be followed by 0 or 1", id="bad-escape"),
        pytest.param(3, "a JSON pointer is a string", id="not-a-string"),
    ],
)
def test_pointer_problem(pointer: object, problem: str | None) -> None:
    found = pointer_problem(pointer)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param("Ada", "Ada", id="str-as-is"),
        pytest.param(36, "36", id="int"),
        pytest.param(True, "true", id="bool-as-json"),
        pytest.param(None, "null", id="null"),
        pytest.param({"a": ["é"]}, '{"a": ["é"]}', id="object-unescaped"),
    ],
)
def test_as_text(value: Any, text: str) -> None:
    assert as_text(value) == text


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        pytest.param((), "/", id="root"),
        pytest.param(("items", 0, "age"), "/items/0/age", id="keys-and-index"),
        pytest.param(("a/b", "m~n"), "/a~1b/m~0n", id="escaped"),
    ],
)
def test_pointer_of(path: tuple[str | int, ...], pointer: str) -> None:
    assert pointer_of(path) == pointer
