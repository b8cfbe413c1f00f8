"""glm-harness compare: paired comparisons of efforts, APIs and runs from records.jsonl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.gate.compare import (
    IGNORED,
    CompareError,
    compare_runs,
    load_run,
    read_records,
    render,
)
from harness.gate.records import RecordWriter, sample_record
from harness.models import Completion, Outcome, Request, SampleResult, Usage

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


def rec(
    case: str,
    effort: str = "low",
    api: str = "chat",
    *,
    outcome: str = "pass",
    reasoning_tokens: int | None = 100,
    reasoning: str = "",
    output_tokens: int | None = 50,
    latency: float = 1000.0,
    sample: int = 0,
    suite: str = "s",
    variant: str = "",
) -> dict[str, Any]:
    """One records.jsonl line, as harness.gate.records.sample_record writes it."""
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": case}]}
    if effort != "default":
        body["reasoning_effort"] = effort
    if variant:
        body["messages"][0]["content"] = f"{variant}: {case}"
        order = ["terse", "careful", "plain"]
        extra = {"variant_index": order.index(variant)} if variant in order else {}
    return {
        "suite": suite,
        "case": case,
        **({"variant": variant, **extra} if variant else {}),
        "api": api,
        "effort": effort,
        "sample": sample,
        "request": {"path": PATHS[api], "body": body},
        "answer": "42",
        "reasoning": reasoning,
        "extracted": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": output_tokens,
            "reasoning_tokens": reasoning_tokens,
        },
        "latency_ms": latency,
        "status": 200,
        "finish": "length" if outcome == "truncated" else "stop",
        "error": "HTTP 503" if outcome == "error" else None,
        "cached": False,
        "attempts": 1,
        "checks": [],
        "score": 1.0 if outcome == "pass" else 0.0,
        "outcome": outcome,
    }


def write_run(folder: Path, records: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    (folder / "records.jsonl").write_text(lines, encoding="utf-8")
    return folder


def test_high_effort_that_passes_more_and_reasons_longer_is_an_effect(tmp_path: Path) -> None:
    records = []
    for i in range(8):
        records.append(rec(f"c{i}", "low", outcome="fail", reasoning_tokens=200 + i))
        records.append(rec(f"c{i}", "high", outcome="pass", reasoning_tokens=1000 + 5 * i))
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert (found.suite, found.shared, found.ref, found.other) == ("s", "chat", "low", "high")
    assert found.cases == 8
    assert found.method == "exact McNemar"
    assert found.p_value < 0.05
    assert (found.pass_rate_ref, found.pass_rate_other, found.pass_rate_diff) == (0, 1, 1)
    assert found.pass_rate_ci[0] > 0
    assert found.reasoning_tokens_diff > 700
    assert found.reasoning_tokens_ci[0] > 0
    assert not found.reasoning_estimated
    assert found.requests_differ
    assert found.verdict == "effect"
    assert "no measurable effect" not in found.message
    assert found.fail_to_pass == [f"c{i}" for i in range(8)]
    assert found.pass_to_fail == []


def test_indistinguishable_efforts_say_the_endpoint_ignores_the_setting(tmp_path: Path) -> None:
    records = []
    for i in range(40):  # enough cases for the pass rate's interval to fit inside +-0.10
        outcome = "pass" if i % 3 else "fail"
        records.append(rec(f"c{i}", "low", outcome=outcome, reasoning_tokens=500 + i % 3))
        records.append(rec(f"c{i}", "high", outcome=outcome, reasoning_tokens=500 + (i + 1) % 3))
    run = load_run(str(write_run(tmp_path / "run", records)))
    [found] = compare_runs(run, by="effort")
    assert found.p_value == 1.0
    low, high = found.reasoning_tokens_ci
    assert low <= 0 <= high
    assert abs(found.reasoning_tokens_diff) < 0.1 * found.reasoning_tokens_ref
    assert found.verdict == "no effect"
    assert found.message.startswith(IGNORED)
    assert "p=1 (exact McNemar)" in found.message  # the evidence comes with it
    assert found.pass_to_fail == found.fail_to_pass == []
    text = render([found])
    assert "no measurable effect: the endpoint appears to ignore the setting" in text


def test_a_small_sample_is_inconclusive_not_no_effect(tmp_path: Path) -> None:
    # reasoning doubles on one case and halves on the other: the interval holds 0, but the
    # mean change is far above 10% of the reference mean
    records = [rec("a", "low", reasoning_tokens=100), rec("a", "high", reasoning_tokens=900)]
    records += [rec("b", "low", reasoning_tokens=900), rec("b", "high", reasoning_tokens=300)]
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert found.verdict == "inconclusive"
    assert "no measurable effect" not in found.message


def test_the_reference_is_the_lowest_effort_present_unless_given(tmp_path: Path) -> None:
    records = [rec(c, e) for c in ("a", "b") for e in ("high", "low", "medium")]
    run = load_run(str(write_run(tmp_path / "run", records)))
    assert [(c.ref, c.other) for c in compare_runs(run)] == [("low", "medium"), ("low", "high")]
    pairs = [(c.ref, c.other) for c in compare_runs(run, ref="high")]
    assert pairs == [("high", "low"), ("high", "medium")]
    with pytest.raises(CompareError, match="--ref 'huge'"):
        compare_runs(run, ref="huge")


def test_two_runs_pair_the_same_keys(tmp_path: Path) -> None:
    first = [rec("a"), rec("b"), rec("c"), rec("a", "high")]
    second = [rec("a"), rec("b", outcome="fail"), rec("d"), rec("a", "high", outcome="fail")]
    one = load_run(str(write_run(tmp_path / "run-1", first)))
    two = load_run(str(write_run(tmp_path / "run-2", second)))
    found = compare_runs(one, two, by="api", ref="responses")  # by and ref are ignored
    assert [(c.shared, c.ref, c.other, c.cases) for c in found] == [
        ("chat/low", "run-1", "run-2", 2),
        ("chat/high", "run-1", "run-2", 1),
    ]
    assert found[0].pass_to_fail == ["b"]
    assert found[0].fail_to_pass == []
    assert found[0].pass_rate_diff == -0.5
    assert not found[0].requests_differ  # the same requests: no claim about a setting
    assert found[0].message.startswith("too few cases to tell (n=2; ")


def test_by_api_pairs_chat_with_responses_within_each_effort(tmp_path: Path) -> None:
    records = []
    for effort in ("default", "high"):
        for i in range(6):
            records.append(rec(f"c{i}", effort, "chat", latency=1000 + i))
            records.append(rec(f"c{i}", effort, "responses", outcome="truncated", latency=3000))
    run = load_run(str(write_run(tmp_path / "run", records)))
    found = compare_runs(run, by="api")
    assert [(c.shared, c.ref, c.other) for c in found] == [
        ("default", "chat", "responses"),
        ("high", "chat", "responses"),
    ]
    assert found[0].requests_differ  # the path differs
    assert (found[0].truncated_ref, found[0].truncated_other) == (0, 6)
    assert found[0].latency_p50_ref_ms == 1002.5
    assert found[0].latency_p50_diff_ms == 1997.5
    assert found[0].pass_to_fail == [f"c{i}" for i in range(6)]
    assert found[0].p_value == pytest.approx(2 / 64)
    reverse = compare_runs(run, by="api", ref="responses")
    assert [(c.ref, c.other) for c in reverse] == [("responses", "chat")] * 2


def test_by_prompt_pairs_the_variants_of_each_suite_api_and_effort(tmp_path: Path) -> None:
    records = []
    for api in ("chat", "responses"):
        for i in range(8):  # written as answers came in: the suite's order is in the records
            records.append(rec(f"c{i}", "default", api, variant="plain", outcome="fail"))
            records.append(rec(f"c{i}", "default", api, variant="careful"))
            records.append(rec(f"c{i}", "default", api, variant="terse", outcome="fail"))
    records.append(rec("other", "default", suite="t"))  # a suite without variants: left out
    run = load_run(str(write_run(tmp_path / "run", records)))
    found = compare_runs(run, by="prompt")
    assert [(c.suite, c.shared, c.ref, c.other) for c in found] == [
        ("s", "chat/default", "terse", "careful"),
        ("s", "chat/default", "terse", "plain"),
        ("s", "responses/default", "terse", "careful"),
        ("s", "responses/default", "terse", "plain"),
    ]
    careful = found[0]
    assert careful.requests_differ
    assert careful.fail_to_pass == [f"c{i}" for i in range(8)]
    assert (careful.verdict, careful.method) == ("effect", "exact McNemar")
    assert [c.other for c in compare_runs(run, by="prompt", ref="careful")] == [
        "terse",
        "plain",
    ] * 2
    # by effort and by API, the variant is part of what both sides share
    two = records + [rec(f"c{i}", "high", "chat", variant="terse") for i in range(8)]
    by_effort = compare_runs(load_run(str(write_run(tmp_path / "run2", two))), by="effort")
    assert [(c.shared, c.ref, c.other) for c in by_effort] == [("terse/chat", "default", "high")]


def test_by_prompt_needs_a_suite_with_two_variants(tmp_path: Path) -> None:
    run = load_run(str(write_run(tmp_path / "run", [rec(f"c{i}", "low") for i in range(3)])))
    with pytest.raises(CompareError) as info:
        compare_runs(run, by="prompt")
    assert str(info.value) == (
        "nothing to compare --by prompt: the run has one prompt per suite, API and effort "
        "(a suite has prompts to compare when it lists two or more under prompts:)"
    )
    with pytest.raises(CompareError, match="--ref 'x': not one of none in this run"):
        compare_runs(run, by="prompt", ref="x")


def test_reasoning_is_estimated_from_the_text_when_the_server_reports_zero(
    tmp_path: Path,
) -> None:
    records = [
        rec("a", "low", reasoning_tokens=0, reasoning="x" * 400),
        rec("a", "high", reasoning_tokens=None, reasoning="x" * 4000),
        rec("b", "low", reasoning_tokens=0, reasoning="x" * 400),
        {**rec("b", "high", reasoning_tokens=0, reasoning="x" * 40), "reasoning_chars": 4000},
    ]
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert found.reasoning_estimated
    assert (found.reasoning_tokens_ref, found.reasoning_tokens_other) == (100, 1000)
    assert found.reasoning_tokens_diff == 900
    assert "est." in found.message
    assert "+900 est." in render([found])


def test_reported_reasoning_tokens_are_not_estimated(tmp_path: Path) -> None:
    records = [rec("a", "low", reasoning_tokens=7, reasoning="x" * 400), rec("a", "high")]
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert not found.reasoning_estimated
    assert found.reasoning_tokens_ref == 7
    assert "est." not in render([found])


def test_several_samples_use_the_sign_flip_test_and_pass_rates_over_samples(
    tmp_path: Path,
) -> None:
    records = []
    for i in range(6):
        for s in range(4):
            records.append(rec(f"c{i}", "low", outcome="pass" if s == 0 else "fail", sample=s))
            records.append(rec(f"c{i}", "high", outcome="pass", sample=s, output_tokens=80))
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert found.method == "sign-flip permutation"
    assert (found.pass_rate_ref, found.pass_rate_other) == (0.25, 1.0)
    assert found.pass_rate_diff == 0.75
    assert found.p_value == pytest.approx(2 / 64)
    assert found.output_tokens_diff == 30
    assert found.fail_to_pass == [f"c{i}" for i in range(6)]  # a case passes when all do


def test_error_samples_are_counted_not_graded(tmp_path: Path) -> None:
    records = [rec("a", "low"), rec("a", "high", outcome="error"), rec("a", "high", sample=1)]
    records += [rec("b", "low"), rec("b", "high", outcome="error")]
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert found.cases == 1
    assert (found.errors_ref, found.errors_other) == (0, 2)
    assert "error samples left out" in found.message


def test_markdown_has_a_pipe_table_and_bullets(tmp_path: Path) -> None:
    records = [rec("a", "low"), rec("a", "high", outcome="fail"), rec("b", "low"), rec("b", "high")]
    found = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    lines = render(found, "md").splitlines()
    assert lines[0].startswith("| suite ")
    assert set(lines[1]) <= set("|:- ")
    assert lines[2].startswith("| s ")
    assert lines[2].count("|") == lines[0].count("|")
    assert any(line.startswith("- **s chat: low -> high**: ") for line in lines)
    assert "  - pass->fail: `a`" in lines


def test_json_lists_every_figure_in_a_stable_order(tmp_path: Path) -> None:
    records = [rec("a", "low"), rec("a", "high", outcome="fail")]
    found = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    data = json.loads(render(found, "json"))
    assert isinstance(data, list)
    assert list(data[0])[:6] == ["suite", "shared", "ref", "other", "cases", "requests_differ"]
    assert data[0]["pass_to_fail"] == ["a"]
    assert data[0]["pass_rate_ci"] == list(found[0].pass_rate_ci)
    assert data[0]["verdict"] == found[0].verdict
    assert render(found, "json") == render(found, "json")


def test_text_has_a_table_and_a_line_per_pair_with_flips(tmp_path: Path) -> None:
    records = [rec("a", "low"), rec("a", "high", outcome="fail"), rec("b", "low", outcome="fail")]
    records.append(rec("b", "high"))
    text = render(compare_runs(load_run(str(write_run(tmp_path / "run", records)))))
    assert text.splitlines()[0].split()[:2] == ["suite", "shared"]
    assert "s chat: low -> high: " in text
    assert "  pass->fail: a" in text
    assert "  fail->pass: b" in text


def test_cli_reads_a_run_id_under_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(tmp_path / "runs" / "r1", [rec("a", "low"), rec("a", "high")])
    status = main(["compare", "r1", "--results", str(tmp_path), "--format", "json"])
    out, err = capsys.readouterr()
    assert status == 0
    assert err == ""
    assert json.loads(out)[0]["cases"] == 1


def test_cli_accepts_the_records_file_and_two_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write_run(tmp_path / "one", [rec("a")]) / "records.jsonl"
    two = write_run(tmp_path / "two", [rec("a", outcome="fail")])
    assert main(["compare", str(one), str(two), "--format", "md"]) == 0
    assert "| s " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("records", "args", "message"),
    [
        (None, [], "no run "),
        ([rec("a", "low"), rec("b", "high")], [], "no common cases"),
        ([rec("a", "low")], [], "the run has one effort (low)"),
        ([rec("a", "low"), rec("a", "high")], ["--ref", "medium"], "no common cases"),
        ([rec("a", "low"), rec("a", "high")], ["--by", "api", "--ref", "low"], "--ref 'low'"),
        ([], [], "no records"),
    ],
)
def test_cli_says_what_is_wrong_in_one_line_and_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    records: list[dict[str, Any]] | None,
    args: list[str],
    message: str,
) -> None:
    run = tmp_path / "run"
    if records is not None:
        write_run(run, records)
    assert main(["compare", str(run), *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("glm-harness compare: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_names_the_line_of_a_broken_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", [rec("a", "low")])
    with (run / "records.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"suite": "s", "case"\n')
    assert main(["compare", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'records.jsonl'}:2: not a run record" in err
    assert err.count("\n") == 1


def test_a_missing_second_run_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", [rec("a")])
    assert main(["compare", str(run), str(tmp_path / "gone")]) == 2
    assert "no run " in capsys.readouterr().err


def test_reads_what_the_record_writer_writes(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path / "run" / "records.jsonl")
    sides: list[tuple[str, Outcome, int]] = [("low", "fail", 0), ("high", "pass", 900)]
    for effort, outcome, tokens in sides:
        request = Request(api="chat", path="/chat/completions", body={"reasoning_effort": effort})
        done = Completion("4", "r" * 400, Usage(10, 20, tokens), "stop", False, 5.0, 200)
        sample = SampleResult(index=0, outcome=outcome, score=0.0, completion=done)
        where = {"suite": "math", "case": "add", "api": "chat", "effort": effort}
        writer.write(sample_record(where, request, sample, attempts=1))
    writer.close()
    [found] = compare_runs(load_run(str(tmp_path / "run")))
    assert (found.ref, found.other, found.fail_to_pass) == ("low", "high", ["add"])
    assert (found.reasoning_tokens_ref, found.reasoning_tokens_other) == (100, 900)
    assert found.reasoning_estimated  # the low side reported 0: estimated from 400 chars


# --- a torn last line (a disk that filled, a run killed mid-write) ----------------------


def test_a_torn_last_line_is_skipped_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run = write_run(tmp_path / "run", [rec("a", "low"), rec("a", "high")])
    with (run / "records.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"suite": "s", "case": "b", "api": "ch')  # no newline: cut short
    path, records = read_records(str(run))
    assert len(records) == 2  # the whole lines are all there
    assert caplog.messages == [f"{path}: last line is incomplete (38 bytes), skipped"]
    assert main(["compare", str(run)]) == 0  # compare works on the rest
    assert "low -> high" in capsys.readouterr().out


def test_a_sample_graded_twice_counts_once_as_its_later_grade(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An xdist worker that dies has already written the records of answers it prefetched;
    the worker started in its place runs those items again and writes theirs."""
    first = rec("a", "low", outcome="fail")
    run = write_run(tmp_path / "run", [first, rec("b", "low"), rec("a", "low"), rec("a", "high")])
    path, records = read_records(str(run))
    assert [(r["case"], r["effort"], r["outcome"]) for r in records] == [
        ("a", "low", "pass"),  # the later grade, where the first one stood
        ("b", "low", "pass"),
        ("a", "high", "pass"),
    ]
    assert caplog.messages == [
        f"{path}: 1 sample recorded twice (items ran again after a worker died); "
        "the later record is kept"
    ]


@pytest.mark.parametrize(
    ("tail", "line"),
    [
        pytest.param('{"suite": "s", "ca\n{"suite": "s"}', 2, id="torn-line-in-the-middle"),
        pytest.param('{"suite": "s", "ca\n', 2, id="corrupt-last-line-with-newline"),
    ],
)
def test_a_corrupt_line_that_is_not_a_torn_end_stays_an_error(
    tmp_path: Path, tail: str, line: int
) -> None:
    run = write_run(tmp_path / "run", [rec("a", "low")])
    with (run / "records.jsonl").open("a", encoding="utf-8") as f:
        f.write(tail)
    with pytest.raises(CompareError, match=rf"records.jsonl:{line}: not a run record"):
        read_records(str(run))
