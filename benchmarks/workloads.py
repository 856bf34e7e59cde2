"""The sleeping programs every contender runs, written once for asyncio and once for trio.

Every workload reports what it saw of its own clock (`Outcome`), so a contender
that finishes fast by getting time wrong is caught: each sleep must end exactly
`delay` virtual seconds after it began, to within `TOLERANCE`.

The asyncio versions take a `Pace`: how a contender waits. Virtual clocks sleep
for real delays (`scale=1`). Two stock-asyncio contenders wait for nothing:
"sleep(0)" turns every sleep into `asyncio.sleep(0)` (no timer at all), and the
limit resolves a future from `loop.call_at(loop.time(), ...)` at each step: the
callbacks a virtual sleep needs (a timer, a due-timer pop, a result, a wake-up)
with no waiting, the fastest a virtual clock could ever run. A tiny scale (1e-6)
gives stock asyncio real timers that end within milliseconds: the fair memory mark.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Coroutine, Sized
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FULL",
    "QUICK",
    "WORKLOADS",
    "Outcome",
    "Pace",
    "Sizes",
    "Workload",
    "crowd_of_sleepers",
    "prepare",
    "trio_crowd_of_sleepers",
]

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
    sequential_sleeps: int  # seq
    staggered_tasks: int  # fan
    sleeps_per_task: int  # fan
    sleeping_tasks: int  # crowd, and memory per sleeping task
    wait_for_calls: int  # wait_for
    timer_waits: int  # timers


FULL = Sizes(20_000, 1_000, 20, 100_000, 50_000, 50)
QUICK = Sizes(200, 20, 5, 500, 500, 5)


@dataclass(frozen=True)
class Outcome:
    """What one run of a workload saw of its clock."""

    virtual_elapsed: float
    expected_elapsed: float
    # The largest |measured - requested| over the sleeps the workload checks.
    worst_error: float
    # wait_for only: the most timer handles the loop's heap held after any wait_for.
    timer_heap_peak: int | None = None

    def problem(self) -> str | None:
        """Why this run's clock is wrong, or None if every checked sleep was exact."""
        if self.worst_error <= TOLERANCE:
            return None
        return (
            f"clock off by up to {self.worst_error:.6g} s "
            f"(elapsed {self.virtual_elapsed:.6g} s, expected {self.expected_elapsed:.6g} s)"
        )


async def _resolve_now(delay: float) -> None:
    """The limit's step: one timer due at once, then a result and a wake-up; no waiting."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_at(loop.time(), future.set_result, None)
    await future


@dataclass(frozen=True)
class Pace:
    """How a contender waits: what a workload's `sleep(d)` becomes."""

    # What every delay is multiplied by: 1 on a virtual clock, 0 or 1e-6 on stock asyncio.
    scale: float = 1.0
    # The limit: resolve a future from `call_at(loop.time())` instead of sleeping. seq, fan
    # and the jump cost write that step inline, in the loop that would call `sleep`: the
    # limit is the loop's callbacks alone, without even a coroutine call per step. (With a
    # helper coroutine per step, as `asyncio.sleep` is one, the limit runs about 10% slower
    # on seq.) The other workloads await `_resolve_now`.
    resolve_now: bool = False

    def sleep(self) -> Callable[[float], Awaitable[None]]:
        """The sleep to await; called inside the run, since sleepfake patches `asyncio.sleep`."""
        return _resolve_now if self.resolve_now else asyncio.sleep

    def timer_wait(self) -> Callable[[float], Awaitable[None]]:
        """A wait on a bare loop timer (`call_later`), which no sleep patch reaches."""
        return _resolve_now if self.resolve_now else _call_later_wait

    @property
    def checks_clock(self) -> bool:
        """Whether runs at this pace must show exact virtual durations."""
        return self.scale == 1.0 and not self.resolve_now


async def _call_later_wait(delay: float) -> None:
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_later(delay, future.set_result, None)
    await future


AsyncioMain = Callable[[Sizes, Pace], Coroutine[Any, Any, Outcome]]
TrioMain = Callable[[Sizes], Coroutine[Any, Any, Outcome]]


@dataclass(frozen=True)
class Workload:
    key: str
    describe: Callable[[Sizes], str]
    asyncio_main: AsyncioMain
    trio_main: TrioMain | None
    # How many virtual jumps (distinct wake-ups) a run makes: the denominator of time/jump.
    jumps: Callable[[Sizes], int]
    # Interleaved rounds in a full run: enough for a stable median, within the run's budget.
    rounds: int


@functools.cache
def random_durations(count: int) -> tuple[float, ...]:
    """The fixed-seed sleep durations of the crowd; cached so no run pays to draw them."""
    rng = random.Random(RANDOM_SEED)
    return tuple(rng.uniform(0.0, LONGEST_RANDOM_SLEEP) for _ in range(count))


def prepare(sizes: Sizes) -> None:
    """Build the workloads' inputs ahead of time, outside every timing and memory baseline."""
    random_durations(sizes.sleeping_tasks)


def _staggered_period(index: int) -> float:
    """Task i of fan sleeps 1 + i/1000 s: 1,000 distinct deadlines per round."""
    return 1.0 + index / 1000


# seq: one task, many sequential sleeps: the per-jump cost, undiluted.


async def _sequential_sleeps(sizes: Sizes, pace: Pace) -> Outcome:
    loop = asyncio.get_running_loop()
    sleep = pace.sleep()
    count, delay = sizes.sequential_sleeps, 1.0 * pace.scale
    start = loop.time()
    if pace.resolve_now:
        for _ in range(count):
            # The limit's step, inline: see `Pace.resolve_now`.
            future = loop.create_future()
            loop.call_at(loop.time(), future.set_result, None)
            await future
    else:
        for _ in range(count):
            await sleep(delay)
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


# fan: many tasks whose deadlines interleave, so nearly every jump wakes one task.


async def _staggered_sleepers(sizes: Sizes, pace: Pace) -> Outcome:
    loop = asyncio.get_running_loop()
    sleep = pace.sleep()
    rounds, worst = sizes.sleeps_per_task, [0.0]

    async def sleeper(period: float) -> None:
        delay = period * pace.scale
        start = loop.time()
        if pace.resolve_now:
            for _ in range(rounds):
                # The limit's step, inline: see `Pace.resolve_now`.
                future = loop.create_future()
                loop.call_at(loop.time(), future.set_result, None)
                await future
        else:
            for _ in range(rounds):
                await sleep(delay)
        worst[0] = max(worst[0], abs(loop.time() - start - rounds * delay))

    start = loop.time()
    async with asyncio.TaskGroup() as group:
        for index in range(sizes.staggered_tasks):
            group.create_task(sleeper(_staggered_period(index)))
    expected = rounds * _staggered_period(sizes.staggered_tasks - 1) * pace.scale
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


# crowd: a crowd of tasks asleep at once: a deep timer heap, and memory per sleeping task.
# Each sleeper counts itself in before it sleeps, and the main task waits until all have,
# so `on_all_asleep` sees every one of them asleep at once (the memory probe reads RSS there).


async def crowd_of_sleepers(
    sizes: Sizes, pace: Pace, on_all_asleep: Callable[[], None] | None = None
) -> Outcome:
    loop = asyncio.get_running_loop()
    sleep = pace.sleep()
    worst, asleep = [0.0], [0]

    async def sleeper(duration: float) -> None:
        delay = duration * pace.scale
        start = loop.time()
        asleep[0] += 1
        await sleep(delay)
        worst[0] = max(worst[0], abs(loop.time() - start - delay))

    durations = random_durations(sizes.sleeping_tasks)
    start = loop.time()
    async with asyncio.TaskGroup() as group:
        for duration in durations:
            group.create_task(sleeper(duration))
        while asleep[0] < len(durations):
            await asyncio.sleep(0)
        if on_all_asleep is not None:
            on_all_asleep()
    return Outcome(loop.time() - start, max(durations) * pace.scale, worst[0])


async def _crowd_of_sleepers(sizes: Sizes, pace: Pace) -> Outcome:
    return await crowd_of_sleepers(sizes, pace)


async def trio_crowd_of_sleepers(
    sizes: Sizes, on_all_asleep: Callable[[], None] | None = None
) -> Outcome:
    import trio

    worst, asleep = [0.0], [0]

    async def sleeper(duration: float) -> None:
        start = trio.current_time()
        asleep[0] += 1
        await trio.sleep(duration)
        worst[0] = max(worst[0], abs(trio.current_time() - start - duration))

    durations = random_durations(sizes.sleeping_tasks)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for duration in durations:
            nursery.start_soon(sleeper, duration)
        while asleep[0] < len(durations):
            await trio.sleep(0)
        if on_all_asleep is not None:
            on_all_asleep()
    return Outcome(trio.current_time() - start, max(durations), worst[0])


async def _trio_crowd_of_sleepers(sizes: Sizes) -> Outcome:
    return await trio_crowd_of_sleepers(sizes)


# wait_for: timeouts that never fire, from a few concurrent workers. A finished wait_for
# cancels its timeout timer, but the timer stays in the heap until it reaches the top, and
# the other workers' pending sleeps keep it from getting there. The workers sleep for
# slightly different times so they never fall into step: in step, every timer they cancel
# would reach the top before any new sleep is scheduled. A loop that never purged cancelled
# timers would hold one per call; asyncio purges them once they are most of a heap above
# 100 entries, and the heap peak shows whether each loop still does.


async def _unfired_wait_fors(sizes: Sizes, pace: Pace) -> Outcome:
    loop = asyncio.get_running_loop()
    sleep = pace.sleep()
    calls_per_worker = sizes.wait_for_calls // WAIT_FOR_WORKERS
    # asyncio keeps its timer heap in `_scheduled`; simclock keeps a TimerQueue in `_timers`.
    heap: list[object] | Sized = getattr(loop, "_timers", None) or getattr(loop, "_scheduled", [])
    heap_peak, worst = [0], [0.0]

    async def worker(delay: float) -> None:
        start = loop.time()
        for _ in range(calls_per_worker):
            await asyncio.wait_for(sleep(delay), timeout=WAIT_FOR_TIMEOUT)
            heap_peak[0] = max(heap_peak[0], len(heap))
        worst[0] = max(worst[0], abs(loop.time() - start - calls_per_worker * delay))

    delays = [_worker_delay(index) * pace.scale for index in range(WAIT_FOR_WORKERS)]
    start = loop.time()
    async with asyncio.TaskGroup() as group:
        for delay in delays:
            group.create_task(worker(delay))
    elapsed = loop.time() - start
    return Outcome(elapsed, calls_per_worker * max(delays), worst[0], timer_heap_peak=heap_peak[0])


def _worker_delay(index: int) -> float:
    """Worker i of wait_for sleeps 1 + i/10 ms inside each wait_for."""
    return FAST_COROUTINE_SLEEP * (1 + index / WAIT_FOR_WORKERS)


# timers: waits on bare loop timers (`call_later`), as timeouts and retries use them. Some
# peers patch `asyncio.sleep` only and jump to a bare timer after real idle time: this is
# where that shows. Each wait is checked on its own, so a peer that lands every wake a
# microsecond late is not charged the sum.


async def _timer_waits(sizes: Sizes, pace: Pace) -> Outcome:
    loop = asyncio.get_running_loop()
    wait = pace.timer_wait()
    count, delay, worst = sizes.timer_waits, 1.0 * pace.scale, 0.0
    start = loop.time()
    for _ in range(count):
        began = loop.time()
        await wait(delay)
        worst = max(worst, abs(loop.time() - began - delay))
    return Outcome(loop.time() - start, count * delay, worst)


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "seq",
        lambda s: f"seq: {s.sequential_sleeps:,} sequential sleep(1)",
        _sequential_sleeps,
        _trio_sequential_sleeps,
        jumps=lambda s: s.sequential_sleeps,
        rounds=30,
    ),
    Workload(
        "fan",
        lambda s: f"fan: {s.staggered_tasks:,} tasks x {s.sleeps_per_task} sleeps, varied lengths",
        _staggered_sleepers,
        _trio_staggered_sleepers,
        jumps=lambda s: s.staggered_tasks * s.sleeps_per_task,
        rounds=30,
    ),
    Workload(
        "crowd",
        lambda s: f"crowd: {s.sleeping_tasks:,} tasks asleep at once, random lengths",
        _crowd_of_sleepers,
        _trio_crowd_of_sleepers,
        jumps=lambda s: s.sleeping_tasks,
        rounds=3,
    ),
    Workload(
        "wait_for",
        lambda s: (
            f"wait_for: {s.wait_for_calls:,} wait_for(timeout=10) that never fire, "
            f"{WAIT_FOR_WORKERS} workers"
        ),
        _unfired_wait_fors,
        None,
        jumps=lambda s: s.wait_for_calls,
        rounds=5,
    ),
    Workload(
        "timers",
        lambda s: f"timers: {s.timer_waits} sequential call_later(1) waits",
        _timer_waits,
        None,
        jumps=lambda s: s.timer_waits,
        rounds=5,
    ),
)
