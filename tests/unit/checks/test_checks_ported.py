"""The checks a user migrating from promptfoo, openai evals or inspect_ai reaches for:
``starts_with`` / ``ends_with``, ``icontains_any`` / ``icontains_all``, ``is_json``,
``json_equals``, ``levenshtein`` and ``f1``: verdicts, observed values, details, and spec
errors."""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from rapidfuzz.distance import Levenshtein

from harness.checks.jsontext import MAX_DEPTH, NestingTooDeep
from harness.checks.registry import CheckContext, build_check
from harness.checks.similarity import f1_score, normalize_answer
from harness.errors import CheckSpecError, TemplateError
from harness.models import CheckResult, Completion, Subject, Usage

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
SCHEMAS: dict[str, Mapping[str, Any]] = {
    "schemas/person.json": PERSON,
    "schemas/bad.json": {"type": "nope"},
}


def load_schema(path: str) -> Mapping[str, Any]:
    if path not in SCHEMAS:
        raise TemplateError(f"schema {path} not found under evals/")
    return SCHEMAS[path]


CTX = CheckContext(load_schema=load_schema)
PERSON_JSON = '{"name": "Ada", "age": 36}'


def subject(answer: str) -> Subject:
    completion = Completion(answer, "", Usage(1, 1, 0), "stop", False, 1.0, 200)
    return Subject(text=answer, value=answer, completion=completion)


def run(spec: Mapping[str, Any], answer: str) -> CheckResult:
    name, check = build_check(spec, CTX)
    assert name == next(iter(spec))
    return check(subject(answer))


def row(
    id: str, spec: Mapping[str, Any], answer: str, passed: bool, observed: Any, detail: str = ""
) -> Any:
    return pytest.param(spec, answer, passed, observed, detail, id=id)


ITEMS_GOT = '{"items": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}'
ITEMS_WANT = {"items": [{"name": "a"}, {"name": "b"}, {"name": "b"}]}

# fmt: off
ROWS = [
    # starts_with / ends_with: on the stripped answer; observed is its opening / ending
    row("starts-strips", {"starts_with": "Yes"}, "  Yes, it is.", True, "Yes"),
    row("starts-miss", {"starts_with": "Yes"}, "No, yes.", False, "No,",
        "answer starts with 'No,', not 'Yes'"),
    row("starts-case-sensitive", {"starts_with": "yes"}, "Yes", False, "Yes",
        "answer starts with 'Yes', not 'yes'"),
    row("starts-ignore-case", {"starts_with": {"value": "yes", "ignore_case": True}}, "YES sir",
        True, "YES"),
    row("starts-casefold", {"starts_with": {"value": "STRASSE", "ignore_case": True}},
        "Straße 5", True, "Straße "),
    row("starts-ignore-case-miss", {"starts_with": {"value": "no", "ignore_case": True}}, "Yes",
        False, "Ye", "answer starts with 'Ye', not 'no' (ignoring case)"),
    row("starts-longer-than-answer", {"starts_with": "Yes indeed"}, "Yes", False, "Yes",
        "answer starts with 'Yes', not 'Yes indeed'"),
    row("starts-empty-answer", {"starts_with": "A"}, " \n", False, "", "answer starts with ''"),
    row("ends-strips", {"ends_with": "."}, "Done.\n", True, "."),
    row("ends-miss", {"ends_with": "Paris"}, "Paris or Lyon", False, " Lyon",
        "answer ends with ' Lyon', not 'Paris'"),
    row("ends-ignore-case", {"ends_with": {"value": "PARIS", "ignore_case": True}},
        "it is paris ", True, "paris"),
    row("ends-casefold", {"ends_with": {"value": "STRASSE", "ignore_case": True}},
        "in der Straße", True, " Straße"),
    # icontains_any / icontains_all: contains_any / contains_all, ignoring case
    row("icontains_any-found", {"icontains_any": ["PARIS", "rome", "lyon"]}, "Paris, not Lyon",
        True, ["PARIS", "lyon"]),
    row("icontains_any-casefold", {"icontains_any": ["STRASSE"]}, "die Straße", True,
        ["STRASSE"]),
    row("icontains_any-none", {"icontains_any": ["x", "Y"]}, "abc", False, [],
        "none of ['x', 'Y'] in answer (ignoring case)"),
    row("icontains_all-all", {"icontains_all": ["PARIS", "france"]}, "Paris, France", True, []),
    row("icontains_all-missing", {"icontains_all": ["a", "Z", "q"]}, "A z", False, ["q"],
        "missing ['q'] (ignoring case)"),
    row("icontains_all-mapping", {"icontains_all": {"values": ["OK"]}}, "ok", True, []),
    # is_json: the whole stripped answer parses; observed is the value
    row("is_json-object", {"is_json": True}, ' {"a": 1}\n', True, {"a": 1}),
    row("is_json-array", {"is_json": True}, "[1, 2]", True, [1, 2]),
    row("is_json-number", {"is_json": True}, "42", True, 42),
    row("is_json-string", {"is_json": True}, '"text"', True, "text"),
    row("is_json-null", {"is_json": {}}, "null", True, None),
    row("is_json-prose", {"is_json": True}, 'Sure: {"a": 1}', False,
        "Expecting value: line 1 column 1 (char 0)",
        "the answer is not JSON: Expecting value: line 1 column 1 (char 0)"),
    row("is_json-fence", {"is_json": True}, '```json\n{"a": 1}\n```', False,
        "Expecting value: line 1 column 1 (char 0)", "the answer is not JSON"),
    row("is_json-trailing-prose", {"is_json": True}, '{"a": 1} Hope it helps.', False,
        "Extra data: line 1 column 10 (char 9)", "the answer is not JSON: Extra data"),
    row("is_json-nan", {"is_json": True}, "NaN", False, "NaN is not valid JSON",
        "the answer is not JSON: NaN is not valid JSON"),
    row("is_json-infinity", {"is_json": True}, "[1, -Infinity]", False,
        "-Infinity is not valid JSON", "not JSON"),
    row("is_json-empty", {"is_json": True}, "  ", False, "the answer is empty",
        "the answer is not JSON: the answer is empty"),
    row("is_json-single-quotes", {"is_json": True}, "{'a': 1}", False,
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "not JSON"),
    row("is_json-huge-float", {"is_json": True}, "1e999", True, math.inf),
    row("is_json-schema-valid", {"is_json": {"schema": "schemas/person.json"}}, PERSON_JSON,
        True, {"name": "Ada", "age": 36}),
    row("is_json-schema-errors", {"is_json": {"schema": "schemas/person.json"}},
        '{"name": 5}', False,
        ["/: 'age' is a required property", "/name: 5 is not of type 'string'"],
        "/: 'age' is a required property (+1 more)"),
    row("is_json-schema-prose", {"is_json": {"schema": "schemas/person.json"}},
        f"Here: {PERSON_JSON}", False, "Expecting value: line 1 column 1 (char 0)",
        "the answer is not JSON"),
    row("is_json-inline-schema", {"is_json": {"schema": {"type": "array"}}}, "[1]", True, [1]),
    row("is_json-under-json", {"json": {"pointer": "/a", "is_json": True}}, 'So: {"a": [1]}',
        True, [1]),
    # json_equals: structural, key order ignored, 1 == 1.0, true != 1
    row("json_equals-key-order", {"json_equals": {"b": 1, "a": [1, 2]}},
        '{"a": [1.0, 2], "b": 1}', True, {"a": [1.0, 2], "b": 1}),
    row("json_equals-true-is-not-1", {"json_equals": 1}, "true", False, True, "/: True != 1"),
    row("json_equals-1-is-not-true", {"json_equals": True}, "1", False, 1, "/: 1 != True"),
    row("json_equals-first-difference", {"json_equals": ITEMS_WANT}, ITEMS_GOT, False,
        json.loads(ITEMS_GOT), "/items/2/name: 'a' != 'b'"),
    row("json_equals-missing-key", {"json_equals": {"a": 1, "b": 2}}, '{"a": 1}', False,
        {"a": 1}, "/b: missing"),
    row("json_equals-extra-key", {"json_equals": {"a": 1}}, '{"a": 1, "c": 3}', False,
        {"a": 1, "c": 3}, "/c: not expected"),
    row("json_equals-longer-list", {"json_equals": [1, 2]}, "[1, 2, 3]", False, [1, 2, 3],
        "/: 3 items != 2"),
    row("json_equals-type", {"json_equals": {"a": [1]}}, '{"a": {"0": 1}}', False,
        {"a": {"0": 1}}, "/a: {'0': 1} != [1]"),
    row("json_equals-string-is-not-number", {"json_equals": {"n": 5}}, '{"n": "5"}', False,
        {"n": "5"}, "/n: '5' != 5"),
    row("json_equals-escaped-key", {"json_equals": {"a/b": 1}}, '{"a/b": 2}', False,
        {"a/b": 2}, "/a~1b: 2 != 1"),
    row("json_equals-long-form", {"json_equals": {"value": 3}}, "3.0", True, 3.0),
    row("json_equals-long-form-of-value-mapping", {"json_equals": {"value": {"value": 1}}},
        '{"value": 1}', True, {"value": 1}),
    row("json_equals-mapping-with-value-and-more", {"json_equals": {"value": 1, "x": 2}},
        '{"x": 2, "value": 1}', True, {"x": 2, "value": 1}),
    row("json_equals-null", {"json_equals": None}, " null ", True, None),
    row("json_equals-json-string", {"json_equals": "Ada"}, '"Ada"', True, "Ada"),
    row("json_equals-bare-text-is-no-json", {"json_equals": "Ada"}, "Ada", False, None,
        "the answer is not JSON: Expecting value"),
    row("json_equals-no-prose", {"json_equals": {"a": 1}}, 'Sure: {"a": 1}', False, None,
        "the answer is not JSON"),
    row("json_equals-under-json", {"json": {"pointer": "/p", "json_equals": {"x": 1}}},
        'Here: {"p": {"x": 1.0}}', True, {"x": 1.0}),
    row("json_equals-under-json-fails", {"json": {"pointer": "/p", "json_equals": [1]}},
        '{"p": [2]}', False, [2], "at /p: json_equals: /0: 2 != 1"),
    # levenshtein: edit distance of the stripped answer; observed is the distance
    row("levenshtein-at-max", {"levenshtein": {"value": "kitten", "max_distance": 3}},
        "sitting", True, 3),
    row("levenshtein-over", {"levenshtein": {"value": "kitten", "max_distance": 2}}, "sitting",
        False, 3, "distance 3 > max_distance 2"),
    row("levenshtein-strips", {"levenshtein": {"value": "Paris", "max_distance": 0}},
        "  Paris\n", True, 0),
    row("levenshtein-case", {"levenshtein": {"value": "paris", "max_distance": 0}}, "Paris",
        False, 1, "distance 1 > max_distance 0"),
    row("levenshtein-ignore-case",
        {"levenshtein": {"value": "paris", "max_distance": 0, "ignore_case": True}}, "PARIS",
        True, 0),
    row("levenshtein-empty", {"levenshtein": {"value": "abc", "max_distance": 3}}, "", True, 3),
    row("levenshtein-whole-float", {"levenshtein": {"value": "ab", "max_distance": 1.0}}, "abc",
        True, 1),
    # f1: SQuAD-normalised token overlap; observed is the score, rounded to 3 decimals
    row("f1-exact-after-normalising", {"f1": {"value": "The Eiffel Tower", "min": 1}},
        "eiffel  tower!", True, 1.0),
    row("f1-partial", {"f1": {"value": "the Eiffel Tower", "min": 0.5}},
        "It is the Eiffel tower.", True, 0.667),
    row("f1-below-min", {"f1": {"value": "the Eiffel Tower", "min": 0.7}},
        "It is the Eiffel tower.", False, 0.667, "f1 0.667 < min 0.7"),
    row("f1-best-of-answers", {"f1": {"value": ["Paris", "City of Light"], "min": 0.9}},
        "the city of light", True, 1.0),
    row("f1-best-of-answers-low", {"f1": {"value": ["Paris", "Lutetia"], "min": 0.5}},
        "Rome", False, 0.0, "best f1 0.000 < min 0.5"),
    row("f1-repeats-count-once", {"f1": {"value": "Paris", "min": 0}}, "paris paris", True,
        0.667),
    row("f1-articles-are-words-only", {"f1": {"value": "theater", "min": 1}}, "The theater",
        True, 1.0),
    row("f1-only-ascii-punctuation", {"f1": {"value": "Paris", "min": 0.5}}, "Paris\u2026",
        False, 0.0, "f1 0.000 < min 0.5"),
    row("f1-empty-answer", {"f1": {"value": "Paris", "min": 0}}, "", True, 0.0),
]
# fmt: on


@pytest.mark.parametrize(("spec", "answer", "passed", "observed", "detail"), ROWS)
def test_check(
    spec: Mapping[str, Any], answer: str, passed: bool, observed: Any, detail: str
) -> None:
    result = run(spec, answer)
    assert result.name == next(iter(spec))
    assert result.passed is passed
    assert result.observed == observed
    assert type(result.observed) is type(observed)
    if passed:
        assert result.detail == detail
    else:
        assert detail
        assert detail in result.detail


def graded(check: Mapping[str, Any], value: Any) -> CheckResult:
    """``check`` under ``json: {pointer: /v}`` on an answer whose ``v`` is ``value``: the
    nested check's result."""
    result = run({"json": {"pointer": "/v", **check}}, json.dumps({"v": value}))
    return result.children[0]


PLACES = ["Bolivia", " Peru ", 12, "Ecuadorian highlands"]


# fmt: off
ARRAY_ROWS = [
    # starts_with / ends_with: an element (stripped) starts / ends with the text
    pytest.param({"starts_with": "Pe"}, PLACES, True, "Peru", "", id="starts-an-element"),
    pytest.param({"starts_with": "Ecuador"}, PLACES, True, "Ecuadorian highlands", "",
                 id="starts-prefix-of-an-element"),
    pytest.param({"starts_with": "Chile"}, PLACES, False, None,
                 "no element starts with 'Chile'", id="starts-no-element"),
    pytest.param({"ends_with": "2"}, PLACES, True, "12", "", id="ends-a-number-element"),
    pytest.param({"ends_with": {"value": "RU", "ignore_case": True}}, PLACES, True, "Peru", "",
                 id="ends-ignore-case"),
    pytest.param({"ends_with": "x"}, [], False, None, "no element ends with 'x'",
                 id="ends-empty-array"),
    # icontains_any / icontains_all: elements, ignoring case; not substrings of elements
    pytest.param({"icontains_any": ["PERU", "x"]}, ["peru"], True, ["PERU"], "",
                 id="icontains_any-element"),
    pytest.param({"icontains_any": ["ecuador"]}, PLACES, False, [],
                 "none of ['ecuador'] is an element (ignoring case)",
                 id="icontains_any-not-a-substring"),
    pytest.param({"icontains_all": ["BOLIVIA", "chile"]}, PLACES, False, ["chile"],
                 "not elements: ['chile'] (ignoring case)", id="icontains_all-missing"),
    # levenshtein / f1: the best element
    pytest.param({"levenshtein": {"value": "Peru", "max_distance": 1}}, ["Bolivia", "Perú"],
                 True, 1, "", id="levenshtein-best-element"),
    pytest.param({"levenshtein": {"value": "Peru", "max_distance": 0}}, ["Bolivia", "Perú"],
                 False, 1, "best of 2 elements: distance 1 > max_distance 0",
                 id="levenshtein-best-element-fails"),
    pytest.param({"levenshtein": {"value": "Peru", "max_distance": 9}}, [], False, None,
                 "the array is empty", id="levenshtein-empty-array"),
    pytest.param({"f1": {"value": "Peru", "min": 1}}, ["Bolivia", "peru!"], True, 1.0, "",
                 id="f1-best-element"),
    # is_json / json_equals: the selected value is JSON already
    pytest.param({"is_json": True}, [1, 2], True, [1, 2], "", id="is_json-array"),
    pytest.param({"json_equals": [1, 2.0]}, [1, 2], True, [1, 2], "", id="json_equals-array"),
]
# fmt: on


@pytest.mark.parametrize(("check", "value", "passed", "observed", "detail"), ARRAY_ROWS)
def test_on_a_json_array(
    check: Mapping[str, Any], value: Any, passed: bool, observed: Any, detail: str
) -> None:
    result = graded(check, value)
    assert (result.passed, result.observed, result.detail) == (passed, observed, detail)


def test_is_json_and_json_equals_refuse_json_nested_too_deep() -> None:
    # As json_schema: the sample becomes an error (grading catches NestingTooDeep).
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    unclosed = "[" * 100_000
    for spec in ({"is_json": True}, {"json_equals": [1]}):
        for answer in (deep, unclosed):
            with pytest.raises(NestingTooDeep):
                run(spec, answer)
    shallow = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert run({"is_json": True}, shallow).passed


def test_is_json_on_an_integer_too_long_to_convert_is_not_json() -> None:
    result = run({"is_json": True}, "9" * 5000)
    assert not result.passed
    assert "Exceeds the limit (4300 digits) for integer string conversion" in result.detail


def openai_evals_f1(prediction: str, answers: list[str]) -> float:
    """openai evals' ``f1_score`` (evals/elsuite/utils.py), the reference."""

    def normalize(s: str) -> str:
        s = s.lower()
        exclude = set(string.punctuation)
        s = "".join(char for char in s if char not in exclude)
        s = re.sub(r"\b(a|an|the)\b", " ", s)
        return " ".join(s.split())

    def one(prediction: str, truth: str) -> float:
        got, want = normalize(prediction).split(), normalize(truth).split()
        same = sum((Counter(got) & Counter(want)).values())
        if same == 0:
            return 0
        precision, recall = same / len(got), same / len(want)
        return (2 * precision * recall) / (precision + recall)

    return max(one(prediction, answer) for answer in answers)


@pytest.mark.parametrize(
    ("prediction", "answers"),
    [
        ("The Eiffel Tower, in Paris.", ["Eiffel Tower"]),
        ("an apple a day", ["apple", "a day"]),
        ("It's 1,000 km!", ["1000 km", "one thousand kilometres"]),
        ("THE THE the", ["the answer"]),
        ("Ünïcödé words, here", ["unicode words"]),
        ("x y z", ["z y x"]),
        ("", ["empty"]),
    ],
)
def test_f1_is_openai_evals_f1(prediction: str, answers: list[str]) -> None:
    expected = openai_evals_f1(prediction, answers)
    assert max(f1_score(prediction, a) for a in answers) == pytest.approx(expected)
    assert normalize_answer("The  Cat's, hat!") == "cats hat"


@pytest.mark.parametrize(
    ("value", "answer"),
    [("kitten", "sitting"), ("", "abc"), ("Straße", "strasse"), ("a" * 50, "b")],
)
def test_levenshtein_is_rapidfuzz_distance(value: str, answer: str) -> None:
    spec = {"levenshtein": {"value": value, "max_distance": 100}}
    assert run(spec, answer).observed == Levenshtein.distance(value, answer)


# fmt: off
ERRORS = [
    ("starts_with-empty", {"starts_with": ""}, "starts_with",
     "is empty; every answer starts with ''"),
    ("ends_with-empty", {"ends_with": {"value": ""}}, "ends_with.value",
     "is empty; every answer ends with ''"),
    ("starts_with-number", {"starts_with": 5}, "starts_with", "expected a string, got 5"),
    ("starts_with-unknown", {"starts_with": {"value": "a", "strip": False}}, "starts_with.strip",
     "unknown key; allowed: value, ignore_case"),
    ("icontains_any-empty", {"icontains_any": []}, "icontains_any", "is empty"),
    ("icontains_all-empty", {"icontains_all": {"values": []}}, "icontains_all.values",
     "is empty"),
    ("icontains_any-string", {"icontains_any": "x"}, "icontains_any",
     "expected a list of strings, got 'x'"),
    ("is_json-false", {"is_json": False}, "is_json",
     "takes true or a mapping of parameters, got False"),
    ("is_json-string", {"is_json": "schemas/person.json"}, "is_json",
     "takes true or a mapping of parameters"),
    ("is_json-missing-schema", {"is_json": {"schema": "schemas/nope.json"}}, "is_json.schema",
     "schema schemas/nope.json not found under evals/"),
    ("is_json-invalid-schema", {"is_json": {"schema": "schemas/bad.json"}}, "is_json.schema",
     "invalid JSON Schema in schemas/bad.json"),
    ("is_json-schema-lookahead", {"is_json": {"schema": {"pattern": "a(?=b)"}}},
     "is_json.schema", "lookahead"),
    ("is_json-schema-url-ref", {"is_json": {"schema": {"$ref": "https://example.com/s.json"}}},
     "is_json.schema", "refused"),
    ("is_json-pointer", {"is_json": {"pointer": "/a"}}, "is_json.pointer",
     "unknown key; allowed: schema"),
    ("json_equals-nan", {"json_equals": {"value": math.nan}}, "json_equals.value",
     "holds NaN or infinity, which JSON cannot"),
    ("json_equals-inf-inside", {"json_equals": [1, {"a": math.inf}]}, "json_equals",
     "holds NaN or infinity"),
    ("levenshtein-missing", {"levenshtein": {"value": "a"}}, "levenshtein",
     "missing required key 'max_distance'"),
    ("levenshtein-negative", {"levenshtein": {"value": "a", "max_distance": -1}},
     "levenshtein.max_distance", "-1 is negative; it must be 0 or more"),
    ("levenshtein-fraction", {"levenshtein": {"value": "a", "max_distance": 1.5}},
     "levenshtein.max_distance", "1.5 is not a whole number"),
    ("levenshtein-bool", {"levenshtein": {"value": "a", "max_distance": True}},
     "levenshtein.max_distance", "expected an integer, got True"),
    ("levenshtein-value", {"levenshtein": {"value": 5, "max_distance": 1}},
     "levenshtein.value", "expected a string, got 5"),
    ("levenshtein-shorthand", {"levenshtein": "Paris"}, "levenshtein",
     "takes a mapping of parameters"),
    ("f1-min-over", {"f1": {"value": "a b", "min": 1.5}}, "f1.min", "1.5 is outside 0-1"),
    ("f1-min-nan", {"f1": {"value": "a b", "min": math.nan}}, "f1.min", "nan is outside 0-1"),
    ("f1-missing-min", {"f1": {"value": "Paris"}}, "f1", "missing required key 'min'"),
    ("f1-empty-list", {"f1": {"value": [], "min": 0.5}}, "f1.value", "is empty"),
    ("f1-no-words", {"f1": {"value": "The", "min": 0.5}}, "f1.value",
     "'The' has no words left once normalised"),
    ("f1-no-words-in-list", {"f1": {"value": ["Paris", "?!"], "min": 0.5}}, "f1.value[1]",
     "'?!' has no words left"),
    ("f1-value-number", {"f1": {"value": 5, "min": 0.5}}, "f1.value",
     "expected a string or a list of strings, got 5"),
]
# fmt: on


@pytest.mark.parametrize(
    ("spec", "path", "message"), [pytest.param(*e[1:], id=e[0]) for e in ERRORS]
)
def test_spec_error(spec: Any, path: str, message: str) -> None:
    with pytest.raises(CheckSpecError) as info:
        build_check(spec, CTX)
    assert info.value.path == path
    assert message in info.value.message
