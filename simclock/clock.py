"""Virtual time: one timeline that every attached loop and every process clock reads.

A `Clock` holds two readings of the same instant:

- `now`, monotonic seconds since the clock was made. `loop.time()`,
  `time.monotonic()` and `time.perf_counter()` return it while the clock is bound.
- `wall`, seconds since the Unix epoch: `start + now`. `time.time()`,
  `datetime.now()` and `date.today()` return it while the clock is bound.

Time only moves forward, and only when something moves it: a loop jumping to
its next deadline, a blocking `time.sleep()` on the loop's thread, or
`advance()`. Between those moves, no amount of real time changes either reading.

Prior art: trio's `MockClock` (virtual time with an autojump rule) and
time-machine (the wall clock travelling without ticking).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from simclock.timeline import Timeline

__all__ = ["DEFAULT_START", "Clock", "StartLike"]

#: The wall-clock instant a clock starts at unless told otherwise, fixed so that
#: two runs of the same program print the same dates.
DEFAULT_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

StartLike: TypeAlias = dt.datetime | dt.date | float | int | str

_NS = 1_000_000_000


class _Settles(Protocol):
    async def _settle(self) -> None: ...


class Clock:
    """The owner of virtual time, shareable by several loops in a row.

    A clock outlives any one event loop: a script that calls `asyncio.run`
    twice continues one timeline, and a module-level `start = time.time()`
    taken before the first loop existed is on it too. Which clock a new
    `VirtualEventLoop` attaches to is decided by `simclock.VirtualEventLoop`;
    the clock itself only keeps time and says who is moving it.
    """

    def __init__(self, start: StartLike | None = None) -> None:
        """`start`: the wall-clock instant at `now == 0`, as for `simclock.run`; default
        `DEFAULT_START`."""
        # Invariant: at monotonic reading `self._now`, the wall clock reads
        # `self._start_ns / 1e9 + self._now`. The start is kept in integer
        # nanoseconds so that a large epoch never costs precision in `now`.
        self._now = 0.0
        self._start_ns = _start_to_ns(DEFAULT_START if start is None else start)
        self._on_move: Callable[[], None] | None = None
        # Loops running on this clock right now, by the thread that runs them.
        self._running: dict[int, _Settles] = {}
        #: Where loops on this clock record what happened, if anywhere.
        self.timeline: Timeline | None = None

    def __repr__(self) -> str:
        return f"<simclock.Clock now={self._now:.6f}s wall={self.datetime().isoformat()}>"

    @property
    def now(self) -> float:
        """Virtual monotonic seconds since this clock was made; what `loop.time()` returns."""
        return self._now

    @property
    def wall(self) -> float:
        """Virtual seconds since the Unix epoch; what `time.time()` returns while bound."""
        return (self._start_ns + round(self._now * _NS)) / _NS

    def wall_ns(self) -> int:
        """Virtual nanoseconds since the Unix epoch, exact: `time.time_ns()` while bound."""
        return self._start_ns + round(self._now * _NS)

    def datetime(self) -> dt.datetime:
        """The virtual wall-clock instant as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.wall, dt.UTC)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by `seconds` at once, as if a blocking call took that long.

        Callable from sync code and from inside a coroutine. Timers that come
        due fire on the loop's next iteration, in deadline order; the tasks they
        wake read the advanced time, not their own deadline. To let timers fire
        at their own instants, `await asyncio.sleep(seconds)` instead: the loop
        jumps from deadline to deadline on its own.
        """
        seconds = _checked_duration(seconds, "advance")
        if seconds:
            self._move_to(self._now + seconds)

    async def run_until_idle(self) -> None:
        """Let every other task run until all of them wait on time, I/O, or nothing.

        Virtual time does not move. Returns once nothing is ready, no timer is
        due at the current instant, and no tracked thread is working.
        """
        loop = self._running.get(threading.get_ident())
        running: object = asyncio.get_running_loop()
        if loop is None or running is not loop:
            raise RuntimeError("run_until_idle() must be awaited on a loop attached to this clock")
        await loop._settle()

    # Machinery for the loop and the wall-clock bindings.

    def _move_to(self, when: float) -> None:
        """Set virtual time to exactly `when`; a `when` in the past is ignored."""
        if when > self._now:
            self._now = when
            if self._on_move is not None:
                self._on_move()

    def _loop_in_this_thread(self) -> _Settles | None:
        return self._running.get(threading.get_ident())


def _checked_duration(seconds: float, what: str) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{what}() takes a number of seconds, got {seconds!r}")
    seconds = float(seconds)
    if math.isnan(seconds):
        raise ValueError(f"{what}() got NaN seconds")
    if seconds < 0:
        raise ValueError(f"time can't go backwards: {what}({seconds!r})")
    if math.isinf(seconds):
        raise ValueError(f"{what}() got an infinite number of seconds")
    return seconds


def _start_to_ns(start: StartLike) -> int:
    """Turn a `start=` value into integer nanoseconds since the epoch."""
    if isinstance(start, str):
        if start == "now":
            return time.time_ns()
        try:
            start = dt.datetime.fromisoformat(start)
        except ValueError:
            raise ValueError(
                f"start must be a datetime, an epoch number, an ISO 8601 string or 'now', "
                f"got {start!r}"
            ) from None
    if isinstance(start, dt.datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        whole = int(start.replace(microsecond=0).timestamp())
        return whole * _NS + start.microsecond * 1000
    if isinstance(start, dt.date):
        return _start_to_ns(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC))
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise TypeError(
            f"start must be a datetime, an epoch number, an ISO 8601 string or 'now', got {start!r}"
        )
    if not math.isfinite(start):
        raise ValueError(f"start must be a finite epoch number, got {start!r}")
    if isinstance(start, int):
        return start * _NS
    return round(start * _NS)
