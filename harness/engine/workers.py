"""A few daemon threads that run blocking work (grading) for an asyncio loop.

``loop.run_in_executor`` with a ``ThreadPoolExecutor`` would do, but the interpreter joins
that executor's threads at exit: a ``python`` check that sleeps, or never returns, would
hold up the end of an interrupted run. These threads are daemons, so Ctrl-C ends the run
at once; a job still running then is abandoned (its sample had no grade yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class Workers:
    """``await workers.run(fn)`` on a loop: ``fn()`` runs in one of ``threads`` threads
    while the loop goes on; its result or exception comes back to the awaiting task."""

    def __init__(self, threads: int, name: str) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    def close(self) -> None:
        """Take no more work; the threads end when they finish what they are running."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, future = job
            if future.cancelled():  # the task gave up waiting (the run is closing)
                continue
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # as run_in_executor: the awaiting task sees it
                error = exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result, error)
            del job, fn, future, result, error  # hold nothing while waiting for the next


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
