"""When ``extract`` does not match, a failed check says so (not "no number in answer"), and
patterns are shown as written, not double-escaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from harness.checks.grading import grade
from harness.checks.regexes import compile_safe, quoted
from harness.checks.registry import CheckContext, build_check
from harness.errors import CheckSpecError
from harness.models import BoundCheck, Case, Completion, Message, Usage

CTX = CheckContext(load_schema=lambda name: {})
PATTERN = r"Answer:\s*(.+)"
UNMATCHED = r"extract 'Answer:\s*(.+)' did not match the answer"


def case(spec: Mapping[str, Any], extract: str | None = PATTERN) -> Case:
    name, check = build_check(spec, CTX)
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
        checks=(BoundCheck(name, 1.0, 1, check),),
        extract=None if extract is None else compile_safe(extract),
    )


def answered(answer: str, latency_ms: float = 10.0) -> Completion:
    return Completion(answer, "", Usage(1, 1, 0), "stop", False, latency_ms, 200)


# fmt: off
UNMATCHED_ROWS = [
    pytest.param({"number": 5}, UNMATCHED, id="number"),
    pytest.param({"equals": "5"}, UNMATCHED, id="equals"),
    pytest.param({"contains": "5"}, UNMATCHED, id="contains"),
    pytest.param({"regex": r"\d"}, UNMATCHED, id="regex"),
    pytest.param({"fuzzy": "five"}, UNMATCHED, id="fuzzy"),
    pytest.param({"json": {"pointer": "/a"}}, UNMATCHED, id="json"),
    pytest.param({"json_schema": {"schema": {"type": "object"}}}, UNMATCHED, id="json_schema"),
    pytest.param({"length": {"min_chars": 1}}, UNMATCHED, id="length"),
    pytest.param({"all": [{"number": 5}, {"contains": "5"}]}, UNMATCHED, id="all"),
    # checks that do not read the answer keep their own reason
    pytest.param({"latency_ms": 1}, "10 ms > max 1", id="latency-is-not-about-the-answer"),
    pytest.param({"reasoning": {"contains": "x"}}, "in reasoning", id="reasoning"),
]
# fmt: on


@pytest.mark.parametrize(("spec", "detail"), UNMATCHED_ROWS)
def test_a_failed_check_says_extract_did_not_match(spec: dict[str, Any], detail: str) -> None:
    result = grade(case(spec), answered("The result is 5."))
    assert result.outcome == "fail"
    (check,) = result.checks
    assert detail in check.detail
    if detail == UNMATCHED:
        assert check.detail == UNMATCHED


def test_a_check_that_fails_on_a_matched_extract_keeps_its_reason() -> None:
    result = grade(case({"number": 5}), answered("Answer: none"))
    assert result.checks[0].detail == "no number in answer"


def test_a_passing_check_is_left_alone() -> None:
    result = grade(case({"not": {"contains": "5"}}), answered("5"))
    assert result.outcome == "pass"
    assert result.checks[0].detail == ""


@pytest.mark.parametrize(
    ("pattern", "shown"),
    [
        pytest.param(r"Answer:\s*(.+)", r"'Answer:\s*(.+)'", id="backslashes-as-written"),
        pytest.param("plain", "'plain'", id="plain"),
        pytest.param("it's", '"it\'s"', id="a-quote-falls-back-to-repr"),
        pytest.param("a\nb", "'a\\nb'", id="a-newline-falls-back-to-repr"),
    ],
)
def test_quoted(pattern: str, shown: str) -> None:
    assert quoted(pattern) == shown


def test_a_refused_regex_shows_the_pattern_as_written() -> None:
    with pytest.raises(CheckSpecError) as info:
        build_check({"regex": r"\d+(?=x)"}, CTX)
    assert info.value.message.startswith(r"'\d+(?=x)': lookahead")


def test_a_schema_pattern_is_shown_as_written() -> None:
    schema = {"type": "object", "properties": {"id": {"pattern": r"^\d+$"}}}
    _, check = build_check({"json_schema": {"schema": schema}}, CTX)
    result = grade(case({"json_schema": {"schema": schema}}, extract=None), answered('{"id": "x"}'))
    assert result.checks[0].observed == [r"/id: 'x' does not match '^\d+$'"]
    assert check is not None
