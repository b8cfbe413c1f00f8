"""Runs every request on one asyncio loop in a background thread: adaptive concurrency,
bounded retries with backoff, and the answer cache.

pytest runs items one after another; the engine lets the plugin schedule every selected
item's requests up front, so an item's ``runtest`` only waits for its own results while
later requests are still in flight. ``submit`` takes a ``then`` callback that runs on the
loop thread as soon as a sample's answer is in (the plugin grades and records it there,
so an interrupted run keeps every answer that arrived).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from harness.cache import Cache, cache_key
from harness.client import Attempt
from harness.errors import AuthError
from harness.limiter import AdaptiveLimit
from harness.models import Completion, Request
from harness.parse import error_completion
from harness.retry import RetryPolicy
from harness.settings import DEFAULT_CONCURRENCY

R = TypeVar("R")


class Sender(Protocol):
    """What the engine needs of a client (``harness.client.Client`` is one)."""

    async def attempt(
        self, request: Request, *, max_output_tokens: int | None = None
    ) -> Attempt: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class EngineStats:
    requests: int = 0  # samples asked for
    sent: int = 0  # HTTP attempts made
    retries: int = 0
    cached: int = 0
    failed: int = 0  # samples that ended in an error


class Engine:
    """Owns the loop thread and the client; ``submit`` is safe to call from any thread."""

    def __init__(
        self,
        make_client: Callable[[], Sender],
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        policy: RetryPolicy | None = None,
        cache: Cache | None = None,
        endpoint: str = "",
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.policy = policy or RetryPolicy()
        self.cache = cache
        self.endpoint = endpoint
        self.stats = EngineStats()
        self._auth_error: AuthError | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="glm-engine", daemon=True
        )
        self._thread.start()
        setup = asyncio.run_coroutine_threadsafe(self._setup(make_client, concurrency), self._loop)
        self._client, self.limit = setup.result()

    async def _setup(
        self, make_client: Callable[[], Sender], concurrency: int
    ) -> tuple[Sender, AdaptiveLimit]:
        return make_client(), AdaptiveLimit(concurrency)

    def submit(
        self,
        request: Request,
        then: Callable[[Completion, int], R],
        *,
        sample: int = 0,
        max_output_tokens: int | None = None,
    ) -> concurrent.futures.Future[R]:
        """Schedule one sample of ``request``. The future resolves to ``then(completion,
        attempts)`` (attempts is 0 for a cached answer), or raises AuthError."""
        coro = self._run(request, then, sample, max_output_tokens)
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _run(
        self,
        request: Request,
        then: Callable[[Completion, int], R],
        sample: int,
        max_output_tokens: int | None,
    ) -> R:
        self.stats.requests += 1
        key = cache_key(self.endpoint, request, sample) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats.cached += 1
                return then(hit, 0)
            if self.cache.mode == "only":
                self.stats.failed += 1
                return then(error_completion(0, 0.0, "not in the cache (--glm-cache=only)"), 0)
        completion, attempts = await self._send(request, max_output_tokens)
        if completion.error is not None:
            self.stats.failed += 1
        elif self.cache is not None:
            self.cache.put(key, request, completion)
        return then(completion, attempts)

    async def _send(
        self, request: Request, max_output_tokens: int | None
    ) -> tuple[Completion, int]:
        attempt = 0
        while True:
            attempt += 1
            epoch = await self.limit.acquire()
            throttled = False
            try:
                if self._auth_error is not None:
                    raise self._auth_error  # refused once: refused for every request
                self.stats.sent += 1
                result = await self._client.attempt(request, max_output_tokens=max_output_tokens)
                throttled = result.completion.status == 429
            except AuthError as exc:
                self._auth_error = exc
                raise
            finally:
                await self.limit.release(epoch, throttled=throttled)
            done = result.completion
            if done.error is None:
                return done, attempt
            if not result.retryable or attempt > self.policy.retries:
                return error_completion(
                    done.status, done.latency_ms, _final(done, attempt)
                ), attempt
            self.stats.retries += 1
            await asyncio.sleep(self.policy.delay(attempt, result.retry_after))

    def close(self) -> None:
        """Cancel what is still pending, close the client, stop the loop thread."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._client.aclose()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()


def _final(done: Completion, attempts: int) -> str:
    """The error a user sees: status, the server's message, how many attempts were made."""
    prefix = f"HTTP {done.status}"
    error = done.error or ""
    status = f"{prefix}: " if done.status and not error.startswith(prefix) else ""
    return f"{status}{error} ({attempts} attempt{'' if attempts == 1 else 's'})"
