"""`simclock.run`: the virtual counterpart of `asyncio.run`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from simclock.clock.clock import Clock, StartLike
from simclock.loop.loop import DEFAULT_LIVELOCK_AFTER, VirtualEventLoop, _choose_clock
from simclock.loop.outside import DEFAULT_IO_GRACE
from simclock.process import bindings
from simclock.timeline.timeline import Timeline

__all__ = ["run"]

_T = TypeVar("_T")


def run(
    main: Coroutine[Any, Any, _T],
    *,
    start: StartLike | None = None,
    limit: float | None = None,
    debug: bool | None = None,
    clock: Clock | None = None,
    timeline: Timeline | None = None,
    io_grace: float = DEFAULT_IO_GRACE,
    tick: float = 0.0,
    livelock_after: int = DEFAULT_LIVELOCK_AFTER,
    seed: int | None = None,
    drift: float = 0.0,
    awaits: bool = False,
    autojump: bool = True,
    compute: str = "real",
    tick_loop: bool = False,
) -> _T:
    """Run `main` on a fresh `VirtualEventLoop` and return its result, like `asyncio.run`.

    The process clocks follow virtual time from before the loop is made until
    after it is closed, so the loop's teardown (cancelling leftover tasks,
    shutting down the default executor) runs on the virtual clock too. They are
    restored however the run ends: a result, an exception, KeyboardInterrupt,
    `Deadlock` or `TimeLimitExceeded`.

    `start`, `limit`, `io_grace`, `livelock_after` and `clock` are as for
    `VirtualEventLoop`; `tick`, `tick_loop`, `seed`, `drift`, `awaits`, `autojump` and
    `compute` are as for `Clock` (a new clock's: give either `clock` or these); `debug` is as for
    `asyncio.run`. With a `seed`, the run follows that explored schedule
    (`simclock.explore`), exactly, every time; an error it raises carries a
    note with the seed and the decisions that differed from asyncio's order. With a
    `timeline`, every task's lifecycle, every printed line and every
    `simclock.mark()` of the run is recorded on it. Anything that is not a
    coroutine is refused with the same error `asyncio.run` gives. Called while
    another clock drives the process (inside `simclock run` or a simclock test)
    and given no `clock`, the run continues that clock's timeline.
    """
    if asyncio._get_running_loop() is not None:
        # Checked first, as asyncio.run does, so the coroutine is not consumed.
        raise RuntimeError("simclock.run() cannot be called from a running event loop")
    own = tick or seed is not None or drift or awaits or autojump is not True or compute != "real"
    if own or tick_loop:
        if clock is not None:
            raise TypeError(
                "pass either clock= or tick=/tick_loop=/seed=/drift=/awaits=/autojump=/compute=, "
                "not both: a clock keeps its own"
            )
        clock = Clock(
            start,
            tick=tick,
            seed=seed,
            drift=drift,
            awaits=awaits,
            autojump=autojump,
            compute=compute,
            tick_loop=tick_loop,
        )
        start = None
    chosen = _choose_clock(clock, start)
    previous_timeline = chosen.timeline
    if timeline is not None:
        chosen.timeline = timeline
    real_start = bindings.real_perf_counter()
    virtual_start = chosen.now
    try:
        with bindings.bound(chosen):
            runner = asyncio.Runner(
                debug=debug,
                loop_factory=lambda: VirtualEventLoop(
                    chosen, limit=limit, io_grace=io_grace, livelock_after=livelock_after
                ),
            )
            with runner:
                return runner.run(main)
    except BaseException as error:
        if chosen.schedule is not None and isinstance(error, Exception):
            error.add_note(chosen.schedule.report())
        raise
    finally:
        if timeline is not None:
            timeline.real_seconds = bindings.real_perf_counter() - real_start
            timeline.virtual_seconds = chosen.now - virtual_start
            chosen.timeline = previous_timeline
