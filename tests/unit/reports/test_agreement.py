"""``glm-harness judge-agreement``: accuracy and Cohen's kappa against hand labels."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.reports.agreement import cohen_kappa, measure


def write_lines(path: Path, items: list[Any]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


# 10 labelled answers, by hand:           judge pass  judge fail
#                         label pass           4           1
#                         label fail           2           3
# p_o = 7/10; p_e = (5/10)(6/10) + (5/10)(4/10) = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
HAND = (
    [{"label": "pass", "judge": "pass"}] * 4
    + [{"label": "pass", "judge": "fail"}]
    + [{"label": "fail", "judge": "pass"}] * 2
    + [{"label": "fail", "judge": "fail"}] * 3
)


def test_reproduces_a_hand_computed_kappa(tmp_path: Path) -> None:
    result = measure(write_lines(tmp_path / "labels.jsonl", HAND))
    assert (result.labelled, result.scored) == (10, 10)
    assert math.isclose(result.accuracy, 0.7)
    assert result.kappa is not None
    assert math.isclose(result.kappa, 0.4)
    assert result.reading == "fair"
    assert result.confusion == {"fail": {"fail": 3, "pass": 2}, "pass": {"fail": 1, "pass": 4}}
    assert len(result.disagreements) == 3
    low, high = result.accuracy_ci
    assert low < 0.7 < high


@pytest.mark.parametrize(
    ("pairs", "kappa"),
    [
        ([("a", "a"), ("b", "b")], 1.0),
        ([("a", "b"), ("b", "a")], -1.0),
        # three categories: p_o = 3/6, p_e = (2*2 + 2*1 + 2*3) / 36 = 1/3 -> kappa 0.25
        ([("x", "x"), ("x", "z"), ("y", "y"), ("y", "z"), ("z", "z"), ("z", "x")], 0.25),
        ([("a", "a"), ("a", "a")], None),  # one category for both: undefined
        ([], None),
    ],
)
def test_cohen_kappa(pairs: list[tuple[str, str]], kappa: float | None) -> None:
    found = cohen_kappa(pairs)
    if kappa is None:
        assert found is None
    else:
        assert found is not None
        assert math.isclose(found, kappa, abs_tol=1e-12)


def test_booleans_and_words_are_the_same_labels(tmp_path: Path) -> None:
    items = [{"label": True, "judge": "PASS"}, {"label": False, "judge": " fail "}]
    result = measure(write_lines(tmp_path / "l.jsonl", items))
    assert result.accuracy == 1.0
    assert result.categories == ["fail", "pass"]


def record(case: str, passed: bool | None, sample: int = 0, api: str = "chat") -> dict[str, Any]:
    """A run record with one judge check; ``None``: the judge gave no verdict."""
    observed = {"answers": ["??"]} if passed is None else {"score": 0.9 if passed else 0.1}
    return {
        "suite": "explain", "case": case, "api": api, "effort": "default", "sample": sample,
        "outcome": "error" if passed is None else ("pass" if passed else "fail"),
        "checks": [
            {"name": "contains", "passed": True, "observed": 1},
            {"name": "judge", "passed": bool(passed), "observed": observed},
        ],
    }  # fmt: skip


def test_verdicts_come_from_a_runs_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "results" / "runs" / "r1"
    run.mkdir(parents=True)
    write_lines(run / "records.jsonl", [
        record("a", True), record("b", False), record("c", True), record("d", None),
        record("e", True, api="chat"), record("e", False, api="responses"),
    ])  # fmt: skip
    labels = write_lines(tmp_path / "labels.jsonl", [
        {"suite": "explain", "case": "a", "label": "pass"},
        {"suite": "explain", "case": "b", "label": "pass"},
        {"suite": "explain", "case": "c", "label": True},
        {"suite": "explain", "case": "d", "label": "fail"},
        {"suite": "explain", "case": "e", "api": "responses", "label": "fail"},
    ])  # fmt: skip
    status = main(
        ["judge-agreement", str(labels), "--run", "r1", "--results", str(tmp_path / "results")]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "labelled: 5; with a judge verdict: 4; no verdict: 1" in out
    assert "accuracy: 0.750 [95% CI" in out
    assert "Cohen's kappa: 0.500 (moderate)" in out  # p_o 3/4, p_e (3*2+1*2)/16 = 1/2
    assert "explain::b: label pass, judge fail" in out
    status = main(["judge-agreement", str(labels), "--run", str(run), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert (status, data["kappa"], data["no_verdict"]) == (0, 0.5, ["explain::d"])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["not json"], "labels.jsonl:1: not JSON"),
        ([json.dumps({"judge": "pass"})], "labels.jsonl:1: label: missing"),
        (
            [json.dumps({"label": 3, "judge": "pass"})],
            "labels.jsonl:1: label: expected true, false",
        ),
        (["", json.dumps({"label": "pass"})], "labels.jsonl:2: judge: missing, and no --run"),
        ([], "labels.jsonl: no labelled item with a judge verdict"),
    ],
)
def test_bad_labels_say_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], message: str
) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(lines) + "\n")
    assert main(["judge-agreement", str(labels)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glm-harness judge-agreement: ")
    assert message in err
    assert "Traceback" not in err


def test_a_label_that_matches_no_sample_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_lines(tmp_path / "records.jsonl", [record("a", True), record("a", False, sample=1)])
    labels = write_lines(tmp_path / "l.jsonl", [
        {"suite": "explain", "case": "zzz", "label": "pass"},
    ])  # fmt: skip
    assert main(["judge-agreement", str(labels), "--run", str(tmp_path / "records.jsonl")]) == 2
    assert "l.jsonl:1: explain::zzz: no sample in the run" in capsys.readouterr().err
    write_lines(labels, [{"suite": "explain", "case": "a", "label": "pass"}])
    assert main(["judge-agreement", str(labels), "--run", str(tmp_path / "records.jsonl")]) == 2
    assert "more than one sample; give api, effort and sample" in capsys.readouterr().err
    write_lines(labels, [{"suite": "explain", "case": "a", "sample": 1, "label": "fail"}])
    assert main(["judge-agreement", str(labels), "--run", str(tmp_path / "nope")]) == 2
    assert "no run" in capsys.readouterr().err
