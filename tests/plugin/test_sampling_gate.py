"""With sampled answers the gate is a paired test over the suite's cases: a model that is
right 70% of the time in both runs is rarely called a regression; a drop from 90% to 50%
is caught."""

from __future__ import annotations

import json

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

CASES = 12
SUITE = (
    'prompt: "Question {{ n }}"\napis: [chat]\nsamples: 10\nmin_pass_rate: 0.6\n'
    "expect: [{contains: right}]\ncases:\n"
    + "".join(f"  - {{id: c{n}, vars: {{n: {n}}}}}\n" for n in range(CASES))
)


def run(
    project: pytest.Pytester, server: ScriptedServer, accuracy: float, seed: int, *args: str
) -> pytest.RunResult:
    server.rules = [
        Rule(match="Question", answer="right", wrong_answer="wrong", accuracy=accuracy, seed=seed)
    ]
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", "--glm-cache=off",
        "--glm-concurrency=1", *args,
    )  # fmt: skip


def decisions(project: pytest.Pytester) -> list[dict[str, object]]:
    runs = sorted((project.path / "results" / "runs").iterdir())
    found: list[dict[str, object]] = json.loads((runs[-1] / "summary.json").read_text())[
        "decisions"
    ]
    return found


def test_no_change_is_rarely_a_regression(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/s.yaml", SUITE)
    run(project, server, 0.7, 1, "--glm-update-baselines")
    states, covered = [], 0
    for seed in range(2, 8):
        result = run(project, server, 0.7, seed)
        [decision] = decisions(project)
        states.append(decision["state"])
        interval = decision["interval"]
        assert isinstance(interval, list)
        low, high = interval
        covered += low <= 0 <= high
        assert result.ret == (1 if decision["state"] == "regression" else 0)
        result.stdout.re_match_lines([r"paired test .*: s \[chat-default\]: pass rate .*"])
    assert states.count("regression") <= 1  # 5% false alarms at most, 6 runs
    assert covered >= 5  # the 95% interval of the change holds the true change, 0


def test_a_real_drop_is_caught(project: pytest.Pytester, server: ScriptedServer) -> None:
    write(project, "suites/s.yaml", SUITE)
    run(project, server, 0.9, 1, "--glm-update-baselines")
    result = run(project, server, 0.5, 2, "-rx")
    [decision] = decisions(project)
    assert decision["state"] == "regression"
    assert float(str(decision["delta"])) < -0.2
    assert result.ret == 1
    result.stdout.re_match_lines(
        [r"paired test REGRESSION: s \[chat-default\]: pass rate 0\.9\d -> 0\.[3-6]\d .*"]
    )
    # the cases that fell below min_pass_rate are flagged, not failed one by one
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes
    result.stdout.re_match_lines(
        [r"XFAIL .* - pass rate .* in the baseline, .* now; the paired test .*"]
    )
