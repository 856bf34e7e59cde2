"""Real work in flight: threads doing work for a virtual loop, and work declared by hand.

While any tracked piece of work is *busy*, virtual time stands still: the loop
waits for it in real time, woken by its self-pipe, instead of jumping. A 0.3 s
thread therefore never loses to a virtual 10 s timeout.

A worker thread that calls `time.sleep` is not busy but *waiting*: it hands a
virtual timer to the loop and blocks until the loop fires it. The loop may jump
while every tracked thread waits, so `asyncio.to_thread(time.sleep, 2)` takes
two virtual seconds and no real ones.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from simclock import wallclock

if TYPE_CHECKING:
    from simclock.loop import VirtualEventLoop

__all__ = ["external_work"]

_T = TypeVar("_T")


class WorkInFlight:
    """How many pieces of real work the loop must wait for before it may jump."""

    def __init__(self, loop: VirtualEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self.busy = 0
        # Threads blocked in a virtual time.sleep, so close() can release them.
        self.sleepers: set[threading.Event] = set()

    def begin(self) -> None:
        with self._lock:
            self.busy += 1

    def end(self) -> None:
        with self._lock:
            self.busy -= 1
        # The loop may be blocked in a real select() waiting for this moment.
        self._loop._write_to_self()

    def virtual_sleep(self, seconds: float) -> None:
        """Block the calling worker thread until virtual time has moved by `seconds`."""
        loop = self._loop
        deadline = loop.time() + seconds
        woken = threading.Event()

        def wake() -> None:
            self.sleepers.discard(woken)
            self.begin()  # busy again before the thread runs, so the loop can't jump past it
            woken.set()

        self.sleepers.add(woken)
        loop.call_soon_threadsafe(loop.call_at, deadline, wake)
        self.end()
        woken.wait()

    def release_sleepers(self) -> None:
        """Wake every thread blocked in a virtual sleep; the loop is closing."""
        for event in list(self.sleepers):
            event.set()
        self.sleepers.clear()


class _CallState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


class TrackedCall(Generic[_T]):
    """A function handed to an executor, counted as busy until its result reaches the loop.

    The count ends on the loop's thread when the loop's future is done, not when
    the function returns: between the two, the result is still on its way
    through `call_soon_threadsafe`, and a loop that saw no work in flight then
    would report a false deadlock. Only a call whose future was cancelled while
    it ran ends its own count, when it returns.
    """

    def __init__(self, work: WorkInFlight, func: Callable[..., _T]) -> None:
        self._work = work
        self._func = func
        self._lock = threading.Lock()
        self._state = _CallState.QUEUED
        self._future_done = False
        self._ends_itself = False
        work.begin()

    def __repr__(self) -> str:
        return repr(self._func)

    def __call__(self, *args: Any) -> _T:
        with self._lock:
            if self._future_done:
                # Cancelled just as this thread picked the call up: it runs all
                # the same, so it counts again until it returns.
                self._work.begin()
                self._ends_itself = True
            self._state = _CallState.RUNNING
        previous = getattr(wallclock.worker_state, "virtual_wait", None)
        wallclock.worker_state.virtual_wait = self._work.virtual_sleep
        try:
            return self._func(*args)
        finally:
            wallclock.worker_state.virtual_wait = previous
            with self._lock:
                self._state = _CallState.FINISHED
                ends_itself = self._ends_itself
            if ends_itself:
                self._work.end()

    def future_done(self, future: object = None) -> None:
        """The loop's future is done: stop counting, unless the call is still running."""
        with self._lock:
            self._future_done = True
            if self._state is _CallState.RUNNING:
                self._ends_itself = True
                return
        self._work.end()


@asynccontextmanager
async def external_work() -> AsyncIterator[None]:
    """Declare real work that simclock cannot see, so virtual time waits for it.

    Use it around an await on something finished by a thread or process that
    simclock does not track: `asyncio.wrap_future(pool.submit(...))` on your own
    executor, a thread that reports back with `call_soon_threadsafe`, a callback
    from a C library. Inside the block the loop does not jump; it waits in real
    time, woken by its self-pipe, exactly as for `asyncio.to_thread`.

        async with simclock.external_work():
            result = await asyncio.wrap_future(my_pool.submit(crunch, data))

    On a loop that is not virtual it does nothing.
    """
    from simclock.loop import VirtualEventLoop

    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualEventLoop):
        yield
        return
    loop._work.begin()
    try:
        yield
    finally:
        loop._work.end()
