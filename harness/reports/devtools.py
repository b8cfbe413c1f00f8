"""Headless Chromium driven over the DevTools protocol, to use a page as a person would:
open it, click, read what is shown and where, take a screenshot of a part of it.

Chromium is started with :data:`harness.reports.browser.FLAGS` (no network, a fresh
profile) and ``--remote-debugging-pipe``: commands go in on its file descriptor 3 and
answers come out on 4, JSON messages ended by a NUL byte, so no port is opened. One
:class:`Session` drives one tab; every wait has a deadline, after which the browser's
process group is killed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import BrowserError
from harness.reports.browser import FLAGS, TIMEOUT


class Session:
    """A headless Chromium and one of its tabs (``with Session(binary) as tab: ...``)."""

    def __init__(
        self, binary: str, window: tuple[int, int] = (1200, 900), timeout: float = TIMEOUT
    ) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="glm-chromium-")
        self._ids = 0
        self._buffer = b""
        theirs_in, self._to = os.pipe()  # we write commands, Chromium reads them on fd 3
        self._from, theirs_out = os.pipe()  # Chromium writes answers on fd 4

        def pipes() -> None:  # in the child: its ends at 3 and 4, inheritable
            low_in = fcntl.fcntl(theirs_in, fcntl.F_DUPFD, 10)
            low_out = fcntl.fcntl(theirs_out, fcntl.F_DUPFD, 10)
            os.dup2(low_in, 3)
            os.dup2(low_out, 4)

        size = f"--window-size={window[0]},{window[1]}"
        command = [binary, *FLAGS, f"--user-data-dir={self._profile.name}", size]
        command += ["--remote-debugging-pipe", "--hide-scrollbars", "about:blank"]
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=False,
                preexec_fn=pipes,  # dup2 only, before exec
            )  # fmt: skip
        except OSError as exc:
            self._profile.cleanup()
            raise BrowserError(f"cannot run {binary}: {exc}") from None
        finally:
            os.close(theirs_in)
            os.close(theirs_out)
        try:
            targets = self._call("Target.getTargets")["targetInfos"]
            page = next(t["targetId"] for t in targets if t.get("type") == "page")
            attached = self._call("Target.attachToTarget", targetId=page, flatten=True)
            self._session: str | None = attached["sessionId"]
            self._call("Page.enable")
            self._call(
                "Emulation.setDeviceMetricsOverride",
                width=window[0], height=window[1], deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, method: str, params: dict[str, Any]) -> int:
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params}
        if getattr(self, "_session", None) and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        try:
            os.write(self._to, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"Chromium stopped listening: {exc}") from None
        return self._ids

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([self._from], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                self.close()
                raise BrowserError(f"Chromium did not answer within {self.timeout:g} s")
            chunk = os.read(self._from, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        found: dict[str, Any] = json.loads(message)
        return found

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = self._send(method, params)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def open(self, page: Path) -> float:
        """Load ``page`` and wait for its load event; the seconds it took."""
        start = time.monotonic()
        ident = self._send("Page.navigate", {"url": page.resolve().as_uri()})
        deadline, loaded, answered = start + self.timeout, False, False
        while not (loaded and answered):
            message = self._receive(deadline)
            answered = answered or message.get("id") == ident
            loaded = loaded or message.get("method") == "Page.loadEventFired"
        return time.monotonic() - start

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises awaited)."""
        found = self._call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in found:
            details = found["exceptionDetails"]
            said = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"the page's script failed: {said}")
        return found.get("result", {}).get("value")

    def screenshot(self, out: Path, clip: dict[str, float] | None = None) -> bytes:
        """A PNG of the viewport, or of ``clip`` (x, y, width, height in page pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params |= {"clip": {**clip, "scale": 1}, "captureBeyondViewport": True}
        data = base64.b64decode(self._call("Page.captureScreenshot", **params)["data"])
        out.write_bytes(data)
        return data

    def close(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            try:
                os.write(
                    self._to, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0"
                )
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for fd in ("_to", "_from"):
            if getattr(self, fd, -1) >= 0:
                os.close(getattr(self, fd))
                setattr(self, fd, -1)
        self._profile.cleanup()
