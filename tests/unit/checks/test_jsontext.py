"""find_json's search order, RFC 6901 pointers, and that nothing here ever raises."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.jsontext import (
    MAX_DEPTH,
    NestingTooDeep,
    as_text,
    find_json,
    pointer_of,
    pointer_problem,
    resolve_pointer,
)


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
    ],
)
def test_find_json_finds_nothing(text: str) -> None:
    assert find_json(text) == (False, None)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 5000 + "]" * 5000, id="beyond-recursion-limit"),
        pytest.param("[" * 201 + "]" * 201, id="201-levels"),
        pytest.param('{"a":' * 300 + "1" + "}" * 300, id="objects"),
        pytest.param("```json\n" + "[" * 300 + "]" * 300 + "\n```", id="in-a-fence"),
        pytest.param("[" * 3000, id="unclosed"),
        pytest.param("[" * 200_000, id="unclosed-long"),
        pytest.param("[" * 1_000_000 + "]" * 1_000_000, id="a-million"),
    ],
)
def test_json_nested_too_deep_is_refused_not_walked(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(NestingTooDeep, match=f"nests deeper than {MAX_DEPTH} levels"):
        find_json(text)
    assert time.perf_counter() - started < 1.0


def test_json_at_the_depth_limit_and_shallow_json_after_deep_json_are_found() -> None:
    assert find_json("[" * MAX_DEPTH + "]" * MAX_DEPTH)[0]
    found, value = find_json("x " + "[" * 300 + "]" * 300 + ' then {"ok": 1}')
    assert (found, value) == (True, {"ok": 1})  # not an array inside the deep one
    assert find_json("[" * 150 + ' {"ok": 1}') == (True, {"ok": 1})


MB = 1_000_000


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{" * MB, id="braces"),
        pytest.param("```" * (MB // 3), id="fences"),
        pytest.param("```\n" * (MB // 4), id="empty-fences"),
        pytest.param("```json\n{" * (MB // 9), id="fences-with-openers"),
        pytest.param(("[" + "1," * 2500) * 200, id="unclosed-lists"),
        pytest.param('["' + "x" * MB, id="unclosed-string"),
    ],
)
def test_find_json_is_linear_on_a_hostile_megabyte(text: str) -> None:
    started = time.perf_counter()
    with contextlib.suppress(NestingTooDeep):
        find_json(text)
    assert time.perf_counter() - started < 1.5


@settings(database=None, max_examples=300, deadline=None)
@given(st.text() | st.text(alphabet='{}[]":,01e-. \n`jsonul', max_size=200))
def test_find_json_never_raises_on_shallow_text(text: str) -> None:
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
