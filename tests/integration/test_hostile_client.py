"""The client against a hostile server, on real sockets: every offset of a cut token,
bodies that never end, nothing but an error completion out of ``attempt``."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator

import pytest

import harness.engine.client
from harness.engine.client import Attempt, Client, build_request
from harness.models import Message
from harness.secret import Secret
from tests.server.hostile import HostileServer, Seen, chat_body, chunked, reply

PIECE = 12


def token() -> str:
    return f"glm/tok+{secrets.token_hex(12)}/{secrets.token_hex(4)}=="


def leaks(value: str, text: str) -> list[str]:
    return [
        value[i : i + PIECE] for i in range(len(value) - PIECE + 1) if value[i : i + PIECE] in text
    ]


def attempt(
    url: str, key: str, *, stream: bool = False, timeout: float = 5.0, cap: int = 1 << 20
) -> Attempt:
    request = build_request(
        "chat", messages=(Message("user", "hi"),), effort="default", params={}, model="m",
        stream=stream,
    )  # fmt: skip

    async def go() -> Attempt:
        async with Client(url, api_key=Secret(key), timeout=timeout, max_reply_bytes=cap) as client:
            return await client.attempt(request)

    return asyncio.run(go())


def test_a_cut_at_every_offset_of_the_token_leaks_no_piece() -> None:
    value = token()
    pages: list[bytes] = []

    def script(seen: Seen) -> list[bytes | float]:
        return reply(pages[-1], 502, {"Content-Type": "text/html"})

    with HostileServer(script) as server:
        for padding in range(150, 200):  # the 200-character cut falls at each offset
            pages.append(f"<p>{'x' * padding} Bearer {value} rejected</p>".encode())
            done = attempt(server.url, value).completion
            assert done.error is not None
            assert "xxx" in done.error
            assert leaks(value, done.error) == [], padding


def test_a_token_split_across_stream_events_is_scrubbed_once_joined() -> None:
    value = token()
    # pieces shorter than PIECE: no single event holds enough of the token to be masked
    parts = ["key "] + [value[i : i + PIECE - 2] for i in range(0, len(value), PIECE - 2)]
    events = [
        b'data: {"choices":[{"index":0,"delta":{"content":%s}}]}\n\n' % json.dumps(part).encode()
        for part in [*parts, " ok"]
    ]
    events += [
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    sse = {"Content-Type": "text/event-stream"}
    with HostileServer(lambda seen: chunked(events, headers=sse)) as server:
        done = attempt(server.url, value, stream=True).completion
    assert done.error is None
    assert done.answer == "key *** ok"


def test_a_failure_inside_the_client_is_an_error_completion_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = token()

    def broken(*args: object, **kwargs: object) -> None:
        raise OverflowError(f"something unforeseen near {value}")

    monkeypatch.setattr(harness.engine.client, "parse_response", broken)
    with HostileServer(lambda seen: reply(chat_body("fine"))) as server:
        done = attempt(server.url, value)
    assert not done.retryable
    assert done.completion.error is not None
    assert done.completion.error.startswith(
        "client error: OverflowError: something unforeseen near ***"
    )
    assert leaks(value, done.completion.error) == []


def test_a_stream_that_never_ends_stops_at_the_deadline() -> None:
    event = b'data: {"choices":[{"index":0,"delta":{"reasoning":"hmm"}}]}\n\n'

    def forever(seen: Seen) -> Iterator[bytes | float]:
        sse = {"Content-Type": "text/event-stream"}
        return chunked(iter(lambda: event, None), headers=sse, pause=0.01)

    with HostileServer(forever) as server:
        started = time.monotonic()
        done = attempt(server.url, token(), stream=True, timeout=0.5)
        took = time.monotonic() - started
    assert (done.completion.error, done.retryable) == ("timeout after 0.5s", True)
    assert took < 2


def test_doctor_shows_no_piece_of_a_token_echoed_escaped_or_cut(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway that echoes the header JSON-escaped on every path, and cut short in a
    200-character error snippet: doctor's screen (text and JSON) shows no piece of it."""
    import argparse

    from harness.doctor import command as doctor

    value = token()
    escaped = json.dumps(f"Bearer {value}").replace("/", "\\/")[1:-1]
    message = f'{{"role":"assistant","content":"OK {escaped}","reasoning":"{escaped}"}}'
    chat = f'{{"choices":[{{"index":0,"message":{message},"finish_reason":"stop"}}]}}'

    def script(seen: Seen) -> list[bytes | float]:
        if seen.path.startswith("/v1/chat"):
            return reply(chat.encode())
        page = f"<p>{'x' * 180} Bearer {value}</p>".encode()  # cut at 200 characters
        return reply(page, 502, {"Content-Type": "text/html"})

    monkeypatch.setenv("GLM_API_KEY", value)
    with HostileServer(script) as server:
        for fmt in ("text", "json"):
            parser = argparse.ArgumentParser()
            doctor.add_arguments(parser)
            doctor.main(
                parser.parse_args(["--base-url", server.url, "--format", fmt, "--timeout", "5"])
            )
            out, err = capsys.readouterr()
            assert "Traceback" not in out + err
            assert "chat" in out
            assert leaks(value, out + err) == [], fmt
            assert escaped not in out
