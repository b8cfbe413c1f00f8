"""Adaptive concurrency limit (AIMD): 429s halve it once per epoch, successes regrow it."""

from __future__ import annotations

import asyncio

import pytest

from harness.engine.limiter import AdaptiveLimit


async def settle(turns: int = 20) -> None:
    """Give every ready task a few turns of the loop (no wall-clock waiting)."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def throttle_one(limit: AdaptiveLimit) -> None:
    epoch = await limit.acquire()
    await limit.release(epoch, throttled=True)


async def succeed_one(limit: AdaptiveLimit) -> None:
    epoch = await limit.acquire()
    await limit.release(epoch, throttled=False)


@pytest.mark.parametrize("maximum", [1, 2, 8, 100], ids=lambda m: f"max-{m}")
def test_starts_at_maximum(maximum: int) -> None:
    limit = AdaptiveLimit(maximum)
    assert (limit.limit, limit.maximum, limit.shrinks, limit.in_flight) == (
        maximum,
        maximum,
        0,
        0,
    )


@pytest.mark.parametrize("maximum", [0, -1], ids=lambda m: f"max-{m}")
def test_maximum_below_one_is_rejected(maximum: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimit(maximum)


@pytest.mark.parametrize(
    ("maximum", "throttles", "limits", "shrinks"),
    [
        pytest.param(8, 4, [4, 2, 1, 1], 3, id="8-halves-to-1"),
        pytest.param(7, 3, [3, 1, 1], 2, id="7-floors"),
        pytest.param(2, 2, [1, 1], 1, id="2-to-1"),
        pytest.param(1, 2, [1, 1], 0, id="1-stays-1"),
    ],
)
def test_each_429_in_a_new_epoch_halves(
    maximum: int, throttles: int, limits: list[int], shrinks: int
) -> None:
    async def main() -> list[int]:
        limit = AdaptiveLimit(maximum)
        seen = []
        for _ in range(throttles):
            await throttle_one(limit)
            seen.append(limit.limit)
        assert limit.shrinks == shrinks
        assert limit.in_flight == 0
        return seen

    assert asyncio.run(main()) == limits


@pytest.mark.parametrize("concurrent", [2, 3, 8], ids=lambda n: f"{n}-throttled")
def test_429s_from_one_epoch_shrink_once(concurrent: int) -> None:
    async def main() -> None:
        limit = AdaptiveLimit(8)
        epochs = [await limit.acquire() for _ in range(concurrent)]
        assert len(set(epochs)) == 1
        for epoch in epochs:
            await limit.release(epoch, throttled=True)
        assert (limit.limit, limit.shrinks) == (4, 1)
        # a request that started after the shrink is in the new epoch: its 429 counts
        await throttle_one(limit)
        assert (limit.limit, limit.shrinks) == (2, 2)

    asyncio.run(main())


def test_stale_429_after_shrink_does_not_shrink_again() -> None:
    async def main() -> None:
        limit = AdaptiveLimit(8)
        old = await limit.acquire()
        await throttle_one(limit)  # started in the same epoch, shrinks first: 8 -> 4
        assert (limit.limit, limit.shrinks) == (4, 1)
        await limit.release(old, throttled=True)  # from before the shrink: ignored
        assert (limit.limit, limit.shrinks) == (4, 1)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("maximum", "shrunk_to"),
    [
        pytest.param(8, 4, id="4-to-5"),
        pytest.param(4, 2, id="2-to-3"),
        pytest.param(2, 1, id="1-to-2"),
    ],
)
def test_limit_successes_in_a_row_grow_by_one(maximum: int, shrunk_to: int) -> None:
    async def main() -> None:
        limit = AdaptiveLimit(maximum)
        await throttle_one(limit)
        assert limit.limit == shrunk_to
        for _ in range(shrunk_to - 1):
            await succeed_one(limit)
        assert limit.limit == shrunk_to  # one success short
        await succeed_one(limit)
        assert limit.limit == shrunk_to + 1

    asyncio.run(main())


def test_a_429_resets_the_success_streak() -> None:
    async def main() -> None:
        limit = AdaptiveLimit(8)
        await throttle_one(limit)  # 8 -> 4, epoch 1
        old = await limit.acquire()  # epoch 1
        await throttle_one(limit)  # 4 -> 2, epoch 2
        await succeed_one(limit)
        await limit.release(old, throttled=True)  # stale: no shrink, but breaks the streak
        assert (limit.limit, limit.shrinks) == (2, 2)
        await succeed_one(limit)
        assert limit.limit == 2  # only one success since the 429
        await succeed_one(limit)
        assert limit.limit == 3

    asyncio.run(main())


@pytest.mark.parametrize("maximum", [1, 3, 8], ids=lambda m: f"max-{m}")
def test_successes_never_exceed_maximum(maximum: int) -> None:
    async def main() -> None:
        limit = AdaptiveLimit(maximum)
        for _ in range(maximum * 10):
            await succeed_one(limit)
            assert limit.limit == maximum

    asyncio.run(main())


def test_regrows_back_to_maximum_and_stops() -> None:
    async def main() -> list[int]:
        limit = AdaptiveLimit(4)
        for _ in range(3):
            await throttle_one(limit)
        assert limit.limit == 1
        seen = []
        for _ in range(20):
            await succeed_one(limit)
            seen.append(limit.limit)
        return seen

    # 1 success -> 2, 2 more -> 3, 3 more -> 4, then stays at the maximum
    assert asyncio.run(main()) == [2, 2, 3, 3, 3, 4] + [4] * 14


@pytest.mark.parametrize("maximum", [1, 2, 5], ids=lambda m: f"max-{m}")
def test_acquire_blocks_at_limit_until_release(maximum: int) -> None:
    async def main() -> None:
        limit = AdaptiveLimit(maximum)
        epochs = [await limit.acquire() for _ in range(maximum)]
        assert limit.in_flight == limit.limit == maximum
        entered = asyncio.Event()

        async def waiter() -> None:
            epoch = await limit.acquire()
            entered.set()
            await limit.release(epoch, throttled=False)

        task = asyncio.create_task(waiter())
        await settle()
        assert not entered.is_set()
        assert not task.done()
        assert limit.in_flight == maximum

        await limit.release(epochs.pop(), throttled=False)
        await asyncio.wait_for(entered.wait(), timeout=5)  # safety net, not a timing check
        await task
        for epoch in epochs:
            await limit.release(epoch, throttled=False)
        assert limit.in_flight == 0

    asyncio.run(main())


def test_shrunk_limit_blocks_new_requests_until_in_flight_drops() -> None:
    async def main() -> None:
        limit = AdaptiveLimit(4)
        held = [await limit.acquire() for _ in range(4)]
        await limit.release(held.pop(), throttled=True)  # 4 -> 2, three still in flight
        assert (limit.limit, limit.in_flight) == (2, 3)
        entered = asyncio.Event()

        async def waiter() -> None:
            epoch = await limit.acquire()
            entered.set()
            await limit.release(epoch, throttled=False)

        task = asyncio.create_task(waiter())
        await limit.release(held.pop(), throttled=False)  # 2 in flight: still full
        await settle()
        assert not entered.is_set()
        await limit.release(held.pop(), throttled=False)  # 1 in flight: a slot is free
        await asyncio.wait_for(entered.wait(), timeout=5)
        await task
        await limit.release(held.pop(), throttled=False)
        assert limit.in_flight == 0

    asyncio.run(main())


def test_in_flight_never_exceeds_limit_under_load() -> None:
    async def main() -> int:
        limit = AdaptiveLimit(3)
        gate = asyncio.Event()
        peak = 0

        async def request() -> None:
            nonlocal peak
            epoch = await limit.acquire()
            peak = max(peak, limit.in_flight)
            await gate.wait()
            await limit.release(epoch, throttled=False)

        tasks = [asyncio.create_task(request()) for _ in range(12)]
        await settle()
        assert limit.in_flight == 3
        gate.set()
        await asyncio.gather(*tasks)
        assert limit.in_flight == 0
        return peak

    assert asyncio.run(main()) == 3
