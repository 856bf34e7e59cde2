"""Bind the process clocks to a `Clock` while a virtual run is under way.

What is patched, and how:

- `time.time`, `time.time_ns`, `datetime.now`, `date.today` and friends: by
  time-machine, travelling without ticking; every read asks the clock for its
  exact wall reading, so a jump costs nothing here and rounding never
  accumulates.
- `time.monotonic`, `time.perf_counter` and their `_ns` forms: by simclock,
  since time-machine leaves them alone, and only for threads on the clock's
  timeline (see `_on_virtual_thread`); other threads keep real time. Code
  that bound them by name before the run (`from time import monotonic`)
  keeps the real ones.
- `time.sleep`: on the thread running a virtual loop, or on the thread that
  bound the clock while no loop runs, it advances virtual time and returns at
  once. In a worker thread of a virtual loop it is a virtual wait. In any other
  thread it sleeps for real.

Only one clock can hold the process clocks at a time; the same clock may bind
again (a loop inside `simclock run`), and the patches go away when the last
binding is released, however the run ended.
"""

from __future__ import annotations

import asyncio
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import time_machine

from simclock.clock import Clock
from simclock.errors import ClockConflict

__all__ = ["bound", "current_clock"]

# The real functions, taken at import, before anything is patched.
#: The real `time.sleep`, for threads that must wait in real time.
real_sleep = time.sleep
#: The real `time.perf_counter`, for measuring real time whatever is patched.
real_perf_counter = time.perf_counter
_REAL_MONOTONIC = time.monotonic
_REAL_MONOTONIC_NS = time.monotonic_ns
_REAL_PERF_COUNTER_NS = time.perf_counter_ns
_PATCHED = {
    "monotonic": _REAL_MONOTONIC,
    "monotonic_ns": _REAL_MONOTONIC_NS,
    "perf_counter": real_perf_counter,
    "perf_counter_ns": _REAL_PERF_COUNTER_NS,
    "sleep": real_sleep,
}

_lock = threading.RLock()
_clock: Clock | None = None
_holds = 0
_owner_thread = 0
_travel: time_machine.travel | None = None

# Set in a worker thread while it runs tracked work for a virtual loop: the
# function that turns a `time.sleep` there into a virtual wait.
worker_state = threading.local()


def current_clock() -> Clock | None:
    """The clock that drives the process clocks now, if any."""
    return _clock


@contextmanager
def bound(clock: Clock) -> Iterator[Clock]:
    """Put the process clocks on `clock` for the duration of the block."""
    _bind(clock)
    try:
        yield clock
    finally:
        _release(clock)


def _bind(clock: Clock) -> None:
    global _clock, _holds, _owner_thread, _travel
    with _lock:
        if _clock is clock:
            _holds += 1
            return
        if _clock is not None:
            raise ClockConflict(
                f"{_clock!r} already drives time.time() and time.monotonic(); a second "
                "clock cannot take over until it is released. Attach the new loop to "
                "the running clock (simclock.current_clock()) or finish that run first."
            )
        travel = time_machine.travel(clock.wall_ns() / 1e9, tick=False)
        traveller = travel.start()
        try:
            _follow(clock, traveller)
            _patch_monotonic(clock)
            time.sleep = _sleeper(clock)  # type: ignore[assignment]
        except BaseException:
            _restore_time_module()
            travel.stop()
            raise
        _clock, _holds, _owner_thread, _travel = clock, 1, threading.get_ident(), travel


def _release(clock: Clock) -> None:
    global _clock, _holds, _travel
    with _lock:
        if _clock is not clock:
            return
        _holds -= 1
        if _holds:
            return
        clock._on_move = None
        travel, _clock, _travel = _travel, None, None
        _restore_time_module()
        if travel is not None:
            travel.stop()


def _restore_time_module() -> None:
    for name, function in _PATCHED.items():
        setattr(time, name, function)


def _follow(clock: Clock, traveller: Any) -> None:
    """Make time-machine's frozen instant the clock's wall reading, now and after every move."""
    # time-machine asks its traveller for the time on every read. Answering
    # from the clock costs nothing per jump and is exact; checked here, since
    # it leans on how time-machine looks the method up.
    traveller.time_ns = clock.wall_ns
    if time.time_ns() == clock.wall_ns():
        return
    del traveller.time_ns

    def follow() -> None:
        traveller.move_to(clock.wall_ns() / 1e9)

    clock._on_move = follow
    follow()


def _on_virtual_thread(clock: Clock) -> bool:
    """Whether the calling thread lives on the clock's timeline.

    Those are: a thread running a virtual loop of this clock, a worker thread
    doing tracked work for one, and the thread that bound the clock while no
    loop runs. Any other thread, and a thread running a real asyncio loop of
    its own, keeps real time: their deadlines (`multiprocessing` polls, a
    `concurrent.futures` wait, a real loop's timers) must pass.
    """
    ident = threading.get_ident()
    if ident in clock._running:
        return True
    running = asyncio._get_running_loop()
    if running is not None:
        return False
    if getattr(worker_state, "virtual_wait", None) is not None:
        return True
    return not clock._running and ident == _owner_thread


def _patch_monotonic(clock: Clock) -> None:

    def monotonic() -> float:
        return clock._now if _on_virtual_thread(clock) else _REAL_MONOTONIC()

    def monotonic_ns() -> int:
        return (
            round(clock._now * 1_000_000_000) if _on_virtual_thread(clock) else _REAL_MONOTONIC_NS()
        )

    def perf_counter() -> float:
        return clock._now if _on_virtual_thread(clock) else real_perf_counter()

    def perf_counter_ns() -> int:
        return (
            round(clock._now * 1_000_000_000)
            if _on_virtual_thread(clock)
            else _REAL_PERF_COUNTER_NS()
        )

    time.monotonic, time.monotonic_ns = monotonic, monotonic_ns
    time.perf_counter, time.perf_counter_ns = perf_counter, perf_counter_ns


def _sleeper(clock: Clock) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        """Virtual `time.sleep`: see the module docstring for which thread gets what."""
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, numbers.Real)
            or not 0 <= seconds < math.inf
        ):
            real_sleep(seconds)  # raises exactly what time.sleep raises
            return
        if clock._loop_in_this_thread() is not None or (
            not clock._running and threading.get_ident() == _owner_thread
        ):
            clock.advance(float(seconds))
            return
        wait: Callable[[float], None] | None = getattr(worker_state, "virtual_wait", None)
        if wait is not None:
            wait(float(seconds))
        else:
            real_sleep(seconds)

    return sleep
