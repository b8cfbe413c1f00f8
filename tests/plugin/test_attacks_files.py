"""Attacks on what a run keeps and what it replays (issue 12, items 5, 13, 14, 15), on real
sockets: the scripted server, real pytest processes, real files.

- stale answers: another deployment header, endpoint, body field or local model file
  never gets the cached answers of the first, nor is judged against its baselines;
- a full disk: records are whole lines or nothing, the loss is said, the run goes on;
  readers skip a torn last line; summary.json that cannot be written is one line;
- two baseline updates at once both land; Ctrl-C in the write phase lands all or none;
- an unusable results folder stops the run before the first request.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from tests.plugin.conftest import write
from tests.server.app import Rule, ScriptedServer

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
    name: dep
    prompt: "Say {{ word }}"
    apis: [chat]
    cases:
      - {id: one, vars: {word: one}, expect: [{contains: ok}]}
      - {id: two, vars: {word: two}, expect: [{contains: ok}]}
"""


def run(project: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return project.runpytest("--glm-suite", f"--glm-base-url={url}", "-p", "no:cacheprovider",
                             *args)  # fmt: skip


def headers_ini(project: pytest.Pytester, *lines: str) -> None:
    body = "".join(f"\n    {line}" for line in lines)
    project.makeini(f"[pytest]\nglm_headers ={body}\n")


def summary(root: Path) -> dict[str, object]:
    [path] = sorted((root / "results" / "runs").glob("*/summary.json"), key=os.path.getmtime)[-1:]
    data: dict[str, object] = json.loads(path.read_text())
    return data


# --- item 5: the cache key covers everything that decides an answer ------------------------


def test_another_deployment_endpoint_or_body_field_is_never_served_from_the_cache(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/dep.yaml", SUITE)
    server.rules = [Rule(match="Say", answer="ok")]
    sent = [0]

    def new_requests() -> int:
        count, sent[0] = len(server.suite_requests) - sent[0], len(server.suite_requests)
        return count

    headers_ini(project, "azureml-model-deployment: blue", "api-key: sk-rotating-1111")
    run(project, server.url).assert_outcomes(passed=2)
    assert new_requests() == 2
    assert {r.headers["azureml-model-deployment"] for r in server.suite_requests} == {"blue"}
    result = run(project, server.url)  # the very same request: replayed
    result.assert_outcomes(passed=2)
    assert new_requests() == 0
    result.stdout.re_match_lines([r"requests: 2 samples, 2 from cache, 0 sent .*"])

    # the attack: the same prompt to the green deployment must reach green
    headers_ini(project, "azureml-model-deployment: green", "api-key: sk-rotating-1111")
    result = run(project, server.url)
    result.assert_outcomes(passed=2)
    assert new_requests() == 2
    assert server.suite_requests[-1].headers["azureml-model-deployment"] == "green"
    result.stdout.re_match_lines([r"requests: 2 samples, 0 from cache, 2 sent .*"])

    # a rotated credential is not a new answer (and is not in the key, not even hashed)
    headers_ini(project, "azureml-model-deployment: green", "api-key: sk-rotating-2222")
    run(project, server.url).assert_outcomes(passed=2)
    assert new_requests() == 0
    cached = b"".join(p.read_bytes() for p in (project.path / "results").rglob("*.json"))
    assert b"sk-rotating" not in cached

    # another body field (the model), another endpoint: asked again
    run(project, server.url, "--glm-model=other-model").assert_outcomes(passed=2)
    assert new_requests() == 2
    assert server.suite_requests[-1].body["model"] == "other-model"
    with ScriptedServer([Rule(match="Say", answer="ok")]) as elsewhere:
        run(project, elsewhere.url).assert_outcomes(passed=2)
        assert len(elsewhere.suite_requests) == 2
    assert new_requests() == 0


FAKE_LLAMA = """\
import sys, threading
sys.path.insert(0, {root!r})
from tests.server.app import Rule, ScriptedServer
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
with ScriptedServer([Rule(match="", answer="ok")], port=port):
    threading.Event().wait()
"""


@pytest.fixture
def fake_llama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in llama-server (the scripted server on --port) and a model file."""
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!{sys.executable}\n" + FAKE_LLAMA.format(root=str(ROOT)))
    binary.chmod(0o755)
    model = tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF weights of model A " * 100)
    monkeypatch.setenv("GLM_LLAMA_SERVER", str(binary))
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(model))
    monkeypatch.setenv("GLM_HARNESS_CACHE", str(tmp_path / "harness-cache"))
    return model


def test_another_local_model_file_is_neither_replayed_nor_judged_by_the_first(
    project: pytest.Pytester, fake_llama: Path
) -> None:
    write(project, "suites/dep.yaml", SUITE)
    digest_a = hashlib.sha256(fake_llama.read_bytes()).hexdigest()
    result = project.runpytest("--glm-suite", "--glm-local", "-p", "no:cacheprovider",
                               "--glm-update-baselines")  # fmt: skip
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([
        rf"endpoint: http://127.0.0.1:\d+ \(local llama-server\)  model: SmolLM2-135M-Instruct "
        rf"\(file SmolLM2-135M-Instruct.Q4_1.gguf, sha256:{digest_a[:12]}\)",
    ])  # fmt: skip
    baseline = json.loads((project.path / "results" / "baselines" / "dep.json").read_text())
    assert {e["model_sha256"] for e in baseline["entries"].values()} == {digest_a}
    assert (project.path / "harness-cache").exists() is False  # memo lives in GLM_HARNESS_CACHE
    result = project.runpytest("--glm-suite", "--glm-local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert summary(project.path)["requests"]["cached"] == 2  # type: ignore[index]

    # the attack: other weights in the same file name, same size, same mtime
    stat = fake_llama.stat()
    fake_llama.write_bytes(b"GGUF weights of model B " * 100)
    os.utime(fake_llama, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    digest_b = hashlib.sha256(fake_llama.read_bytes()).hexdigest()
    result = project.runpytest("--glm-suite", "--glm-local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    data = summary(project.path)
    assert data["requests"]["cached"] == 0  # type: ignore[index]
    assert data["requests"]["sent"] == 2  # type: ignore[index]
    assert data["model_sha256"] == digest_b
    assert data["changes"] == {"new": 2}  # not compared with model A's baseline
    result.stdout.re_match_lines([
        rf".*model: SmolLM2-135M-Instruct \(file .*, sha256:{digest_b[:12]}\)",
        rf"baselines: 2 items judged as new: its baseline is for model file "
        rf"sha256:{digest_a[:12]}",
    ])  # fmt: skip


# --- item 13: a full disk -------------------------------------------------------------------

MANY = "\n".join(f"  - {{id: c{n}, vars: {{n: {n}}}}}" for n in range(12))
MANY_SUITE = (
    f'prompt: "Count {{{{ n }}}}"\napis: [chat]\nexpect: [{{contains: ok}}]\ncases:\n{MANY}\n'
)


def env_without_glm() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GLM_")}


def run_with_file_limit(
    root: Path, url: str, limit: int, *extra: str
) -> subprocess.CompletedProcess[str]:
    """A real run in which no file may grow past ``limit`` bytes: writes past it fail with
    EFBIG, as on a full disk (SIGXFSZ ignored, as a process that handles it would)."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "pytest", "--glm-suite", f"--glm-base-url={url}",
         "--glm-cache=off", "-p", "no:cacheprovider", *extra],
        cwd=root, env=env_without_glm(), capture_output=True, text=True, timeout=120,
        preexec_fn=limit_files,
    )  # fmt: skip


@pytest.fixture
def many(tmp_path: Path, server: ScriptedServer) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "evals").mkdir()
    (tmp_path / "suites" / "many.yaml").write_text(MANY_SUITE)
    server.rules = [Rule(match="Count", answer="ok")]
    return tmp_path


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_a_full_disk_keeps_whole_records_says_what_was_lost_and_the_run_goes_on(
    many: Path, server: ScriptedServer, workers: tuple[str, ...]
) -> None:
    done = run_with_file_limit(many, server.url, 3000, *workers)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out  # every verdict stands
    assert "Traceback" not in out
    assert re.search(r"12 passed", out)
    lost = re.search(
        r"WARNING records: (\d+) records not written \(File too large\); records.jsonl holds "
        r"whole lines only",
        out,
    )
    assert lost, out
    [run_dir] = list((many / "results" / "runs").iterdir())
    text = (run_dir / "records.jsonl").read_text()
    assert text.endswith("\n")
    kept = [json.loads(line) for line in text.splitlines()]  # every line is whole JSON
    assert len(kept) + int(lost[1]) == 12
    assert len(kept) >= 1
    data = json.loads((run_dir / "summary.json").read_text())
    assert data["records_lost"] == int(lost[1])
    assert data["records_lost_reason"] == "File too large"
    assert data["items"]["pass"] == 12
    compared = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(run_dir), "--html",
         str(many / "r.html")],
        capture_output=True, text=True, env=env_without_glm(), timeout=60,
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr  # the run is readable


def test_a_summary_that_cannot_be_written_is_one_line_not_a_traceback(
    many: Path, server: ScriptedServer
) -> None:
    done = run_with_file_limit(many, server.url, 400)  # not even one record, nor the summary
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out
    assert "12 passed" in out
    [run_dir] = list((many / "results" / "runs").iterdir())
    assert re.search(rf"WARNING {re.escape(str(run_dir))}/summary.json: not written "
                     r"\(File too large\)\n", out), out  # fmt: skip
    assert "WARNING records: 12 records not written (File too large)" in out
    assert (run_dir / "records.jsonl").read_bytes() == b""
    assert not list(run_dir.glob("*.tmp"))


def test_compare_and_report_skip_a_torn_last_line_and_say_so(
    project: pytest.Pytester, server: ScriptedServer
) -> None:
    write(project, "suites/dep.yaml", SUITE)
    server.rules = [Rule(match="Say", answer="ok")]
    run(project, server.url, "--glm-effort=low,high").assert_outcomes(passed=4)
    [records] = list((project.path / "results" / "runs").glob("*/records.jsonl"))
    whole = records.read_text()
    records.write_text(whole + whole.splitlines()[0][:57])  # a line cut by a full disk
    for command in (["compare", str(records)], ["report", str(records), "--html", "r.html"]):
        done = subprocess.run([sys.executable, "-m", "harness.cli", *command],
                              cwd=project.path, capture_output=True, text=True, timeout=60,
                              env=env_without_glm())  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stderr == f"{records}: last line is incomplete (57 bytes), skipped\n"
    # a line broken in the middle is not a torn end: an error naming the line
    lines = whole.splitlines()
    records.write_text("\n".join([lines[0], lines[1][:40], *lines[2:]]) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "compare", str(records)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_without_glm(),
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"glm-harness compare: {records}:2: not a run record")


# --- item 14: baseline updates ----------------------------------------------------------------


def two_api_suites(root: Path, count: int) -> None:
    (root / "suites").mkdir(exist_ok=True)
    (root / "evals").mkdir(exist_ok=True)
    for n in range(count):
        (root / "suites" / f"s{n:02d}.yaml").write_text(
            f'prompt: "Count {n}"\napis: [chat, responses]\nexpect: [{{contains: ok}}]\n'
            "cases:\n  - {id: a}\n  - {id: b}\n"
        )


def start(root: Path, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--glm-suite", f"--glm-base-url={url}", "--glm-cache=off",
         "-p", "no:cacheprovider", "--glm-update-baselines", *args],
        cwd=root, env=env_without_glm(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def entries(root: Path) -> dict[str, dict[str, dict[str, object]]]:
    folder = root / "results" / "baselines"
    return {p.stem: json.loads(p.read_text())["entries"] for p in sorted(folder.glob("*.json"))}


@pytest.mark.parametrize(("together", "attempt"), [(True, 1), (True, 2), (False, 1)])
def test_two_baseline_updates_at_once_both_land(
    tmp_path: Path, server: ScriptedServer, together: bool, attempt: int
) -> None:
    """``-k chat`` and ``-k responses`` updating the same 20 files at once. ``together``:
    the test holds the lock until both writers wait for it, so they start writing at the
    same instant (without the lock, or without re-reading under it, half the entries go)."""
    two_api_suites(tmp_path, 20)
    server.rules = [Rule(match="Count", answer="ok", delay=0.05)]
    with holding(tmp_path / "results" / "baselines" / ".lock") if together else nullcontext():
        chat = start(tmp_path, server.url, "-k", "chat")
        responses = start(tmp_path, server.url, "-k", "responses")
        if together:
            blocked = [waits_for_lock(p.pid) for p in (chat, responses)]
            if not all(blocked):
                chat.kill()
                responses.kill()
    outs = [p.communicate(timeout=120)[0] for p in (chat, responses)]
    assert not together or all(blocked), outs
    assert [chat.returncode, responses.returncode] == [0, 0], outs
    for out in outs:  # each says what it did, and it is true
        assert len(re.findall(r"s\d\d.json: 2 created, 0 updated", out)) == 20, out
    found = entries(tmp_path)
    assert len(found) == 20
    for suite, got in found.items():
        assert sorted(got) == [
            f"{c}[{api}-default]" for c in "ab" for api in ("chat", "responses")
        ], suite
    assert [p.name for p in (tmp_path / "results" / "baselines").glob(".*")] == [".lock"]


@contextlib.contextmanager
def holding(lock: Path) -> Iterator[None]:
    """The baselines lock, held by the test (as a slow concurrent update would)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def waits_for_lock(pid: int, within: float = 60.0) -> bool:
    """True once ``pid`` is blocked in flock (a ``->`` line of /proc/locks)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if re.search(rf"-> FLOCK\s+ADVISORY\s+WRITE\s+{pid}\b", Path("/proc/locks").read_text()):
            return True
        time.sleep(0.02)
    return False


def outcomes(root: Path) -> set[str]:
    """Each baseline entry's outcome, over every file."""
    return {str(e["outcome"]) for suite in entries(root).values() for e in suite.values()}


SUITES = 40


@pytest.fixture
def baselined(tmp_path: Path, server: ScriptedServer) -> Path:
    """SUITES suites with passing baselines; the model now fails them all."""
    two_api_suites(tmp_path, SUITES)
    server.rules = [Rule(match="Count", answer="ok")]
    first = start(tmp_path, server.url)
    out = first.communicate(timeout=120)[0]
    assert first.returncode == 0, out
    assert outcomes(tmp_path) == {"pass"}
    server.rules = [Rule(match="Count", answer="no")]
    return tmp_path


def test_ctrl_c_while_waiting_for_the_baseline_lock_writes_nothing(
    baselined: Path, server: ScriptedServer
) -> None:
    before = entries(baselined)
    with holding(baselined / "results" / "baselines" / ".lock"):
        proc = start(baselined, server.url)
        try:
            assert waits_for_lock(proc.pid)  # every answer is in; the writer waits
            proc.send_signal(signal.SIGINT)
            out = proc.communicate(timeout=60)[0]
        finally:
            proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "baselines: interrupted before any file was replaced; nothing written" in out
    assert "Traceback" not in out
    assert entries(baselined) == before
    assert summary(baselined)["interrupted"] is True
    left = [p.name for p in (baselined / "results" / "baselines").glob(".*")]
    assert left == [".lock"]  # no temporary file, no old version left behind


@pytest.mark.parametrize(
    ("phase", "delay"),
    [*(("temp files", d) for d in (0.0, 0.005, 0.01, 0.02, 0.03)), ("renames", 0.0)],
)
def test_ctrl_c_during_the_baseline_write_lands_all_files_or_none(
    baselined: Path, server: ScriptedServer, phase: str, delay: float
) -> None:
    """SIGINT once the first temporary file appears (and a little later), or once the
    first old version is kept aside (the renames begin): all files updated, or none."""
    pattern = ".*.tmp" if phase == "temp files" else ".*.old"
    folder = baselined / "results" / "baselines"
    with holding(folder / ".lock"):
        proc = start(baselined, server.url)
        try:
            assert waits_for_lock(proc.pid)
        except BaseException:
            proc.kill()
            raise
    try:  # the lock is free: the writer reads, merges and writes its files now
        deadline = time.monotonic() + 30
        while not list(folder.glob(pattern)) and time.monotonic() < deadline:
            pass  # the phase has begun
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    found = outcomes(baselined)
    assert found in ({"pass"}, {"fail"}), (found, out)  # all of the update, or none of it
    assert len(entries(baselined)) == SUITES
    if found == {"pass"}:
        assert "baselines: interrupted before any file was replaced; nothing written" in out
    elif proc.returncode == pytest.ExitCode.INTERRUPTED and "Traceback" not in out:
        # in the window, not after it (pytest's own output then; or, once the run had
        # ended, nothing: it exits as it would have)
        assert (
            "baselines: interrupted while the files were replaced; all of them were written" in out
        )
    assert [p.name for p in folder.glob(".*")] == [".lock"]


# --- item 15: an unusable results folder ------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "args", "folder", "why"),
    [
        pytest.param("results", (), "results/runs/", "results is a file", id="results-is-a-file"),
        pytest.param("elsewhere", ("--glm-results=elsewhere/results",), "elsewhere/results/runs/",
                     "elsewhere is a file", id="results-under-a-file"),
        pytest.param("results/.cache", (), "results/.cache", "results/.cache is a file",
                     id="cache-is-a-file"),
        pytest.param("results/baselines", ("--glm-update-baselines",), "results/baselines",
                     "results/baselines is a file", id="baselines-is-a-file"),
    ],
)  # fmt: skip
def test_an_unwritable_results_folder_stops_the_run_before_any_request(
    project: pytest.Pytester,
    server: ScriptedServer,
    setup: str,
    args: tuple[str, ...],
    folder: str,
    why: str,
) -> None:
    write(project, "suites/dep.yaml", SUITE)
    server.rules = [Rule(match="Say", answer="ok")]
    blocker = project.path / setup
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where a folder should be")
    result = run(project, server.url, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in out
    [line] = [line for line in out.splitlines() if "cannot write to" in line]
    assert f"glm-harness: cannot write to {project.path / folder}" in line
    assert f"({project.path / why}, not a folder); nothing was sent" in line
    assert server.suite_requests == []  # not one request left
    runs = project.path / "results" / "runs"
    assert not runs.is_dir() or list(runs.iterdir()) == []
