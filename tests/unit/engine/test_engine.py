"""The engine: a concurrency limit, futures usable from any thread, shutdown, errors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path

import pytest

from harness.engine.cache import Cache
from harness.engine.client import Attempt
from harness.engine.runner import Engine
from harness.errors import AuthError
from harness.models import Completion, Request, Usage

WAIT = 5.0  # seconds; a safety net so that a broken engine fails instead of hanging


def keep(completion: Completion, attempts: int) -> Completion:
    return completion


def request(n: int) -> Request:
    return Request(api="chat", path="/v1/chat/completions", body={"n": n})


class FakeSender:
    """Answers each request with its body's ``n`` after ``delay``; ``block`` never answers.
    With ``peak``, requests also wait until ``peak`` of them were in flight at once, so a
    limit that is honoured is also reached, however slowly the test submits.
    Runs on the engine's loop thread only, so its counters need no lock."""

    def __init__(
        self,
        *,
        delay: float = 0.01,
        block: bool = False,
        error: Exception | None = None,
        peak: int = 0,
    ) -> None:
        self.delay = delay
        self.peak = peak
        self.peak_reached = asyncio.Event()
        self.block = block
        self.error = error
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = 0
        self.closed = 0
        self.threads: set[str] = set()
        self.max_tokens: list[int | None] = []
        self.two_started = threading.Event()

    async def attempt(self, request: Request, *, max_output_tokens: int | None = None) -> Attempt:
        self.threads.add(threading.current_thread().name)
        self.max_tokens.append(max_output_tokens)
        self.started += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.started == 2:
            self.two_started.set()
        if self.in_flight >= self.peak:
            self.peak_reached.set()
        try:
            # not asyncio.wait_for: on 3.11 it can swallow the cancellation close() sends
            if not self.peak_reached.is_set():
                await self.peak_reached.wait()
            if self.block:
                await asyncio.Event().wait()
            await asyncio.sleep(self.delay)
            if self.error is not None:
                raise self.error
        finally:
            self.in_flight -= 1
        return Attempt(self.answer(request), retryable=False)

    def answer(self, request: Request) -> Completion:
        return Completion(
            answer=str(request.body["n"]),
            reasoning="",
            usage=Usage(),
            finish="stop",
            truncated=False,
            latency_ms=self.delay * 1000,
            status=200,
        )

    async def aclose(self) -> None:
        self.closed += 1


@pytest.fixture
def start() -> Iterator[Callable[[FakeSender, int], Engine]]:
    """Start engines over a fake sender; every one is closed at teardown."""
    engines: list[Engine] = []

    def make(sender: FakeSender, concurrency: int) -> Engine:
        engine = Engine(lambda: sender, concurrency=concurrency)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.mark.parametrize(
    ("concurrency", "requests"),
    [
        pytest.param(3, 12, id="3-of-12"),
        pytest.param(1, 5, id="one-at-a-time"),
        pytest.param(8, 4, id="limit-above-requests"),
    ],
)
def test_concurrency_is_bounded_and_every_request_completes(
    start: Callable[[FakeSender, int], Engine], concurrency: int, requests: int
) -> None:
    sender = FakeSender(peak=min(concurrency, requests))
    engine = start(sender, concurrency)
    futures = [engine.submit(request(n), keep) for n in range(requests)]
    answers = [future.result(timeout=WAIT).answer for future in futures]
    assert answers == [str(n) for n in range(requests)]
    assert sender.started == requests
    assert sender.max_in_flight == min(concurrency, requests)
    assert sender.in_flight == 0


def test_requests_run_on_the_engine_thread_and_resolve_in_another(
    start: Callable[[FakeSender, int], Engine],
) -> None:
    sender = FakeSender()
    engine = start(sender, 4)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        # submitted from worker threads, awaited from this one
        futures = list(
            pool.map(lambda n: engine.submit(request(n), keep, max_output_tokens=n), range(6))
        )
    assert sorted(f.result(timeout=WAIT).answer for f in futures) == [str(n) for n in range(6)]
    assert sender.threads == {"glm-engine"}
    assert sorted(sender.max_tokens) == list(range(6))


def test_max_output_tokens_defaults_to_none(start: Callable[[FakeSender, int], Engine]) -> None:
    sender = FakeSender()
    start(sender, 1).submit(request(1), keep).result(timeout=WAIT)
    assert sender.max_tokens == [None]


def test_close_cancels_pending_work_and_closes_the_client_once(
    start: Callable[[FakeSender, int], Engine],
) -> None:
    sender = FakeSender(block=True)
    engine = start(sender, 2)
    futures = [engine.submit(request(n), keep) for n in range(5)]
    assert sender.two_started.wait(WAIT)
    engine.close()
    for future in futures:
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(timeout=WAIT)
    assert sender.started == 2  # the three waiting for a slot never reached the client
    assert sender.closed == 1
    engine.close()  # a second close (and the fixture's) is a no-op
    assert sender.closed == 1


def test_close_after_all_work_is_done(start: Callable[[FakeSender, int], Engine]) -> None:
    sender = FakeSender()
    engine = start(sender, 2)
    assert engine.submit(request(7), keep).result(timeout=WAIT).answer == "7"
    engine.close()
    assert sender.closed == 1


@pytest.mark.parametrize("concurrency", [0, -1])
def test_concurrency_below_one_is_refused(concurrency: int) -> None:
    made: list[FakeSender] = []

    def make_client() -> FakeSender:
        made.append(FakeSender())
        return made[-1]

    with pytest.raises(ValueError, match=f"concurrency must be at least 1, got {concurrency}"):
        Engine(make_client, concurrency=concurrency)
    assert made == []


def test_an_auth_error_propagates_through_the_future(
    start: Callable[[FakeSender, int], Engine],
) -> None:
    sender = FakeSender(error=AuthError(401, "invalid token"))
    engine = start(sender, 2)
    futures = [engine.submit(request(n), keep) for n in range(3)]
    for future in futures:
        with pytest.raises(AuthError) as info:
            future.result(timeout=WAIT)
        assert (info.value.status, info.value.message) == (401, "invalid token")
    assert sender.in_flight == 0


# --- the judge's lane -------------------------------------------------------------------


def test_a_then_coroutine_asks_the_judge_counted_apart(tmp_path: Path) -> None:
    """Judge requests are awaited from a ``then`` coroutine on the loop, share the answers'
    client when the judge has no endpoint of its own, and are counted in judge_stats; only
    answers that ``keep`` accepts are cached, and a cached one it refuses is asked again."""
    sender = FakeSender()
    engine = Engine(lambda: sender, 4, cache=Cache(tmp_path, "use"), endpoint="e")
    try:

        def then(done: Completion, attempts: int) -> Coroutine[None, None, str]:
            async def ask() -> str:
                verdict, _ = await engine.judge(
                    request(int(done.answer) + 100), keep=lambda c: c.answer != "101"
                )
                return f"{done.answer}->{verdict.answer}"

            return ask()

        first = [engine.submit(request(n), then).result(WAIT) for n in (1, 2)]
        assert first == ["1->101", "2->102"]
        again = [engine.submit(request(n), then).result(WAIT) for n in (1, 2)]
        assert again == first
    finally:
        engine.close()
    assert (engine.stats.requests, engine.stats.sent, engine.stats.cached) == (4, 2, 2)
    judge = engine.judge_stats
    assert (judge.requests, judge.sent, judge.cached) == (4, 3, 1)  # "101" is never kept
    assert engine.judge_limit is engine.limit
    assert sender.closed == 1


def test_a_judge_with_its_own_endpoint_has_its_own_client_and_limit() -> None:
    answers, judges = FakeSender(), FakeSender()
    engine = Engine(lambda: answers, 2, make_judge_client=lambda: judges, judge_endpoint="j")
    try:

        async def ask(done: Completion, attempts: int) -> str:
            verdict, _ = await engine.judge(request(7))
            return verdict.answer

        assert engine.submit(request(1), ask).result(WAIT) == "7"
    finally:
        engine.close()
    assert (answers.started, judges.started) == (1, 1)
    assert engine.judge_limit is not engine.limit
    assert (answers.closed, judges.closed) == (1, 1)


def test_grading_runs_off_the_loop_and_does_not_hold_up_other_requests(
    start: Callable[[FakeSender, int], Engine],
) -> None:
    sender = FakeSender(delay=0.01)
    engine = start(sender, 4)
    release = threading.Event()
    graded_in: set[str] = set()

    def slow(completion: Completion, attempts: int) -> Completion:
        graded_in.add(threading.current_thread().name)
        release.wait(WAIT)  # a grading that takes its time (a slow `python` check)
        return completion

    def quick(completion: Completion, attempts: int) -> Completion:
        graded_in.add(threading.current_thread().name)
        return completion

    blocked = engine.submit(request(0), slow)
    others = [engine.submit(request(n), quick) for n in range(1, 9)]
    assert [f.result(timeout=WAIT).answer for f in others] == [str(n) for n in range(1, 9)]
    assert not blocked.done()
    release.set()
    assert blocked.result(timeout=WAIT).answer == "0"
    assert graded_in
    assert all(name.startswith("glm-grade") for name in graded_in)
    assert sender.threads == {"glm-engine"}


def test_offload_runs_in_a_grading_thread_and_returns_or_raises(
    start: Callable[[FakeSender, int], Engine],
) -> None:
    engine = start(FakeSender(), 2)

    async def then(completion: Completion, attempts: int) -> tuple[str, str]:
        name = await engine.offload(lambda: threading.current_thread().name)
        try:
            await engine.offload(int, "not a number")
        except ValueError as exc:
            return name, str(exc)
        return name, ""

    name, error = engine.submit(request(1), then).result(timeout=WAIT)
    assert name.startswith("glm-grade")
    assert "invalid literal" in error


def test_close_does_not_wait_for_a_grading_that_never_ends(
    start: Callable[[FakeSender, int], Engine],
) -> None:
    engine = start(FakeSender(), 2)
    stuck = threading.Event()

    def never(completion: Completion, attempts: int) -> Completion:
        stuck.set()
        threading.Event().wait()  # a daemon thread: abandoned at exit
        return completion

    engine.submit(request(0), never)
    assert stuck.wait(WAIT)
    started = time.monotonic()
    engine.close()
    assert time.monotonic() - started < 2.0
