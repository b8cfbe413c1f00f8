"""Grading one sample (outcomes, extract, weights, threshold) and the verdict over samples."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from harness.checks.grading import grade, verdict
from harness.checks.regexes import compile_safe
from harness.checks.registry import CheckContext, build_check
from harness.errors import TemplateError
from harness.models import (
    BoundCheck,
    Case,
    CheckResult,
    Completion,
    Message,
    Outcome,
    SampleResult,
    Subject,
    Usage,
)


def no_schema(name: str) -> Mapping[str, Any]:
    raise TemplateError(f"schema {name!r} not found under evals/")


CTX = CheckContext(load_schema=no_schema)


def bound(spec: Mapping[str, Any], weight: float = 1.0) -> BoundCheck:
    name, check = build_check(spec, CTX)
    return BoundCheck(name, weight, 1, check)


def seen(subject: Subject) -> CheckResult:
    """A check that passes and reports the text it was given."""
    return CheckResult("seen", True, subject.text)


SEEN = BoundCheck("seen", 1.0, 1, seen)


def make_case(
    *checks: BoundCheck,
    extract: str | None = None,
    threshold: float | None = None,
    min_pass_rate: float = 1.0,
) -> Case:
    return Case(
        id="c",
        line=1,
        messages=(Message("user", "hi"),),
        apis=("chat",),
        efforts=("default",),
        params={},
        samples=1,
        min_pass_rate=min_pass_rate,
        threshold=threshold,
        checks=checks,
        extract=None if extract is None else compile_safe(extract),
    )


def done(
    answer: str = "", *, truncated: bool = False, error: str | None = None, status: int = 200
) -> Completion:
    return Completion(
        answer=answer,
        reasoning="",
        usage=Usage(),
        finish="length" if truncated else ("error" if error else "stop"),
        truncated=truncated,
        latency_ms=10.0,
        status=status,
        error=error,
    )


def sample(index: int, outcome: Outcome, score: float = 0.0) -> SampleResult:
    return SampleResult(index, outcome, score, done())


# --- grade ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "outcome"),
    [
        pytest.param(done("ok", error="HTTP 503", status=503), "error", id="error"),
        pytest.param(done("ok", truncated=True), "truncated", id="truncated"),
        pytest.param(done("", truncated=True, error="boom"), "error", id="error-before-truncated"),
    ],
)
def test_errors_and_truncations_are_outcomes_and_run_no_checks(
    completion: Completion, outcome: str
) -> None:
    case = make_case(bound({"contains": "ok"}), SEEN)  # would pass on the answer "ok"
    result = grade(case, completion, index=3)
    assert (result.index, result.outcome, result.score) == (3, outcome, 0.0)
    assert result.checks == ()
    assert result.extracted is None
    assert result.completion is completion


@pytest.mark.parametrize(
    ("pattern", "answer", "extracted", "text"),
    [
        pytest.param(None, " whole answer ", None, " whole answer ", id="no-extract"),
        pytest.param(r"Answer:\s*(\d+)", "work...\nAnswer: 42\n", "42", "42", id="group"),
        pytest.param(r"(?P<n>\d+) apples", "7 apples", "7", "7", id="named-group"),
        pytest.param(r"(\w+)=(\w+)", "k=v", "k", "k", id="first-of-two-groups"),
        pytest.param(r"\d+", "abc 123 def 456", "123", "123", id="whole-match"),
        pytest.param(r"Answer:\s*(\d+)", "no answer line", None, "", id="no-match"),
        pytest.param(r"Answer:(\d*)", "Answer:", "", "", id="empty-group"),
    ],
)
def test_extract_decides_what_checks_see(
    pattern: str | None, answer: str, extracted: str | None, text: str
) -> None:
    result = grade(make_case(SEEN, extract=pattern), done(answer))
    assert result.extracted == extracted
    assert result.checks[0].observed == text


def test_checks_run_on_the_extracted_text_only() -> None:
    case = make_case(bound({"equals": "42"}), extract=r"Answer:\s*(\d+)")
    assert grade(case, done("I think 41.\nAnswer: 42")).outcome == "pass"
    assert grade(case, done("Answer: 41 (not 42)")).outcome == "fail"
    assert grade(case, done("42")).outcome == "fail"  # no match: the checks see ""


WEIGHTED = (
    bound({"contains": "A"}, weight=2),
    bound({"contains": "B"}),
    bound({"contains": "C"}),
)


@pytest.mark.parametrize(
    ("answer", "threshold", "outcome", "score"),
    [
        pytest.param("ABC", None, "pass", 1.0, id="all-pass"),
        pytest.param("AB", None, "fail", 0.75, id="default-needs-every-check"),
        pytest.param("ABC", 0.75, "pass", 1.0, id="t75-all"),
        pytest.param("AB", 0.75, "pass", 0.75, id="t75-heavy-and-one-light-on-boundary"),
        pytest.param("AC", 0.75, "pass", 0.75, id="t75-heavy-and-other-light"),
        pytest.param("A", 0.75, "fail", 0.5, id="t75-heavy-alone"),
        pytest.param("BC", 0.75, "fail", 0.5, id="t75-both-light"),
        pytest.param("", 0.75, "fail", 0.0, id="t75-none"),
        pytest.param("AB", 0.76, "fail", 0.75, id="t76-just-above"),
        pytest.param("A", 0.5, "pass", 0.5, id="t50-heavy-alone"),
        pytest.param("", 0.0, "pass", 0.0, id="t0-passes-everything"),
        pytest.param("AB", 1.0, "fail", 0.75, id="t100-like-default"),
    ],
)
def test_weighted_score_and_threshold(
    answer: str, threshold: float | None, outcome: str, score: float
) -> None:
    result = grade(make_case(*WEIGHTED, threshold=threshold), done(answer))
    assert (result.outcome, result.score) == (outcome, score)


def test_check_results_carry_their_weight() -> None:
    result = grade(make_case(*WEIGHTED), done("A"))
    assert [(r.name, r.passed, r.weight) for r in result.checks] == [
        ("contains", True, 2.0),
        ("contains", False, 1.0),
        ("contains", False, 1.0),
    ]


@pytest.mark.parametrize("threshold", [None, 0.0, 1.0], ids=["default", "t0", "t100"])
def test_no_checks_pass_with_score_one(threshold: float | None) -> None:
    result = grade(make_case(threshold=threshold), done("anything"))
    assert (result.outcome, result.score, result.checks) == ("pass", 1.0, ())


# --- verdict -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("passes", "fails", "min_pass_rate", "outcome"),
    [
        pytest.param(7, 3, 0.7, "pass", id="7of10-at-0.7"),
        pytest.param(6, 4, 0.7, "fail", id="6of10-at-0.7"),
        pytest.param(10, 0, 1.0, "pass", id="all-at-1.0"),
        pytest.param(9, 1, 1.0, "fail", id="9of10-at-1.0"),
        pytest.param(1, 2, 1 / 3, "pass", id="1of3-at-a-third"),
        pytest.param(0, 5, 0.0, "pass", id="none-at-0"),
        pytest.param(1, 0, 1.0, "pass", id="single-sample"),
    ],
)
def test_verdict_uses_min_pass_rate(
    passes: int, fails: int, min_pass_rate: float, outcome: str
) -> None:
    samples = [sample(i, "pass", 1.0) for i in range(passes)]
    samples += [sample(passes + i, "fail") for i in range(fails)]
    result = verdict(make_case(min_pass_rate=min_pass_rate), samples)
    assert result.outcome == outcome
    assert (result.passes, result.pass_rate) == (passes, passes / (passes + fails))
    assert result.min_pass_rate == min_pass_rate
    assert result.score == passes / (passes + fails)


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        pytest.param(["error", "truncated", "fail"], "fail", id="fail-beats-all"),
        pytest.param(["pass", "error", "fail"], "fail", id="fail-with-a-pass"),
        pytest.param(["error", "truncated", "error"], "truncated", id="truncated-beats-error"),
        pytest.param(["pass", "error"], "error", id="error-alone"),
        pytest.param(["truncated"], "truncated", id="all-truncated"),
        pytest.param([], "fail", id="no-samples"),
    ],
)
def test_outcome_precedence_when_not_passing(outcomes: list[Outcome], expected: str) -> None:
    samples = [sample(i, o) for i, o in enumerate(outcomes)]
    result = verdict(make_case(min_pass_rate=1.0), samples)
    assert result.outcome == expected


def test_verdict_counts_and_mean_score() -> None:
    samples = [sample(0, "pass", 1.0), sample(1, "fail", 0.5), sample(2, "error")]
    result = verdict(make_case(), samples)
    assert result.counts == {"pass": 1, "fail": 1, "error": 1}
    assert result.score == 0.5
    assert result.samples == tuple(samples)


@pytest.mark.parametrize(
    ("outcomes", "index"),
    [
        pytest.param(["error", "truncated", "pass", "fail", "fail"], 3, id="first-fail"),
        pytest.param(["pass", "error", "truncated", "truncated"], 2, id="truncated-before-error"),
        pytest.param(["error", "pass", "error"], 0, id="first-error"),
        pytest.param(["pass", "pass"], None, id="none-bad"),
        pytest.param([], None, id="no-samples"),
    ],
)
def test_first_bad_prefers_fail_then_truncated_then_error(
    outcomes: list[Outcome], index: int | None
) -> None:
    result = verdict(make_case(), [sample(i, o) for i, o in enumerate(outcomes)])
    bad = result.first_bad()
    assert (None if bad is None else bad.index) == index


def raising(exc: BaseException) -> BoundCheck:
    def run(subject: Subject) -> CheckResult:
        raise exc

    return BoundCheck("boom", 1.0, 1, run)


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        pytest.param(
            RecursionError("maximum recursion depth exceeded"),
            "grading failed: RecursionError: maximum recursion depth exceeded",
            id="recursion",
        ),
        pytest.param(MemoryError(), "grading failed: MemoryError", id="memory"),
        pytest.param(KeyError("x"), "grading failed: KeyError: 'x'", id="bug"),
        pytest.param(
            ValueError("v" * 1000), "grading failed: ValueError: " + "v" * 300 + "...", id="long"
        ),
    ],
)
def test_a_grading_that_raises_is_an_error_sample(exc: BaseException, error: str) -> None:
    result = grade(make_case(SEEN, raising(exc)), done("Answer: 4"), 3)
    assert (result.index, result.outcome, result.score) == (3, "error", 0.0)
    assert result.completion.error == error
    assert result.completion.answer == "Answer: 4"  # the answer is kept for the record


def test_json_nested_too_deep_is_an_error_sample_not_a_crash() -> None:
    answer = "[" * 100_000 + "]" * 100_000
    schema = bound({"json_schema": {"schema": {"type": "array"}}})
    result = grade(make_case(schema), done(answer))
    assert result.outcome == "error"
    assert result.completion.error == (
        "grading failed: NestingTooDeep: the JSON in the answer nests deeper than 200 levels"
    )
