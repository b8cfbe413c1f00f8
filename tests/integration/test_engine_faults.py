"""The engine with the real client against faults on real sockets: every request ends in
a stated outcome, retries stay within the bound, Retry-After is honoured, 429s shrink the
concurrency limit, and the token never leaks."""

from __future__ import annotations

import asyncio
import socket
import time
import types
from collections.abc import Callable, Iterator

import pytest

import harness.engine.runner
from harness.engine.client import Client, build_request
from harness.engine.retry import RetryPolicy
from harness.engine.runner import Engine
from harness.errors import AuthError
from harness.models import Completion, Message, Request
from tests.server.app import Fault, Rule, ScriptedServer

FAST = RetryPolicy(retries=3, base_delay=0.01, max_delay=0.05, retry_after_cap=0.3)
WAIT = 30


def req(word: str, api: str = "chat") -> Request:
    return build_request(
        api,
        messages=(Message("user", f"say {word}"),),
        effort="default",  # type: ignore[arg-type]
        params={"max_output_tokens": 64},
        model="m",
    )


def keep(completion: Completion, attempts: int) -> tuple[Completion, int]:
    return completion, attempts


@pytest.fixture
def engine_for() -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(
        url: str,
        *,
        concurrency: int = 4,
        policy: RetryPolicy = FAST,
        timeout: float = 5.0,
        api_key: str | None = None,
    ) -> Engine:
        engine = Engine(
            lambda: Client(url, api_key=api_key, timeout=timeout), concurrency, policy=policy
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def ok(word: str) -> Rule:
    return Rule(match=word, answer=f"{word}!")


@pytest.mark.parametrize(
    ("faults", "attempts"),
    [
        pytest.param([Fault(status=429, retry_after="0")], 2, id="429-retry-after-seconds"),
        pytest.param([Fault(status=429)], 2, id="429-no-retry-after"),
        pytest.param([Fault(status=503)] * 3, 4, id="503-burst"),
        pytest.param([Fault(status=500), Fault(status=502), Fault(status=504)], 4, id="5xx-mix"),
        pytest.param([Fault(status=408)], 2, id="408"),
        pytest.param([Fault(status=409)], 2, id="409"),
        pytest.param(
            [Fault(status=424, headers={"ms-azureml-model-error-statuscode": "503"})],
            2,
            id="424-5xx",
        ),
        pytest.param([Fault(status=424)], 2, id="424-no-header"),
        pytest.param([Fault(kind="reset")], 2, id="reset"),
        pytest.param([Fault(kind="cut")], 2, id="body-cut-short"),
        pytest.param([Fault(kind="malformed")], 2, id="malformed-json"),
        pytest.param([Fault(kind="error200")], 2, id="200-with-error-body"),
        pytest.param([Fault(status=502, error_shape="html")], 2, id="html-proxy-page"),
        pytest.param([Fault(kind="stall", stall=1.0)], 2, id="stall-past-timeout"),
    ],
)
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_transient_faults_are_retried_then_answered(
    server: ScriptedServer,
    engine_for: Callable[..., Engine],
    faults: list[Fault],
    attempts: int,
    api: str,
) -> None:
    server.rules = [Rule(match="hello", answer="hello!", faults=faults)]
    engine = engine_for(server.url, timeout=0.5)
    done, tries = engine.submit(req("hello", api), keep).result(timeout=WAIT)
    assert done.error is None
    assert done.answer == "hello!"
    assert tries == attempts
    assert server.requests_for("hello") == attempts
    assert engine.stats.retries == attempts - 1


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        pytest.param(
            Fault(status=400, message="bad field"),
            "HTTP 400: BadRequestError: bad field (1 attempt)",
            id="400",
        ),
        pytest.param(
            Fault(status=404, message="no model"),
            "HTTP 404: NotFoundError: no model (1 attempt)",
            id="404",
        ),
        pytest.param(Fault(status=422, message="unprocessable"), "HTTP 422: ", id="422"),
        pytest.param(
            Fault(status=424, headers={"ms-azureml-model-error-statuscode": "400"}, message="ctx"),
            "HTTP 424: ",
            id="424-4xx",
        ),
    ],
)
def test_client_errors_are_never_retried(
    server: ScriptedServer, engine_for: Callable[..., Engine], fault: Fault, shown: str
) -> None:
    server.rules = [Rule(match="hello", answer="hello!", faults=[fault])]
    done, tries = engine_for(server.url).submit(req("hello"), keep).result(timeout=WAIT)
    assert tries == 1
    assert server.requests_for("hello") == 1
    assert done.error is not None
    assert done.error.startswith(shown)
    assert done.status == fault.status


def test_the_bound_is_never_exceeded_and_the_error_says_so(
    server: ScriptedServer, engine_for: Callable[..., Engine]
) -> None:
    server.rules = [Rule(match="hello", faults=[Fault(status=503, message="busy")] * 10)]
    done, tries = engine_for(server.url).submit(req("hello"), keep).result(timeout=WAIT)
    assert tries == FAST.retries + 1
    assert server.requests_for("hello") == FAST.retries + 1
    assert done.error == "HTTP 503: ServiceUnavailableError: busy (4 attempts)"


def test_connection_refused_is_retried_then_reported(engine_for: Callable[..., Engine]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done, tries = engine_for(f"http://127.0.0.1:{port}").submit(req("x"), keep).result(timeout=WAIT)
    assert tries == FAST.retries + 1
    assert done.status == 0
    assert done.error is not None
    assert "connection error: ConnectError" in done.error
    assert done.error.endswith("(4 attempts)")


def test_retry_after_is_honoured_up_to_the_cap(
    server: ScriptedServer, engine_for: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    server.rules = [
        Rule(match="hello", answer="hello!", faults=[Fault(status=429, retry_after="0.25")]),
        Rule(match="bye", answer="bye!", faults=[Fault(status=429, retry_after="3600")]),
    ]
    # the engine's waits, recorded; each really sleeps, at most a second (a wrong cap fails
    # on the recorded value, not on the result's timeout)
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(min(delay, 1.0))

    monkeypatch.setattr(
        harness.engine.runner, "asyncio", types.SimpleNamespace(**{**vars(asyncio), "sleep": sleep})
    )
    engine = engine_for(server.url)
    start = time.monotonic()
    engine.submit(req("hello"), keep).result(timeout=WAIT)
    assert time.monotonic() - start >= 0.25  # the server asked for a quarter of a second
    done, tries = engine.submit(req("bye"), keep).result(timeout=WAIT)
    assert (done.answer, tries) == ("bye!", 2)
    # as asked, then an hour capped at FAST.retry_after_cap
    assert waits == [0.25, FAST.retry_after_cap]


def test_429s_shrink_the_concurrency_limit(
    server: ScriptedServer, engine_for: Callable[..., Engine]
) -> None:
    server.rules = [
        Rule(match="w", answer="ok", delay=0.05, faults=[Fault(status=429, retry_after="0")] * 8)
    ]
    engine = engine_for(server.url, concurrency=8)
    futures = [engine.submit(req(f"w{n}"), keep) for n in range(40)]
    results = [f.result(timeout=WAIT) for f in futures]
    assert all(done.error is None for done, _ in results)
    # once per epoch: the eight 429s go to the first eight requests, all sent before the
    # first decrease (a retry that overtook one of them would open a second epoch); halving
    # on every 429 would shrink it three times (8 -> 4 -> 2 -> 1)
    assert engine.limit.shrinks in (1, 2)
    assert server.max_in_flight <= 8


def test_other_requests_complete_while_one_keeps_failing(
    server: ScriptedServer, engine_for: Callable[..., Engine]
) -> None:
    server.rules = [Rule(match="bad", status=500, error_message="broken"), ok("good")]
    engine = engine_for(server.url)
    futures = [engine.submit(req("bad" if n == 3 else f"good{n}"), keep) for n in range(10)]
    results = [f.result(timeout=WAIT)[0] for f in futures]
    assert [r.error is None for r in results] == [n != 3 for n in range(10)]


def test_rejected_credentials_stop_every_further_request(
    server: ScriptedServer, engine_for: Callable[..., Engine]
) -> None:
    token = "test-token-never-shown-0123456789"
    server.api_key = "test-token-the-right-one-000000"
    server.rules = [Rule(match=".", answer="x", delay=0.05)]
    engine = engine_for(server.url, concurrency=1, api_key=token)
    futures = [engine.submit(req(f"w{n}"), keep) for n in range(6)]
    errors = []
    for future in futures:
        with pytest.raises(AuthError) as info:
            future.result(timeout=WAIT)
        errors.append(info.value)
    assert len(server.requests) == 1  # the first 401 stopped the rest
    assert all(token not in str(e) and token not in repr(e) for e in errors)
    assert errors[0].status == 401
