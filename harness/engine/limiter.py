"""Adaptive concurrency: additive increase, multiplicative decrease (AIMD), like TCP.

A 429 halves the number of requests allowed in flight (once per "epoch": the 429s of
requests that started before the last decrease do not decrease it again); every ``limit``
successes in a row raise it by one, back up to the configured maximum.

Waiters queue in FIFO order and a release hands its slot straight to the next one, so
each acquire and release is O(1) however many thousands of requests are queued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class AdaptiveLimit:
    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError(f"concurrency must be at least 1, got {maximum}")
        self.maximum = maximum
        self.limit = maximum
        self.shrinks = 0
        self.in_flight = 0
        self._epoch = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> int:
        """Wait for a free slot; returns the epoch the request starts in."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return self._epoch
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the slot is counted for us by the release that wakes us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()  # woken and cancelled at once: give the slot back
            else:
                with contextlib.suppress(ValueError):  # a release may have dropped it already
                    self._waiters.remove(waiter)
            raise
        return self._epoch

    async def release(self, epoch: int, *, throttled: bool) -> None:
        if throttled:
            self._successes = 0
            if epoch == self._epoch and self.limit > 1:
                self.limit = max(1, self.limit // 2)
                self.shrinks += 1
                self._epoch += 1
        else:
            self._successes += 1
            if self._successes >= self.limit and self.limit < self.maximum:
                self.limit += 1
                self._successes = 0
        self._free_slot()

    def _free_slot(self) -> None:
        self.in_flight -= 1
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
