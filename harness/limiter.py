"""Adaptive concurrency: additive increase, multiplicative decrease (AIMD), like TCP.

A 429 halves the number of requests allowed in flight (once per "epoch": the 429s of
requests that started before the last decrease do not decrease it again); every ``limit``
successes in a row raise it by one, back up to the configured maximum.
"""

from __future__ import annotations

import asyncio


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
        self._changed = asyncio.Condition()

    async def acquire(self) -> int:
        """Wait for a free slot; returns the epoch the request starts in."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            return self._epoch

    async def release(self, epoch: int, *, throttled: bool) -> None:
        async with self._changed:
            self.in_flight -= 1
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
            self._changed.notify_all()
