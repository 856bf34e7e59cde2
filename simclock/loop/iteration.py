"""One iteration of a virtual loop, and the timers and callbacks it runs.

A mixin of `VirtualEventLoop`, holding what makes a virtual loop faster than
asyncio's own: a virtual loop never waits, so in the common case (no signal
handler, debug off, no timeline recording, nothing real in flight or expected
from outside) an iteration needs no selector round trip. It polls the files
registered beyond the self-pipe, if any, with one raw zero-timeout call, as
asyncio polls them every iteration; when none has an event it runs what is
ready, or else moves the clock to the next deadline, inline.

Timers are kept in deadline buckets rather than in a heap of handles:
`_scheduled` is a heap of distinct deadlines (plain floats, compared in C),
and `_buckets` maps each deadline to its timer, or to the list of its timers
in scheduling order once a second one shares it. Equal deadlines therefore
fire in the order they were scheduled without any sequence number, and a
timer on a deadline already pending is one append. (Stock asyncio keeps
handles in its heap and compares them in Python; its heap is not stable, so
equal deadlines fire in an unspecified order.) `_ntimers` counts timers,
cancelled ones included, for asyncio's rule on purging cancelled timers.

Everything a user can see stays stock: `call_at`/`call_later` return an
`asyncio.TimerHandle` (a subclass that says so in reprs), `call_soon` a plain
`asyncio.Handle`, built without their constructors' Python frames but with
every slot set as the constructors set them. The general path (real I/O,
signals, debug, timelines, threads, peers) is CPython's `_run_once`, rewritten
for the buckets, and asks the loop's selector proxy what to do when idle.
"""

from __future__ import annotations

import asyncio
import collections
import math
import sys
from asyncio import base_events
from collections.abc import Callable, Iterator
from contextvars import Context, copy_context
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any, TypeVarTuple

from simclock.clock.clock import COARSE_FLOATS

if TYPE_CHECKING:
    import selectors

    from simclock.clock.clock import Clock
    from simclock.clock.schedule import Schedule
    from simclock.loop.outside import OutsideWorld
    from simclock.threads.work import WorkInFlight

__all__ = ["LoopIteration", "VirtualTimerHandle"]

_Ts = TypeVarTuple("_Ts")

_MIN_SCHEDULED = base_events._MIN_SCHEDULED_TIMER_HANDLES  # type: ignore[attr-defined]
_MIN_CANCELLED_FRACTION = base_events._MIN_CANCELLED_TIMER_HANDLES_FRACTION  # type: ignore[attr-defined]
_MAX_SELECT_TIMEOUT = base_events.MAXIMUM_SELECT_TIMEOUT  # type: ignore[attr-defined]
_INF = math.inf
_list = list
_new = object.__new__
_Handle = asyncio.Handle

# asyncio's own loop driver: between two calls of `_run_once` it only checks `_stopping`.
_RUN_FOREVER = base_events.BaseEventLoop.run_forever.__code__


class VirtualTimerHandle(asyncio.TimerHandle):
    """An `asyncio.TimerHandle` that knows whether a background task scheduled it."""

    __slots__ = ("_background",)
    if TYPE_CHECKING:
        _when: float
        _scheduled: bool
        _cancelled: bool
        _source_traceback: list[Any] | None
        _background: bool

    def cancel(self) -> None:
        """As `asyncio.TimerHandle.cancel`, in one step (every `asyncio.sleep` calls it)."""
        handle: Any = self
        if handle._cancelled:
            return
        loop = handle._loop
        if handle._scheduled:
            loop._timer_cancelled_count += 1
        handle._cancelled = True
        if loop._debug:
            handle._repr = repr(handle)
        handle._callback = None
        handle._args = None


# Handles name their class in reprs and in asyncio's error logs: say what a real run says.
VirtualTimerHandle.__name__ = VirtualTimerHandle.__qualname__ = "TimerHandle"

# A deadline's timer, or the list of its timers in scheduling order.
Bucket = Any


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
        _timer_cancelled_count: int
        _current_handle: asyncio.Handle | None
        _idle_waiters: list[asyncio.Future[None]]
        _instant: float
        _spins: int
        _livelock_after: int
        slow_callback_duration: float

        def time(self) -> float: ...
        def _livelock(self) -> None: ...
        def _process_events(self, event_list: Any) -> None: ...
        def _check_closed(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...
        def _is_background(self) -> bool: ...

    # Whether iterations, call_at, call_later and call_soon may take the fast
    # path. Kept up to date by `_refresh_fast` wherever one of its inputs changes.
    _fast = False
    # With files registered beyond the self-pipe, each iteration of the fast
    # path first polls them, as asyncio does: any event means the general path.
    _poll_files: Callable[[], object] | None = None
    _scheduled: list[float]
    _schedule: Schedule | None = None
    _buckets: dict[float, Bucket]
    _ntimers = 0

    def _init_timers(self) -> None:
        self._scheduled = []
        self._buckets = {}
        self._ntimers = 0

    def _fast_path_allowed(self) -> bool:
        raise NotImplementedError

    def _zero_timeout_poll(self) -> Callable[[], object] | None:
        raise NotImplementedError

    def _refresh_fast(self) -> None:
        self._fast = self._fast_path_allowed()
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
        if self._schedule is not None and self._schedule.jitter:
            reading = self.time()
            if when > reading:
                when = reading + self._schedule.delay(when - reading)
        timer = VirtualTimerHandle(when, callback, args, self, context)  # type: ignore[arg-type]
        if timer._source_traceback:  # end it where the program called, not here
            del timer._source_traceback[-1]
        timer._background = self._is_background()
        self._push_timer(timer)
        timer._scheduled = True
        self._timer_scheduled(when)
        return timer

    def _timer_scheduled(self, when: float) -> None:
        """Hook for the timeline: the current task will wait until `when`."""

    def _push_timer(self, timer: VirtualTimerHandle) -> None:
        when = timer._when
        buckets = self._buckets
        bucket = buckets.setdefault(when, timer)
        if bucket is timer:
            heappush(self._scheduled, when)
        elif type(bucket) is _list:
            bucket.append(timer)
        else:
            buckets[when] = [bucket, timer]
        self._ntimers += 1

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
        return handle  # type: ignore[no-any-return]

    # Reading the timers.

    def _next_deadline(self) -> float:
        """The earliest deadline of a live timer, or `math.inf`; drops cancelled heads."""
        if self._timer_cancelled_count:
            self._drop_cancelled_heads()
        scheduled = self._scheduled
        return scheduled[0] if scheduled else _INF

    def _timers(self) -> Iterator[VirtualTimerHandle]:
        """Every timer still scheduled, cancelled ones included, in deadline order."""
        buckets = self._buckets
        for when in sorted(self._scheduled):
            bucket = buckets[when]
            if type(bucket) is _list:
                yield from bucket
            else:
                yield bucket

    def _timer_count(self) -> int:
        """How many timers the loop holds, cancelled ones not yet dropped included."""
        return self._ntimers

    # Dropping cancelled timers, by asyncio's rule: from the head of the queue,
    # or all at once when they are most of a queue of more than 100.

    def _drop_cancelled_timers(self) -> None:
        count = self._ntimers
        if count > _MIN_SCHEDULED and self._timer_cancelled_count / count > _MIN_CANCELLED_FRACTION:
            self._purge_cancelled()
        else:
            self._drop_cancelled_heads()

    def _drop_cancelled_heads(self) -> None:
        heap, buckets = self._scheduled, self._buckets
        while heap:
            when = heap[0]
            bucket = buckets[when]
            if type(bucket) is _list:
                dropped = 0
                for timer in bucket:
                    if not timer._cancelled:
                        break
                    timer._scheduled = False
                    dropped += 1
                if not dropped:
                    return
                self._timer_cancelled_count -= dropped
                self._ntimers -= dropped
                if dropped < len(bucket):
                    del bucket[:dropped]
                    return
            elif bucket._cancelled:
                bucket._scheduled = False
                self._timer_cancelled_count -= 1
                self._ntimers -= 1
            else:
                return
            heappop(heap)
            del buckets[when]

    def _purge_cancelled(self) -> None:
        buckets: dict[float, Bucket] = {}
        kept = 0
        for when in sorted(self._scheduled):  # keeps each deadline's FIFO order
            bucket = self._buckets[when]
            for timer in bucket if type(bucket) is _list else (bucket,):
                if timer._cancelled:
                    timer._scheduled = False
                    continue
                kept += 1
                current = buckets.setdefault(when, timer)
                if current is timer:
                    continue
                if type(current) is _list:
                    current.append(timer)
                else:
                    buckets[when] = [current, timer]
        heap = list(buckets)
        heapify(heap)
        self._scheduled = heap
        self._buckets = buckets
        self._ntimers = kept
        self._timer_cancelled_count = 0

    def _clear_timers(self) -> None:
        self._scheduled.clear()
        self._buckets.clear()
        self._ntimers = 0

    def _move_due_timers(self, end_time: float) -> None:
        """Move every timer due before `end_time` to the ready queue, deadline by deadline.

        An explored schedule may reorder the timers of one deadline, never two
        deadlines: asyncio always runs the earlier first.
        """
        heap, buckets, ready = self._scheduled, self._buckets, self._ready
        moved = 0
        while heap and heap[0] < end_time:
            bucket = buckets.pop(heappop(heap))
            if type(bucket) is _list:
                for timer in bucket:
                    timer._scheduled = False
                if self._schedule is not None:
                    bucket = self._schedule.order(bucket, self._clock.now)
                ready.extend(bucket)
                moved += len(bucket)
            else:
                bucket._scheduled = False
                ready.append(bucket)
                moved += 1
        self._ntimers -= moved

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
        once = sys._getframe(1).f_code is not _RUN_FOREVER
        ready = self._ready
        clock = self._clock
        work = self._work
        popleft = ready.popleft
        outside = self._outside
        instant, spins, patience = self._instant, self._spins, self._livelock_after
        attributes = self.__dict__
        try:
            # A test that replaced loop.time gets the general path: its timers
            # come due by the replaced clock, not by jumps.
            while self._fast and not work.inbox and "time" not in attributes:
                poll = self._poll_files
                if poll is not None and poll():
                    break  # I/O is ready: the general path selects and processes it
                if self._timer_cancelled_count:
                    self._drop_cancelled_timers()
                heap = self._scheduled
                if not ready and not self._stopping:
                    if not heap:
                        break  # threads, I/O, or a deadlock: the general path decides
                    when = heap[0]
                    if when > clock._reading:
                        # With no worker, inbox, waiter or expected peer, the idle
                        # decision (simclock.clock.idle) can only answer JUMP to the
                        # next timer: taken here without building its snapshot.
                        if (
                            when == _INF
                            or self._idle_waiters
                            or outside._expect_until is not None
                            or not work.quiet()
                        ):
                            break  # something real may happen first: the general path waits
                        clock.jump_to(when)
                reading = clock._reading
                if reading != instant:
                    instant, spins = reading, 0
                else:
                    spins += 1
                    if spins > patience:
                        self._instant, self._spins = instant, spins
                        self._livelock()
                end_time = reading + clock.resolution
                if heap and heap[0] < end_time:
                    self._move_due_timers(end_time)
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
        if self._timer_cancelled_count:
            self._drop_cancelled_timers()
        ready = self._ready
        if ready or self._stopping:
            timeout: float | None = 0
        elif self._scheduled:
            timeout = min(max(0.0, self._scheduled[0] - self.time()), _MAX_SELECT_TIMEOUT)
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
        if self._scheduled and self._scheduled[0] < end_time:
            self._move_due_timers(end_time)
        popleft = ready.popleft
        for _ in range(len(ready)):
            handle: Any = popleft()
            if handle._cancelled:
                continue
            if not self._debug:
                handle._run()
                continue
            try:
                self._current_handle = handle
                started = self.time()
                handle._run()
                took = self.time() - started
                if took >= self.slow_callback_duration:
                    base_events.logger.warning(  # type: ignore[attr-defined]
                        "Executing %s took %.3f seconds",
                        base_events._format_handle(handle),  # type: ignore[attr-defined]
                        took,
                    )
            finally:
                self._current_handle = None
        handle = None  # breaks cycles when an exception occurs


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
    timer._scheduled = True
    loop._push_timer(timer)
    return timer  # type: ignore[no-any-return]
