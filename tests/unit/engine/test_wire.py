"""harness.engine.wire: the HTTP/1.1 transport against real sockets, every server an
asyncio server written here (keep-alive counted on the server's side)."""

from __future__ import annotations

import asyncio
import gzip
import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.engine.wire import WireTransport
from harness.engine.wire.http1 import (
    MAX_HEAD_BYTES,
    MAX_HEAD_LINES,
    ChunkedDecoder,
    ProtocolFailure,
    framing,
    parse_head,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Seen:
    """What the server saw: connections opened, requests read, in flight at most."""

    connections: int = 0
    requests: list[bytes] = field(default_factory=list)  # each request's target
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    closed: int = 0  # connections the client closed (EOF seen by the server)
    in_flight: int = 0
    max_in_flight: int = 0


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Seen, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader, seen: Seen) -> bytes | None:
    """One request off the socket (its target), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        seen.closed += 1  # the client hung up
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    seen.bodies.append(await reader.readexactly(length))
    seen.heads.append(head)
    target = head.split(b" ")[1]
    seen.requests.append(target)
    return target


def answering(*replies: bytes, close_after: bool = False) -> Handler:
    """Answer each request on a connection with the next reply (the last one repeats)."""

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        i = 0
        while await read_request(reader, seen) is not None:
            writer.write(replies[min(i, len(replies) - 1)])
            await writer.drain()
            i += 1
            if close_after:
                return

    return handle


async def serve(
    handler: Handler, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> tuple[asyncio.Server, Seen]:
    seen = Seen()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            await handler(reader, writer, seen, seen.connections)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, host, 0, ssl=tls)
    return server, seen


def reset(writer: asyncio.StreamWriter) -> None:
    linger = struct.pack("ii", 1, 0)  # on, 0 s: closing sends an RST
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    writer.transport.abort()


def port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


async def fetch(
    transport: httpx.AsyncBaseTransport, url: str, body: bytes = b"{}", method: str = "POST"
) -> tuple[httpx.Response, bytes]:
    request = httpx.Request(method, url, content=body if method == "POST" else None)
    response = await transport.handle_async_request(request)
    try:
        data = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response, data


async def with_server(
    handler: Handler, go: Callable[[WireTransport, str, Seen], Awaitable[Any]], **kw: Any
) -> Any:
    server, seen = await serve(handler, kw.pop("tls", None))
    transport = WireTransport(**kw)
    try:
        async with server:
            scheme = "https" if "ssl_context" in kw else "http"
            return await go(transport, f"{scheme}://127.0.0.1:{port(server)}", seen)
    finally:
        await transport.aclose()


def failure(reply: bytes | list[bytes | float], **kw: Any) -> httpx.HTTPError:
    """The error a request meets when the server sends ``reply`` and closes."""

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        await read_request(reader, seen)
        for piece in reply if isinstance(reply, list) else [reply]:
            if isinstance(piece, float):
                await asyncio.sleep(piece)
            else:
                writer.write(piece)
                await writer.drain()

    async def go(transport: WireTransport, url: str, seen: Seen) -> httpx.HTTPError:
        with pytest.raises(httpx.HTTPError) as info:
            await fetch(transport, url + "/x")
        return info.value

    return run(with_server(handle, go, **kw))  # type: ignore[no-any-return]


# --- keep-alive and the pool ----------------------------------------------------------------


def test_keep_alive_reuses_one_connection() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for i in range(5):
            response, data = await fetch(transport, f"{url}/v1/x?i={i}", b'{"a": 1}')
            assert (response.status_code, data, response.http_version) == (200, b"ok", "HTTP/1.1")
        assert seen.connections == 1
        assert seen.requests == [b"/v1/x?i=%d" % i for i in range(5)]
        assert seen.bodies == [b'{"a": 1}'] * 5
        head = seen.heads[0].decode()
        assert head.startswith("POST /v1/x?i=0 HTTP/1.1\r\n")
        assert f"\r\nHost: 127.0.0.1:{url.rsplit(':', 1)[1]}\r\n" in head
        assert "\r\nContent-Length: 8\r\n" in head

    run(with_server(answering(OK), go))


def test_host_and_content_length_are_added_when_the_request_lacks_them() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        body = httpx.ByteStream(b"abc")
        request = httpx.Request("POST", url + "/p", headers={"X-A": "1"}, stream=body)
        response = await transport.handle_async_request(request)
        await response.aread()
        await response.aclose()
        where = url.removeprefix("http://")
        assert seen.heads == [
            f"POST /p HTTP/1.1\r\nHost: {where}\r\nX-A: 1\r\nContent-Length: 3\r\n\r\n".encode()
        ]
        assert seen.bodies == [b"abc"]

    run(with_server(answering(OK), go))


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for _ in range(3):
            assert (await fetch(transport, url))[1] == b"ok"
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection idles
        assert (seen.connections, len(seen.requests)) == (3, 3)

    run(with_server(answering(OK, close_after=True), go))


def race_then_answer(drop_on: set[int]) -> Handler:
    """Connection n reads one request and hangs up without a word when n is in
    ``drop_on`` (after answering its first request, for a reused connection)."""

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, n: int
    ) -> None:
        served = 0
        while await read_request(reader, seen) is not None:
            if n in drop_on and (served or n > 1):
                return  # closed as the request came in
            writer.write(OK)
            await writer.drain()
            served += 1

    return handle


def test_a_reused_connection_that_dies_before_any_answer_byte_is_retried_once() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        assert (await fetch(transport, url + "/a"))[1] == b"ok"
        assert (await fetch(transport, url + "/b"))[1] == b"ok"  # dropped, then sent afresh
        assert seen.requests == [b"/a", b"/b", b"/b"]
        assert seen.connections == 2

    run(with_server(race_then_answer({1}), go))


def test_a_fresh_connection_that_dies_is_not_retried() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        assert (await fetch(transport, url + "/a"))[1] == b"ok"
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await fetch(transport, url + "/b")  # reused: dies; the fresh one (2) dies too
        assert seen.requests == [b"/a", b"/b", b"/b"]

    run(with_server(race_then_answer({1, 2}), go))


def test_a_reset_on_a_reused_connection_is_not_retried() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        await read_request(reader, seen)
        writer.write(OK)
        await writer.drain()
        await read_request(reader, seen)
        reset(writer)

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        assert (await fetch(transport, url + "/a"))[1] == b"ok"
        with pytest.raises(httpx.ReadError, match=r"reset by peer \(before any byte"):
            await fetch(transport, url + "/b")  # a fault: the caller's retries count it
        assert seen.requests == [b"/a", b"/b"]

    run(with_server(handle, go))


def test_the_pool_limit_holds_and_waiters_are_served_in_order() -> None:
    release = asyncio.Event()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        while await read_request(reader, seen) is not None:
            seen.in_flight += 1
            seen.max_in_flight = max(seen.max_in_flight, seen.in_flight)
            await release.wait()
            seen.in_flight -= 1
            writer.write(OK)
            await writer.drain()

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        tasks = []
        for i in range(7):
            tasks.append(asyncio.create_task(fetch(transport, f"{url}/{i}")))
            await asyncio.sleep(0.01)  # each queues in turn
        await asyncio.sleep(0.05)
        assert sorted(seen.requests) == [b"/0", b"/1"]
        release.set()
        assert [data for _, data in await asyncio.gather(*tasks)] == [b"ok"] * 7
        assert seen.requests[2:] == [b"/%d" % i for i in range(2, 7)]
        assert (seen.connections, seen.max_in_flight) == (2, 2)

    run(with_server(handle, go, max_connections=2))


def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        slow = asyncio.create_task(fetch(transport, url + "/slow"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await fetch(transport, url + "/gave-up")  # waits for the one connection
        await slow
        assert (await fetch(transport, url + "/next"))[1] == b"ok"
        assert seen.requests == [b"/slow", b"/next"]

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        while await read_request(reader, seen) is not None:
            await asyncio.sleep(0.2)
            writer.write(OK)
            await writer.drain()

    run(with_server(handle, go, max_connections=1))


def test_a_pool_timeout_is_an_httpx_pool_timeout() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        slow = asyncio.create_task(fetch(transport, url))
        await asyncio.sleep(0.05)
        request = httpx.Request("GET", url, extensions={"timeout": {"pool": 0.05}})
        with pytest.raises(httpx.PoolTimeout, match=r"no free connection within 0\.05s"):
            await transport.handle_async_request(request)
        await slow

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        await read_request(reader, seen)
        await asyncio.sleep(0.3)
        writer.write(OK)
        await writer.drain()

    run(with_server(handle, go, max_connections=1))


def test_aclose_closes_every_connection() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        await asyncio.gather(*(fetch(transport, url) for _ in range(3)))
        assert seen.connections == 3
        await transport.aclose()
        await asyncio.sleep(0.05)
        assert seen.closed == 3

    run(with_server(answering(OK), go))


def test_aclose_during_a_request_fails_it_and_frees_its_slot() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, n: int
    ) -> None:
        while await read_request(reader, seen) is not None:
            if n == 1:
                await asyncio.sleep(0.5)
            writer.write(OK)
            await writer.drain()

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        busy = asyncio.create_task(fetch(transport, url))
        await asyncio.sleep(0.05)
        await transport.aclose()
        with pytest.raises(httpx.RemoteProtocolError):
            await busy
        done = await asyncio.gather(fetch(transport, url), fetch(transport, url))
        assert [data for _, data in done] == [b"ok", b"ok"]  # its slot came back, once
        assert seen.connections == 2

    run(with_server(handle, go, max_connections=1))


# --- bodies ----------------------------------------------------------------------------------


def test_chunked_with_extensions_and_trailers_then_reuse() -> None:
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1 ; x\r\n \r\n5\r\nworld\r\n"
        b"0\r\nX-Trailer: done\r\nX-Other: 1\r\n\r\n"
    )

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for _ in range(2):
            assert (await fetch(transport, url))[1] == b"hello world"
        assert seen.connections == 1

    run(with_server(answering(reply), go))


def test_chunked_with_a_content_length_reads_chunked_and_is_not_reused() -> None:
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for _ in range(2):
            assert (await fetch(transport, url))[1] == b"hello"
        assert seen.connections == 2

    run(with_server(answering(reply), go))


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", "peer closed connection without sending complete message body: received 10 bytes, expected 100"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "incomplete chunked read"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nhel", "incomplete chunked read"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "in the middle of the response headers"),
        (b"", "closed the connection without sending a response"),
    ],
    ids=["length", "chunked", "mid-chunk", "mid-head", "nothing"],
)  # fmt: skip
def test_an_early_close_is_an_error(reply: bytes, words: str) -> None:
    error = failure(reply)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert words in str(error)


def test_read_until_close_and_no_body_for_204() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for _ in range(2):
            response, data = await fetch(transport, url)
            assert (response.status_code, data) == (204, b"")
        assert seen.connections == 1

    no_content = b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n"
    run(with_server(answering(no_content), go))

    async def until_close(transport: WireTransport, url: str, seen: Seen) -> None:
        assert (await fetch(transport, url))[1] == b"all of it"

    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
    run(with_server(answering(reply, close_after=True), until_close))


def test_stray_bytes_after_the_body_spoil_the_connection() -> None:
    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for _ in range(2):
            assert (await fetch(transport, url))[1] == b"ok"
        assert seen.connections == 2

    run(with_server(answering(OK + b"HTTP/1.1 200 OK\r\n"), go))


def test_a_large_body_is_read_whole_across_the_buffer_limit() -> None:
    big = bytes(range(256)) * 12_000  # 3 MB: reading pauses and resumes

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        response = await transport.handle_async_request(httpx.Request("GET", url))
        await asyncio.sleep(0.2)  # the server fills the buffer while nobody reads
        (conn,) = transport._open
        assert len(conn.buffer) < 2 * 1024 * 1024  # reading paused past 1 MiB
        data = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        assert data == big
        assert (await fetch(transport, url))[1] == big
        assert seen.connections == 1

    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)
    run(with_server(answering(reply), go))


def test_the_body_stays_raw() -> None:
    packed = gzip.compress(b"hello")
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        response, data = await fetch(transport, url)
        assert (data, response.headers["content-encoding"]) == (packed, "gzip")

    run(with_server(answering(reply % (len(packed), packed)), go))


def test_server_sent_events_arrive_as_they_are_sent() -> None:
    got_first = asyncio.Event()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        await read_request(reader, seen)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        for i in range(3):
            event = b"data: %d\n\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            if i == 0:
                await got_first.wait()  # no more until the client has the first event
        writer.write(b"0\r\n\r\n")

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        response = await transport.handle_async_request(httpx.Request("POST", url))
        chunks = []
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            got_first.set()
        await response.aclose()
        assert chunks[0] == b"data: 0\n\n"
        assert b"".join(chunks) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"

    run(with_server(handle, go))


def test_a_read_cancelled_mid_body_closes_the_connection() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, n: int
    ) -> None:
        while await read_request(reader, seen) is not None:
            if n == 1:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf.")
                await writer.drain()
                continue  # the rest never comes
            writer.write(OK)
            await writer.drain()

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        chunks: list[bytes] = []

        async def read() -> None:
            async with asyncio.timeout(0.2):
                response = await transport.handle_async_request(httpx.Request("GET", url))
                try:
                    async for chunk in response.aiter_raw():
                        chunks.append(chunk)
                finally:
                    await response.aclose()

        with pytest.raises(TimeoutError):
            await read()
        assert chunks == [b"half."]
        await asyncio.sleep(0.05)
        assert seen.closed == 1  # the server saw the client hang up
        assert (await fetch(transport, url))[1] == b"ok"
        assert seen.connections == 2

    run(with_server(handle, go, max_connections=1))


def test_a_body_left_unread_closes_the_connection() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        while await read_request(reader, seen) is not None:
            writer.write(OK[:-2])  # the head, and the body later
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(OK[-2:])

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        response = await transport.handle_async_request(httpx.Request("GET", url))
        await response.aclose()
        assert (await fetch(transport, url))[1] == b"ok"
        assert seen.connections == 2

    run(with_server(handle, go))


def test_a_read_timeout_is_an_httpx_read_timeout() -> None:
    request = httpx.Request("GET", "http://x", extensions={"timeout": {"read": 0.05}})

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        request.url = httpx.URL(url)
        with pytest.raises(httpx.ReadTimeout, match="timed out waiting for the server"):
            await transport.handle_async_request(request)

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        await read_request(reader, seen)
        await asyncio.sleep(0.3)

    run(with_server(handle, go))


# --- hostile heads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", "exceed 64 KiB"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD_BYTES, "exceed 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * (MAX_HEAD_LINES + 1) + b"\r\n", "more than 100 header lines"),
        (b"HTTP/2 200 OK\r\n\r\n", "not an HTTP/1.x status line: b'HTTP/2 200 OK'"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nX: 1\r\n  folded\r\n\r\n", "folded (obs-fold) line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed line in the response headers"),
        (b"HTTP/1.1 200 OK\r\nX : 1\r\n\r\n", "malformed line"),
        (b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", "malformed line"),
        (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "malformed line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "conflicting Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", "conflicting Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "bad Content-Length: b'+5'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1" + b"0" * 20 + b"\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line: b'zz'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 5000, "chunk size line exceed 4096 bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 17 + b"\r\n", "bad chunk size line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n", "chunk data not followed by CRLF"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"X: 1\r\n" * 101, "more than 100 trailer lines"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", "malformed line in the trailers"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "the server sent 101 Switching Protocols"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 11, "the server sent more than 10 1xx replies"),
    ],
    ids=[
        "head-too-big", "head-too-big-unended", "too-many-headers", "http2", "short-status",
        "not-http", "obs-fold", "no-colon", "space-before-colon", "nul", "bare-cr",
        "two-lengths", "length-list", "plus-length", "hex-length", "huge-length",
        "other-coding", "bad-chunk-size", "long-chunk-line", "chunk-size-17-digits",
        "no-crlf-after-chunk", "too-many-trailers", "bad-trailer", "101", "too-many-1xx",
    ],
)  # fmt: skip
def test_a_hostile_head_is_a_protocol_error(reply: bytes, words: str) -> None:
    error = failure([reply, 0.3])  # the server keeps the connection open
    assert isinstance(error, httpx.RemoteProtocolError), error
    assert words in str(error)


def test_interim_replies_are_skipped_and_lenient_forms_read() -> None:
    reply = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200\nContent-Length: 5\nContent-Length: 5\nX-Empty:\nX-Pad:  v \t\n\nhello"
    )

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for _ in range(2):
            response, data = await fetch(transport, url)
            assert (response.status_code, data, response.reason_phrase) == (200, b"hello", "")
            assert (response.headers["x-pad"], response.headers["x-empty"]) == ("v", "")
        assert seen.connections == 1

    run(with_server(answering(reply), go))


def test_http_1_0_and_connection_close_are_not_reused() -> None:
    for reply in (
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
    ):

        async def go(transport: WireTransport, url: str, seen: Seen) -> None:
            for _ in range(2):
                assert (await fetch(transport, url))[1] == b"ok"
            assert seen.connections == 2

        run(with_server(answering(reply), go))


# --- requests, connecting, errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nX-Injected: 1"}, {"X-Evil": "a\nb"}, {"X-Evil": "a\x00"}, {"Bad Name": "v"}],
)
def test_a_header_that_would_smuggle_another_is_refused(headers: dict[str, str]) -> None:
    async def go() -> None:
        transport = WireTransport()
        with pytest.raises(httpx.LocalProtocolError):
            await transport.handle_async_request(
                httpx.Request("GET", "http://127.0.0.1:9", headers=headers)
            )

    run(go())


def test_connection_refused_says_so_with_its_cause() -> None:
    async def go() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        free = port(server)
        server.close()
        await server.wait_closed()
        with pytest.raises(httpx.ConnectError) as info:
            await fetch(WireTransport(), f"http://127.0.0.1:{free}")
        assert str(info.value) == f"connection refused by 127.0.0.1:{free}"
        assert isinstance(info.value.__cause__, ConnectionRefusedError)

    run(go())


def test_an_unknown_scheme_is_refused() -> None:
    async def go() -> None:
        with pytest.raises(httpx.UnsupportedProtocol):
            await WireTransport().handle_async_request(httpx.Request("GET", "ftp://h/x"))

    run(go())


def test_a_reset_is_a_read_error() -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen, _n: int
    ) -> None:
        await read_request(reader, seen)
        reset(writer)

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
            await fetch(transport, url)

    run(with_server(handle, go))


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_verifies_the_certificate_and_reuses_the_connection(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def go(transport: WireTransport, url: str, seen: Seen) -> None:
        for _ in range(3):
            assert (await fetch(transport, url + "/v1/x"))[1] == b"ok"
        assert seen.connections == 1

    trusting = ssl.create_default_context(cafile=str(cert))
    run(with_server(answering(OK), go, tls=server_side, ssl_context=trusting))

    async def untrusted(transport: WireTransport, url: str, seen: Seen) -> None:
        with pytest.raises(
            httpx.ConnectError,
            match=r"^\[SSL: CERTIFICATE_VERIFY_FAILED\] certificate verify failed",
        ):
            await fetch(transport, url)

    default = httpx.create_ssl_context()  # the client's context: the system's CAs only
    run(with_server(answering(OK), untrusted, tls=server_side, ssl_context=default))


def test_https_checks_the_host_name(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def go() -> None:
        trusting = ssl.create_default_context(cafile=str(cert))
        transport = WireTransport(ssl_context=trusting)
        server, _ = await serve(answering(OK), server_side)
        async with server:  # by name: localhost is in the certificate
            assert (await fetch(transport, f"https://localhost:{port(server)}"))[1] == b"ok"
        server, _ = await serve(answering(OK), server_side, host="127.0.0.2")
        async with server:  # the certificate says nothing of 127.0.0.2
            with pytest.raises(httpx.ConnectError, match="certificate"):
                await fetch(transport, f"https://127.0.0.2:{port(server)}")
        await transport.aclose()

    started = time.perf_counter()
    run(go())
    assert time.perf_counter() - started < 10


# --- the parser alone, on mangled bytes ------------------------------------------------------


def test_mangled_heads_and_chunks_are_read_or_refused_never_anything_else() -> None:
    token = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
    seed = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\nX: a b\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n"
    )
    rng = random.Random(18)
    alphabet = b"\r\n\t :;,0aF\x00\x7f\xff-"
    for _ in range(3000):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[i] = rng.choice(alphabet)
            else:
                del data[i : i + rng.randint(1, 4)]
        try:
            head = parse_head(data)
            if head is None:
                continue
            for name, value in head.headers:
                assert token.fullmatch(name), name
                assert not set(value) & set(b"\r\n\x00"), value
            frame = framing("POST", head)
            if frame.kind == "chunked":
                body, _ = ChunkedDecoder().feed(data)
                assert len(body) <= len(seed)
        except ProtocolFailure:
            pass
