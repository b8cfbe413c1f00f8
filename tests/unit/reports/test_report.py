"""Pure reporting: the summary table, the items line, failure texts and nested check lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from harness.checks.grading import grade, verdict
from harness.checks.registry import CheckContext, build_check
from harness.errors import TemplateError
from harness.models import BoundCheck, Case, CheckResult, Completion, Message, Usage
from harness.reports.terminal import (
    ANSWER_CHARS,
    HEADERS,
    PROMPT_CHARS,
    check_lines,
    failure_text,
    summary_lines,
    summary_rows,
)


def rec(
    suite: str = "math",
    api: str = "chat",
    effort: str = "low",
    outcomes: tuple[str, ...] = ("pass",),
    *,
    latency_ms: tuple[float, ...] = (),
    output_tokens: tuple[int, ...] = (),
    reasoning_tokens: tuple[int, ...] = (),
    score: float = 1.0,
    outcome: str = "pass",
) -> dict[str, Any]:
    """One item's record, as ``report.record`` writes it."""
    return {
        "suite": suite,
        "case": "c",
        "api": api,
        "effort": effort,
        "outcome": outcome,
        "passes": outcomes.count("pass"),
        "samples": len(outcomes),
        "score": score,
        "outcomes": list(outcomes),
        "latency_ms": list(latency_ms),
        "output_tokens": list(output_tokens),
        "reasoning_tokens": list(reasoning_tokens),
    }


def row(rows: list[list[str]], suite: str, api: str, effort: str) -> dict[str, str]:
    (found,) = [r for r in rows if r[:3] == [suite, api, effort]]
    return dict(zip(HEADERS, found, strict=True))


# --- summary -------------------------------------------------------------------------


def test_summary_rows_group_and_sort_by_suite_api_effort_low_to_high() -> None:
    records = [
        rec("math", "responses", "low"),
        rec("json", "chat", "low"),
        rec("math", "chat", "high"),
        rec("math", "chat", "low"),
        rec("math", "chat", "high"),
    ]
    rows = summary_rows(records)
    assert [r[:4] for r in rows] == [
        ["json", "chat", "low", "1"],
        ["math", "chat", "low", "1"],
        ["math", "chat", "high", "2"],
        ["math", "responses", "low", "1"],
    ]
    assert all(len(r) == len(HEADERS) for r in rows)


@pytest.mark.parametrize(
    ("records", "column", "text"),
    [
        pytest.param(
            [rec(outcomes=("pass",) * 5 + ("fail",) * 5)],
            "pass rate [95% CI]",
            "0.50 [0.24, 0.76]",
            id="rate-over-samples",
        ),
        pytest.param(
            [rec(outcomes=("pass",) * 3), rec(outcomes=("fail",) * 7)],
            "pass rate [95% CI]",
            "0.30 [0.11, 0.60]",
            id="rate-pooled-over-cases",
        ),
        pytest.param(
            [rec(outcomes=("pass",) * 10)], "pass rate [95% CI]", "1.00 [0.72, 1.00]", id="all"
        ),
        pytest.param([rec(outcomes=())], "pass rate [95% CI]", "-", id="rate-no-samples"),
        pytest.param([rec(score=1.0), rec(score=0.25)], "score", "0.62", id="mean-score"),
        pytest.param([rec(latency_ms=(100, 200, 300, 400))], "p50 ms", "250", id="p50"),
        pytest.param([rec(latency_ms=(100, 200, 300, 400))], "p95 ms", "385", id="p95"),
        pytest.param(
            [rec(latency_ms=(100,)), rec(latency_ms=(300,))], "p50 ms", "200", id="p50-pooled"
        ),
        pytest.param([rec(latency_ms=())], "p50 ms", "-", id="p50-no-data"),
        pytest.param([rec(latency_ms=())], "p95 ms", "-", id="p95-no-data"),
        pytest.param([rec(output_tokens=(10, 21))], "out tok", "16", id="output-tokens-mean"),
        pytest.param([rec(output_tokens=())], "out tok", "-", id="output-tokens-no-data"),
        pytest.param([rec(reasoning_tokens=(900,))], "reason tok", "900", id="reasoning-tokens"),
        pytest.param([rec(reasoning_tokens=())], "reason tok", "-", id="reasoning-no-data"),
        pytest.param(
            [rec(outcomes=("truncated", "pass")), rec(outcomes=("truncated", "error"))],
            "trunc",
            "2",
            id="truncated-count",
        ),
        pytest.param(
            [rec(outcomes=("error", "error", "pass")), rec(outcomes=("truncated",))],
            "errors",
            "2",
            id="error-count",
        ),
        pytest.param([rec(outcomes=("pass",))], "errors", "0", id="no-errors"),
    ],
)
def test_summary_columns(records: list[dict[str, Any]], column: str, text: str) -> None:
    assert row(summary_rows(records), "math", "chat", "low")[column] == text


def test_summary_lines_table_and_items_line() -> None:
    records = [
        rec(outcome="pass", latency_ms=(120,)),
        rec(outcome="pass", api="responses"),
        rec(outcome="fail", outcomes=("fail",)),
        rec(outcome="error", outcomes=("error",), effort="high"),
    ]
    lines = summary_lines(records)
    assert lines[-2:] == ["", "items: 2 pass, 1 fail, 0 truncated, 1 error"]
    header = lines[0].split()
    assert header[:3] == ["suite", "api", "effort"]
    assert "p95" in header
    assert set(lines[1]) <= {"-", " "}
    body = lines[2:-2]
    assert [line.split()[:3] for line in body] == [
        ["math", "chat", "low"],
        ["math", "chat", "high"],
        ["math", "responses", "low"],
    ]


def test_summary_lines_without_records_are_empty() -> None:
    assert summary_lines([]) == []


# --- failure text --------------------------------------------------------------------


def no_schema(name: str) -> Mapping[str, Any]:
    raise TemplateError(f"schema {name!r} not found")


def bound(spec: Mapping[str, Any], weight: float = 1.0) -> BoundCheck:
    name, check = build_check(spec, CheckContext(load_schema=no_schema))
    return BoundCheck(name, weight, 1, check)


def make_case(
    prompt: str = "What is 2 + 3?",
    *checks: BoundCheck,
    extract: str | None = None,
    threshold: float | None = None,
) -> Case:
    return Case(
        id="add_small",
        line=14,
        messages=(Message("system", "Be brief."), Message("user", prompt)),
        apis=("chat",),
        efforts=("low",),
        params={},
        samples=1,
        min_pass_rate=1.0,
        threshold=threshold,
        checks=checks or (bound({"number": 5}),),
        extract=None if extract is None else re.compile(extract),
    )


def done(
    answer: str = "6",
    *,
    reasoning: str = "let me think",
    truncated: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Completion:
    return Completion(
        answer=answer,
        reasoning=reasoning,
        usage=Usage(input_tokens=20, output_tokens=30, reasoning_tokens=25),
        finish="length" if truncated else ("error" if error else "stop"),
        truncated=truncated,
        latency_ms=812.4,
        status=status,
        error=error,
    )


def text_for(case: Case, *completions: Completion) -> str:
    samples = [grade(case, c, i) for i, c in enumerate(completions)]
    return failure_text("suites/math.yaml", case, "chat", "low", verdict(case, samples))


def test_failure_text_shows_where_prompt_answer_and_failed_check() -> None:
    lines = text_for(make_case(), done("6")).splitlines()
    assert lines == [
        "case add_small (suites/math.yaml:14)  api: chat  effort: low",
        "outcome: FAIL  samples: 1 fail  pass rate 0.00 (needs 1.00)",
        "prompt:",
        "  [system] Be brief.",
        "  [user] What is 2 + 3?",
        "sample 0: fail  (HTTP 200, finish stop, 812 ms)",
        "answer (1 chars):",
        "  6",
        "reasoning: 12 chars; tokens: input 20, output 30, reasoning 25",
        "checks:",
        "  FAIL number: expected 5 ± 0, found 6  [observed: 6]",
    ]


def test_failure_text_shows_extracted_text_or_that_nothing_matched() -> None:
    case = make_case("q", bound({"number": 5}), extract=r"Answer:\s*(\d+)")
    assert "extracted: '6'" in text_for(case, done("Answer: 6"))
    assert "extracted: nothing (pattern 'Answer:\\s*(\\d+)' did not match)" in text_for(
        case, done("6")
    )


def test_failure_text_shows_weight_and_threshold() -> None:
    case = make_case("q", bound({"contains": "5"}, weight=2), bound({"regex": "x"}), threshold=0.9)
    text = text_for(case, done("5"))
    assert "score 0.67 < threshold 0.90" in text
    assert "  ok   contains (weight 2)  [observed: true]" in text
    assert "  FAIL regex: no match for /x/  [observed: null]" in text


@pytest.mark.parametrize(
    ("field", "size", "limit"),
    [
        pytest.param("prompt", PROMPT_CHARS + 250, PROMPT_CHARS, id="prompt"),
        pytest.param("answer", ANSWER_CHARS + 777, ANSWER_CHARS, id="answer"),
    ],
)
def test_failure_text_shortens_a_long_prompt_or_answer(field: str, size: int, limit: int) -> None:
    long = "y" * size
    if field == "prompt":
        text = text_for(make_case(long), done("6"))
        cut = len("[system] Be brief.\n[user] ") + size - limit
    else:
        text = text_for(make_case(), done(long))
        cut = size - limit
        assert f"answer ({size} chars):" in text
    assert f"... [{cut} more chars]" in text
    assert "y" * (size - 10) not in text


def test_failure_text_of_an_error_shows_status_and_message() -> None:
    text = text_for(make_case(), done("", error="upstream timed out", status=504))
    assert "outcome: ERROR  samples: 1 error" in text
    assert "sample 0: error  (HTTP 504, finish error, 812 ms)" in text
    assert text.splitlines()[-1] == "error: upstream timed out"
    assert "checks:" not in text


def test_failure_text_of_a_truncated_sample_shows_the_budget_hint() -> None:
    text = text_for(make_case(), done("", reasoning="r" * 4000, truncated=True))
    lines = text.splitlines()
    assert "outcome: TRUNCATED  samples: 1 truncated" in text
    assert "answer (0 chars):" in lines
    assert '  ""' in lines
    assert "reasoning: 4000 chars; tokens: input 20, output 30, reasoning 25" in lines
    assert lines[-1] == (
        "the token budget ran out before the answer was complete "
        "(raise params.max_output_tokens or lower the effort)"
    )
    assert "checks:" not in text


def test_failure_text_of_a_truncated_sample_does_not_claim_extract_failed() -> None:
    case = make_case("q", bound({"number": 5}), extract=r"Answer:\s*(\d+)")
    text = text_for(case, done("Answer: 5", truncated=True))
    assert "did not match" not in text  # extract never ran on a truncated answer


def test_failure_text_shows_the_failing_sample_first() -> None:
    case = make_case()
    text = text_for(case, done("5"), done("", error="boom", status=500), done("7"))
    assert "samples: 1 error, 1 fail, 1 pass" in text
    assert "sample 2: fail" in text
    assert "answer (1 chars):\n  7" in text


# --- check lines ---------------------------------------------------------------------


def test_check_lines_nest_children_two_spaces_a_level() -> None:
    leaf_ok = CheckResult("contains", True, True)
    leaf_bad = CheckResult("icontains", False, False, "'b' not in answer")
    inner = CheckResult("not", False, True, "contains passed but must not", children=(leaf_ok,))
    top = CheckResult("all", False, "0/2 passed", "...", weight=3, children=(inner, leaf_bad))
    assert check_lines(top) == [
        "FAIL all (weight 3): ...  [observed: '0/2 passed']",
        "  FAIL not: contains passed but must not  [observed: true]",
        "    ok   contains  [observed: true]",
        "  FAIL icontains: 'b' not in answer  [observed: false]",
    ]


@pytest.mark.parametrize(
    ("observed", "shown"),
    [
        pytest.param("text", "'text'", id="string-repr"),
        pytest.param(87.5, "87.5", id="number-json"),
        pytest.param({"age": 36}, '{"age": 36}', id="mapping-json"),
        pytest.param(None, "null", id="none-json"),
        pytest.param("z" * 500, "'" + "z" * 200 + "... [300 more chars]'", id="long-string"),
    ],
)
def test_check_lines_show_the_observed_value(observed: Any, shown: str) -> None:
    (line,) = check_lines(CheckResult("equals", True, observed))
    assert line == f"ok   equals  [observed: {shown}]"


@pytest.mark.parametrize(
    ("recs", "cell"),
    [
        pytest.param(
            [{"reasoning_tokens": [120, 80], "reasoning_chars": [900, 700]}], "100", id="reported"
        ),
        pytest.param(
            [{"reasoning_tokens": [0, 0], "reasoning_chars": [400, 800]}],
            "150 est.",
            id="zeros-estimated",
        ),
        pytest.param(
            [{"reasoning_tokens": [], "reasoning_chars": [40]}], "10 est.", id="missing-estimated"
        ),
        pytest.param([{"reasoning_tokens": [0], "reasoning_chars": [0]}], "0", id="no-reasoning"),
        pytest.param([{"reasoning_tokens": [], "reasoning_chars": []}], "-", id="nothing"),
        pytest.param(
            [{"reasoning_tokens": [0]}, {"reasoning_tokens": [60]}], "60", id="some-reported"
        ),
    ],
)
def test_reasoning_tokens_are_estimated_and_marked_when_not_reported(
    recs: list[dict[str, list[int]]], cell: str
) -> None:
    from harness.reports.terminal import reasoning_cell

    assert reasoning_cell(recs) == cell


def test_token_counts_the_server_did_not_report_read_as_not_reported() -> None:
    import dataclasses

    silent = dataclasses.replace(done("6"), usage=Usage(input_tokens=20, output_tokens=30))
    lines = text_for(make_case(), silent).splitlines()
    assert "reasoning: 12 chars; tokens: input 20, output 30, reasoning not reported" in lines
    nothing = dataclasses.replace(done("6"), usage=Usage())
    lines = text_for(make_case(), nothing).splitlines()
    assert "reasoning: 12 chars; tokens: not reported" in lines
    assert not any("None" in line for line in lines)


def test_summary_has_a_prompt_column_only_when_some_record_has_a_variant() -> None:
    plain = [rec("math", "chat", "low")]
    assert summary_lines(plain)[0].split()[:3] == ["suite", "api", "effort"]
    named = [
        {**rec("rev", "chat", "default", ("fail",), outcome="fail"), "variant": "terse"},
        {**rec("rev", "chat", "default"), "variant": "careful"},
        rec("math", "chat", "low"),
    ]
    rows = summary_rows(named)
    assert [r[:5] for r in rows] == [
        ["math", "-", "chat", "low", "1"],
        ["rev", "careful", "chat", "default", "1"],
        ["rev", "terse", "chat", "default", "1"],
    ]
    assert summary_lines(named)[0].split()[:4] == ["suite", "prompt", "api", "effort"]
