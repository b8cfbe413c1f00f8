"""A judge verdict that contradicts itself ({"score": 1, "pass": false}) is said in every
report, also when the check passed on min_score (issue 14, item 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.checks.grading import grade, verdict
from harness.checks.judge import collect
from harness.models import Completion, Usage
from harness.reports.markdown import markdown_report
from harness.reports.terminal import failure_text, inconsistent_verdicts, record, summary_lines
from tests.unit.reports.test_html_report import page_of
from tests.unit.reports.test_html_report import rec as sample_rec
from tests.unit.reports.test_report import bound, make_case

SAID = "judge verdict inconsistent: score 1.00 but pass false"


def done(answer: str) -> Completion:
    return Completion(answer, "", Usage(), "stop", False, 5.0, 200)


def judged_item(score: float, passed: bool, min_score: float | None = 0.6) -> tuple[Any, Any]:
    """A case with one judge check, graded on one verdict; the case and its Verdict."""
    spec: dict[str, Any] = {"rubric": "Mentions mass."}
    spec |= {} if min_score is None else {"min_score": min_score}
    case = make_case("Why do things fall?", bound({"judge": spec}))
    reply = json.dumps({"score": score, "pass": passed, "reason": "fine"})
    sample = grade(case, done("gravity"), judged={0: collect([done(reply)])})
    return case, verdict(case, [sample])


def test_a_passing_item_with_an_inconsistent_verdict_is_named_under_the_table() -> None:
    case, result = judged_item(1.0, False)
    assert result.outcome == "pass"  # min_score decides; the contradiction is said, not graded
    item = record("s", case, "chat", "low", result)
    assert item["judge_inconsistent"] == ["sample 0: score 1.00 but pass false"]
    lines = summary_lines([item])
    said = "judge verdict inconsistent: s::add_small[chat-low] (pass), sample 0"
    assert f"{said}: score 1.00 but pass false" in lines


def test_a_consistent_verdict_adds_nothing() -> None:
    case, result = judged_item(0.9, True)
    item = record("s", case, "chat", "low", result)
    assert "judge_inconsistent" not in item
    assert not any("inconsistent" in line for line in summary_lines([item]))


def test_a_failing_item_says_it_in_its_failure_text() -> None:
    case, result = judged_item(0.0, True)  # score 0 below min_score 0.6, yet pass true
    assert result.outcome == "fail"
    text = failure_text("suites/s.yaml", case, "chat", "low", result)
    assert "FAIL judge: median score 0.00 < min_score 0.6; judge verdict inconsistent:" in text
    assert "score 0.00 but pass true" in text
    item = record("s", case, "chat", "low", result)
    assert "judge verdict inconsistent: score 0.00 but pass true" in item["failed_checks"][0]


def test_without_min_score_half_is_the_line() -> None:
    case, result = judged_item(1.0, False, min_score=None)
    assert result.outcome == "fail"  # the judge's own pass decides
    assert record("s", case, "chat", "low", result)["judge_inconsistent"] == [
        "sample 0: score 1.00 but pass false"
    ]


def test_markdown_has_a_section_for_them() -> None:
    case, result = judged_item(1.0, False)
    item = {**record("s", case, "chat", "low", result), "change": "pass"}
    text = markdown_report([item], run_id="r", endpoint=None, model="m", requests={})
    assert "### Judge verdicts that contradict themselves" in text
    assert "- `s::add_small[chat-low]` (pass): sample 0: score 1.00 but pass false" in text
    case, result = judged_item(0.9, True)
    quiet = {**record("s", case, "chat", "low", result), "change": "pass"}
    text = markdown_report([quiet], run_id="r", endpoint=None, model="m", requests={})
    assert "contradict" not in text


def judge_check(score: float, passed: bool, inconsistent: bool) -> dict[str, Any]:
    """A judge check as records.jsonl keeps it."""
    observed = {"score": score, "scores": [score], "passes": [passed]}
    observed |= {"inconsistent": [inconsistent], "reasons": ["fine"], "answers": ["{}"]}
    return {"name": "judge", "passed": True, "observed": observed, "detail": "", "weight": 1.0}


def test_html_lists_the_samples_whose_verdict_contradicts_itself(tmp_path: Path) -> None:
    records = [sample_rec(c, "chat", "low") for c in ("a", "b")]
    records[0]["checks"] = [judge_check(1.0, False, True)]
    records[1]["checks"] = [judge_check(0.9, True, False)]
    page = page_of(tmp_path, records)
    assert "<h2>Judge verdicts that contradict themselves</h2>" in page
    assert "score 1.00 but pass false" in page
    assert "score 0.90" not in page


def test_the_reader_takes_records_of_older_runs() -> None:
    # a record written before verdicts were marked has no "inconsistent" list
    old = {"name": "judge", "observed": {"score": 1.0, "scores": [1.0], "passes": [False]}}
    assert inconsistent_verdicts([old]) == []
    assert inconsistent_verdicts([judge_check(1.0, False, True)]) == ["score 1.00 but pass false"]
    assert inconsistent_verdicts([{"name": "judge", "observed": {"answers": ["x"]}}]) == []
