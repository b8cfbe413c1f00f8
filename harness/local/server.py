"""Find and run the local model server: llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct.

``scripts/install-local-model`` builds the binary and copies the model into the cache;
this module finds them there (or where ``GLM_LLAMA_SERVER`` / ``GLM_LOCAL_MODEL`` point)
and runs the server on a free loopback port::

    with LocalServer() as server:
        client = Client(base_url=server.url, ...)

The server serves ``/v1/chat/completions`` and ``/v1/responses``. It is stopped by
``stop()``, on interpreter exit (atexit), and, on Linux, by the kernel when the process
that started it dies (``PR_SET_PDEATHSIG``), so a killed test run leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from harness.errors import ConfigError

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "SmolLM2-135M-Instruct"  # the "model" the server reports instead of its path
INSTALL_HINT = "run scripts/install-local-model (or make install-local)"
BINARY_ENV = "GLM_LLAMA_SERVER"
MODEL_ENV = "GLM_LOCAL_MODEL"

HEALTH_TIMEOUT = 120.0  # seconds from launch until GET /health answers 200
HEALTH_POLL = 0.1  # seconds between health probes
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL_LINES = 30

# Defaults sized for the 2-core machines: 4 slots share a 8192-token context (2048 each).
CTX_SIZE = 8192
PARALLEL = 4
THREADS = 2

_PR_SET_PDEATHSIG = 1


def cache_dir() -> Path:
    """The install script's cache: ``$GLM_HARNESS_CACHE``, else ``$XDG_CACHE_HOME/glm-harness``,
    else ``~/.cache/glm-harness``. Empty variables count as unset, as in the script."""
    explicit = os.environ.get("GLM_HARNESS_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "glm-harness"


def _default_binary() -> Path:
    return cache_dir() / "bin" / "llama-server"


def _default_model() -> Path:
    return cache_dir() / "models" / MODEL_FILE


def _find(env: str, default: Path) -> Path | None:
    explicit = os.environ.get(env)
    path = Path(explicit) if explicit else default
    return path if path.is_file() else None


def find_binary() -> Path | None:
    """``$GLM_LLAMA_SERVER`` if set, else ``<cache>/bin/llama-server``; None when not there."""
    path = _find(BINARY_ENV, _default_binary())
    return path if path is not None and os.access(path, os.X_OK) else None


def find_model() -> Path | None:
    """``$GLM_LOCAL_MODEL`` if set, else ``<cache>/models/<MODEL_FILE>``; None when not there."""
    return _find(MODEL_ENV, _default_model())


def _missing(what: str, env: str, default: Path) -> ConfigError:
    explicit = os.environ.get(env)
    if explicit:
        return ConfigError(f"{env}={explicit}: no such {what}")
    return ConfigError(f"local model server: no {what} at {default}; {INSTALL_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when its parent dies, else None."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent may have died between fork and prctl: then no signal would come.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ("" when it cannot be read)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip()
    except OSError:
        return ""


class LocalServer:
    """One ``llama-server`` process on 127.0.0.1; a context manager.

    ``url`` is the base URL (``http://127.0.0.1:PORT``; the OpenAI API is under ``/v1``).
    Output goes to ``log_path`` (default ``<cache>/logs/llama-server-PORT.log``).
    Start it from the main thread: Linux's parent-death signal follows the starting thread.
    """

    def __init__(
        self,
        *,
        binary: Path | None = None,
        model: Path | None = None,
        port: int | None = None,
        ctx_size: int = CTX_SIZE,
        parallel: int = PARALLEL,
        threads: int = THREADS,
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
        health_timeout: float = HEALTH_TIMEOUT,
    ) -> None:
        self.binary = binary
        self.model = model
        self.port = port
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.threads = threads
        self.extra_args = tuple(extra_args)
        self.log_path = log_path
        self.health_timeout = health_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        if self._proc is None or self.port is None:
            raise ConfigError("local model server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        """The command line ``start()`` runs (binary, model and port must be resolved)."""
        if self.binary is None or self.model is None or self.port is None:
            raise ConfigError("local model server: binary, model and port must be set")
        return [
            str(self.binary),
            "--model", str(self.model),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--ctx-size", str(self.ctx_size),
            "--parallel", str(self.parallel),
            "--threads", str(self.threads),
            "--alias", MODEL_ALIAS,
            "--jinja",  # the model's own chat template (the default in recent builds)
            "--no-webui",
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> LocalServer:
        """Launch the server and wait until ``GET /health`` answers 200.

        Raises ConfigError when the binary or model is missing, when the process exits
        before it is healthy (with its log's tail) or when it is not healthy in time.
        """
        if self._proc is not None:
            return self
        if self.binary is None:
            self.binary = find_binary()
            if self.binary is None:
                raise _missing("llama-server binary", BINARY_ENV, _default_binary())
        if self.model is None:
            self.model = find_model()
            if self.model is None:
                raise _missing("model file", MODEL_ENV, _default_model())
        if self.port is None:
            self.port = free_port()
        elif not _port_free(self.port):
            # Checked up front: the health probe would otherwise get 200 from the squatter.
            raise ConfigError(f"local model server: port {self.port} on 127.0.0.1 is in use")
        if self.log_path is None:
            self.log_path = cache_dir() / "logs" / f"llama-server-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

        try:
            with self.log_path.open("wb") as log:
                self._proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches us, not it; stop() kills the group
                    preexec_fn=_die_with_parent(),
                )
        except OSError as exc:
            raise ConfigError(f"local model server: cannot run {self.binary}: {exc}") from None
        atexit.register(self.stop)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        assert self.log_path is not None
        deadline = time.monotonic() + self.health_timeout
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise ConfigError(
                        f"local model server exited with status {code} before it was ready; "
                        f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/health").status_code == 200:
                        return
                if time.monotonic() >= deadline:
                    raise ConfigError(
                        f"local model server not healthy after {self.health_timeout:g} s; "
                        f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                    )
                time.sleep(HEALTH_POLL)

    def wait(self, timeout: float | None = None) -> int:
        """Block until the server exits; its exit status."""
        if self._proc is None:
            raise ConfigError("local model server is not started")
        return self._proc.wait(timeout)

    def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after STOP_TIMEOUT s."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The child leads its own session, so its group id is its pid.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    *,
    port: int | None = None,
    binary: Path | None = None,
    model: Path | None = None,
    extra_args: Sequence[str] = (),
) -> LocalServer:
    """Start a server for ``glm-harness local`` and return it once healthy.

    The caller shows ``server.url``, then ``server.wait()``s and ``server.stop()``s in a
    ``finally`` (Ctrl-C raises KeyboardInterrupt in the caller, not in the server).
    """
    return LocalServer(port=port, binary=binary, model=model, extra_args=extra_args).start()
