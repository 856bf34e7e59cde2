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


class _Pool:
    """Calls handed to one thread pool: waiting for a thread, and holding one."""

    __slots__ = ("active", "capacity", "queued")

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.queued = 0
        self.active = 0

    def starves_queue(self) -> bool:
        """Every thread is taken (some perhaps in a virtual sleep): queued calls can't start."""
        return self.capacity is not None and self.active >= self.capacity


class WorkInFlight:
    """The real work the loop must wait for before it may jump, and its sleeping workers."""

    def __init__(self, loop: VirtualEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        # Running calls (not in a virtual sleep), declared external work.
        self.busy = 0
        # Default-executor shutdowns under way: they only wait for workers.
        self.shutting_down = 0
        self._pools: dict[int, _Pool] = {}
        # Threads blocked in a virtual time.sleep, so close() can release them.
        self.sleepers: set[threading.Event] = set()

    def holds_time(self) -> bool:
        """Whether some thread's real work forbids a jump now.

        A queued call holds time only while its pool has a free thread to start
        it; behind workers in virtual sleeps it waits for a jump like they do.
        A shutdown holds time only while no worker sleeps virtually: it is
        waiting for them, and they for the clock.
        """
        with self._lock:
            if self.busy:
                return True
            if any(pool.queued and not pool.starves_queue() for pool in self._pools.values()):
                return True
            return bool(self.shutting_down and not self.sleepers)

    def pool(self, executor: object, capacity: int | None) -> _Pool:
        with self._lock:
            return self._pools.setdefault(id(executor), _Pool(capacity))

    def begin(self) -> None:
        with self._lock:
            self.busy += 1

    def end(self) -> None:
        with self._lock:
            self.busy -= 1
        self._wake_loop()

    def _wake_loop(self) -> None:
        # The loop may be blocked in a real select() waiting for this moment.
        self._loop._write_to_self()

    def virtual_sleep(self, seconds: float) -> None:
        """Block the calling worker thread until virtual time has moved by `seconds`.

        Once the loop is closed there is no virtual time left to wait for, and
        the thread sleeps for real.
        """
        loop = self._loop
        deadline = loop.time() + seconds
        woken = threading.Event()
        fired: list[bool] = []

        def wake() -> None:
            self.sleepers.discard(woken)
            self.begin()  # busy again before the thread runs, so the loop can't jump past it
            fired.append(True)
            woken.set()

        self.sleepers.add(woken)
        try:
            if loop.is_closed():
                raise RuntimeError("loop closed")
            loop.call_soon_threadsafe(loop.call_at, deadline, wake)
        except RuntimeError:
            self.sleepers.discard(woken)
            wallclock.real_sleep(seconds)
            return
        self.end()
        woken.wait()
        if not fired:  # released by close(): the loop is gone
            self.begin()  # the call's count ends when it returns
            wallclock.real_sleep(seconds)

    def release_sleepers(self) -> None:
        """Wake every thread blocked in a virtual sleep; the loop is closed."""
        for event in list(self.sleepers):
            event.set()
        self.sleepers.clear()


class _CallState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


class TrackedCall(Generic[_T]):
    """A function handed to a thread pool, counted from submission to delivered result.

    Queued, it counts in its pool's queue; running, it is busy; in a
    `time.sleep`, it waits virtually. The busy count ends on the loop's thread
    when the loop's future is done, not when the function returns: between the
    two, the result is still on its way through `call_soon_threadsafe`, and a
    loop that saw no work in flight then would report a false deadlock. Only a
    call whose future was cancelled while it ran ends its own count.
    """

    def __init__(self, work: WorkInFlight, pool: _Pool, func: Callable[..., _T]) -> None:
        self._work = work
        self._pool = pool
        self._func = func
        self._lock = threading.Lock()
        self._state = _CallState.QUEUED
        self._future_done = False
        self._ends_itself = False
        with work._lock:
            pool.queued += 1

    def __repr__(self) -> str:
        return repr(self._func)

    def __call__(self, *args: Any) -> _T:
        work, pool = self._work, self._pool
        with self._lock:
            with work._lock:
                if not self._future_done:
                    pool.queued -= 1
                pool.active += 1
                work.busy += 1
            # Cancelled just as this thread picked the call up: it runs all the
            # same, and its count ends when it returns.
            self._ends_itself = self._future_done
            self._state = _CallState.RUNNING
        previous = getattr(wallclock.worker_state, "virtual_wait", None)
        wallclock.worker_state.virtual_wait = work.virtual_sleep
        try:
            return self._func(*args)
        finally:
            wallclock.worker_state.virtual_wait = previous
            with self._lock:
                self._state = _CallState.FINISHED
                ends_itself = self._ends_itself
                with work._lock:
                    pool.active -= 1
            if ends_itself:
                work.end()
            else:
                work._wake_loop()

    def future_done(self, future: object = None) -> None:
        """The loop's future is done: stop counting, unless the call is still running."""
        work = self._work
        with self._lock:
            self._future_done = True
            if self._state is _CallState.RUNNING:
                self._ends_itself = True
                return
            if self._state is _CallState.QUEUED:
                with work._lock:
                    self._pool.queued -= 1
                return
        work.end()


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
