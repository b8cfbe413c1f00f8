"""harness.engine.wire attacked as a hostile server would, on real sockets: each test is
a hole a review found (it failed before its fix), or a promise it checked and kept."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import pytest

from harness.engine.wire import WireTransport, http1
from harness.engine.wire.connection import _HIGH_WATER

TOKEN = "sk-live-0123456789abcdefghijklmnopqrstuv"  # made up
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request's head off the socket (its body read too), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return head


async def serve(handler: Handler) -> tuple[asyncio.Server, list[int]]:
    """A server on 127.0.0.1, and the count of connections it accepted."""
    accepted = [0]

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            await handler(reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_connect, "127.0.0.1", 0), accepted


def answering(*pieces: bytes | float) -> Handler:
    """Answer every request with ``pieces`` (a float: a pause of that many seconds)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            for piece in pieces:
                if isinstance(piece, float):
                    await asyncio.sleep(piece)
                else:
                    writer.write(piece)
                    await writer.drain()

    return handle


def url_of(server: asyncio.Server, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.sockets[0].getsockname()[1]}"


async def fetch(transport: WireTransport, url: str) -> tuple[httpx.Response, bytes]:
    request = httpx.Request("POST", url + "/v1/x", content=b"{}")
    response = await transport.handle_async_request(request)
    try:
        data = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response, data


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


# --- a read that pauses must resume -----------------------------------------------------------


@pytest.mark.parametrize(
    ("head_bound", "partial", "outcome"),
    [
        (http1.MAX_HEAD_BYTES, http1.MAX_HEAD_BYTES, "the trailers exceed"),
        (2 * http1.MAX_HEAD_BYTES, 2 * http1.MAX_HEAD_BYTES - 16, "read whole"),
    ],
    ids=["a-trailer-line-at-the-bound", "a-larger-head-bound"],
)
def test_a_paused_read_resumes_whenever_the_reader_waits_for_more(
    head_bound: int, partial: int, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunked reply that fills the buffer past the pause mark (1 MiB) while the reader
    is busy, its last bytes a trailer line the decoder cannot finish yet; the line's end
    comes later. Reading resumed only below 64 KiB buffered: with that line exactly 64 KiB
    long the request hung until the deadline. The second case: a larger head bound must
    not bring the hang back (the pause must not depend on what the parser leaves)."""
    monkeypatch.setattr(http1, "MAX_HEAD_BYTES", head_bound)
    trailer = b"X: " + b"b" * (partial - 3)
    size = _HIGH_WATER + 1 - len(b"fffff\r\n" + b"\r\n0\r\n" + trailer)  # 5 hex digits

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        body = b"%x\r\n" % size + b"a" * size + b"\r\n0\r\n" + trailer
        assert len(body) == _HIGH_WATER + 1  # reading pauses on its last byte
        writer.write(head + body)
        await writer.drain()
        await asyncio.sleep(0.6)  # the reader has drained all it could
        writer.write(b"\n\r\n")
        await writer.drain()
        await asyncio.sleep(10)

    async def go() -> None:
        server, _ = await serve(handle)
        transport = WireTransport()
        async with server:
            request = httpx.Request("POST", url_of(server), content=b"{}")
            response = await transport.handle_async_request(request)
            await asyncio.sleep(0.4)  # busy elsewhere: the whole reply arrives, paused
            started = time.perf_counter()
            try:
                async with asyncio.timeout(3):
                    body = b"".join([chunk async for chunk in response.aiter_raw()])
                said = "read whole" if body == b"a" * size else "read short"
            except httpx.RemoteProtocolError as exc:
                said = str(exc)
            finally:
                await response.aclose()
            assert said.startswith(outcome)
            assert time.perf_counter() - started < 2
        await transport.aclose()

    run(go())


def test_trailers_are_bounded_with_their_line_ends_and_say_the_bound() -> None:
    """Trailers of 64 KiB and one byte are refused, saying 64 KiB (they were taken, and
    the blank line after them was refused as exceeding -1 bytes)."""
    first = b"A: 1\r\n"
    line = b"X: " + b"b" * (http1.MAX_HEAD_BYTES - len(first) - 4) + b"\r\n"  # 64 KiB + 1
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + first

    async def go() -> None:
        server, _ = await serve(answering(chunked + line + b"\r\n", 1.0))
        transport = WireTransport()
        async with server:
            with pytest.raises(httpx.RemoteProtocolError, match=r"^the trailers exceed 65536"):
                await fetch(transport, url_of(server))
        await transport.aclose()

    run(go())


# --- aclose ---------------------------------------------------------------------------------


def test_a_connection_still_opening_when_the_transport_closes_is_closed_too() -> None:
    """``aclose`` while a request is still connecting (resolving ``localhost``): that
    connection was missed, the request went on and its connection stayed open and pooled
    after the close. Now it is closed as it opens; a request after ``aclose`` opens anew."""

    async def go() -> None:
        server, accepted = await serve(answering(OK))
        transport = WireTransport()
        async with server:
            task = asyncio.create_task(fetch(transport, url_of(server, "localhost")))
            await asyncio.sleep(0)  # the request is resolving the name
            await transport.aclose()
            with pytest.raises(httpx.ConnectError, match="the transport closed as the conn"):
                await task
            assert not transport._open
            assert (await fetch(transport, url_of(server)))[1] == b"ok"
            await transport.aclose()
            assert not transport._open
            assert accepted[0] <= 2

    run(go())


# --- the token ------------------------------------------------------------------------------


def test_no_frame_a_request_passed_through_holds_the_token_in_its_repr() -> None:
    """A request cancelled while it waits for the answer (the deadline, Ctrl-C): every
    frame of the traceback, shown with its locals (pytest's ``--showlocals``), must not
    show the token. The request's bytes on the wire were a plain ``bytes`` local of the
    transport's frames, the token in them."""

    async def go() -> BaseException:
        server, _ = await serve(answering(30.0))
        transport = WireTransport()
        async with server:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            request = httpx.Request("POST", url_of(server), headers=headers, content=b"{}")
            task = asyncio.create_task(transport.handle_async_request(request))
            await asyncio.sleep(0.2)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError as exc:
                caught: BaseException = exc
        await transport.aclose()
        return caught

    caught = run(go())
    tb = caught.__traceback__
    frames = 0
    while tb is not None:
        code = tb.tb_frame.f_code
        if "/harness/engine/wire/" in code.co_filename:  # not this test's own frame
            for name, value in tb.tb_frame.f_locals.items():
                assert TOKEN[8:20] not in repr(value), (code.co_name, name)
            frames += 1
        tb = tb.tb_next
    assert frames >= 3  # the transport's frames were there to look at


# --- the request ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "body"), [("0", b'{"a": 1}'), ("2", b""), ("1, 1", b"x"), ("+1", b"x")]
)
def test_a_content_length_header_that_is_not_the_bodys_is_refused_before_sending(
    declared: str, body: bytes
) -> None:
    """A caller's ``Content-Length`` (a ``glm_headers`` line) was written as given: the
    server read the body, or the next request, by it (h11 refused it under httpx).
    Now it is refused before anything is sent; one that agrees is sent as it is."""

    async def go() -> None:
        server, accepted = await serve(answering(OK))
        transport = WireTransport()
        async with server:
            for length, content in ((declared, body), (str(len(body)), body)):
                headers = {"Content-Length": length}
                stream = httpx.ByteStream(content)  # as the client builds its requests
                request = httpx.Request("POST", url_of(server), headers=headers, stream=stream)
                request.read()
                if length == declared:
                    with pytest.raises(httpx.LocalProtocolError, match="Content-Length"):
                        await transport.handle_async_request(request)
                    assert accepted[0] == 0
                else:
                    response = await transport.handle_async_request(request)
                    assert await response.aread() == b"ok"
                    await response.aclose()
        await transport.aclose()

    run(go())


# --- the status line ------------------------------------------------------------------------


def test_a_status_under_100_is_refused_not_skipped_as_interim() -> None:
    """``HTTP/1.1 000`` (or 099) is no status at all; it was read as a 1xx and skipped."""

    async def go() -> None:
        server, _ = await serve(answering(b"HTTP/1.1 000 X\r\n\r\n" + OK, 1.0))
        transport = WireTransport()
        async with server:
            with pytest.raises(httpx.RemoteProtocolError, match=r"not an HTTP/1\.x status line"):
                await fetch(transport, url_of(server))
        await transport.aclose()

    run(go())


# --- checked and kept: no answer is ever another request's -----------------------------------

EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"


@pytest.mark.parametrize(
    "first",
    [
        [OK + EVIL],  # a second response pipelined after the first
        [OK, 0.05, EVIL],  # ... sent while the connection idles
        [b"HTTP/1.1 204 No Content\r\n\r\n" + EVIL],  # a 204 or 304 with a "body"
        [b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n" + EVIL],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEVIL"],  # a Content-Length short
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n0\r\n\r\n"],
    ],
    ids=["pipelined", "pipelined-later", "204-body", "304-body", "short-length", "te-and-cl"],
)
def test_what_follows_an_answer_is_never_the_next_requests_answer(
    first: list[bytes | float],
) -> None:
    served = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            served[0] += 1
            pieces = (
                first if served[0] == 1 else [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"]
            )
            for piece in pieces:
                if isinstance(piece, float):
                    await asyncio.sleep(piece)
                else:
                    writer.write(piece)
                    await writer.drain()

    async def go() -> None:
        server, accepted = await serve(handle)
        transport = WireTransport()
        async with server:
            await fetch(transport, url_of(server))
            await asyncio.sleep(0.2)
            assert (await fetch(transport, url_of(server)))[1] == b"fresh"
            assert accepted[0] == 2
        await transport.aclose()

    run(go())


def test_a_storm_of_cancellations_leaks_no_slot_and_reuses_no_broken_connection() -> None:
    """Requests cut off by their deadlines at every step (waiting for a slot, for the
    head, mid-body): afterwards the pool holds no slot it should not, no connection is
    shared, and requests go through at the full limit."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rng = random.Random(id(writer))
        while await read_request(reader) is not None:
            await asyncio.sleep(rng.random() * 0.02)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok")
            await writer.drain()
            await asyncio.sleep(rng.random() * 0.02)
            writer.write(b"ok")
            await writer.drain()

    async def go() -> None:
        server, _ = await serve(handle)
        transport = WireTransport(max_connections=3)
        rng = random.Random(18)

        async def one() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(rng.random() * 0.06):
                    assert (await fetch(transport, url_of(server)))[1] == b"okok"

        async with server:
            for _ in range(4):
                tasks = [asyncio.create_task(one()) for _ in range(60)]
                for _ in range(20):
                    await asyncio.sleep(0.003)
                    rng.choice(tasks).cancel()
                    assert 0 <= next(iter(transport._pools.values())).size <= 3
                await asyncio.gather(*tasks, return_exceptions=True)
            (pool,) = transport._pools.values()
            assert (pool.size, len(pool.waiters)) == (len(pool.idle), 0)
            done = await asyncio.gather(*(fetch(transport, url_of(server)) for _ in range(6)))
            assert [data for _, data in done] == [b"okok"] * 6
            assert pool.size <= 3
        await transport.aclose()

    run(go())
