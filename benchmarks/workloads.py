"""Workloads b-e: the same sleeping programs, written once for asyncio and once for trio.

Every workload reports what it saw of its own clock (`Outcome`), so a contender
that finishes fast by getting time wrong is caught: each sleep must end exactly
`delay` virtual seconds after it began, to within `TOLERANCE`.

The asyncio versions take a `scale` that multiplies every delay. Virtual clocks
run at `scale=1`. Plain asyncio runs at `scale=0`, where each `asyncio.sleep(d)`
becomes `asyncio.sleep(0)`: the same scheduling work with no timers at all, as
fast as a virtual clock could ever hope to be. A tiny scale (1e-6) gives plain
asyncio real timers that end within milliseconds: the fair memory reference.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

__all__ = ["FULL", "QUICK", "WORKLOADS", "Outcome", "Sizes", "Workload", "prepare"]

# looptime keeps time in whole microseconds, so its wakes may be a microsecond or so off
# the deadline; a clock off by more than this wakes sleepers observably early or late.
TOLERANCE = 1e-5
RANDOM_SEED = 20250101
LONGEST_RANDOM_SLEEP = 3600.0
FAST_COROUTINE_SLEEP = 0.001
WAIT_FOR_TIMEOUT = 10.0
WAIT_FOR_WORKERS = 10


@dataclass(frozen=True)
class Sizes:
    sequential_sleeps: int  # b
    staggered_tasks: int  # c
    sleeps_per_task: int  # c
    sleeping_tasks: int  # d
    wait_for_calls: int  # e


FULL = Sizes(20_000, 1_000, 20, 100_000, 50_000)
QUICK = Sizes(200, 20, 5, 500, 500)


@dataclass(frozen=True)
class Outcome:
    """What one run of a workload saw of its clock."""

    virtual_elapsed: float
    expected_elapsed: float
    # The largest |measured - requested| over the sleeps the workload checks.
    worst_error: float
    # e only: the most timer handles the loop's heap held after any wait_for.
    timer_heap_peak: int | None = None

    def problem(self) -> str | None:
        """Why this run's clock is wrong, or None if every checked sleep was exact."""
        if self.worst_error <= TOLERANCE:
            return None
        return (
            f"clock off by up to {self.worst_error:.6g} s "
            f"(elapsed {self.virtual_elapsed:.6g} s, expected {self.expected_elapsed:.6g} s)"
        )


AsyncioMain = Callable[[Sizes, float], Coroutine[Any, Any, Outcome]]
TrioMain = Callable[[Sizes], Coroutine[Any, Any, Outcome]]


@dataclass(frozen=True)
class Workload:
    key: str
    describe: Callable[[Sizes], str]
    asyncio_main: AsyncioMain
    trio_main: TrioMain | None
    # How many tasks or calls share the memory a run needs: the denominator of bytes/unit.
    units: Callable[[Sizes], int] | None = None
    unit_name: str = ""


@functools.cache
def random_durations(count: int) -> tuple[float, ...]:
    """The fixed-seed sleep durations of workload d; cached so no run pays to draw them."""
    rng = random.Random(RANDOM_SEED)
    return tuple(rng.uniform(0.0, LONGEST_RANDOM_SLEEP) for _ in range(count))


def prepare(sizes: Sizes) -> None:
    """Build the workloads' inputs ahead of time, outside every timing and memory baseline."""
    random_durations(sizes.sleeping_tasks)


def _staggered_period(index: int) -> float:
    """Task i of workload c sleeps 1 + i/1000 s: 1,000 distinct deadlines per round."""
    return 1.0 + index / 1000


# b: one task, many sequential sleeps: the per-jump cost, undiluted.


async def _sequential_sleeps(sizes: Sizes, scale: float) -> Outcome:
    loop = asyncio.get_running_loop()
    count, delay = sizes.sequential_sleeps, 1.0 * scale
    start = loop.time()
    for _ in range(count):
        await asyncio.sleep(delay)
    elapsed = loop.time() - start
    return Outcome(elapsed, count * delay, abs(elapsed - count * delay))


async def _trio_sequential_sleeps(sizes: Sizes) -> Outcome:
    import trio

    count = sizes.sequential_sleeps
    start = trio.current_time()
    for _ in range(count):
        await trio.sleep(1.0)
    elapsed = trio.current_time() - start
    return Outcome(elapsed, count * 1.0, abs(elapsed - count * 1.0))


# c: many tasks whose deadlines interleave, so nearly every jump wakes one task.


async def _staggered_sleepers(sizes: Sizes, scale: float) -> Outcome:
    loop = asyncio.get_running_loop()
    rounds, worst = sizes.sleeps_per_task, [0.0]

    async def sleeper(period: float) -> None:
        delay = period * scale
        start = loop.time()
        for _ in range(rounds):
            await asyncio.sleep(delay)
        worst[0] = max(worst[0], abs(loop.time() - start - rounds * delay))

    start = loop.time()
    async with asyncio.TaskGroup() as group:
        for index in range(sizes.staggered_tasks):
            group.create_task(sleeper(_staggered_period(index)))
    expected = rounds * _staggered_period(sizes.staggered_tasks - 1) * scale
    return Outcome(loop.time() - start, expected, worst[0])


async def _trio_staggered_sleepers(sizes: Sizes) -> Outcome:
    import trio

    rounds, worst = sizes.sleeps_per_task, [0.0]

    async def sleeper(period: float) -> None:
        start = trio.current_time()
        for _ in range(rounds):
            await trio.sleep(period)
        worst[0] = max(worst[0], abs(trio.current_time() - start - rounds * period))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for index in range(sizes.staggered_tasks):
            nursery.start_soon(sleeper, _staggered_period(index))
    expected = rounds * _staggered_period(sizes.staggered_tasks - 1)
    return Outcome(trio.current_time() - start, expected, worst[0])


# d: a crowd of tasks asleep at once: memory per sleeping task, and a deep timer heap.


async def _crowd_of_sleepers(sizes: Sizes, scale: float) -> Outcome:
    loop = asyncio.get_running_loop()
    worst = [0.0]

    async def sleeper(duration: float) -> None:
        delay = duration * scale
        start = loop.time()
        await asyncio.sleep(delay)
        worst[0] = max(worst[0], abs(loop.time() - start - delay))

    durations = random_durations(sizes.sleeping_tasks)
    start = loop.time()
    async with asyncio.TaskGroup() as group:
        for duration in durations:
            group.create_task(sleeper(duration))
    return Outcome(loop.time() - start, max(durations) * scale, worst[0])


async def _trio_crowd_of_sleepers(sizes: Sizes) -> Outcome:
    import trio

    worst = [0.0]

    async def sleeper(duration: float) -> None:
        start = trio.current_time()
        await trio.sleep(duration)
        worst[0] = max(worst[0], abs(trio.current_time() - start - duration))

    durations = random_durations(sizes.sleeping_tasks)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for duration in durations:
            nursery.start_soon(sleeper, duration)
    return Outcome(trio.current_time() - start, max(durations), worst[0])


# e: timeouts that never fire, from a few concurrent workers. A finished wait_for cancels its
# timeout timer, but the timer stays in the heap until it reaches the top, and the other
# workers' pending sleeps keep it from getting there. The workers sleep for slightly
# different times so they never fall into step: in step, every timer they cancel would
# reach the top before any new sleep is scheduled. A loop that never purged cancelled timers
# would hold one per call; asyncio purges them once they are most of a heap above 100
# entries, and the heap peak shows whether each loop still does.


async def _unfired_wait_fors(sizes: Sizes, scale: float) -> Outcome:
    loop = asyncio.get_running_loop()
    calls_per_worker = sizes.wait_for_calls // WAIT_FOR_WORKERS
    # asyncio keeps its timer heap in `_scheduled`; every contender here is an asyncio loop.
    heap: list[object] = getattr(loop, "_scheduled", [])
    heap_peak, worst = [0], [0.0]

    async def worker(delay: float) -> None:
        start = loop.time()
        for _ in range(calls_per_worker):
            await asyncio.wait_for(asyncio.sleep(delay), timeout=WAIT_FOR_TIMEOUT)
            heap_peak[0] = max(heap_peak[0], len(heap))
        worst[0] = max(worst[0], abs(loop.time() - start - calls_per_worker * delay))

    delays = [_worker_delay(index) * scale for index in range(WAIT_FOR_WORKERS)]
    start = loop.time()
    async with asyncio.TaskGroup() as group:
        for delay in delays:
            group.create_task(worker(delay))
    elapsed = loop.time() - start
    return Outcome(elapsed, calls_per_worker * max(delays), worst[0], timer_heap_peak=heap_peak[0])


def _worker_delay(index: int) -> float:
    """Worker i of workload e sleeps 1 + i/10 ms inside each wait_for."""
    return FAST_COROUTINE_SLEEP * (1 + index / WAIT_FOR_WORKERS)


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "b",
        lambda s: f"b: {s.sequential_sleeps:,} sequential sleep(1)",
        _sequential_sleeps,
        _trio_sequential_sleeps,
    ),
    Workload(
        "c",
        lambda s: f"c: {s.staggered_tasks:,} tasks x {s.sleeps_per_task} sleeps, distinct periods",
        _staggered_sleepers,
        _trio_staggered_sleepers,
    ),
    Workload(
        "d",
        lambda s: f"d: {s.sleeping_tasks:,} tasks asleep at once, random durations",
        _crowd_of_sleepers,
        _trio_crowd_of_sleepers,
        units=lambda s: s.sleeping_tasks,
        unit_name="task",
    ),
    Workload(
        "e",
        lambda s: (
            f"e: {s.wait_for_calls:,} wait_for(timeout=10) that never fire, "
            f"{WAIT_FOR_WORKERS} workers"
        ),
        _unfired_wait_fors,
        None,
        units=lambda s: s.wait_for_calls,
        unit_name="call",
    ),
)
