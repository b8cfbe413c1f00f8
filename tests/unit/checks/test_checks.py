"""The check registry: every check's verdict, observed value and detail, and every spec error."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pytest
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from harness.checks.data import find_numbers
from harness.checks.grading import grade
from harness.checks.registry import CHECKS, CheckContext, build_check
from harness.checks.text import SCORERS
from harness.errors import CheckSpecError, TemplateError
from harness.models import BoundCheck, Case, CheckResult, Completion, Message, Subject, Usage

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
ITEMS = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"age": {"type": "integer"}}},
        }
    },
    "required": ["name"],
}
SCHEMAS: dict[str, Mapping[str, Any]] = {
    "schemas/person.json": PERSON,
    "schemas/items.json": ITEMS,
    "schemas/bad.json": {"type": "nope"},
}


def load_schema(path: str) -> Mapping[str, Any]:
    if path not in SCHEMAS:
        raise TemplateError(f"schema {path} not found under evals/")
    return SCHEMAS[path]


CTX = CheckContext(load_schema=load_schema)


def subject(
    answer: str,
    *,
    reasoning: str = "",
    truncated: bool = False,
    latency_ms: float = 1500.0,
    usage: Usage | None = None,
    baseline: str | None = None,
) -> Subject:
    """A top-level subject: the value is the text, as when no pointer selected one."""
    completion = Completion(
        answer=answer,
        reasoning=reasoning,
        usage=Usage(10, 50, 30) if usage is None else usage,
        finish="length" if truncated else "stop",
        truncated=truncated,
        latency_ms=latency_ms,
        status=200,
    )
    return Subject(text=answer, value=answer, completion=completion, baseline=baseline)


def run(spec: Mapping[str, Any], answer: Subject | str) -> CheckResult:
    name, check = build_check(spec, CTX)
    assert name == next(iter(spec))
    return check(answer if isinstance(answer, Subject) else subject(answer))


def row(
    id: str,
    spec: Mapping[str, Any],
    answer: Subject | str,
    passed: bool,
    observed: Any,
    detail: str = "",
) -> Any:
    return pytest.param(spec, answer, passed, observed, detail, id=id)


PERSON_JSON = '{"name": "Ada", "age": 36}'
# Errors at /items/10 and /items/2: sorting must be numeric, not by string.
ITEMS_JSON = json.dumps({"items": [{"age": str(i) if i in (2, 10) else i} for i in range(11)]})
NESTED_3 = {
    "all": [
        {"any": [{"not": {"contains": "Ada"}}, {"regex": r"\d+"}]},
        {"not": {"all": [{"contains": "Ada"}, {"contains": "Bob"}]}},
    ]
}

# fmt: off
ROWS = [
    # equals / one_of
    row("equals-strips", {"equals": "Paris"}, "  Paris \n", True, "Paris"),
    row("equals-miss", {"equals": "Paris"}, "Lyon", False, "Lyon", "expected 'Paris', got 'Lyon'"),
    row("equals-case-sensitive", {"equals": "Paris"}, "paris", False, "paris", "expected"),
    row("equals-ignore-case", {"equals": {"value": "PARIS", "ignore_case": True}}, "paris", True,
        "paris"),
    row("equals-number-text", {"equals": 5}, "5", True, "5"),
    row("equals-bool-as-json-text", {"equals": True}, "true", True, "true"),
    row("equals-bool-python-text", {"equals": True}, "True", False, "True", "expected True"),
    row("equals-json-int-float", {"json": {"pointer": "/age", "equals": 36}}, '{"age": 36.0}',
        True, 36.0),
    row("equals-json-true-is-not-1", {"json": {"pointer": "/ok", "equals": 1}}, '{"ok": true}',
        False, True, "at /ok: equals: expected 1, got True"),
    row("equals-json-object", {"json": {"pointer": "/p", "equals": {"x": [1, True]}}},
        '{"p": {"x": [1.0, true]}}', True, {"x": [1.0, True]}),
    row("one_of-hit", {"one_of": ["yes", "no"]}, " no", True, "no"),
    row("one_of-miss", {"one_of": ["yes", "no"]}, "maybe", False, "maybe",
        "'maybe' is not one of ['yes', 'no']"),
    row("one_of-ignore-case", {"one_of": {"values": ["Yes"], "ignore_case": True}}, "YES", True,
        "YES"),
    row("one_of-json-number", {"json": {"pointer": "/n", "one_of": [1, 2]}}, '{"n": 2.0}', True,
        2.0),
    # substrings
    row("contains-hit", {"contains": "Paris"}, "It is Paris.", True, True),
    row("contains-case-sensitive", {"contains": "Paris"}, "it is paris", False, False,
        "'Paris' not in answer"),
    row("icontains-hit", {"icontains": "paris"}, "PARIS!", True, True),
    row("icontains-casefold", {"icontains": "STRASSE"}, "Die Straße", True, True),
    row("icontains-miss", {"icontains": "rome"}, "Paris", False, False, "ignoring case"),
    row("contains_any-found", {"contains_any": ["a", "b", "z"]}, "b or z", True, ["b", "z"]),
    row("contains_any-none", {"contains_any": ["x", "y"]}, "abc", False, [], "none of"),
    row("contains_all-all", {"contains_all": ["a", "b"]}, "a b", True, []),
    row("contains_all-missing", {"contains_all": ["a", "b", "c"]}, "a", False, ["b", "c"],
        "missing ['b', 'c']"),
    row("icontains_any-found", {"icontains_any": ["A", "z"]}, "abc", True, ["A"]),
    row("icontains_all-missing", {"icontains_all": ["A", "z"]}, "abc", False, ["z"],
        "missing ['z'] (ignoring case)"),
    row("starts_with-hit", {"starts_with": "Yes"}, " Yes, it is", True, "Yes"),
    row("ends_with-miss", {"ends_with": "."}, "Done!", False, "!", "answer ends with '!'"),
    # edit distance and token F1 (tests/unit/checks/test_checks_ported.py has the rest)
    row("levenshtein-hit", {"levenshtein": {"value": "Pari", "max_distance": 1}}, "Paris", True,
        1),
    row("f1-partial", {"f1": {"value": "Eiffel Tower", "min": 0.8}}, "the Eiffel tower, Paris",
        True, 0.8),
    # regex
    row("regex-match", {"regex": r"\d+"}, "abc 123 def", True, "123"),
    row("regex-no-match", {"regex": r"\d+"}, "abc", False, None, r"no match for /\d+/"),
    row("regex-ignore-case", {"regex": {"pattern": "paris", "ignore_case": True}}, "PARIS", True,
        "PARIS"),
    row("regex-no-multiline-by-default", {"regex": "^b"}, "a\nb", False, None, "no match"),
    row("regex-multiline", {"regex": {"pattern": "^b", "multiline": True}}, "a\nb", True, "b"),
    row("regex-dotall", {"regex": {"pattern": "a.b", "dotall": True}}, "a\nb", True, "a\nb"),
    row("regex-nested-repeat", {"regex": "(a+)+$"}, "a" * 50_000 + "!", False, None, "no match"),
    row("regex-dollar-final-newline", {"regex": r"^\d+$"}, "42\n", True, "42"),
    # fuzzy
    row("fuzzy-default-ignores-case", {"fuzzy": "Ada Lovelace"}, "ada lovelace", True, 100.0),
    row("fuzzy-case-sensitive", {"fuzzy": {"value": "Ada", "ignore_case": False, "min": 60}},
        "ada", True, 66.7),
    row("fuzzy-below-min", {"fuzzy": {"value": "Ada Lovelace", "min": 85}}, "Ada Byron", False,
        47.6, "score 47.6 < min 85"),
    row("fuzzy-min-0-empty", {"fuzzy": {"value": "Ada", "min": 0}}, "", True, 0.0),
    row("fuzzy-min-100-exact", {"fuzzy": {"value": "Ada Lovelace", "min": 100}}, "Ada Lovelace",
        True, 100.0),
    row("fuzzy-min-100-near", {"fuzzy": {"value": "Ada Lovelace", "min": 100}}, "Ada Lovelac",
        False, 95.7, "score 95.7 < min 100"),
    # ignore_case folds case only; normalize (off by default) also drops punctuation
    row("fuzzy-punctuation-counts", {"fuzzy": {"value": "Ahoy, world", "min": 100}},
        "Ahoy, world!", False, 95.7, "score 95.7 < min 100"),
    row("fuzzy-min-100-exact-but-case", {"fuzzy": {"value": "Ahoy, world!", "min": 100}},
        "AHOY, World!", True, 100.0),
    row("fuzzy-ignore-case-keeps-spaces", {"fuzzy": {"value": "Ahoy world", "min": 100}},
        " ahoy world ", False, 90.9, "score 90.9 < min 100"),
    row("fuzzy-normalize", {"fuzzy": {"value": "Ahoy, world", "normalize": True, "min": 100}},
        "Ahoy, world!", True, 100.0),
    row("fuzzy-normalize-trims-and-folds",
        {"fuzzy": {"value": "ahoy  world", "normalize": True, "min": 100}}, " AHOY; world?",
        True, 100.0),
    row("fuzzy-normalize-keeps-case",
        {"fuzzy": {"value": "Ahoy, world", "normalize": True, "ignore_case": False, "min": 100}},
        "ahoy, world!", False, 90.9, "score 90.9 < min 100"),
    row("fuzzy-normalize-case-sensitive-same",
        {"fuzzy": {"value": "Ahoy, world", "normalize": True, "ignore_case": False, "min": 100}},
        "Ahoy. world!", True, 100.0),
    row("fuzzy-raw", {"fuzzy": {"value": "Ada", "ignore_case": False, "min": 100}}, "Ada.",
        False, 85.7, "score 85.7 < min 100"),
    row("fuzzy-pointer",
        {"fuzzy": {"value": "Ada Lovelace", "min": 85, "scorer": "token_set_ratio",
                   "pointer": "/name"}},
        '```json\n{"name": "Ada Lovelace (1815)"}\n```', True, 100.0),
    row("fuzzy-pointer-number", {"fuzzy": {"value": "36", "min": 100, "pointer": "/age"}},
        PERSON_JSON, True, 100.0),
    row("fuzzy-pointer-missing", {"fuzzy": {"value": "x", "min": 0, "pointer": "/nick"}},
        PERSON_JSON, False, None, "no value at /nick"),
    row("fuzzy-pointer-no-json", {"fuzzy": {"value": "x", "pointer": "/name"}}, "Ada", False, None,
        "no JSON found in answer"),
    # baseline: similarity to the baseline's answer; no baseline yet passes
    row("baseline-none-yet", {"baseline": 80}, "anything", True, None, "no baseline answer yet"),
    row("baseline-none-yet-min-100", {"baseline": 100}, "", True, None, "no baseline answer yet"),
    row("baseline-same", {"baseline": 80}, subject("Paris", baseline="Paris"), True, 100.0),
    row("baseline-drifted", {"baseline": 80}, subject("Lyon is the answer", baseline="Paris"),
        False, 17.4, "score 17.4 < min 80 against the baseline answer 'Paris'"),
    row("baseline-default-min-80", {"baseline": {}}, subject("Paris, France", baseline="Paris"),
        False, 55.6, "< min 80"),
    row("baseline-min-0", {"baseline": 0}, subject("", baseline="Paris"), True, 0.0),
    row("baseline-min-100-exact", {"baseline": {"min": 100}},
        subject("Ada Lovelace", baseline="Ada Lovelace"), True, 100.0),
    row("baseline-min-100-near", {"baseline": {"min": 100}},
        subject("Ada Lovelac", baseline="Ada Lovelace"), False, 95.7, "score 95.7 < min 100"),
    row("baseline-empty-both", {"baseline": 100}, subject("", baseline=""), True, 100.0),
    row("baseline-ignores-case", {"baseline": 100}, subject("PARIS", baseline="paris"), True,
        100.0),
    row("baseline-case-sensitive", {"baseline": {"ignore_case": False, "min": 60}},
        subject("ada", baseline="Ada"), True, 66.7),
    row("baseline-case-sensitive-fails", {"baseline": {"ignore_case": False, "min": 100}},
        subject("ada", baseline="Ada"), False, 66.7, "score 66.7 < min 100"),
    # baseline normalizes by default (as before): punctuation churn between runs is noise
    row("baseline-normalizes-by-default", {"baseline": 100}, subject("Paris.", baseline="paris"),
        True, 100.0),
    row("baseline-normalize-false", {"baseline": {"min": 100, "normalize": False}},
        subject("Paris.", baseline="paris"), False, 90.9, "score 90.9 < min 100"),
    row("baseline-normalize-false-folds-case", {"baseline": {"min": 100, "normalize": False}},
        subject("PARIS", baseline="paris"), True, 100.0),
    row("baseline-case-sensitive-normalized", {"baseline": {"min": 100, "ignore_case": False}},
        subject("Paris!", baseline="Paris"), True, 100.0),
    row("baseline-ratio-counts-added-words", {"baseline": 80},
        subject("The answer is Paris", baseline="Paris"), False, 41.7, "< min 80"),
    row("baseline-token-set", {"baseline": {"scorer": "token_set_ratio"}},
        subject("The answer is Paris", baseline="Paris"), True, 100.0),
    row("baseline-not-drifted", {"not": {"baseline": 90}}, subject("Lyon", baseline="Paris"),
        True, 0.0),
    row("baseline-not-same", {"not": {"baseline": 90}}, subject("Paris", baseline="Paris"),
        False, 100.0, "baseline passed but must not"),
    row("baseline-not-none-yet", {"not": {"baseline": 90}}, "Paris", False, None,
        "baseline passed but must not"),
    row("baseline-in-all", {"all": [{"contains": "Paris"}, {"baseline": 90}]},
        subject("Paris!", baseline="Paris"), True, "2/2 passed"),
    row("baseline-in-all-fails", {"all": [{"contains": "Paris"}, {"baseline": 90}]},
        subject("Paris, of course", baseline="Paris"), False, "1/2 passed",
        "baseline: score 47.6 < min 90"),
    row("baseline-in-any-none-yet", {"any": [{"contains": "Rome"}, {"baseline": 90}]}, "Paris",
        True, "1/2 passed"),
    row("baseline-in-json", {"json": {"pointer": "/city", "baseline": 90}},
        subject('{"city": "Paris"}', baseline="Paris"), True, "Paris"),
    row("baseline-in-reasoning", {"reasoning": {"baseline": 90}},
        subject("x", reasoning="Paris", baseline="Paris"), True, "1/1 passed"),
    # number
    row("number-exact", {"number": 5}, "2 + 3 = 5", True, 5),
    row("number-last-by-default", {"number": 5}, "5 apples and 7 pears", False, 7,
        "expected 5 ± 0, found 7"),
    row("number-first", {"number": {"value": 5, "pick": "first"}}, "5 apples and 7 pears", True,
        5),
    row("number-any", {"number": {"value": 3, "pick": "any"}}, "1, 3, 9", True, 3),
    row("number-any-none", {"number": {"value": 4, "pick": "any"}}, "1 or 9", False, 1,
        "no number within (nearest 1)"),
    row("number-tolerance-in", {"number": {"value": 10, "tolerance": 0.5}}, "10.4", True, 10.4),
    row("number-tolerance-out", {"number": {"value": 10, "tolerance": 0.5}}, "10.6", False, 10.6,
        "expected 10 ± 0.5, found 10.6"),
    row("number-tolerance-0-is-exact", {"number": {"value": 10, "tolerance": 0}}, "10.001",
        False, 10.001, "± 0,"),
    row("number-rel-in", {"number": {"value": 200, "rel_tolerance": 0.01}}, "201.5", True,
        201.5),
    row("number-rel-out", {"number": {"value": 200, "rel_tolerance": 0.01}}, "203", False, 203,
        "expected 200 ± 2, found 203"),
    row("number-commas", {"number": 1234567}, "about 1,234,567 people", True, 1234567),
    row("number-dollars-decimals", {"number": 1234.5}, "It costs $1,234.50.", True, 1234.5),
    row("number-negative", {"number": -12}, "The result is -12.", True, -12),
    row("number-unicode-minus", {"number": -3}, "x = \u22123", True, -3),
    row("number-percent", {"number": 85}, "Accuracy: 85%", True, 85),
    row("number-scientific", {"number": 6.02e23}, "N = 6.02e23", True, 6.02e23),
    row("number-word-digits-skipped", {"number": {"value": 7, "pick": "first"}},
        "GPT4 says 7", True, 7),
    row("number-none", {"number": 5}, "no digits here", False, None, "no number in answer"),
    row("number-pointer", {"number": {"value": 36, "pointer": "/age"}}, PERSON_JSON, True, 36),
    row("number-pointer-string", {"number": {"value": 36, "pointer": "/age"}},
        '{"age": "36 years"}', True, 36),
    row("number-pointer-missing", {"number": {"value": 36, "pointer": "/years"}}, PERSON_JSON,
        False, None, "no value at /years"),
    row("number-json-value-direct", {"json": {"pointer": "/total", "number": {"value": 9.99,
        "tolerance": 0.01}}}, '{"total": 10}', True, 10),
    # length
    row("length-words-in", {"length": {"min_words": 2, "max_words": 3}}, "one two", True,
        {"chars": 7, "words": 2}),
    row("length-words-over", {"length": {"max_words": 3}}, "a b c d", False,
        {"chars": 7, "words": 4}, "4 words > max_words 3"),
    row("length-chars-under", {"length": {"min_chars": 5}}, "abc", False,
        {"chars": 3, "words": 1}, "3 chars < min_chars 5"),
    row("length-zero-bounds", {"length": {"min_chars": 0, "max_chars": 0}}, "", True,
        {"chars": 0, "words": 0}),
    row("length-max-0", {"length": {"max_chars": 0}}, "a", False, {"chars": 1, "words": 1},
        "1 chars > max_chars 0"),
    row("length-stripped", {"length": {"max_chars": 2}}, "  ab \n", True,
        {"chars": 2, "words": 1}),
    # completion
    row("finished-yes", {"finished": True}, "ok", True, "stop"),
    row("finished-truncated", {"finished": True}, subject("", truncated=True), False, "length",
        "answer was truncated (finish: length)"),
    row("finished-false-truncated", {"finished": False}, subject("", truncated=True), True,
        "length"),
    row("finished-false-not-truncated", {"finished": False}, "ok", False, "stop",
        "not truncated"),
    row("latency-under", {"latency_ms": 2000}, "ok", True, 1500.0),
    row("latency-at-max", {"latency_ms": {"max": 2000}}, subject("ok", latency_ms=2000), True,
        2000),
    row("latency-over", {"latency_ms": 2000}, subject("ok", latency_ms=2500), False, 2500,
        "latency 2500 ms > max 2000 ms"),
    row("tokens-in", {"tokens": {"max_output": 100, "max_input": 10}}, "ok", True,
        {"input": 10, "output": 50, "reasoning": 30}),
    row("tokens-output-over", {"tokens": {"max_output": 40}}, "ok", False,
        {"input": 10, "output": 50, "reasoning": 30}, "50 output tokens > max_output 40"),
    row("tokens-min-reasoning", {"tokens": {"min_reasoning": 100}}, "ok", False,
        {"input": 10, "output": 50, "reasoning": 30}, "30 reasoning tokens < min_reasoning 100"),
    row("tokens-max-0-stays-0", {"tokens": {"max_reasoning": 0}},
        subject("ok", usage=Usage(1, 1, 1)), False, {"input": 1, "output": 1, "reasoning": 1},
        "1 reasoning tokens > max_reasoning 0"),
    row("tokens-max-0-at-0", {"tokens": {"max_reasoning": 0}},
        subject("ok", usage=Usage(1, 1, 0)), True, {"input": 1, "output": 1, "reasoning": 0}),
    row("tokens-not-reported", {"tokens": {"max_reasoning": 10, "max_output": 100}},
        subject("ok", usage=Usage()), False, {"input": None, "output": None, "reasoning": None},
        "max_reasoning: reasoning tokens were not reported by the server"),
    # reasoning
    row("reasoning-reads-reasoning", {"reasoning": {"contains": "because"}},
        subject("42", reasoning="because 6*7"), True, "1/1 passed"),
    row("reasoning-not-answer", {"reasoning": {"contains": "because"}},
        subject("because", reasoning="6*7"), False, "0/1 passed",
        "in reasoning: contains: 'because' not in answer"),
    row("reasoning-list", {"reasoning": [{"number": 42}, {"length": {"max_words": 2}}]},
        subject("x", reasoning="so it is 42"), False, "1/2 passed", "length: 4 words"),
    row("reasoning-empty", {"reasoning": {"regex": "."}}, subject("x", reasoning=""), False,
        "0/1 passed", "no match"),
    # combinators
    row("not-inverts", {"not": {"contains": "sorry"}}, "Paris", True, False),
    row("not-fails", {"not": {"regex": "sorr(y|ies)"}}, "I'm sorry", False, "sorry",
        "regex passed but must not"),
    row("all-one-fails", {"all": [{"contains": "a"}, {"contains": "z"}]}, "abc", False,
        "1/2 passed", "contains: 'z' not in answer"),
    row("all-pass", {"all": [{"contains": "a"}, {"regex": "c$"}]}, "abc", True, "2/2 passed"),
    row("any-one-passes", {"any": [{"contains": "z"}, {"contains": "a"}]}, "abc", True,
        "1/2 passed"),
    row("any-none", {"any": [{"contains": "y"}, {"contains": "z"}]}, "abc", False, "0/2 passed",
        "none passed: contains: 'y' not in answer; contains: 'z' not in answer"),
    row("nested-3-deep-pass", NESTED_3, "Ada is 36", True, "2/2 passed"),
    row("nested-3-deep-fail", NESTED_3, "Ada and Bob are 36", False, "1/2 passed",
        "not: all passed but must not"),
    # json
    row("json-pointer-exists", {"json": {"pointer": "/n"}}, '{"n": null}', True, None),
    row("json-pointer-missing", {"json": {"pointer": "/a/3"}}, '{"a": [1]}', False,
        "no value at /a/3", "no value at /a/3"),
    row("json-array-index", {"json": {"pointer": "/items/1/name", "equals": "Bob"}},
        '{"items": [{"name": "Ada"}, {"name": "Bob"}]}', True, "Bob"),
    row("json-tilde-1", {"json": {"pointer": "/a~1b", "equals": 1}}, '{"a/b": 1}', True, 1),
    row("json-tilde-0", {"json": {"pointer": "/m~0n", "equals": 2}}, '{"m~n": 2}', True, 2),
    row("json-root", {"json": {"pointer": "", "equals": [1, 2]}}, "[1, 2]", True, [1, 2]),
    row("json-in-fence", {"json": {"pointer": "/a", "equals": 1}},
        'Sure:\n```json\n{"a": 1}\n```', True, 1),
    row("json-in-prose", {"json": {"pointer": "/a", "equals": 1}},
        'Sure! {"a": 1} Hope it helps.', True, 1),
    row("json-no-json", {"json": {"pointer": "/a"}}, "nothing here", False,
        "no JSON found in answer", "no JSON found in answer"),
    row("json-nested-fails", {"json": {"pointer": "/age", "equals": 36}}, '{"age": 35}', False,
        35, "at /age: equals: expected 36, got 35"),
    row("json-nested-fuzzy", {"json": {"pointer": "/name", "fuzzy": {"value": "ada", "min": 90}}},
        PERSON_JSON, True, "Ada"),
    row("json-nested-json", {"json": {"pointer": "/p", "json": {"pointer": "/q", "equals": 3}}},
        '{"p": {"q": 3}}', True, {"q": 3}),
    row("json-nested-schema",
        {"json": {"pointer": "/person", "json_schema": "schemas/person.json"}},
        '{"person": {"name": "Ada", "age": "x"}}', False, {"name": "Ada", "age": "x"},
        "/age: 'x' is not of type 'integer'"),
    # json_schema
    row("schema-valid", {"json_schema": "schemas/person.json"}, PERSON_JSON, True, []),
    row("schema-wrong-type", {"json_schema": "schemas/person.json"}, '{"name": "Ada", "age": "x"}',
        False, ["/age: 'x' is not of type 'integer'"], "/age: 'x' is not of type 'integer'"),
    row("schema-all-errors-sorted", {"json_schema": "schemas/items.json"}, ITEMS_JSON, False,
        ["/: 'name' is a required property", "/items/2/age: '2' is not of type 'integer'",
         "/items/10/age: '10' is not of type 'integer'"],
        "/: 'name' is a required property (+2 more)"),
    row("schema-in-fence", {"json_schema": "schemas/person.json"},
        f"Here you go:\n```json\n{PERSON_JSON}\n```", True, []),
    row("schema-in-prose", {"json_schema": "schemas/person.json"}, f"Result: {PERSON_JSON}.", True,
        []),
    row("schema-no-json", {"json_schema": "schemas/person.json"}, "Ada, 36", False,
        ["no JSON found in answer"], "no JSON found in answer"),
    row("schema-inline-pointer",
        {"json_schema": {"schema": {"type": "integer"}, "pointer": "/age"}}, PERSON_JSON, True, []),
    row("schema-pointer-missing", {"json_schema": {"schema": {"type": "integer"},
        "pointer": "/years"}}, PERSON_JSON, False, ["no value at /years"], "no value at /years"),
    # is_json / json_equals: the whole answer is the JSON
    row("is_json-whole", {"is_json": True}, PERSON_JSON, True, {"name": "Ada", "age": 36}),
    row("is_json-prose", {"is_json": True}, f"Sure: {PERSON_JSON}", False,
        "Expecting value: line 1 column 1 (char 0)", "the answer is not JSON"),
    row("json_equals-hit", {"json_equals": {"age": 36.0, "name": "Ada"}}, PERSON_JSON, True,
        {"name": "Ada", "age": 36}),
]
# fmt: on


@pytest.mark.parametrize(("spec", "answer", "passed", "observed", "detail"), ROWS)
def test_check(
    spec: Mapping[str, Any], answer: Subject | str, passed: bool, observed: Any, detail: str
) -> None:
    result = run(spec, answer)
    assert result.name == next(iter(spec))
    assert result.passed is passed
    assert result.observed == observed
    assert type(result.observed) is type(observed)
    assert result.weight == 1.0
    if passed:
        assert result.detail == detail
    else:
        assert detail
        assert detail in result.detail


def test_every_registered_check_has_a_row() -> None:
    def names(spec: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(spec, Mapping):
            for key, value in spec.items():
                found |= ({key} if key in CHECKS else set()) | names(value)
        elif isinstance(spec, list):
            for item in spec:
                found |= names(item)
        return found

    # `python` needs a package on disk: tests/unit/test_checks_user.py has its rows;
    # `judge` needs the judge's verdicts: tests/unit/test_judge.py has its rows;
    # the tool call checks need calls: tests/unit/checks/test_tool_checks.py has theirs.
    apart = {"python", "judge", "tool_call", "tool_calls", "no_tool_call", "tool_call_count"}
    top_level = {next(iter(p.values[0])) for p in ROWS}
    assert set(CHECKS) - top_level == apart
    assert set().union(*(names(p.values[0]) for p in ROWS)) == set(CHECKS) - apart


def test_registry_has_exactly_this_issues_checks() -> None:
    assert set(CHECKS) == {
        "equals", "one_of", "contains", "icontains", "contains_any", "contains_all", "regex",
        "fuzzy", "length", "number", "json_schema", "json", "finished", "latency_ms", "tokens",
        "reasoning", "not", "all", "any", "baseline", "python", "judge",
        # the checks of promptfoo, openai evals and inspect_ai a migrating suite reaches for
        "starts_with", "ends_with", "icontains_any", "icontains_all", "is_json", "json_equals",
        "levenshtein", "f1",
        # the calls an agent's prompt makes (issue 19)
        "tool_call", "tool_calls", "no_tool_call", "tool_call_count",
    }  # fmt: skip


@pytest.mark.parametrize("scorer", sorted(SCORERS))
def test_each_scorer_is_the_rapidfuzz_one(scorer: str) -> None:
    score_of = getattr(fuzz, scorer)
    normalized = score_of("Ada Lovelace", "lovelace, ada b.", processor=default_process)
    spec = {"fuzzy": {"value": "Ada Lovelace", "min": 0, "scorer": scorer, "normalize": True}}
    assert run(spec, "lovelace, ada b.").observed == round(normalized, 1)
    folded = score_of("Ada Lovelace", "lovelace, ada b.", processor=str.casefold)
    spec = {"fuzzy": {"value": "Ada Lovelace", "min": 0, "scorer": scorer}}
    assert run(spec, "lovelace, ada b.").observed == round(folded, 1)
    exact = run({"fuzzy": {"value": "Ada", "min": 100, "scorer": scorer}}, "Ada")
    assert (exact.passed, exact.observed) == (True, 100.0)


def test_scorers_differ() -> None:
    # Guards against every name silently mapping to one scorer.
    scores = {run({"fuzzy": {"value": "Ada", "min": 0, "scorer": s}}, "Ada Lovelace").observed
              for s in SCORERS}  # fmt: skip
    assert len(scores) > 2


def test_nested_children_three_deep() -> None:
    result = run(NESTED_3, "Ada is 36")
    any_result, not_result = result.children
    assert (any_result.name, not_result.name) == ("any", "not")
    assert [c.name for c in any_result.children] == ["not", "regex"]
    assert any_result.children[0].children[0].name == "contains"
    inner_all = not_result.children[0]
    assert inner_all.name == "all"
    assert [(c.name, c.passed, c.observed) for c in inner_all.children] == [
        ("contains", True, True),
        ("contains", False, False),
    ]


def test_json_child_sees_value_and_text() -> None:
    result = run({"json": {"pointer": "/items", "contains": "b"}}, '{"items": ["a", "b"]}')
    assert result.passed
    (child,) = result.children
    assert child.name == "contains"
    assert result.observed == ["a", "b"]
    # an array's elements, not its JSON text (tests/unit/checks/test_json_arrays.py)
    assert not run(
        {"json": {"pointer": "/items", "contains": '"b"'}}, '{"items": ["a", "b"]}'
    ).passed


def test_reasoning_children_run_on_reasoning() -> None:
    result = run({"reasoning": [{"contains": "think"}, {"number": 7}]},
                 subject("8", reasoning="I think 7"))  # fmt: skip
    assert [(c.name, c.passed, c.observed) for c in result.children] == [
        ("contains", True, True),
        ("number", True, 7),
    ]


def graded_case(*specs: Mapping[str, Any], extract: str | None = None) -> Case:
    checks = []
    for spec in specs:
        name, check = build_check(spec, CTX)
        checks.append(BoundCheck(name, 1.0, 1, check))
    return Case(
        id="c",
        line=1,
        messages=(Message("user", "hi"),),
        apis=("chat",),
        efforts=("default",),
        params={},
        samples=1,
        min_pass_rate=1.0,
        threshold=None,
        checks=tuple(checks),
        extract=None if extract is None else re.compile(extract),
    )


def test_grade_gives_every_check_the_baseline_answer() -> None:
    case = graded_case({"baseline": 90}, {"json": {"pointer": "/city", "baseline": 90}},
                       {"not": {"all": [{"baseline": 100}]}})  # fmt: skip
    answer = subject('{"city": "Paris"}').completion
    result = grade(case, answer, baseline_answer="Paris")
    top, in_json, negated = result.checks
    assert (top.passed, top.observed) == (False, 55.6)
    assert (in_json.passed, in_json.children[0].observed) == (True, 100.0)
    assert negated.passed
    assert negated.children[0].children[0].observed == 55.6


def test_grade_without_baseline_answer_passes_baseline() -> None:
    result = grade(graded_case({"baseline": 100}), subject("Paris").completion)
    assert result.outcome == "pass"
    assert [(c.passed, c.observed, c.detail) for c in result.checks] == [
        (True, None, "no baseline answer yet")
    ]


@pytest.mark.parametrize(
    ("baseline_answer", "observed"),
    [
        pytest.param("Sure. ANSWER: Paris", 100.0, id="extracted-from-both"),
        pytest.param("Paris", 0.0, id="baseline-without-the-marker-is-empty-then-0"),
    ],
)
def test_grade_extracts_the_baseline_answer_too(baseline_answer: str, observed: float) -> None:
    case = graded_case({"baseline": 100}, extract=r"ANSWER: (\w+)")
    result = grade(case, subject("Let me think. ANSWER: Paris").completion,
                   baseline_answer=baseline_answer)  # fmt: skip
    assert result.extracted == "Paris"
    assert result.checks[0].observed == observed


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        pytest.param("a -5, b +2", [-5, 2], id="signs"),
        pytest.param("3-5", [3, 5], id="range-is-not-negative"),
        pytest.param("1,234.5 and 1,2,3", [1234.5, 1, 2, 3], id="thousands-vs-list"),
        pytest.param("1,2345", [1, 2345], id="bad-grouping"),
        pytest.param("1.2.3", [1.2], id="version"),
        pytest.param("v1.2 and x.5", [], id="version-in-word"),
        pytest.param(".5 and 1e3 and 2E-2", [0.5, 1000.0, 0.02], id="fraction-exponent"),
        pytest.param("-$4 and $-3", [-4, -3], id="dollar-sign"),
        pytest.param("GPT4 H2O x9", [], id="digits-in-words"),
        pytest.param("9" * 5000, [math.inf], id="int-over-conversion-limit"),
    ],
)
def test_find_numbers(text: str, numbers: list[float]) -> None:
    assert find_numbers(text) == numbers


def test_thresholds_of_zero_stay_zero() -> None:
    # `x or default` would turn these zeros into defaults (80, 2000...).
    assert run({"fuzzy": {"value": "abc", "min": 0}}, "xyz").passed
    assert not run({"latency_ms": 0}, subject("x", latency_ms=1)).passed
    assert not run({"number": {"value": 1, "tolerance": 0, "rel_tolerance": 0}}, "1.5").passed


# fmt: off
ERRORS = [
    ("not-a-mapping", "contains", "", "a check is a mapping"),
    ("two-keys", {"contains": "a", "regex": "b"}, "", "exactly one key"),
    ("unknown-check", {"nope": 1}, "nope", "unknown check; allowed: all, any"),
    ("baseline-min-over", {"baseline": 120}, "baseline", "120 is outside 0-100"),
    ("baseline-min-under", {"baseline": {"min": -1}}, "baseline.min", "-1 is outside 0-100"),
    ("baseline-scorer", {"baseline": {"scorer": "jaro"}}, "baseline.scorer",
     "unknown scorer 'jaro'; allowed: ratio, partial_ratio"),
    ("baseline-value", {"baseline": {"value": "Paris"}}, "baseline.value",
     "unknown key; allowed: min, scorer, ignore_case, normalize"),
    ("baseline-nested", {"all": [{"baseline": {"min": 101}}]}, "all[0].baseline.min",
     "outside 0-100"),
    ("python-no-project-root", {"python": "mod:fn"}, "python",
     "python checks need the project root"),
    ("python-nested-no-project-root", {"not": {"python": {"function": "mod:fn"}}}, "not.python",
     "python checks need the project root"),
    ("nested-weight", {"all": [{"contains": "a", "weight": 2}]}, "all[0].weight",
     "only allowed on a case's own checks"),
    ("unknown-param", {"fuzzy": {"value": "a", "threshold": 3}}, "fuzzy.threshold",
     "unknown key; allowed: value, min, scorer, ignore_case, normalize, pointer"),
    ("missing-param", {"fuzzy": {"min": 3}}, "fuzzy", "missing required key 'value'"),
    ("params-not-mapping", {"length": 5}, "length", "takes a mapping"),
    ("regex-shorthand", {"regex": "("}, "regex", "'(': invalid regular expression"),
    ("regex-lookahead", {"regex": "a(?=b)"}, "regex",
     "'a(?=b)': lookahead (?=...) is not supported: suite regexes run in a linear-time engine"),
    ("regex-backreference", {"regex": {"pattern": "(a)\\1"}}, "regex.pattern",
     "backreference \\1 is not supported"),
    ("regex-mapping", {"regex": {"pattern": "[a"}}, "regex.pattern", "unterminated character set"),
    ("all-second-regex", {"all": [{"contains": "a"}, {"regex": "("}]}, "all[1].regex",
     "invalid regular expression"),
    ("nested-3-deep-path",
     {"any": [{"contains": "a"}, {"not": {"all": [{"regex": "ok"}, {"regex": "("}]}}]},
     "any[1].not.all[1].regex", "invalid regular expression"),
    ("nested-unknown", {"not": {"nope": 1}}, "not.nope", "unknown check"),
    ("nested-not-mapping", {"all": ["contains"]}, "all[0]", "a check is a mapping"),
    ("all-empty", {"all": []}, "all", "is empty"),
    ("any-empty", {"any": []}, "any", "is empty"),
    ("reasoning-list", {"reasoning": [{"regex": "("}]}, "reasoning[0].regex", "invalid"),
    ("reasoning-one", {"reasoning": {"regex": "("}}, "reasoning.regex", "invalid"),
    ("fuzzy-min-over", {"fuzzy": {"value": "a", "min": 120}}, "fuzzy.min", "120 is outside 0-100"),
    ("fuzzy-min-under", {"fuzzy": {"value": "a", "min": -1}}, "fuzzy.min", "outside 0-100"),
    ("fuzzy-scorer", {"fuzzy": {"value": "a", "scorer": "jaro"}}, "fuzzy.scorer",
     "unknown scorer 'jaro'; allowed: ratio, partial_ratio"),
    ("fuzzy-pointer", {"fuzzy": {"value": "a", "pointer": "name"}}, "fuzzy.pointer",
     "must be empty or start with '/'"),
    ("number-tolerance", {"number": {"value": 1, "tolerance": -0.1}}, "number.tolerance",
     "negative"),
    ("number-rel-tolerance", {"number": {"value": 1, "rel_tolerance": -1}},
     "number.rel_tolerance", "negative"),
    ("number-pick", {"number": {"value": 1, "pick": "middle"}}, "number.pick",
     "allowed: first, last, any"),
    ("number-pointer", {"number": {"value": 1, "pointer": "x"}}, "number.pointer", "start with"),
    ("number-nan", {"number": math.nan}, "number", "not a finite number"),
    ("length-empty", {"length": {}}, "length", "set at least one of min_chars"),
    ("length-min-over-max", {"length": {"min_words": 5, "max_words": 2}}, "length.min_words",
     "5 is greater than max_words 2"),
    ("length-negative", {"length": {"max_chars": -1}}, "length.max_chars", "negative"),
    ("tokens-empty", {"tokens": {}}, "tokens", "set at least one of"),
    ("tokens-min-over-max", {"tokens": {"min_reasoning": 9, "max_reasoning": 1}},
     "tokens.min_reasoning", "9 is greater than max_reasoning 1"),
    ("tokens-negative", {"tokens": {"max_output": -5}}, "tokens.max_output", "negative"),
    ("latency-negative", {"latency_ms": -1}, "latency_ms", "negative"),
    ("latency-mapping-negative", {"latency_ms": {"max": -1}}, "latency_ms.max", "negative"),
    ("one_of-empty", {"one_of": []}, "one_of", "is empty"),
    ("contains_any-empty", {"contains_any": []}, "contains_any", "is empty"),
    ("contains_all-empty", {"contains_all": {"values": []}}, "contains_all.values", "is empty"),
    ("schema-file-missing", {"json_schema": "schemas/nope.json"}, "json_schema",
     "schema schemas/nope.json not found under evals/"),
    ("schema-file-invalid", {"json_schema": "schemas/bad.json"}, "json_schema",
     "invalid JSON Schema in schemas/bad.json at /type"),
    ("schema-inline-invalid", {"json_schema": {"schema": {"required": "name"}}},
     "json_schema.schema", "invalid JSON Schema"),
    ("schema-not-object", {"json_schema": {"schema": ["x"]}}, "json_schema.schema",
     "must be a JSON object"),
    ("schema-pointer", {"json_schema": {"schema": {}, "pointer": "age"}}, "json_schema.pointer",
     "start with '/'"),
    ("json-pointer", {"json": {"pointer": "age"}}, "json.pointer", "start with '/'"),
    ("json-pointer-escape", {"json": {"pointer": "/a~2"}}, "json.pointer",
     "'~' must be followed by 0 or 1"),
    ("json-two-nested", {"json": {"pointer": "/a", "equals": 1, "contains": "x"}}, "json",
     "one nested check"),
    ("json-nested-error", {"json": {"pointer": "/a", "fuzzy": {"value": "x", "min": 120}}},
     "json.fuzzy.min", "outside 0-100"),
    ("json-nested-unknown", {"json": {"pointer": "/a", "nope": 1}}, "json.nope", "unknown check"),
    ("json-ctx-key", {"json": {"pointer": "/a", "ctx": 1}}, "json.ctx", "unknown key"),
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
    assert str(info.value) == (f"{path}: {info.value.message}" if path else info.value.message)
