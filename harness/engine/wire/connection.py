"""One keep-alive connection (an :class:`asyncio.Protocol`) and the pool of them to one
server, for :mod:`harness.engine.wire.transport`."""

from __future__ import annotations

import asyncio
import collections

import httpx

__all__ = ["Connection", "Pool", "words"]

_HIGH_WATER = 1 << 20  # buffered reply bytes past which the socket is not read


class Connection(asyncio.Protocol):
    """One socket: the bytes the server sent that nobody has read yet, and whether the
    connection is gone. Bytes that arrive while no request waits make it unusable."""

    def __init__(self, loop: asyncio.AbstractEventLoop, registry: set[Connection]) -> None:
        self.loop = loop
        self.registry = registry
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.lost = False  # the server closed, the socket broke, or we aborted it
        self.error: BaseException | None = None  # why, when the socket broke
        self.busy = False  # a request is out and its response not read whole
        self.answered = False  # some byte of the current response arrived
        self.served = 0  # responses read whole on this connection
        self.gone: asyncio.Future[None] = loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.registry.add(self)

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # nobody asked: the connection cannot be trusted any more
            self.abort()
            return
        self.answered = True
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def eof_received(self) -> bool:
        self.lost = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if exc is not None and self.error is None:
            self.error = exc
        self.registry.discard(self)
        if not self.gone.done():
            self.gone.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # --- used by the transport -----------------------------------------------------------

    def usable(self) -> bool:
        transport = self.transport
        return not (self.lost or self.buffer or transport is None or transport.is_closing())

    def abort(self) -> None:
        """Close now, unread bytes and all; the connection is never used again."""
        self.lost = True
        self.busy = False
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    async def send(self, data: bytes, timeout: float | None) -> None:
        self.busy, self.answered = True, False
        if self.lost:
            raise httpx.WriteError("the connection closed before the request was sent")
        self.transport.write(data)  # type: ignore[union-attr]
        while self._writing_paused and not self.lost:
            await self._wait(timeout, httpx.WriteTimeout, "sending the request")
        if self.lost and not self.answered:
            closed = "the server closed the connection while the request was sent"
            raise self.broken(closed, "while the request was sent", httpx.WriteError)

    async def more(self, timeout: float | None) -> bool:
        """Wait for more bytes; False when none will come (the connection is gone).

        The caller has taken all it can of the buffer, so a paused socket is read again
        whatever is left in it: what is left is the parser's (a partial line, within its
        bounds), and waiting for bytes that are not read would hang until the deadline."""
        if self.lost:
            return False
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        await self._wait(timeout, httpx.ReadTimeout, "waiting for the server")
        return True

    def take(self, limit: int) -> bytes:
        """Up to ``limit`` buffered bytes."""
        buffer = self.buffer
        if len(buffer) <= limit:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:limit])
            del buffer[:limit]
        return data

    def broken(
        self, closed: str, where: str, kind: type[httpx.TransportError] = httpx.ReadError
    ) -> Exception:
        """The error for a connection that ended early: ``closed`` when the server closed
        it, else the socket's error and ``where`` it broke (its cause set)."""
        exc = self.error
        if exc is None:
            failure: Exception = httpx.RemoteProtocolError(closed)
        else:
            failure = kind(f"{words(exc)} ({where})")
        failure.__cause__ = exc
        return failure

    async def _wait(
        self, timeout: float | None, late: type[httpx.TimeoutException], what: str
    ) -> None:
        waiter = self.loop.create_future()
        self._waiter = waiter
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, _expire, waiter, late, f"{what} ({timeout:g}s)")
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], late: type[httpx.TimeoutException], what: str) -> None:
    if not waiter.done():
        waiter.set_exception(late(f"timed out {what}"))


class Pool:
    """The connections to one (scheme, host, port): ``size`` of them open or opening (at
    most ``limit``), the idle ones, and the requests waiting for one, first come first
    served. A waiter is handed a connection, or ``None``: a free slot to connect with."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.idle: list[Connection] = []
        self.waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()

    async def acquire(self, timeout: float | None) -> Connection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()  # the most recently used: the likeliest to be alive
            if conn.usable():
                return conn
            conn.abort()
            self.size -= 1
        if self.size < self.limit:
            self.size += 1
            return None
        waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                got = await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.give_back(waiter.result())  # handed over as we were cancelled
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout(f"no free connection within {timeout:g}s") from exc
            raise
        if got is not None and not got.usable():
            got.abort()
            return None  # keep its slot
        return got

    def give_back(self, conn: Connection | None) -> None:
        """A connection read whole and reusable (or ``None``: a slot), to the first waiter
        or the idle list."""
        if conn is not None and not conn.usable():
            conn.abort()
            conn = None
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            self.size -= 1
        else:
            self.idle.append(conn)


def words(exc: BaseException) -> str:
    said = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__
