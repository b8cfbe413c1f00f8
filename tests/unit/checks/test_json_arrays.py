"""String checks under ``json`` on an array test its elements, not the array's JSON text:
``contains: Ecuador`` fails on ``["Ecuadorian highlands"]`` and passes on ``["Ecuador"]``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.checks.registry import CheckContext, build_check
from harness.models import CheckResult, Completion, Subject, Usage

CTX = CheckContext(load_schema=lambda path: {})


def graded(check: dict[str, Any], value: Any) -> CheckResult:
    """``check`` under ``json: {pointer: /v}`` on an answer whose ``v`` is ``value``;
    the nested check's result."""
    answer = json.dumps({"v": value})
    completion = Completion(answer, "", Usage(1, 1, 0), "stop", False, 1.0, 200)
    _, run = build_check({"json": {"pointer": "/v", **check}}, CTX)
    result = run(Subject(answer, answer, completion))
    assert result.passed is (result.children[0].passed if result.children else result.passed)
    return result.children[0]


PLACES = ["Ecuadorian highlands", "Peru", "Bolivia", 12]


# fmt: off
ROWS = [
    # contains / icontains: an element equals the text (icontains: ignoring case)
    pytest.param({"contains": "Ecuador"}, PLACES, False, False,
                 "'Ecuador' is not an element of ['Ecuadorian highlands', 'Peru', 'Bolivia', 12]",
                 id="contains-is-not-a-substring-of-an-element"),
    pytest.param({"contains": "Peru"}, PLACES, True, True, "", id="contains-element"),
    pytest.param({"contains": "peru"}, PLACES, False, False, "is not an element",
                 id="contains-case-sensitive"),
    pytest.param({"contains": "12"}, PLACES, True, True, "", id="contains-a-number-element"),
    pytest.param({"contains": "Peru"}, [], False, False, "is not an element",
                 id="contains-empty-array"),
    pytest.param({"contains": "Peru"}, [["Peru"]], False, False, "is not an element",
                 id="contains-not-nested-arrays"),
    pytest.param({"icontains": "PERU"}, PLACES, True, True, "", id="icontains-element"),
    pytest.param({"icontains": "ecuador"}, PLACES, False, False,
                 "'ecuador' is not an element of", id="icontains-not-a-substring"),
    # contains_any / contains_all: which of the texts are elements
    pytest.param({"contains_any": ["Chile", "Bolivia"]}, PLACES, True, ["Bolivia"], "",
                 id="contains_any-element"),
    pytest.param({"contains_any": ["Ecuador", "Chile"]}, PLACES, False, [],
                 "none of ['Ecuador', 'Chile'] is an element", id="contains_any-none"),
    pytest.param({"contains_all": ["Peru", "Bolivia"]}, PLACES, True, [], "",
                 id="contains_all-elements"),
    pytest.param({"contains_all": ["Peru", "Ecuador"]}, PLACES, False, ["Ecuador"],
                 "not elements: ['Ecuador']", id="contains_all-missing"),
    # regex: the pattern is found in some element (each element's text)
    pytest.param({"regex": "^Ecuador"}, PLACES, True, "Ecuador", "", id="regex-in-an-element"),
    pytest.param({"regex": "highlands, Peru"}, PLACES, False, None,
                 "no element matches /highlands, Peru/", id="regex-not-across-elements"),
    pytest.param({"regex": r"^\["}, PLACES, False, None, "no element matches",
                 id="regex-not-the-json-text"),
    pytest.param({"regex": "^12$"}, PLACES, True, "12", "", id="regex-number-element"),
    # fuzzy: the best element's score
    pytest.param({"fuzzy": {"value": "Bolivia", "min": 100}}, PLACES, True, 100.0, "",
                 id="fuzzy-best-element"),
    pytest.param({"fuzzy": {"value": "Peruu", "min": 95}}, PLACES, False, 88.9,
                 "best of 4 elements scores 88.9 < min 95", id="fuzzy-best-below-min"),
    pytest.param({"fuzzy": {"value": "Peru", "min": 0}}, [], True, 0.0, "",
                 id="fuzzy-empty-array-min-0"),
    # equals and one_of compare the whole JSON value, as before
    pytest.param({"equals": ["Peru", 12]}, ["Peru", 12.0], True, ["Peru", 12.0], "",
                 id="equals-whole-array"),
    pytest.param({"equals": "Peru"}, ["Peru"], False, ["Peru"], "expected 'Peru'",
                 id="equals-not-an-element"),
    pytest.param({"one_of": [["a"], ["b"]]}, ["b"], True, ["b"], "", id="one_of-whole"),
    # scalars and objects: the text, as before
    pytest.param({"contains": "Ecuador"}, "Ecuadorian highlands", True, True, "",
                 id="contains-substring-of-a-string-value"),
    pytest.param({"contains": "Peru"}, {"a": "Peru"}, True, True, "",
                 id="contains-in-an-object-s-text"),
]
# fmt: on


@pytest.mark.parametrize(("check", "value", "passed", "observed", "detail"), ROWS)
def test_string_checks_on_an_array_test_its_elements(
    check: dict[str, Any], value: Any, passed: bool, observed: Any, detail: str
) -> None:
    result = graded(check, value)
    assert (result.passed, result.observed) == (passed, observed)
    assert detail in result.detail
    if passed:
        assert result.detail == ""


def test_fuzzy_s_own_pointer_to_an_array_scores_its_elements() -> None:
    answer = json.dumps({"v": PLACES})
    completion = Completion(answer, "", Usage(1, 1, 0), "stop", False, 1.0, 200)
    _, run = build_check({"fuzzy": {"value": "Peru", "min": 100, "pointer": "/v"}}, CTX)
    result = run(Subject(answer, answer, completion))
    assert (result.passed, result.observed) == (True, 100.0)


def test_a_negated_check_on_an_array_reads_elements_too() -> None:
    result = graded({"not": {"contains": "Ecuador"}}, PLACES)
    assert result.passed
