"""One iteration of a virtual loop, and the timers and callbacks it runs.

A mixin of `VirtualEventLoop`, holding what makes a virtual loop faster than
asyncio's own: a virtual loop never waits, so in the common case (no signal
handler, no timeline recording, nothing real in flight or expected from
outside) an iteration needs no selector round trip. It polls the files
registered beyond the self-pipe, if any, with one raw zero-timeout call, as
asyncio polls them every iteration; when none has an event it runs what is
ready, or else moves the clock to the next deadline, inline.

Timers are kept in a `TimerQueue` (`simclock.loop.timers`): equal deadlines fire
in the order they were scheduled.

Everything a user can see stays stock: `call_at`/`call_later` return an
`asyncio.TimerHandle` (a subclass that says so in reprs), `call_soon` a plain
`asyncio.Handle`, built without their constructors' Python frames but with
every slot set as the constructors set them; in debug mode (every
`IsolatedAsyncioTestCase` runs in it) they are built the stock way, with their
stacks, and iterations time each callback as asyncio's do. The general path
(real I/O, signals, timelines, threads, peers) is CPython's `_run_once`, rewritten
for the timer queue, and asks the loop's selector proxy what to do when idle.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import sys
from asyncio import base_events
from collections.abc import Callable, Sequence
from contextvars import Context, copy_context
from typing import TYPE_CHECKING, Any, TypeVarTuple

from simclock._compat.asyncio_internals import (
    MAX_SELECT_TIMEOUT,
    RUN_FOREVER,
    format_handle,
    owner_of,
)
from simclock.clock.clock import COARSE_FLOATS
from simclock.loop.timers import (
    SLEEP_TIMER_CALLBACK,
    TimerQueue,
    VirtualTimerHandle,
    timer_owner,
)
from simclock.process import natives
from simclock.process.children import CHILDREN

if TYPE_CHECKING:
    import selectors

    from simclock.clock.clock import Clock
    from simclock.clock.schedule import Schedule
    from simclock.loop.outside import OutsideWorld
    from simclock.threads.work import WorkInFlight

__all__ = ["LoopIteration"]

_Ts = TypeVarTuple("_Ts")

_INF = math.inf
_list = list
_new = object.__new__
_Handle = asyncio.Handle


class LoopIteration:
    """Timers in deadline buckets, cheap handles, and `_run_once` with its fast path."""

    if TYPE_CHECKING:
        _clock: Clock
        _work: WorkInFlight
        _outside: OutsideWorld
        _ready: collections.deque[asyncio.Handle]
        _selector: selectors.BaseSelector
        _stopping: bool
        _debug: bool
        _closed: bool
        _current_handle: asyncio.Handle | None
        _idle_waiters: list[asyncio.Future[None]]
        _instant: float
        _spins: int
        _livelock_after: int
        slow_callback_duration: float

        def time(self) -> float: ...
        def _spun_too_long(self, spins: int) -> None: ...
        def _process_events(self, event_list: Any) -> None: ...
        def _check_closed(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...
        def _is_background(self) -> bool: ...

    # Whether iterations may take the fast path, and whether call_at, call_later
    # and call_soon may (not in debug mode, where handles keep their stacks).
    # Kept up to date by `_refresh_fast` wherever one of their inputs changes.
    _fast_iterations = False
    _fast = False
    # With files registered beyond the self-pipe, each iteration of the fast
    # path first polls them, as asyncio does: any event means the general path.
    _poll_files: Callable[[], object] | None = None
    _timers: TimerQueue
    _schedule: Schedule | None = None

    def _init_timers(self) -> None:
        self._timers = TimerQueue()
        # Bare yields an explored schedule lets resume late (`Schedule.awaits`):
        # [iterations left, handle], in the order they were postponed.
        self._postponed: list[list[Any]] = []

    def _fast_path_allowed(self) -> bool:
        raise NotImplementedError

    def _zero_timeout_poll(self) -> Callable[[], object] | None:
        raise NotImplementedError

    def _refresh_fast(self) -> None:
        self._fast_iterations = self._fast_path_allowed()
        self._fast = self._fast_iterations and not self._debug
        self._poll_files = self._zero_timeout_poll()

    # Scheduling.

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        """Schedule `callback` at virtual time `when`; ties fire in scheduling order.

        `when` may lie in the past (the callback runs on the next iteration) or
        be `math.inf` (it never runs). NaN raises ValueError.
        """
        if self._fast and type(when) is float and when == when:
            return _scheduled_timer(self, when, callback, args, context)
        return self._call_at_checked(when, callback, args, context)

    def call_later(
        self,
        delay: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        """Schedule `callback` `delay` virtual seconds from now.

        A positive delay always lands at least one float step after now, however
        small it is and however late the clock reads: time moves.
        """
        if delay is None:
            raise TypeError("delay must not be None")
        # self.time(), not the clock: a test may have replaced loop.time.
        reading = self.time()
        when = reading + delay
        if when <= reading and delay > 0:
            when = math.nextafter(reading, _INF)
        if self._fast and when == when:
            return _scheduled_timer(self, when, callback, args, context)
        timer = self._call_at_checked(when, callback, args, context)
        if timer._source_traceback:  # end it where the program called, not here
            del timer._source_traceback[-1]
        return timer

    def _call_at_checked(
        self, when: float, callback: Callable[..., object], args: Any, context: Context | None
    ) -> VirtualTimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        if when != when:
            raise ValueError(
                f"cannot schedule {callback!r} at a NaN virtual time "
                "(was NaN passed to asyncio.sleep(), call_later() or call_at()?)"
            )
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = VirtualTimerHandle(when, callback, args, self, context)  # type: ignore[arg-type]
        if timer._source_traceback:  # end it where the program called, not here
            del timer._source_traceback[-1]
        timer._background = self._is_background()
        timer._owner = None if self._schedule is None else _sleeper(self, callback)
        timer._queue = self._timers
        self._timers.push(timer)
        timer._scheduled = True
        self._timer_scheduled(when)
        return timer

    def _timer_scheduled(self, when: float) -> None:
        """Hook for the timeline: the current task will wait until `when`."""

    def call_soon(
        self, callback: Callable[[*_Ts], object], *args: *_Ts, context: Context | None = None
    ) -> asyncio.Handle:
        if self._fast:
            handle: Any = _new(_Handle)
            handle._context = copy_context() if context is None else context
            handle._loop = self
            handle._callback = callback
            handle._args = args
            handle._cancelled = False
            handle._repr = None
            handle._source_traceback = None
            self._ready.append(handle)
            return handle  # type: ignore[no-any-return]
        handle = base_events.BaseEventLoop.call_soon(self, callback, *args, context=context)  # type: ignore[arg-type]
        if handle._source_traceback:
            del handle._source_traceback[-1]
        if self._schedule is not None and self._schedule.awaits:
            self._maybe_postpone(handle)
        return handle  # type: ignore[no-any-return]

    def _maybe_postpone(self, handle: asyncio.Handle) -> None:
        """A task's bare yield (`await asyncio.sleep(0)`) may resume late (`Schedule.awaits`)."""
        task = asyncio.current_task(self)  # type: ignore[arg-type]
        if task is None or getattr(handle._callback, "__self__", None) is not task:  # type: ignore[attr-defined]
            return  # not the running task scheduling its own next step
        ready = self._ready
        before = [owner_of(other) for other in itertools.islice(ready, len(ready) - 1)]
        assert self._schedule is not None
        late = self._schedule.postpone(task, self._clock.now, before)
        if late:
            ready.pop()
            self._postponed.append([late, handle])

    def _release_postponed(self) -> None:
        """Hand back the late resumptions whose iterations are over; all of them before idling."""
        ready = self._ready
        kept = []
        for entry in self._postponed:
            entry[0] -= 1
            if entry[0] <= 0:
                ready.append(entry[1])
            else:
                kept.append(entry)
        if not ready:  # the loop would go idle: the slow I/O is back first
            ready.extend(entry[1] for entry in kept)
            kept = []
        self._postponed = kept

    def _order_timers(self, timers: Sequence[Any]) -> list[Any]:
        """How an explored schedule orders the timers of one deadline."""
        assert self._schedule is not None
        return self._schedule.order(timers, self._clock.now, list(map(timer_owner, timers)))

    def _reorder_ready_from(self, start: int) -> None:
        """Let the schedule order what this iteration's I/O events made ready (from `start` on)."""
        ready = self._ready
        count = len(ready) - start
        assert self._schedule is not None
        if count < 2:
            return
        batch = [ready.pop() for _ in range(count)]
        batch.reverse()
        ready.extend(self._schedule.order(batch, self._clock.now))

    # One iteration.

    def _run_once(self) -> None:
        """Iterations as asyncio's, but a virtual loop never waits for a timer.

        On the fast path an iteration runs what is ready, or else, when
        nothing real can happen meanwhile, first moves the clock straight to
        the next deadline. Called by asyncio's `run_forever`, fast iterations
        follow one another here until the loop is asked to stop, which is all
        `run_forever` would do between them; called by anything else, it runs
        one iteration, as asyncio's does. An iteration the fast path cannot
        decide goes the general way, through the selector, and ends the call.
        """
        __tracebackhide__ = True  # pytest shows the error, not simclock's machinery
        once = sys._getframe(1).f_code is not RUN_FOREVER
        ready = self._ready
        clock = self._clock
        work = self._work
        popleft = ready.popleft
        outside = self._outside
        timers = self._timers
        order = None if self._schedule is None else self._order_timers
        instant, spins, patience = self._instant, self._spins, self._livelock_after
        attributes = self.__dict__
        # Threads C code started for the run (`simclock.process.natives`): none
        # known, and the process's count of threads unchanged since the last look.
        counter, threads = natives.threads_to_watch()
        try:
            # A test that replaced loop.time gets the general path: its timers
            # come due by the replaced clock, not by jumps.
            while self._fast_iterations and not work.inbox and "time" not in attributes:
                poll = self._poll_files
                if poll is not None and poll():
                    break  # I/O is ready: the general path selects and processes it
                if timers.cancelled:
                    timers.drop_cancelled()
                heap = timers.deadlines
                if not ready and not self._stopping:
                    if not heap:
                        break  # threads, I/O, or a deadlock: the general path decides
                    when = heap[0]
                    if when > clock._reading:
                        # With no worker, inbox, waiter or expected peer, the idle
                        # decision (simclock.clock.idle) can only answer JUMP to the
                        # next timer: taken here without building its snapshot.
                        if (
                            when > clock.fast_until  # never (math.inf too), or crowded
                            or CHILDREN
                            or self._idle_waiters
                            or outside._expect_until is not None
                            or not work.quiet()
                        ):
                            break  # something real may happen first: the general path waits
                        if counter is not None and counter[0] != threads:
                            # A thread came or went, or threads C code started for the run
                            # are known (`threads` is -1): the general path looks at them.
                            break
                        clock.jump_to(when)
                reading = clock._reading
                if reading != instant:
                    instant, spins = reading, 0
                else:
                    spins += 1
                    if spins > patience:
                        # It looks at the spin, and restarts the count once it has
                        # decided; after a Livelock, the teardown counts afresh.
                        self._instant, self._spins = instant, spins
                        instant, spins = math.nan, 0
                        self._spun_too_long(self._spins)
                        instant, spins = self._instant, self._spins
                end_time = reading + clock.resolution
                if heap and heap[0] < end_time:
                    timers.pop_due(end_time, ready, order)
                if self._debug:
                    self._run_ready_timed()
                else:
                    for _ in range(len(ready)):
                        handle = popleft()
                        if handle._cancelled:
                            continue
                        handle._run()
                    handle = None  # type: ignore[assignment]  # breaks cycles on an exception
                if once or self._stopping:
                    return
        finally:
            self._instant, self._spins = instant, spins
        self._run_once_general()

    def _run_once_general(self) -> None:
        """CPython's `_run_once` on deadline buckets; the selector proxy decides when idle."""
        __tracebackhide__ = True
        if self._postponed:
            self._release_postponed()
        timers = self._timers
        if timers.cancelled:
            timers.drop_cancelled()
        ready = self._ready
        if ready or self._stopping:
            timeout: float | None = 0
        elif timers.deadlines:
            timeout = min(max(0.0, timers.deadlines[0] - self.time()), MAX_SELECT_TIMEOUT)
        else:
            timeout = None
        event_list: Any = self._selector.select(timeout)
        before = len(ready)
        self._process_events(event_list)
        event_list = None  # breaks cycles when an exception occurs
        if self._schedule is not None:
            self._reorder_ready_from(before)  # I/O events of this iteration, among themselves
        now = self.time()
        resolution = self._clock.resolution
        if now >= COARSE_FLOATS:  # a replaced loop.time may read far from the clock
            resolution = max(resolution, math.ulp(now))
        end_time = now + resolution
        if timers.deadlines and timers.deadlines[0] < end_time:
            order = None if self._schedule is None else self._order_timers
            timers.pop_due(end_time, ready, order)
        popleft = ready.popleft
        schedule = self._schedule
        drifting = schedule is not None and schedule.drift > 0
        for _ in range(len(ready)):
            handle: Any = popleft()
            if handle._cancelled:
                continue
            if drifting:
                # Reaching and running the step takes CPU time (`Schedule.step_cost`):
                # the clock moves on first, so what the step sets and reads comes
                # later; a timer passed meanwhile is popped, late, by the next iteration.
                cost = schedule.step_cost(owner_of(handle))  # type: ignore[union-attr]
                self._clock.jump_to(self._clock.reading + cost)
                handle._run()
                continue
            if not self._debug:
                handle._run()
                continue
            self._run_timed(handle)
        handle = None  # breaks cycles when an exception occurs

    def _run_ready_timed(self) -> None:
        """Run what is ready now, each callback timed as asyncio's debug mode times it."""
        ready = self._ready
        for _ in range(len(ready)):
            handle: Any = ready.popleft()
            if not handle._cancelled:
                self._run_timed(handle)
        handle = None  # breaks cycles when an exception occurs

    def _run_timed(self, handle: Any) -> None:
        """Run `handle`, and warn as asyncio's debug mode does if it took too long.

        The frame lets go of the handle before it returns: a traceback kept by
        what the callback raised (a task's exception) holds this frame, and
        through the handle it would hold the task, which then would not be
        freed, nor report its unretrieved exception, until the collector ran.
        """
        try:
            self._current_handle = handle
            started = self.time()
            handle._run()
            took = self.time() - started
            if took >= self.slow_callback_duration:
                base_events.logger.warning(  # type: ignore[attr-defined]
                    "Executing %s took %.3f seconds",
                    format_handle(handle),
                    took,
                )
        finally:
            self._current_handle = None
            handle = None


def _sleeper(loop: LoopIteration, callback: Callable[..., object]) -> asyncio.Task[Any] | None:
    """In an explored run, the task a sleep's timer wakes: the one setting it now."""
    if callback is not SLEEP_TIMER_CALLBACK:
        return None
    return asyncio.current_task(loop)  # type: ignore[arg-type]


def _scheduled_timer(
    loop: LoopIteration,
    when: float,
    callback: Callable[..., object],
    args: Any,
    context: Context | None,
) -> VirtualTimerHandle:
    """A timer built and pushed as `call_at` does, in the fewest steps (the fast path)."""
    timer: Any = _new(VirtualTimerHandle)
    timer._context = copy_context() if context is None else context
    timer._loop = loop
    timer._callback = callback
    timer._args = args
    timer._cancelled = False
    timer._repr = None
    timer._source_traceback = None
    timer._when = when
    timer._background = False
    timer._owner = None if loop._schedule is None else _sleeper(loop, callback)
    timer._scheduled = True
    queue = timer._queue = loop._timers
    queue.push(timer)
    return timer  # type: ignore[no-any-return]
