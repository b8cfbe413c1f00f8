"""Runs every request on one asyncio loop in a background thread: adaptive concurrency,
bounded retries with backoff, and the answer cache.

pytest runs items one after another; the engine lets the plugin schedule every selected
item's requests up front, so an item's ``runtest`` only waits for its own results while
later requests are still in flight. ``submit`` takes a ``then`` callback that runs as soon
as a sample's answer is in (the plugin grades and records it there, so an interrupted run
keeps every answer that arrived).

``then`` runs in a small pool of grading threads, never on the loop: grading a hostile
answer (a megabyte of JSON, a slow ``python`` check) must not stall the other requests in
flight, and the main thread, which waits on the futures, stays free to take SIGINT and
SIGTERM. Work a ``then`` coroutine does on the loop is offloaded the same way
(:meth:`Engine.offload`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from harness.engine.cache import Cache, cache_key
from harness.engine.client import Attempt, Fetched
from harness.engine.limiter import AdaptiveLimit
from harness.engine.parse import error_completion
from harness.engine.retry import RetryPolicy
from harness.engine.workers import Workers
from harness.errors import AuthError
from harness.models import Completion, Request
from harness.settings.values import DEFAULT_CONCURRENCY

R = TypeVar("R")
T = TypeVar("T")

GRADING_THREADS = 2  # grading is mostly C (RE2, rapidfuzz, json) that releases the GIL


class Sender(Protocol):
    """What the engine needs of a client (``harness.engine.client.Client`` is one)."""

    async def attempt(
        self, request: Request, *, max_output_tokens: int | None = None
    ) -> Attempt: ...

    async def get(self, path: str, *, timeout: float | None = None) -> Fetched: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class EngineStats:
    requests: int = 0  # samples asked for
    sent: int = 0  # HTTP attempts made
    retries: int = 0
    cached: int = 0
    failed: int = 0  # samples that ended in an error
    input_tokens: int = 0  # as the server reported them, for answers sent (not cached)
    output_tokens: int = 0


@dataclass(slots=True)
class _Lane:
    """Where one kind of request goes: the graded answers, or the judge's verdicts."""

    client: Sender
    limit: AdaptiveLimit
    endpoint: str
    stats: EngineStats = field(default_factory=EngineStats)
    auth_error: AuthError | None = None  # refused once: refused for every request


class Engine:
    """Owns the loop thread and the client; ``submit`` is safe to call from any thread.

    Judge requests (:meth:`judge`, awaited on the loop) are counted in ``judge_stats``. They
    share the answers' client and concurrency limit unless ``make_judge_client`` gives the
    judge an endpoint of its own, which then gets its own limit (a 429 there does not slow
    the answers)."""

    def __init__(
        self,
        make_client: Callable[[], Sender],
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        policy: RetryPolicy | None = None,
        cache: Cache | None = None,
        endpoint: str = "",
        make_judge_client: Callable[[], Sender] | None = None,
        judge_endpoint: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.policy = policy or RetryPolicy()
        self.cache = cache
        self.endpoint = endpoint
        self._loop = asyncio.new_event_loop()
        self._grading = Workers(GRADING_THREADS, "glm-grade")
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="glm-engine", daemon=True
        )
        self._thread.start()
        setup = asyncio.run_coroutine_threadsafe(
            self._setup(make_client, make_judge_client, concurrency), self._loop
        )
        answers, judges = setup.result()
        self._answers = _Lane(answers[0], answers[1], endpoint)
        self._judges = (
            _Lane(answers[0], answers[1], judge_endpoint or endpoint)
            if judges is None
            else _Lane(judges[0], judges[1], judge_endpoint or endpoint)
        )
        self.stats, self.judge_stats = self._answers.stats, self._judges.stats
        self.limit, self.judge_limit = self._answers.limit, self._judges.limit
        # the canaries: the answers' client and limit, counted apart, never cached
        self._canaries = _Lane(answers[0], answers[1], endpoint)
        self.canary_stats = self._canaries.stats

    async def _setup(
        self,
        make_client: Callable[[], Sender],
        make_judge_client: Callable[[], Sender] | None,
        concurrency: int,
    ) -> tuple[tuple[Sender, AdaptiveLimit], tuple[Sender, AdaptiveLimit] | None]:
        answers = make_client(), AdaptiveLimit(concurrency)
        if make_judge_client is None:
            return answers, None
        return answers, (make_judge_client(), AdaptiveLimit(concurrency))

    def submit(
        self,
        request: Request,
        then: Callable[[Completion, int], R | Awaitable[R]],
        *,
        sample: int = 0,
        max_output_tokens: int | None = None,
    ) -> concurrent.futures.Future[R]:
        """Schedule one sample of ``request``. The future resolves to ``then(completion,
        attempts)``, run in a grading thread (attempts is 0 for a cached answer; when
        ``then`` returns an awaitable, e.g. a coroutine asking the judge, the loop awaits
        it and the future resolves to its result), or raises AuthError."""
        coro = self._run(request, then, sample, max_output_tokens)
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _run(
        self,
        request: Request,
        then: Callable[[Completion, int], R | Awaitable[R]],
        sample: int,
        max_output_tokens: int | None,
    ) -> R:
        completion, attempts = await self._ask(self._answers, request, sample, max_output_tokens)
        result = await self.offload(then, completion, attempts)
        if inspect.isawaitable(result):
            return await result
        return result

    def probe(
        self, request: Request, *, max_output_tokens: int | None = None
    ) -> concurrent.futures.Future[tuple[Completion, int]]:
        """Send ``request`` now, bypassing the cache (a canary tests the server as it is),
        with the answers' retries and limit, counted in ``canary_stats``. The future
        resolves to ``(completion, attempts)``, or raises AuthError."""
        coro = self._send(self._canaries, request, max_output_tokens)
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def fetch(self, path: str, *, timeout: float) -> concurrent.futures.Future[Fetched]:
        """``GET path`` once on the answers' client (the server's fingerprint): not
        cached, retried or counted."""
        coro = self._answers.client.get(path, timeout=timeout)
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def offload(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a grading thread, awaited on the loop (which meanwhile serves
        the other requests): for grading, and any parsing of what a server sent."""
        return await self._grading.run(functools.partial(fn, *args))

    async def judge(
        self,
        request: Request,
        *,
        sample: int = 0,
        max_output_tokens: int | None = None,
        keep: Callable[[Completion], bool] | None = None,
    ) -> tuple[Completion, int]:
        """Ask the judge (await on the engine's loop, e.g. from a ``then`` coroutine): the
        answers' retries and cache, counted in ``judge_stats``. Only answers that ``keep``
        accepts (a valid verdict) are cached; a cached one it refuses is asked again."""
        return await self._ask(self._judges, request, sample, max_output_tokens, keep)

    async def _ask(
        self,
        lane: _Lane,
        request: Request,
        sample: int,
        max_output_tokens: int | None,
        keep: Callable[[Completion], bool] | None = None,
    ) -> tuple[Completion, int]:
        """One sample of ``request`` on ``lane``: from the cache, else sent (with retries)."""
        stats = lane.stats
        stats.requests += 1
        key = cache_key(lane.endpoint, request, sample) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None and (keep is None or await self.offload(keep, hit)):
                stats.cached += 1
                return hit, 0
            if self.cache.mode == "only":
                stats.failed += 1
                return error_completion(0, 0.0, "not in the cache (--glm-cache=only)"), 0
        completion, attempts = await self._send(lane, request, max_output_tokens)
        stats.input_tokens += completion.usage.input_tokens or 0
        stats.output_tokens += completion.usage.output_tokens or 0
        if completion.error is not None:
            stats.failed += 1
        elif self.cache is not None and (keep is None or await self.offload(keep, completion)):
            self.cache.put(key, request, completion)
        return completion, attempts

    async def _send(
        self, lane: _Lane, request: Request, max_output_tokens: int | None
    ) -> tuple[Completion, int]:
        attempt = 0
        while True:
            attempt += 1
            epoch = await lane.limit.acquire()
            throttled = False
            try:
                if lane.auth_error is not None:
                    raise lane.auth_error
                lane.stats.sent += 1
                result = await lane.client.attempt(request, max_output_tokens=max_output_tokens)
                throttled = result.completion.status == 429
            except AuthError as exc:
                lane.auth_error = exc
                raise
            finally:
                await lane.limit.release(epoch, throttled=throttled)
            done = result.completion
            if done.error is None:
                return done, attempt
            if not result.retryable or attempt > self.policy.retries:
                return error_completion(
                    done.status, done.latency_ms, _final(done, attempt)
                ), attempt
            lane.stats.retries += 1
            await asyncio.sleep(self.policy.delay(attempt, result.retry_after))

    def close(self) -> None:
        """Cancel what is still pending, close the client, stop the loop thread and the
        grading threads (a sample being graded is not waited for)."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._answers.client.aclose()
            if self._judges.client is not self._answers.client:
                await self._judges.client.aclose()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=30)
        finally:
            self._grading.close()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()


def _final(done: Completion, attempts: int) -> str:
    """The error a user sees: status, the server's message, how many attempts were made."""
    prefix = f"HTTP {done.status}"
    error = done.error or ""
    status = f"{prefix}: " if done.status and not error.startswith(prefix) else ""
    return f"{status}{error} ({attempts} attempt{'' if attempts == 1 else 's'})"
