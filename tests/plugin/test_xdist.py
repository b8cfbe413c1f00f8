"""pytest-xdist as the multi-core engine (issue 18): under ``-n N`` each worker sends the
requests of the items it will run before running them, the concurrency is shared across
the workers, no request goes twice, and what the run writes is what one process writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

pytest.importorskip("xdist")

CASES = 24


def suite(cases: int = CASES) -> str:
    lines = ["name: many", 'prompt: "Say {{ word }}"', "apis: [chat]", "cases:"]
    for n in range(cases):
        lines += [f"  - id: c{n:02d}", f"    vars: {{word: w{n}}}", "    expect: [{contains: ok}]"]
    return "\n".join(lines) + "\n"


def rules(delay: float = 0.0) -> list[Rule]:
    # c03 fails its check every time: the run has a failure to carry through
    fail = [Rule(match="w3$", answer="nothing", delay=delay)]
    return [*fail, Rule(match="w", answer="ok", delay=delay)]


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", *args
    )


def last_run(root: Path) -> Path:
    return sorted((root / "results" / "runs").iterdir())[-1]


def test_workers_send_their_items_ahead_within_the_shared_concurrency(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/many.yaml", suite())
    server.rules = rules(delay=0.25)
    result = run(project, server, "-n", "2", "--glm-concurrency", "5")
    result.assert_outcomes(passed=CASES - 1, failed=1)
    # each worker had its share in flight at once: sending as items ran would keep one
    # request in flight per worker; the two workers' shares (3 + 2) never exceed 5
    assert server.max_in_flight == 5
    bodies = [json.dumps(r.body, sort_keys=True) for r in server.suite_requests]
    assert len(bodies) == CASES
    assert len(set(bodies)) == CASES  # none sent twice
    result.stdout.fnmatch_lines(["requests: *; concurrency 5, final 5 *"])  # the parts added


def test_a_worker_with_nothing_to_send_keeps_its_part_of_the_concurrency(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/many.yaml", suite(2))
    server.rules = rules()
    result = run(project, server, "-n", "3", "--glm-concurrency", "8")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["requests: *; concurrency 8, final 8 *"])


def test_a_concurrency_below_the_workers_still_sends_everything_once(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/many.yaml", suite(6))
    server.rules = rules()
    run(project, server, "-n", "2", "--glm-concurrency", "1").assert_outcomes(passed=5, failed=1)
    assert len(server.suite_requests) == 6


def _same(data: Any) -> Any:
    """What may differ between two runs of the same work: ids, clocks, latencies."""
    if isinstance(data, dict):
        drop = {"run_id", "started", "finished", "latency_ms", "duration_s", "date", "wall_s"}
        drop |= {"elapsed_s", "created", "p50_latency_ms", "latency", "timestamp"}
        timed = ("_at", " ms", "_ms", "_s")
        return {k: _same(v) for k, v in data.items() if k not in drop and not k.endswith(timed)}
    if isinstance(data, list):
        return [_same(v) for v in data]
    return data


def _lines(path: Path) -> list[Any]:
    rows = [_same(json.loads(line)) for line in path.read_text().splitlines()]
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


def test_records_summary_items_and_baselines_are_those_of_one_process(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/many.yaml", suite())
    server.rules = rules()
    written = {}
    for label, extra in (("one", ("--glm-cache=off",)), ("xdist", ("--glm-cache=off", "-n", "2"))):
        base = project.path / "results" / "baselines"
        if base.exists():
            for file in base.glob("*.json"):
                file.unlink()
        run(project, server, "--glm-update-baselines", *extra).assert_outcomes(
            passed=CASES - 1, xfailed=1
        )
        baselines = {p.name: _same(json.loads(p.read_text())) for p in base.glob("*.json")}
        result = run(project, server, *extra)
        result.assert_outcomes(passed=CASES - 1, xfailed=1)
        run_dir = last_run(project.path)
        summary = _same(json.loads((run_dir / "summary.json").read_text()))
        summary.pop("requests", None)  # counted the same; timings inside differ
        written[label] = {
            "summary": summary,
            "items": _lines(run_dir / "items.jsonl"),
            "records": _lines(run_dir / "records.jsonl"),
            "baselines": baselines,
        }
    for part in ("summary", "items", "records", "baselines"):
        assert written["xdist"][part] == written["one"][part], part


def test_another_dist_mode_still_runs_every_item_once(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/many.yaml", suite(8))
    server.rules = rules()
    result = run(project, server, "-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=7, failed=1)
    assert len(server.suite_requests) == 8


def test_a_suite_that_fails_to_collect_stops_the_run_before_any_request(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/many.yaml", suite(6))
    write(project, "suites/broken.yaml", "name: broken\ncases: [{id: a, expect: [{nope: 1}]}]\n")
    server.rules = rules()
    result = run(project, server, "-n", "2")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # as without xdist
    result.stdout.fnmatch_lines(
        ["*suites/broken.yaml:2: cases[[]0[]]*", "*errors during collection*"]
    )
    assert server.suite_requests == []
    result = run(project, server, "-n", "2", "--continue-on-collection-errors")
    result.assert_outcomes(passed=5, failed=1, errors=1)
    assert len(server.suite_requests) == 6


def test_a_path_that_does_not_exist_is_named_as_without_xdist(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/many.yaml", suite(2))
    result = run(project, server, "-n", "2", "suites/nothere.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # xdist alone: "no tests ran", exit 5
    result.stderr.fnmatch_lines(["ERROR: file or directory not found: suites/nothere.yaml"])
    assert server.suite_requests == []
