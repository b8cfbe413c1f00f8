"""A hostile HTTP server on 127.0.0.1 for attack tests: it writes whatever bytes a script
gives, when the script says, on a real socket.

A script is ``script(request) -> Iterable[bytes | float]``: bytes are written as they
come (a status line and headers first, if the script wants a valid reply), a float is a
pause in seconds. Helpers build the usual shapes: :func:`reply` (a whole reply with a
``Content-Length``), :func:`chunked` (a chunked body, optionally endless), and
:func:`trickle` (a reply sent a few bytes at a time). Every request is recorded with its
headers. Test code only.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Script = Callable[[Seen], Iterable[bytes | float]]


def head(status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> list[bytes]:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    all_headers["Content-Length"] = str(len(body))
    return [head(status, all_headers), body]


def chunked(
    pieces: Iterable[bytes], status: int = 200, headers: dict[str, str] | None = None,
    pause: float = 0.0,
) -> Iterator[bytes | float]:  # fmt: skip
    yield head(status, {"Transfer-Encoding": "chunked", **(headers or {})})
    for piece in pieces:
        if piece:
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
        if pause:
            yield pause
    yield b"0\r\n\r\n"


def trickle(data: bytes, size: int, pause: float) -> Iterator[bytes | float]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        yield pause


def chat_body(answer: str) -> bytes:
    message = {"role": "assistant", "content": answer}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    usage = {"prompt_tokens": 5, "completion_tokens": 3}
    return json.dumps(
        {"id": "x", "object": "chat.completion", "choices": [choice], "usage": usage}
    ).encode()


class HostileServer:
    """Serves ``script`` to every request; ``with HostileServer(script) as server``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer._serve(self.connection, self.rfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, conn: socket.socket, rfile: Any) -> None:
        while not self.stopping.is_set():
            line = rfile.readline(65536)
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                header = rfile.readline(65536).decode("latin-1").strip()
                if not header:
                    break
                name, _, value = header.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = rfile.read(int(headers.get("content-length", "0")))
            seen = Seen(method, path, headers, body)
            with self._lock:
                self.seen.append(seen)
            try:
                for part in self.script(seen):
                    if isinstance(part, float | int):
                        if self.stopping.wait(part):
                            return
                    else:
                        conn.sendall(part)
            except OSError:
                return

    def requests(self, path: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(path)]


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
