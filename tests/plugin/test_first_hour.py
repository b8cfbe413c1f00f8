"""What a new user hit in the first hour (issue 14), end to end on real sockets: one plain
line for a stopped run, the exit code of a baseline update, JSON in the JUnit XML, the
mode of the files a run writes, and an option's value that must not move pytest's rootdir."""

from __future__ import annotations

import json
import os
import stat
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import fileio
from harness.settings.values import NO_ENDPOINT
from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

SUITE = """
    name: s
    prompt: "Say {{ word }}"
    apis: [chat]
    cases:
      - {id: good, vars: {word: good}, expect: [{contains: ok}]}
      - {id: bad, vars: {word: bad}, expect: [{contains: ok}]}
"""


@pytest.fixture
def suite(project: pytest.Pytester, server: ScriptedServer) -> pytest.Pytester:
    write(project, "suites/s.yaml", SUITE)
    server.rules = [Rule(match="good", answer="ok"), Rule(match="bad", answer="no")]
    return project


def run(project: pytest.Pytester, server: ScriptedServer, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "--glm-suite", f"--glm-base-url={server.url}", "-p", "no:cacheprovider", *args
    )


# --- item 13: a stopped run says one plain line ---------------------------------------------


def plain(result: pytest.RunResult, message: str) -> None:
    """The run said ``message`` on stderr as pytest's one ERROR line, and nothing of pytest's
    internals anywhere."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [f"ERROR: {message}"]
    out = result.stdout.str() + result.stderr.str()
    assert "_pytest" not in out
    assert "Traceback" not in out
    assert "!!" not in out


def test_no_endpoint_is_one_plain_line(project: pytest.Pytester) -> None:
    write(project, "suites/s.yaml", SUITE)
    plain(project.runpytest_subprocess("--glm-suite", "-p", "no:cacheprovider"), NO_ENDPOINT)


def test_a_local_server_that_cannot_start_is_one_plain_line(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write(project, "suites/s.yaml", SUITE)
    monkeypatch.setenv("GLM_LLAMA_SERVER", str(tmp_path / "nope"))
    result = project.runpytest_subprocess("--glm-suite", "--glm-local", "-p", "no:cacheprovider")
    plain(result, f"glm-harness --glm-local: GLM_LLAMA_SERVER={tmp_path / 'nope'}: "
                  "no such llama-server binary")  # fmt: skip


def test_an_unwritable_results_folder_is_one_plain_line(
    suite: pytest.Pytester, server: ScriptedServer
) -> None:
    (suite.path / "results").write_text("a file where the folder should be")
    result = suite.runpytest_subprocess("--glm-suite", f"--glm-base-url={server.url}")
    where = suite.path / "results" / "runs"
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    [line] = [line for line in result.stderr.lines if line]
    assert line.startswith(f"ERROR: glm-harness: cannot write to {where}")
    assert "_pytest" not in result.stdout.str() + result.stderr.str()
    assert server.suite_requests == []


# --- item 12: --glm-update-baselines exits as a clean run would ------------------------------


def test_updating_baselines_accepts_failures_and_exits_0_saying_what_it_wrote(
    suite: pytest.Pytester, server: ScriptedServer
) -> None:
    result = run(suite, server, "--glm-update-baselines", "-rx")
    result.assert_outcomes(passed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.re_match_lines([
        r"baselines: results/baselines/s.json: 2 created, 0 updated, 0 unchanged, 0 unused",
        r"XFAIL suites/s.yaml::bad\[chat-default\] - written as its baseline: fail "
        r"\(a known failure from now on\)",
    ])  # fmt: skip
    again = run(suite, server)  # the failure is known now
    again.assert_outcomes(passed=1, xfailed=1)
    assert again.ret == pytest.ExitCode.OK


def test_updating_baselines_with_api_errors_still_says_so(
    suite: pytest.Pytester, server: ScriptedServer
) -> None:
    server.rules = [Rule(match="good", answer="ok"), Rule(match="bad", status=400)]
    result = run(suite, server, "--glm-update-baselines", "--glm-retries=0")
    assert result.ret == 6  # an API error is never written as a baseline
    result.stdout.re_match_lines([r"baselines: results/baselines/s.json: 1 created, .*"])


# --- item 11: the JUnit XML's glm property is JSON --------------------------------------------


def junit_glm(path: Path) -> dict[str, dict[str, object]]:
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        for prop in case.iter("property"):
            if prop.get("name") == "glm":
                data = json.loads(prop.get("value", ""))
                found[str(data["case"])] = data
    return found


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_the_junit_glm_property_is_json(
    suite: pytest.Pytester, server: ScriptedServer, workers: list[str]
) -> None:
    result = run(suite, server, "--junitxml=j.xml", *workers)
    result.assert_outcomes(passed=1, failed=1)
    found = junit_glm(suite.path / "j.xml")
    assert sorted(found) == ["bad", "good"]
    assert found["bad"]["outcome"] == "fail"
    assert found["good"]["suite"] == "s"
    result.stdout.re_match_lines([r"items: 1 pass, 1 fail, 0 truncated, 0 error"])
    update = run(suite, server, "--junitxml=u.xml", "--glm-update-baselines", *workers)
    assert update.ret == 0
    assert sorted(junit_glm(suite.path / "u.xml")) == ["bad", "good"]
    baseline = json.loads((suite.path / "results" / "baselines" / "s.json").read_text())
    assert sorted(baseline["entries"]) == ["bad[chat-default]", "good[chat-default]"]


# --- item 10: the files a run writes honour the umask -----------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    fileio.process_umask.cache_clear()
    yield
    os.umask(before)
    fileio.process_umask.cache_clear()


@pytest.mark.usefixtures("umask_022")
def test_what_a_run_writes_is_readable_by_others_under_umask_022(
    suite: pytest.Pytester, server: ScriptedServer
) -> None:
    from harness.cli import main

    run(suite, server, "--glm-update-baselines", "--glm-report=r.md")
    [run_dir] = (suite.path / "results" / "runs").iterdir()
    assert main(["report", str(run_dir), "--html", str(suite.path / "r.html")]) == 0
    written = [
        suite.path / "results" / "baselines" / "s.json",
        run_dir / "summary.json",
        run_dir / "records.jsonl",
        suite.path / "r.md",
        suite.path / "r.html",
    ]
    modes = {p.name: stat.filemode(p.stat().st_mode) for p in written}
    assert modes == dict.fromkeys(modes, "-rw-r--r--")


# --- item 2: an option's value naming a path elsewhere does not move the rootdir --------------


@pytest.mark.parametrize("option", ["--glm-results", "--glm-report"])
@pytest.mark.parametrize("form", ["space", "equals"])
def test_a_path_outside_the_project_in_either_form_keeps_the_rootdir(
    project: pytest.Pytester,
    server: ScriptedServer,
    tmp_path_factory: pytest.TempPathFactory,
    option: str,
    form: str,
) -> None:
    write(project, "suites/s.yaml", SUITE)
    server.rules = [Rule(match="Say", answer="ok")]
    project.makeini(f"[pytest]\nglm_base_url = {server.url}\n")  # lost with the ini
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    value = str(elsewhere / ("out" if option == "--glm-results" else "report.md"))
    given = [option, value] if form == "space" else [f"{option}={value}"]
    for _ in range(2):  # the second run finds the path there: it must not change a thing
        result = project.runpytest_subprocess("--glm-suite", "-p", "no:cacheprovider", *given)
        assert result.ret == 0, result.stdout.str() + result.stderr.str()
        result.stdout.re_match_lines([rf"rootdir: {project.path}", r".*2 passed.*"])
    assert Path(value).exists()
    if option == "--glm-results":
        assert len(list((elsewhere / "out" / "runs").iterdir())) == 2


def test_in_process_a_moved_rootdir_is_one_plain_line_naming_the_cure(
    project: pytest.Pytester, server: ScriptedServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """pytest.main() in a process of its own cannot be started again: it says how."""
    write(project, "suites/s.yaml", SUITE)
    project.makeini(f"[pytest]\nglm_base_url = {server.url}\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = project.runpytest_inprocess(
        "--glm-suite",
        "--glm-results",
        str(elsewhere),
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    )
    plain(result, f"glm-harness: pytest chose its rootdir before it knew that --glm-results "
                  f"takes a value, and took {elsewhere} for a test path; write "
                  f"--glm-results={elsewhere}")  # fmt: skip
    assert server.suite_requests == []
    assert sys.argv  # (the outer run's own arguments were not touched)


# --- item 3: -n 2 with --glm-local: one server for the run, named everywhere -----------------

COUNTED_LLAMA = """\
import os, sys, threading
sys.path.insert(0, {root!r})
from tests.server.app import Rule, ScriptedServer
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
with open({starts!r}, "a") as log:
    log.write(f"{{os.getpid()}} {{port}}\\n")
with ScriptedServer([Rule(match="", answer="ok")], port=port):
    threading.Event().wait()
"""


def test_xdist_workers_share_the_one_local_server_the_controller_started(
    project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    root = Path(__file__).resolve().parents[2]
    starts = tmp_path / "starts.log"
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!{sys.executable}\n"
                      + COUNTED_LLAMA.format(root=str(root), starts=str(starts)))  # fmt: skip
    binary.chmod(0o755)
    model = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    model.write_bytes(b"GGUF weights " * 100)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    monkeypatch.setenv("GLM_LLAMA_SERVER", str(binary))
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(model))
    monkeypatch.setenv("GLM_HARNESS_CACHE", str(tmp_path / "harness-cache"))
    write(project, "suites/s.yaml", SUITE)
    result = project.runpytest("--glm-suite", "--glm-local", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    [(pid, port)] = [line.split() for line in starts.read_text().splitlines()]
    url = f"http://127.0.0.1:{port}"
    result.stdout.re_match_lines([
        rf"endpoint: {url} \(local llama-server\)  model: SmolLM2-135M-Instruct "
        rf"\(file {model.name}, sha256:{digest[:12]}\)",
    ])  # fmt: skip
    [path] = (project.path / "results" / "runs").glob("*/summary.json")
    data = json.loads(path.read_text())
    assert (data["endpoint"], data["model"]) == (url, "SmolLM2-135M-Instruct")
    assert (data["model_file"], data["model_sha256"]) == (str(model), digest)
    assert data["requests"]["sent"] == 2
    records = [
        json.loads(line) for line in (path.parent / "records.jsonl").read_text().splitlines()
    ]
    assert len(records) == 2
    with pytest.raises(ProcessLookupError):  # stopped with the run
        os.kill(int(pid), 0)
