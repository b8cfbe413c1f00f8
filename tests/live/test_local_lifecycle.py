"""--glm-local stops its llama-server when the run ends, also on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

SLOW_SUITE = """
prompt: "Write a very long story about a dragon who learns to count. Use at least 2000 words."
apis: [chat]
params: {max_output_tokens: 2000, temperature: 0.8}
samples: 8
cases: [{id: story}]
"""


def children_named(parent: int, name: str) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(parent) and fields.get(
            "Name", ""
        ).strip().startswith(name):
            found.append(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state  # a zombie has exited; nobody reaped it yet


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, None], ids=["ctrl-c", "normal-end"])
def test_the_local_server_stops_with_the_run(
    tmp_path: Path, local_paths: tuple[Path, Path], sig: signal.Signals | None
) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "evals").mkdir()
    suite = (
        SLOW_SUITE if sig else SLOW_SUITE.replace("2000", "8").replace("samples: 8", "samples: 1")
    )
    (tmp_path / "suites" / "slow.yaml").write_text(textwrap.dedent(suite))
    env = {
        **os.environ,
        "GLM_LLAMA_SERVER": str(local_paths[0]),
        "GLM_LOCAL_MODEL": str(local_paths[1]),
    }
    env.pop("GLM_BASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--glm-suite", "--glm-local", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        servers: list[int] = []
        assert wait_for(
            lambda: servers.extend(children_named(proc.pid, "llama-server")) or servers, 60
        )
        if sig is not None:
            time.sleep(2)  # requests in flight
            proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    text = out.decode(errors="replace")
    assert wait_for(lambda: not alive(servers[0]), 15), text
    if sig is not None:
        assert "KeyboardInterrupt" in text
        assert proc.returncode == pytest.ExitCode.INTERRUPTED
    else:
        assert proc.returncode in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), text
