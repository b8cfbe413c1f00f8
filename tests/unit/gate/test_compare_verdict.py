"""When compare may say "no measurable effect" (issue 14, item 4): only where the evidence
rules a change out. Every number below is worked out by hand in the comments.

- Exact McNemar, two-sided: k pairs that all changed the same way give p = 2·0.5^k, so
  fewer than 6 cases can never show a difference at p < 0.05 (2/32 = 0.0625, 2/64 = 0.031),
  and with n cases the smallest difference that can show is 6/n.
- "No measurable effect" needs the pass rate's 95% interval inside ±0.10. With every case
  passing on both sides Newcombe's interval is ±(1 - n/(n + 1.96²)): n = 30 gives ±0.114
  (not enough), n = 40 gives ±0.088.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.gate.compare import IGNORED, SAME, THINKING_ON, compare_runs, load_run
from tests.unit.gate.test_compare import rec, write_run

TOO_FEW = "too few cases to tell"


def flips(
    both: int, dropped: int, gained: int, neither: int, by: str = "effort"
) -> list[dict[str, Any]]:
    """One case per outcome pair, low -> high (or chat -> responses): ``both`` pass on both
    sides, ``dropped`` pass -> fail, ``gained`` fail -> pass, ``neither`` fail on both."""
    sides = [("low", "chat"), ("high", "chat")]
    sides = sides if by == "effort" else [("default", "chat"), ("default", "responses")]
    kinds = ["both"] * both + ["dropped"] * dropped + ["gained"] * gained + ["neither"] * neither
    records = []
    for i, kind in enumerate(kinds):
        first = "pass" if kind in ("both", "dropped") else "fail"
        second = "pass" if kind in ("both", "gained") else "fail"
        records.append(rec(f"c{i:02}", *sides[0], outcome=first))
        records.append(rec(f"c{i:02}", *sides[1], outcome=second))
    return records


@pytest.mark.parametrize(
    ("table", "p_value", "verdict", "start"),
    [
        pytest.param(
            (0, 2, 0, 2), 0.5, "inconclusive",
            f"{TOO_FEW} (n=4; no difference can show with fewer than 6 cases)",
            id="issue-14: pass rate 0.50 -> 0.00 on 4 cases",
        ),
        pytest.param(
            (4, 0, 0, 0), 1.0, "inconclusive",
            f"{TOO_FEW} (n=4; no difference can show with fewer than 6 cases)",
            id="4 cases alike",
        ),
        pytest.param(
            (0, 6, 0, 0), 2 / 64, "effect", "effect (pass rate -1.00)",
            id="6 of 6 drop: p = 2/64",
        ),
        pytest.param(
            (3, 5, 0, 0), 2 / 32, "inconclusive",
            f"{TOO_FEW} (n=8; a difference of at least 0.75 would show)",
            id="5 of 8 drop: p = 2/32, 6/8 would show",
        ),
        pytest.param(
            (12, 0, 0, 0), 1.0, "inconclusive",
            f"{TOO_FEW} (n=12; a difference of at least 0.50 would show)",
            id="12 alike: interval +-0.24",
        ),
        pytest.param(
            (30, 0, 0, 0), 1.0, "inconclusive",
            f"{TOO_FEW} (n=30; a difference of at least 0.20 would show)",
            id="30 alike: interval +-0.114",
        ),
        pytest.param((40, 0, 0, 0), 1.0, "no effect", IGNORED, id="40 alike: interval +-0.088"),
    ],
)  # fmt: skip
def test_no_effect_only_where_the_pass_rate_interval_rules_a_change_out(
    tmp_path: Path,
    table: tuple[int, int, int, int],
    p_value: float,
    verdict: str,
    start: str,
) -> None:
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", flips(*table)))))
    assert found.p_value == pytest.approx(p_value)
    assert (found.verdict, found.message[: len(start)]) == (verdict, start)
    if verdict != "no effect":
        assert "no measurable" not in found.message


def test_the_detectable_difference_is_in_the_json(tmp_path: Path) -> None:
    few = compare_runs(load_run(str(write_run(tmp_path / "a", flips(0, 2, 0, 2)))))
    many = compare_runs(load_run(str(write_run(tmp_path / "b", flips(40, 0, 0, 0)))))
    assert (few[0].detectable_diff, many[0].detectable_diff) == (None, 0.15)  # 6/40


def test_the_all_pass_interval_is_the_hand_computed_one(tmp_path: Path) -> None:
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", flips(40, 0, 0, 0)))))
    half = 1 - 40 / (40 + 1.959963984540054**2)  # 0.0876
    assert found.pass_rate_ci == pytest.approx((-half, half))


def reasoning_run(folder: Path, swing: int, cases: int = 40) -> Path:
    """Every case passes on both sides; the other side's reasoning is 1000 + swing on even
    cases and 1000 - swing on odd ones, against 1000 on the reference: mean change 0."""
    records = []
    for i in range(cases):
        records.append(rec(f"c{i:02}", "low", reasoning_tokens=1000))
        tokens = 1000 + (swing if i % 2 == 0 else -swing)
        records.append(rec(f"c{i:02}", "high", reasoning_tokens=tokens))
    return write_run(folder, records)


@pytest.mark.parametrize(
    ("swing", "verdict", "start"),
    [
        # diffs ±20: sd 20, standard error 20/sqrt(40) = 3.2, interval about ±6 < 100
        (20, "no effect", IGNORED),
        # diffs ±600: standard error 600/sqrt(40) = 95, interval about ±186: a change of 10%
        # of the reference mean (100 tokens) either way is not ruled out, though the mean
        # change is 0 (the old rule looked at the mean alone and said "no effect")
        (600, "inconclusive", "inconclusive (the reasoning change may not be small"),
    ],
)
def test_no_effect_on_reasoning_needs_its_interval_inside_10_percent(
    tmp_path: Path, swing: int, verdict: str, start: str
) -> None:
    [found] = compare_runs(load_run(str(reasoning_run(tmp_path / "run", swing))))
    assert found.reasoning_tokens_diff == 0
    assert (found.verdict, found.message[: len(start)]) == (verdict, start)


def test_a_reasoning_change_on_fewer_than_6_cases_is_too_few_to_tell(tmp_path: Path) -> None:
    # +900 tokens on each of 4 cases: the bootstrap interval is the point +900..+900, but a
    # sign-flip test of 4 diffs cannot go below p = 2/16 = 0.125
    records = [rec(f"c{i}", "low", reasoning_tokens=100) for i in range(4)]
    records += [rec(f"c{i}", "high", reasoning_tokens=1000) for i in range(4)]
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert found.reasoning_tokens_diff == 900
    assert found.verdict == "inconclusive"
    assert found.message.startswith(f"{TOO_FEW} (n=4; ")


def test_several_alike_samples_on_few_cases_are_not_no_effect(tmp_path: Path) -> None:
    # 8 cases x 4 samples, all passing on both sides: every per-case diff is 0, so the
    # bootstrap interval is 0..0; the binomial noise floor (p~ = 9/10, v = 0.09·(1/4 + 1/4)
    # = 0.045 a case) widens it to ±1.96·sqrt(8·0.045)/8 = ±0.147
    records = [
        rec(f"c{i}", effort, sample=s)
        for i in range(8)
        for s in range(4)
        for effort in ("low", "high")
    ]
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert found.method == "sign-flip permutation"
    assert found.pass_rate_ci == pytest.approx((-0.147, 0.147), abs=1e-3)
    assert found.message.startswith(f"{TOO_FEW} (n=8; a difference of at least 0.75 would show)")


# --- what is compared decides the words: only efforts of one run are "a setting" ----------


def by_api(both: int) -> list[dict[str, Any]]:
    return [rec(f"c{i:02}", "default", api) for i in range(both) for api in ("chat", "responses")]


def test_apis_alike_are_no_measurable_difference_not_an_ignored_setting(tmp_path: Path) -> None:
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", by_api(40)))), by="api")
    assert found.verdict == "no effect"
    assert found.message.startswith("no measurable difference between the APIs: ")
    assert "ignore" not in found.message


def test_two_runs_alike_are_no_measurable_difference_between_the_runs(tmp_path: Path) -> None:
    first = flips(40, 0, 0, 0)
    second = [{**r, "request": {**r["request"], "model": "other"}} for r in first]
    one = load_run(str(write_run(tmp_path / "one", first)))
    two = load_run(str(write_run(tmp_path / "two", second)))
    found = compare_runs(one, two)
    assert [c.verdict for c in found] == ["no effect", "no effect"]
    assert all(c.message.startswith("no measurable difference between the runs: ") for c in found)
    same = compare_runs(one, load_run(str(write_run(tmp_path / "three", first))))
    assert all(c.message.startswith(SAME) for c in same)  # identical requests


def test_two_runs_on_four_cases_are_too_few_to_tell(tmp_path: Path) -> None:
    one = load_run(str(write_run(tmp_path / "one", [rec(f"c{i}") for i in range(4)])))
    fell = [rec(f"c{i}", outcome="fail" if i < 2 else "pass") for i in range(4)]
    two = load_run(str(write_run(tmp_path / "two", fell)))
    [found] = compare_runs(one, two)
    assert found.message.startswith(f"{TOO_FEW} (n=4; ")


# --- the CLI, on records -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "args", "shown", "never"),
    [
        pytest.param(
            flips(0, 2, 0, 2), [], f"s chat: low -> high: {TOO_FEW} (n=4; ",
            "no measurable", id="issue-14-by-effort",
        ),
        pytest.param(
            flips(0, 2, 0, 2, by="api"),
            ["--by", "api"], f"s default: chat -> responses: {TOO_FEW} (n=4; ",
            "no measurable", id="issue-14-by-api",
        ),
        pytest.param(
            by_api(40), ["--by", "api"],
            "s default: chat -> responses: no measurable difference between the APIs: ",
            "ignore", id="apis-alike",
        ),
        pytest.param(
            flips(40, 0, 0, 0), [], f"s chat: low -> high: {IGNORED}{THINKING_ON}: ", TOO_FEW,
            id="efforts-alike",
        ),
    ],
)  # fmt: skip
def test_cli_says_no_measurable_effect_only_where_supported(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    records: list[dict[str, Any]],
    args: list[str],
    shown: str,
    never: str,
) -> None:
    run = write_run(tmp_path / "run", records)
    assert main(["compare", str(run), *args]) == 0
    out = capsys.readouterr().out
    assert shown in out
    assert never not in out


def test_cli_two_runs_never_speak_of_a_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write_run(tmp_path / "one", [rec(f"c{i}") for i in range(4)])
    two = write_run(tmp_path / "two", [rec(f"c{i}", outcome="fail") for i in range(4)])
    assert main(["compare", str(one), str(two), "--format", "json"]) == 0
    [found] = json.loads(capsys.readouterr().out)
    assert found["message"].startswith(f"{TOO_FEW} (n=4; ")
    assert "ignore" not in found["message"]


@pytest.mark.parametrize(
    ("records", "args", "message"),
    [
        ([rec("a", "low"), rec("b", "low")], [], "the run has one effort (low) per suite and API"),
        (
            [rec("a", "high", "chat"), rec("a", "default", "chat", suite="t")],
            [], "the run has one effort (default, high) per suite and API",
        ),
        ([rec("a", "low")], ["--by", "api"], "the run has one API (chat) per suite and effort"),
    ],
)  # fmt: skip
def test_cli_a_run_with_one_level_says_so(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    records: list[dict[str, Any]],
    args: list[str],
    message: str,
) -> None:
    run = write_run(tmp_path / "run", records)
    assert main(["compare", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "no common cases" not in err
    assert err.count("\n") == 1


def test_the_thinking_on_hint_only_when_neither_effort_is_none(tmp_path: Path) -> None:
    """vLLM sends GLM one request for every effort but none: the hint says so, and is not
    given when one side turns thinking off (then 'no effect' is a real finding)."""
    records = [
        rec(f"c{i}", effort, outcome="pass") for i in range(40) for effort in ("none", "low")
    ]
    [found] = compare_runs(load_run(str(write_run(tmp_path / "run", records))))
    assert (found.ref, found.other, found.verdict) == ("none", "low", "no effect")
    assert found.message.startswith(IGNORED + ": ")
    assert THINKING_ON not in found.message
