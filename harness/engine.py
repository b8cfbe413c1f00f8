"""Runs requests on one asyncio loop in a background thread, bounded by a concurrency limit.

pytest runs items one after another; the engine lets the plugin schedule every selected
item's requests up front, so an item's ``runtest`` only waits for its own results while
later requests are still in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Protocol

from harness.models import Completion, Request

DEFAULT_CONCURRENCY = 8


class Sender(Protocol):
    """What the engine needs of a client (``harness.client.Client`` is one)."""

    async def complete(
        self, request: Request, *, max_output_tokens: int | None = None
    ) -> Completion: ...

    async def aclose(self) -> None: ...


class Engine:
    """Owns the loop thread and the client; ``submit`` is safe to call from any thread."""

    def __init__(
        self, make_client: Callable[[], Sender], concurrency: int = DEFAULT_CONCURRENCY
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="glm-engine", daemon=True
        )
        self._thread.start()
        setup = asyncio.run_coroutine_threadsafe(self._setup(make_client, concurrency), self._loop)
        self._client, self._limit = setup.result()

    async def _setup(
        self, make_client: Callable[[], Sender], concurrency: int
    ) -> tuple[Sender, asyncio.Semaphore]:
        return make_client(), asyncio.Semaphore(concurrency)

    def submit(
        self, request: Request, *, max_output_tokens: int | None = None
    ) -> concurrent.futures.Future[Completion]:
        """Schedule a request; the future resolves to its Completion (or raises AuthError)."""
        return asyncio.run_coroutine_threadsafe(self._run(request, max_output_tokens), self._loop)

    async def _run(self, request: Request, max_output_tokens: int | None) -> Completion:
        async with self._limit:
            return await self._client.complete(request, max_output_tokens=max_output_tokens)

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
