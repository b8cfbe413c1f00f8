"""The ``judge`` check end to end, with a scripted judge on real sockets (issue 8): valid
verdicts grade as expected, a judge that answers garbage or runs out of tokens makes the
item an error (never a pass), and judge traffic is cached and counted apart."""

from __future__ import annotations

import json
import secrets
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from harness.cli import main
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

SUITE = """
prompt: "Explain {{ topic }} in one sentence."
apis: [chat]
expect:
  - judge: {rubric: "Correct, and mentions {{ must }}.", min_score: 0.7}
cases:
  - {id: good, vars: {topic: gravity, must: mass}}
  - {id: bad, vars: {topic: rain, must: clouds}}
"""
ANSWERS = [
    Rule(match=r"^Explain gravity", answer="Gravity pulls masses together."),
    Rule(match=r"^Explain rain", answer="Rain is water."),
    Rule(match=r"^Explain tides", answer="The moon pulls the sea."),
]


def verdict(score: float, passed: bool, reason: str) -> str:
    return json.dumps({"score": score, "pass": passed, "reason": reason})


GOOD = Rule(match=r"<answer>\nGravity", answer=verdict(0.9, True, "right, mentions mass"))
BAD = Rule(match=r"<answer>\nRain", answer=verdict(0.2, False, "never mentions clouds"))


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider",
        "--glm-retries=1", *args,
    )  # fmt: skip


def last_run(project: pytest.Pytester) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    folder = sorted((project.path / "results" / "runs").iterdir())[-1]
    lines = (folder / "records.jsonl").read_text().splitlines()
    return json.loads((folder / "summary.json").read_text()), [json.loads(x) for x in lines]


def judge_requests(server: ScriptedServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.prompt and "<rubric>" in r.prompt]


@pytest.fixture
def second_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as other:
        yield other


def test_valid_verdicts_grade_the_answers(
    project: pytest.Pytester, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "suites/explain.yaml", SUITE)
    server.rules = [GOOD, BAD, *ANSWERS]
    result = run(project, server, "--glm-report=report.md")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    assert (
        "judge: 2 sent / 0 cached / 0 retries / 0 failed"
        in (project.path / "report.md").read_text()
    )
    result.stdout.re_match_lines([
        r"  FAIL judge: median score 0.20 < min_score 0.7; judge: never mentions clouds .*",
        r"judge: 2 verdicts, 0 from cache, 2 sent \(0 retries\), 0 failed; tokens \d+ in, \d+ out",
    ])  # fmt: skip
    [good, bad] = sorted(judge_requests(server), key=lambda b: "Gravity" not in str(b))
    user = good["messages"][1]["content"]
    assert "<question>\nExplain gravity in one sentence.\n</question>" in user
    assert "<rubric>\nCorrect, and mentions mass.\n</rubric>" in user  # rendered per case
    assert "clouds" in bad["messages"][1]["content"]
    assert good["response_format"]["json_schema"]["name"] == "verdict"  # structured output
    assert good["temperature"] == 0.0
    summary, records = last_run(project)
    assert summary["requests"]["requests"] == 2  # the graded answers, without the judge's
    assert summary["requests"]["judge"]["requests"] == 2
    assert summary["requests"]["judge"]["sent"] == 2
    assert summary["requests"]["judge"]["input_tokens"] > summary["requests"]["input_tokens"]
    [check] = next(r for r in records if r["case"] == "bad")["checks"]
    assert check["observed"]["reasons"] == ["never mentions clouds"]  # kept in the records
    assert json.loads(check["observed"]["answers"][0])["score"] == 0.2

    # hand labels against this run's verdicts: the judge agrees on "good", not on "bad"
    labels = project.path / "labels.jsonl"
    labels.write_text(
        '{"suite": "explain", "case": "good", "label": "pass"}\n'
        '{"suite": "explain", "case": "bad", "label": "pass"}\n'
    )
    run_dir = sorted((project.path / "results" / "runs").iterdir())[-1]
    capsys.readouterr()
    assert main(["judge-agreement", str(labels), "--run", str(run_dir), "--format", "json"]) == 0
    agreement = json.loads(capsys.readouterr().out)
    assert (agreement["scored"], agreement["accuracy"]) == (2, 0.5)
    assert agreement["disagreements"] == [{"id": "explain::bad", "label": "pass", "judge": "fail"}]


@pytest.mark.parametrize(
    ("judge", "shown"),
    [
        (
            Rule(match="<rubric>", answer="Looks fine to me!"),
            "no JSON object in the judge's answer",
        ),
        (
            Rule(match="<rubric>", answer='{"score": 0.9, "reason": "ok"}'),
            "invalid verdict: 'pass' is a required property",
        ),
        (
            Rule(match="<rubric>", answer=verdict(1.5, True, "great")),
            "invalid verdict at score: 1.5 is greater than the maximum of 1",
        ),
        (
            Rule(match="<rubric>", answer='{"score": 0.8, "pass": "yes", "reason": "ok"}'),
            "invalid verdict at pass: 'yes' is not of type 'boolean'",
        ),
        (
            Rule(match="<rubric>", answer='{"score": 0.9, "pa', finish="length"),
            "the judge's answer was cut off by its token budget \\(truncated\\)",
        ),
        (
            Rule(match="<rubric>", status=503, error_message="judge overloaded"),
            "the judge's request failed: HTTP 503: .*judge overloaded \\(2 attempts\\)",
        ),
    ],
    ids=["garbage", "no-pass", "score-out-of-range", "pass-not-bool", "truncated", "http-503"],
)
def test_no_valid_verdict_is_an_error_never_a_pass(
    project: pytest.Pytester, server: ScriptedServer, judge: Rule, shown: str
) -> None:
    write(project, "suites/explain.yaml", SUITE)
    server.rules = [judge, *ANSWERS]
    result = run(project, server)
    result.assert_outcomes(errors=2)
    assert result.ret == 6  # API errors only
    result.stdout.re_match_lines([rf"error: judge: {shown}.*", r"answer \(\d+ chars\):"])
    summary, records = last_run(project)
    assert summary["items"]["error"] == 2
    assert {r["outcome"] for r in records} == {"error"}
    assert {r["answer"] for r in records} == {"Gravity pulls masses together.", "Rain is water."}


def test_judge_verdicts_are_cached_apart_and_garbage_is_not(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/explain.yaml", SUITE)
    garbage = Rule(match=r"<answer>\nRain", answer="no idea")
    server.rules = [GOOD, garbage, *ANSWERS]
    run(project, server).assert_outcomes(passed=1, errors=1)
    server.reset()
    server.rules = [GOOD, BAD, *ANSWERS]
    result = run(project, server)
    result.assert_outcomes(passed=1, failed=1)  # the garbage verdict was asked again
    summary, _ = last_run(project)
    assert summary["requests"]["cached"] == 2
    judge = summary["requests"]["judge"]
    assert (judge["requests"], judge["cached"], judge["sent"]) == (2, 1, 1)
    [asked] = judge_requests(server)
    assert "Rain is water." in asked["messages"][1]["content"]
    result.stdout.re_match_lines([r"judge: 2 verdicts, 1 from cache, 1 sent .*"])


def test_judge_samples_take_the_median(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(
        project,
        "suites/explain.yaml",
        SUITE.replace("min_score: 0.7}", "min_score: 0.7, samples: 5}"),
    )
    flaky = Rule(
        match="<rubric>", answer=verdict(0.9, True, "good"), wrong_answer=verdict(0.1, False, "bad"),
        accuracy=0.5, seed=3,
    )  # fmt: skip
    server.rules = [flaky, *ANSWERS]
    result = run(project, server, "--glm-concurrency=1")
    _, records = last_run(project)
    for record in records:
        [check] = record["checks"]
        scores = check["observed"]["scores"]
        assert len(scores) == 5
        assert check["observed"]["score"] == statistics.median(scores)
        assert check["passed"] == (statistics.median(scores) >= 0.7)
    assert len(judge_requests(server)) == 10
    assert {b["temperature"] for b in judge_requests(server)} == {0.7}  # samples can differ
    assert result.ret == (0 if all(r["outcome"] == "pass" for r in records) else 1)


def test_a_separate_judge_endpoint_never_gets_the_runs_token(
    project: pytest.Pytester,
    server: ScriptedServer,
    second_server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(project, "suites/explain.yaml", SUITE)
    run_token, judge_token = secrets.token_hex(12), secrets.token_hex(12)  # made up per run
    monkeypatch.setenv("GLM_API_KEY", run_token)
    monkeypatch.setenv("GLM_JUDGE_API_KEY", judge_token)
    server.api_key = run_token
    second_server.api_key = judge_token
    server.rules = [*ANSWERS]
    second_server.rules = [GOOD, BAD]
    result = run(
        project, server, f"--glm-judge-base-url={second_server.url}", "--glm-judge-model=judge-m",
        "--glm-judge-effort=high",
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    assert judge_requests(server) == []
    asked = judge_requests(second_server)
    assert len(asked) == 2
    assert {b["model"] for b in asked} == {"judge-m"}
    assert {b["reasoning_effort"] for b in asked} == {"high"}
    tokens = {r.headers.get("authorization") for r in second_server.requests}
    assert tokens == {f"Bearer {judge_token}"}
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {run_token}"}


def test_judge_options_are_checked(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/explain.yaml", SUITE)
    result = run(project, server, "--glm-judge-effort=low,high")
    assert result.ret == 4
    result.stderr.re_match_lines([r".*--glm-judge-effort: give one value, not low, high.*"])
    result = run(project, server, "--glm-judge-api=soap")
    result.stderr.re_match_lines(
        [r".*--glm-judge-api: soap not allowed \(allowed: chat, responses\).*"]
    )


def test_a_rubric_that_does_not_render_fails_collection(project: pytest.Pytester) -> None:
    write(project, "suites/explain.yaml", SUITE.replace("{{ must }}", "{{ missing }}"))
    result = project.runpytest("--glm-suite", "-p", "no:cacheprovider")
    result.stdout.re_match_lines([
        r"suites/explain.yaml:4: expect\[0\]\.judge\.rubric: .*'missing' is undefined "
        r"\(rendering it for case 'good'\)",
        r"suites/explain.yaml:4: .*\(rendering it for case 'bad'\)",
    ])  # fmt: skip
    assert result.ret == 2


def test_a_verdict_that_contradicts_itself_is_said_though_min_score_passes_it(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    # issue 14, item 5: score 1 (>= min_score 0.7) but pass false: min_score still decides
    odd = Rule(match=r"<answer>\nGravity", answer=verdict(1, False, "right, mentions mass"))
    write(project, "suites/explain.yaml", SUITE)
    server.rules = [odd, BAD, *ANSWERS]
    result = run(project, server, "--glm-report=report.md")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.re_match_lines([
        r"items: 1 pass, 1 fail, 0 truncated, 0 error",
        r"judge verdict inconsistent: explain::good\[chat-default\] \(pass\), sample 0:"
        r" score 1.00 but pass false",
    ])  # fmt: skip
    _, records = last_run(project)
    [good] = next(r for r in records if r["case"] == "good")["checks"]
    [bad] = next(r for r in records if r["case"] == "bad")["checks"]
    assert (good["observed"]["inconsistent"], bad["observed"]["inconsistent"]) == ([True], [False])
    assert "judge verdict inconsistent: score 1.00 but pass false" in good["detail"]
    report = (project.path / "report.md").read_text()
    assert "- `explain::good[chat-default]` (pass): sample 0: score 1.00 but pass false" in report
    run_dir = sorted((project.path / "results" / "runs").iterdir())[-1]
    assert main(["report", str(run_dir), "--html", str(project.path / "r.html")]) == 0
    page = (project.path / "r.html").read_text()
    assert "<h2>Judge verdicts that contradict themselves</h2>" in page
