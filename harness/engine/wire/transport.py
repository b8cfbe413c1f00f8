"""The transport: an ``httpx.AsyncBaseTransport`` sending HTTP/1.1 over the pooled
connections of :mod:`harness.engine.wire.connection` (see the package's docstring)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from harness.engine.wire.connection import Connection, Pool, words
from harness.engine.wire.http1 import (
    ChunkedDecoder,
    Framing,
    Head,
    ProtocolFailure,
    framing,
    parse_head,
    request_head,
)

__all__ = ["WireTransport"]

_CLOSE_WAIT = 5.0  # seconds aclose() waits for the connections to report closed
DEFAULT_PORTS = {"http": 80, "https": 443}


class _Body(httpx.AsyncByteStream):
    """The response body, raw, in pieces as they arrive. ``aclose`` returns the connection
    to the pool only when the body was read whole and the connection is reusable; a read
    that fails or is cancelled closes it."""

    def __init__(self, pool: Pool, conn: Connection, frame: Framing, timeout: float | None) -> None:
        self._pool = pool
        self._conn = conn
        self._frame = frame
        self._timeout = timeout
        self._left = frame.length  # bytes to read (length framing)
        self._chunks = ChunkedDecoder() if frame.kind == "chunked" else None
        self._done = frame.kind == "none" or (frame.kind == "length" and frame.length == 0)
        self._released = False
        self._received = 0

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            data = await self._read()
        except BaseException:
            self._conn.abort()
            raise
        if not data and self._done:
            raise StopAsyncIteration
        return data

    async def _read(self) -> bytes:
        conn = self._conn
        while True:
            if self._chunks is not None:
                try:
                    data, self._done = self._chunks.feed(conn.buffer)
                except ProtocolFailure as exc:
                    raise httpx.RemoteProtocolError(str(exc)) from None
                if data or self._done:
                    return data
            elif conn.buffer:
                if self._frame.kind == "close":
                    return conn.take(len(conn.buffer))
                data = conn.take(self._left)
                self._left -= len(data)
                self._received += len(data)
                self._done = self._left == 0
                return data
            if not await conn.more(self._timeout):
                if self._frame.kind == "close" and conn.error is None:
                    self._done = True
                    return b""
                raise self._broken()

    def _broken(self) -> Exception:
        # h11's words, which the harness's tests and users know
        closed = "peer closed connection without sending complete message body"
        if self._chunks is not None:
            return self._conn.broken(f"{closed}: incomplete chunked read", "mid-body")
        got, total = self._received, self._received + self._left
        where = f"mid-body, {got} of {total} bytes received"
        return self._conn.broken(f"{closed}: received {got} bytes, expected {total}", where)

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        conn.busy = False
        if self._done and self._frame.reusable and conn.usable():
            conn.served += 1
            self._pool.give_back(conn)
        else:
            conn.abort()
            self._pool.give_back(None)


class WireTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio: see the module's docstring.

    ``ssl_context`` serves https:// (verification and SNI as it says; by default
    ``httpx.create_ssl_context()``, made when the first https:// connection opens).
    """

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, max_connections: int = 32
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self._ssl = ssl_context
        self._limit = max_connections
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._open: set[Connection] = set()
        self._closings = 0  # how many times aclose() ran

    def __repr__(self) -> str:  # never the headers: they hold the token
        return f"WireTransport(max_connections={self._limit})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme, host = url.scheme, url.host
        if scheme not in DEFAULT_PORTS or not host:
            raise httpx.UnsupportedProtocol(
                f"cannot send to {str(url)[:200]!r}: http or https only"
            )
        port = url.port or DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(self._limit)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        message = await _message(request)
        conn = await pool.acquire(timeouts.get("pool"))
        try:
            for again in (False, True):
                if conn is None:
                    conn = await self._connect(scheme, host, port, timeouts.get("connect"))
                try:
                    return await _exchange(pool, conn, request.method, message, timeouts)
                except (httpx.WriteError, httpx.RemoteProtocolError):
                    # once more, afresh, only for a reused connection that the server
                    # closed (a FIN, not a reset) before any byte of the response: it
                    # closed it as we wrote. A reset is a fault the caller's retries count.
                    if again or not conn.served or conn.answered or conn.error is not None:
                        raise
                    conn.abort()
                    conn = None
            raise AssertionError("unreachable")
        except BaseException:
            if conn is not None:
                conn.abort()
            pool.give_back(None)
            raise

    async def aclose(self) -> None:
        """Close every connection, idle, busy or still opening, and wait until they are
        closed (those still opening close as they open). Later requests open new ones."""
        self._closings += 1
        conns = list(self._open)
        for conn in conns:
            conn.abort()
        for pool in self._pools.values():  # a busy one's slot is freed as its body closes
            pool.size -= len(pool.idle)
            pool.idle.clear()
        waits = [conn.gone for conn in conns if not conn.gone.done()]
        if waits:
            await asyncio.wait(waits, timeout=_CLOSE_WAIT)

    async def _connect(
        self, scheme: str, host: str, port: int, timeout: float | None
    ) -> Connection:
        loop = asyncio.get_running_loop()
        closings = self._closings
        tls = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            tls = self._ssl

        def made() -> Connection:
            return Connection(loop, self._open)

        try:
            async with asyncio.timeout(timeout):
                conn = await _open(loop, made, host, port, tls)
        except TimeoutError as exc:
            # TimeoutError is an OSError: this clause comes first
            raise httpx.ConnectTimeout(
                f"no connection to {host}:{port} within {timeout:g}s"
            ) from exc
        except OSError as exc:
            raise httpx.ConnectError(_connect_failure(exc, host, port)) from exc
        if self._closings != closings:  # aclose() ran while it opened: it missed this one
            conn.abort()
            raise httpx.ConnectError("the transport closed as the connection opened")
        return conn


async def _open(
    loop: asyncio.AbstractEventLoop,
    made: Callable[[], Connection],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
) -> Connection:
    """Connect to each address of ``host`` in turn; raise the first failure (asyncio's
    own loop would merge different ones into a plain OSError, losing "refused")."""
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    first: OSError | None = None
    for address in addresses:
        try:
            _, conn = await loop.create_connection(
                made, address, port, ssl=tls, server_hostname=host if tls else None
            )
            return conn
        except OSError as exc:
            first = first or exc
    raise first or OSError(f"{host} has no address")


def _connect_failure(exc: OSError, host: str, port: int) -> str:
    where = f"{host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {host!r}: {exc}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return " ".join(str(exc).split())  # as httpx said it: "[SSL: CERTIFICATE_...] ..."
    return f"cannot connect to {where}: {words(exc)}"


class _Sealed(bytes):
    """A request's bytes on the wire, the token among them: shown by their length only,
    so that no frame they pass through shows them (pytest's ``--showlocals`` on a
    cancelled request's traceback; see :mod:`harness.secret`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<request: {len(self)} bytes, not shown>"

    __str__ = __repr__


async def _message(request: httpx.Request) -> bytes:
    """The request's bytes on the wire: its line, its headers, its body (sealed)."""
    try:
        body = request.content
    except httpx.RequestNotRead:
        body = await request.aread()
    try:
        url = request.url
        head = request_head(
            request.method, url.raw_path, url.netloc, request.headers.raw, len(body)
        )
    except ProtocolFailure as exc:
        raise httpx.LocalProtocolError(str(exc)) from None
    return _Sealed(head + body)


async def _exchange(
    pool: Pool, conn: Connection, method: str, message: bytes, timeouts: dict[str, Any]
) -> httpx.Response:
    read = timeouts.get("read")
    await conn.send(message, timeouts.get("write"))
    head: Head
    interim = 0
    while True:
        head = await _read_head(conn, read)
        if head.status >= 200:
            break
        interim += 1
        if head.status == 101 or interim > 10:
            what = "101 Switching Protocols" if head.status == 101 else "more than 10 1xx replies"
            raise httpx.RemoteProtocolError(f"the server sent {what}")
    try:
        frame = framing(method, head)
    except ProtocolFailure as exc:
        raise httpx.RemoteProtocolError(str(exc)) from None
    return httpx.Response(
        head.status,
        headers=head.headers,
        stream=_Body(pool, conn, frame, read),
        extensions={"http_version": head.version, "reason_phrase": head.reason},
    )


async def _read_head(conn: Connection, timeout: float | None) -> Head:
    scanned = 0
    while True:
        try:
            head = parse_head(conn.buffer, scanned)
        except ProtocolFailure as exc:
            raise httpx.RemoteProtocolError(str(exc)) from None
        if head is not None:
            return head
        scanned = len(conn.buffer)
        if not await conn.more(timeout):
            if conn.buffer:
                closed = "the server closed the connection in the middle of the response headers"
                raise conn.broken(closed, "in the response headers")
            closed = "the server closed the connection without sending a response"
            raise conn.broken(closed, "before any byte of the response")
