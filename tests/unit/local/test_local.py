"""harness.local.server: cache paths, finding the binary and model, running a (fake) llama-server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.errors import ConfigError
from harness.local import server as local
from harness.local.server import LocalServer, cache_dir, find_binary, find_model

# A stand-in for llama-server: serves GET /health on --port, 503 ("loading") for a moment
# then 200. FAKE_MODE=exit fails at start-up, never stays 503, ignore-term ignores SIGTERM.
FAKE_SERVER = """\
import http.server, os, signal, sys, time

args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
mode = os.environ.get("FAKE_MODE", "ok")
print(f"fake pid {os.getpid()} args: {' '.join(args)}", flush=True)
if mode == "exit":
    print("error: failed to load model", flush=True)
    sys.exit(3)
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
started = time.monotonic()


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ready = mode != "never" and time.monotonic() - started > 0.3
        code = 200 if self.path == "/health" and ready else 503
        body = b'{"status":"ok"}' if code == 200 else b'{"error":{"message":"Loading model"}}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("GLM_HARNESS_CACHE", str(root))
    for var in ("GLM_LLAMA_SERVER", "GLM_LOCAL_MODEL", "FAKE_MODE"):
        monkeypatch.delenv(var, raising=False)
    return root


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A fake llama-server and model, pointed at by the env overrides."""
    binary = tmp_path / "llama-server"
    binary.write_text(f"#!{sys.executable}\n{FAKE_SERVER}")
    binary.chmod(0o755)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("GLM_LLAMA_SERVER", str(binary))
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(model))
    return binary, model


def fake_pid(log: Path) -> int:
    match = re.search(r"fake pid (\d+)", log.read_text())
    assert match, log.read_text()
    return int(match[1])


def gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (a zombie nobody reaped counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# --- paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("harness_cache", "xdg", "expected"),
    [
        ("/x/h", "/x/xdg", "/x/h"),
        ("", "/x/xdg", "/x/xdg/glm-harness"),
        (None, "/x/xdg", "/x/xdg/glm-harness"),
        (None, "", "/home/u/.cache/glm-harness"),
        (None, None, "/home/u/.cache/glm-harness"),
    ],
)
def test_cache_dir(
    monkeypatch: pytest.MonkeyPatch, harness_cache: str | None, xdg: str | None, expected: str
) -> None:
    monkeypatch.setenv("HOME", "/home/u")
    for var, value in (("GLM_HARNESS_CACHE", harness_cache), ("XDG_CACHE_HOME", xdg)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    assert cache_dir() == Path(expected)


def test_find_in_cache(cache: Path) -> None:
    assert find_binary() is None
    assert find_model() is None
    binary = cache / "bin" / "llama-server"
    model = cache / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    binary.parent.mkdir(parents=True)
    model.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    model.write_bytes(b"GGUF")
    assert find_binary() is None  # not executable
    binary.chmod(0o755)
    assert find_binary() == binary
    assert find_model() == model


def test_env_overrides_win(cache: Path, fake: tuple[Path, Path], tmp_path: Path) -> None:
    (cache / "bin").mkdir(parents=True)
    (cache / "bin" / "llama-server").write_text("")
    assert (find_binary(), find_model()) == fake


def test_env_override_to_missing_file_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_LLAMA_SERVER", "/nonexistent/llama-server")
    monkeypatch.setenv("GLM_LOCAL_MODEL", "/nonexistent/m.gguf")
    assert find_binary() is None
    assert find_model() is None


# --- missing pieces ---------------------------------------------------------------------


def test_missing_binary_tells_how_to_install(cache: Path) -> None:
    with pytest.raises(ConfigError, match="scripts/install-local-model") as info:
        LocalServer().start()
    assert str(cache / "bin" / "llama-server") in str(info.value)
    assert "make install-local" in str(info.value)


def test_missing_model_tells_how_to_install(
    fake: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLM_LOCAL_MODEL")
    with pytest.raises(ConfigError, match=r"no model file at .*SmolLM2.*install-local-model"):
        LocalServer().start()


def test_missing_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_LLAMA_SERVER", "/nonexistent/llama-server")
    with pytest.raises(ConfigError, match="GLM_LLAMA_SERVER=/nonexistent/llama-server"):
        LocalServer().start()


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(ConfigError, match="not started"):
        _ = LocalServer().url


def test_command_line() -> None:
    server = LocalServer(binary=Path("/b/llama-server"), model=Path("/m.gguf"), port=8123)
    cmd = server.command()
    assert cmd[0] == "/b/llama-server"
    assert cmd[cmd.index("--model") + 1] == "/m.gguf"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "8123"
    assert cmd[cmd.index("--alias") + 1] == "SmolLM2-135M-Instruct"
    assert "--jinja" in cmd


# --- running the fake server ------------------------------------------------------------


@pytest.mark.usefixtures("fake")
def test_start_waits_for_health_then_stop(cache: Path) -> None:
    server = LocalServer(extra_args=["--seed", "1"])
    assert server.start() is server
    assert server.start() is server  # already running: no second process
    pid = server.pid
    assert pid is not None
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(f"{server.url}/health", trust_env=False).status_code == 200
    log = cache / "logs" / f"llama-server-{server.port}.log"
    assert server.log_path == log
    assert "--seed 1" in log.read_text()
    server.stop()
    assert gone(pid)
    server.stop()  # idempotent
    with pytest.raises(ConfigError, match="not started"):
        _ = server.url


@pytest.mark.usefixtures("fake")
def test_context_manager(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with LocalServer(log_path=log) as server:
        pid = server.pid
        assert httpx.get(f"{server.url}/health", trust_env=False).status_code == 200
    assert pid is not None
    assert gone(pid)
    assert log.is_file()


@pytest.mark.usefixtures("fake")
def test_early_exit_raises_with_log_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "exit")
    with pytest.raises(ConfigError, match="exited with status 3") as info:
        LocalServer().start()
    assert "error: failed to load model" in str(info.value)


@pytest.mark.usefixtures("fake")
def test_never_healthy_times_out_and_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKE_MODE", "never")
    log = tmp_path / "server.log"
    with pytest.raises(ConfigError, match=r"not healthy after 0\.5 s"):
        LocalServer(log_path=log, health_timeout=0.5).start()
    assert gone(fake_pid(log))


@pytest.mark.usefixtures("fake")
def test_stop_kills_what_ignores_sigterm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKE_MODE", "ignore-term")
    monkeypatch.setattr(local, "STOP_TIMEOUT", 0.3)
    server = LocalServer().start()
    pid = server.pid
    assert pid is not None
    started = time.monotonic()
    server.stop()
    assert gone(pid, within=0.5)
    assert time.monotonic() - started < 5


@pytest.mark.usefixtures("fake")
def test_port_in_use() -> None:
    with LocalServer() as first, pytest.raises(ConfigError, match=f"port {first.port} .* in use"):
        LocalServer(port=first.port).start()


# --- no orphans -------------------------------------------------------------------------

PARENT = """\
import os, signal, sys
from harness.local.server import LocalServer
server = LocalServer().start()
print(server.pid, flush=True)
if sys.argv[1] == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.usefixtures("fake")
@pytest.mark.parametrize(
    "how",
    [
        "exit",  # normal exit without stop(): atexit stops it
        pytest.param(
            "sigkill",  # no atexit: PR_SET_PDEATHSIG stops it
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
        ),
    ],
)
def test_server_dies_with_its_parent(how: str) -> None:
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, how],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(local.__file__).parents[2])},
        check=False,
    )
    expected = -signal.SIGKILL if how == "sigkill" else 0
    assert parent.returncode == expected, parent.stderr
    assert gone(int(parent.stdout.split()[0]))
