"""`VirtualEventLoop`: CPython's selector event loop on a virtual clock.

The loop is stock asyncio but for one thing: when nothing can run and no real
work is in flight, it does not sleep until the next timer is due; it sets the
clock to exactly that timer's deadline and carries on. CPython's own
`_run_once` is reused unchanged. It asks the selector to wait `timeout`
seconds for I/O; the selector handed to the loop is a proxy that polls real
I/O without waiting and, if nothing happened, makes the jump. Everything else
(which callbacks run in which order, how due timers are popped) is asyncio's,
which is why a virtual run prints what a real run prints.

Two changes make a virtual run deterministic where a real one is merely likely:
timers due at the same instant fire in the order they were scheduled (stock
`TimerHandle` compares deadlines only, and the heap is not stable), and the
clock stands still while a tracked thread does real work.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import inspect
import math
import selectors
import socket
import threading
import weakref
from collections.abc import Callable, Mapping
from contextvars import Context
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from simclock._compat.asyncio_internals import transport_of
from simclock.clock.clock import Clock, StartLike
from simclock.clock.idle import Snapshot, Verdict, decide
from simclock.errors import (
    ClockConflict,
    Deadlock,
    Livelock,
    TimeLimitExceeded,
    describe_timers,
    shorten,
)
from simclock.loop.iteration import LoopIteration
from simclock.loop.outside import DEFAULT_IO_GRACE, OutsideHooks, OutsideWorld
from simclock.loop.recording import TaskRecorder
from simclock.process import bindings, children, natives
from simclock.process.bindings import ClockView, real_monotonic
from simclock.process.children import CHILDREN
from simclock.process.prints import recording_prints
from simclock.process.probe import ThreadProbe
from simclock.threads import strangers
from simclock.threads.bubble import Bubble, after_a_loop_stopped, after_a_run_failed, bubble_of
from simclock.threads.work import WorkInFlight, iter_thread_stacks
from simclock.timeline.timeline import Timeline

__all__ = ["VirtualEventLoop", "background", "background_tasks", "new_event_loop"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: Loop iterations at one virtual instant before `Livelock` is raised. An
#: honest program that never lets time move for a million iterations is
#: hard to find; a re-arming callback gets there in about a second.
DEFAULT_LIVELOCK_AFTER = 1_000_000

# Real seconds a worker may sleep outside Python, quiet, with no timer
# pending, before the loop calls the run deadlocked.
_PATIENCE = 5.0
# Real seconds between two looks at threads outside the bubble that may still post.
_STRANGERS_LOOK = 0.005

# Iterations looked at, past `livelock_after`, for one that makes progress.
_SCRUTINY = 1_000


_EPOLL: Any = getattr(selectors, "EpollSelector", ())  # Linux's, where there is one


class _JumpingSelector(selectors.BaseSelector):
    """The selector `_run_once` sees: polls real I/O, then jumps instead of waiting."""

    def __init__(self, real: selectors.BaseSelector) -> None:
        self._real = real
        #: Whether any registered file has an event, without waiting: the raw
        #: epoll call where there is one (a fraction of `select(0)`'s cost).
        self.poll_now: Callable[[], object] = (
            functools.partial(real._selector.poll, 0, 1)
            if isinstance(real, _EPOLL)
            else functools.partial(real.select, 0)
        )
        self._loop: Callable[[], VirtualEventLoop | None] = lambda: None
        # Kept by hand: the real mapping's len() is pure Python, and select()
        # asks on every iteration.
        self.registered = 0

    @property
    def loop(self) -> VirtualEventLoop | None:
        return self._loop()

    @loop.setter
    def loop(self, loop: VirtualEventLoop) -> None:
        # Held weakly: the loop holds its selector, and a cycle would keep every
        # finished loop alive until the garbage collector's next pass.
        self._loop = weakref.ref(loop)

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = self._real.register(fileobj, events, data)
        self.registered += 1
        loop = self.loop
        if loop is not None:
            loop._files_changed()
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = self._real.unregister(fileobj)
        self.registered -= 1
        loop = self.loop
        if loop is not None:
            loop._files_changed(key.fd)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)  # asyncio asks at every reader it adds or removes

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """What `_run_once` asks: the loop answers (`VirtualEventLoop._select`)."""
        __tracebackhide__ = True  # pytest shows the error, not simclock's machinery
        loop = self.loop
        assert loop is not None
        return loop._select(self._real, self.registered, timeout)


class VirtualEventLoop(LoopIteration, OutsideHooks, asyncio.SelectorEventLoop):
    """An asyncio event loop whose time is virtual.

    `loop.time()` reads the attached `Clock`. While the loop runs, the clock
    also drives `time.time()`, `datetime.now()`, `time.monotonic()`,
    `time.perf_counter()` and a blocking `time.sleep()`.

    Whenever nothing can run, the loop decides what a real loop's wait would
    have ended with, in this order:

    1. A tracked thread is doing real work (`run_in_executor`, `to_thread`,
       `getaddrinfo`, the default executor's shutdown, `external_work()`):
       wait for it in real time. Virtual time does not move meanwhile.
    2. A timer is pending: set the clock to exactly its deadline. A deadline
       of `math.inf` means "never" and does not count as pending.
    3. External I/O or a signal handler could still wake the loop: wait for
       it in real time, as a real loop would.
    4. Otherwise no task can ever run again: raise `Deadlock` naming each
       pending task and the line where it waits.

    Parameters:
        clock: the clock to run on. By default, the clock that already drives
            the process (under `simclock run` or inside a simclock test), or
            else a new one starting at `start`.
        start: the wall-clock instant a new clock starts at: a datetime, an
            epoch number, an ISO 8601 string or "now". Default: 2025-01-01 UTC.
        limit: raise `TimeLimitExceeded` instead of letting virtual time pass
            `limit` seconds after the loop was made. Default: no limit.
        io_grace: real seconds an idle loop waits for an expected peer outside
            the process (a child process, a remote server) before it jumps; see
            `simclock.loop.outside`. Default: 1.0.
        livelock_after: loop iterations at one virtual instant before
            `simclock.Livelock` is raised. Default: 1,000,000.

    A timer whose deadline is NaN raises ValueError when it is scheduled, so
    `asyncio.sleep(math.nan)` fails in the awaiting task instead of corrupting
    the timer heap.
    """

    # An __init__ that raises before the base class ran must not break __del__.
    _closed = True
    # Read by `simclock.process.foreign`: a loop of asyncio's own runs on real time.
    _runs_on_virtual_time = True

    if TYPE_CHECKING:
        # CPython's private loop state, which typeshed does not describe.
        _ready: collections.deque[asyncio.Handle]
        _debug: bool
        _internal_fds: int
        _signal_handlers: dict[int, asyncio.Handle]
        _default_executor: concurrent.futures.ThreadPoolExecutor | None
        _selector: _JumpingSelector
        _ssock: socket.socket

        def _check_closed(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...
        def _write_to_self(self) -> None: ...
        def _check_default_executor(self) -> None: ...
        def _call_soon(
            self, callback: Callable[..., object], args: Any, context: Context | None
        ) -> asyncio.Handle: ...

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        start: StartLike | None = None,
        limit: float | None = None,
        io_grace: float = DEFAULT_IO_GRACE,
        livelock_after: int = DEFAULT_LIVELOCK_AFTER,
    ) -> None:
        check_limit(limit)
        if isinstance(livelock_after, bool) or not isinstance(livelock_after, int):
            raise ValueError(f"livelock_after must be a whole number, got {livelock_after!r}")
        if livelock_after < 1:
            raise ValueError(f"livelock_after must be at least 1, got {livelock_after!r}")
        self._livelock_after = livelock_after
        self._instant, self._spins = math.nan, 0
        check_io_grace(io_grace)
        self._clock = _choose_clock(clock, start)
        # The limit counts from now, and ends with the loop (see `close`).
        self._limit = None if limit is None else self._clock.add_limit(limit)
        self._work = WorkInFlight(self, self._clock, float(io_grace))
        self._outside = OutsideWorld(float(io_grace))
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._schedule = self._clock.schedule
        self._inbox_order = None if self._schedule is None else self._order_by_worker
        # With autojump off: the instant an `await clock.advance()` moves to, and its waiter.
        self._advancing: tuple[float, asyncio.Future[None]] | None = None
        # asyncio.Runner is shutting the loop down (async generators, the
        # default executor): with autojump off, time moves on its own again.
        self._winding_down = False
        # Real seconds before looking again at members of the bubble that work,
        # and since when (real, and the reading then) they have worked.
        self._member_look = 0.001
        # Since when threads outside the bubble hold off a deadlock without
        # posting; and their names once they no longer may.
        self._strangers_since: float | None = None
        # The running thread's probe, and whether it is in `_select` (its idle wait).
        self._thread_probe: ThreadProbe | None = None
        # The native id of the thread that runs the loop (`stuck_in_a_callback`).
        self._running_on: int | None = None
        self._selecting = False
        self._idle_strangers: list[str] = []
        self._working_since: tuple[float, float] | None = None
        self._background: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        selector = _JumpingSelector(selectors.DefaultSelector())
        super().__init__(selector)
        self._init_timers()
        selector.loop = self
        if self._clock.timeline is not None:
            self._observe(self._clock.timeline)
        self._refresh_fast()

    @property
    def clock(self) -> Clock:
        """The clock this loop reads and moves."""
        return self._clock

    @property
    def io_grace(self) -> float:
        """Real seconds this loop waits for an expected peer outside the process."""
        return self._work.io_grace

    def time(self) -> float:
        clock = self._clock
        return clock._read() if clock.tick_loop else clock._reading

    def call_soon_threadsafe(
        self, callback: Callable[[*_Ts], object], *args: *_Ts, context: Context | None = None
    ) -> asyncio.Handle:
        """As asyncio's, but a worker's callbacks wait in its inbox (`simclock.threads.work`)."""
        worker = getattr(bindings.current_view(), "worker", None)
        if worker is None or worker.work is not self._work:
            # Busy from now, for the rest of the bubble: it must not jump past this.
            self._published = None
            handle = super().call_soon_threadsafe(callback, *args, context=context)
            _drop_own_frame(handle)
            return handle
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle = asyncio.Handle(callback, args, self, context)
        _drop_own_frame(handle)
        self._work.post(worker, handle, real_monotonic())
        self._write_to_self()
        return handle

    def stuck_in_a_callback(self) -> bool:
        """Whether this loop's thread is blocked for good in a callback (`WorkInFlight.unstick`).

        Blocked with no timeout (a lock, a read) at this look and the last,
        using no CPU between, while running and not in its own idle wait. Asked
        by one waiting worker at a time.
        """
        if self._selecting or not self.is_running() or self._running_on is None:
            return False
        probe = self._thread_probe
        if probe is None:  # made on first need: most runs never ask
            probe = self._thread_probe = ThreadProbe(self._running_on)
        probe.activity()
        return probe.blocked_for_good and not self._selecting

    def wake(self) -> None:
        """Wake the loop if it waits in real time (for a worker, say); any thread may call it."""
        self._published = None
        self._write_to_self()

    # The loop as the other members of its bubble see it (`simclock.threads.bubble`).

    #: None while the loop runs or waits for its own workers; else, while it waits
    #: in real time for others, its earliest deadline.
    _published: float | None = None
    _blocked_until: float | None = None

    def idle_deadline(self) -> float | None:
        blocked = self._blocked_until
        if blocked is not None:
            return blocked  # its thread is blocked in a callback: nothing of it can run
        if self._ready:
            return None  # posted to, and not yet run: working
        return self._published

    def blocked_until(self, deadline: float | None) -> None:
        self._blocked_until = deadline

    def is_blocked(self) -> bool:
        return self._blocked_until is not None

    def _idle_select(
        self, real: selectors.BaseSelector, timeout: float | None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait in real time, published as idle to the rest of the bubble."""
        if not self._clock.crowded:
            return real.select(timeout)
        self._published = self._earliest()
        try:
            return real.select(timeout)
        finally:
            self._published = None

    # What decides whether the fast path may run (see `simclock.loop.iteration`).

    def _fast_path_allowed(self) -> bool:
        return (
            not self._signal_handlers
            and self._recorder is None
            and not self._closed
            and not self._background
            and self._clock.autojump
            and not (self._schedule is not None and (self._schedule.drift or self._schedule.awaits))
        )

    def _zero_timeout_poll(self) -> Callable[[], object] | None:
        selector = self._selector
        if selector is None or selector.registered <= self._internal_fds:
            return None  # the self-pipe only wakes a sleeping loop: nothing to poll
        return selector.poll_now

    def set_debug(self, enabled: bool) -> None:
        was = getattr(self, "_debug", None)
        super().set_debug(enabled)
        # Not while asyncio's __init__ runs; and not for the same mode again
        # (asyncio.Runner sets it on every loop it makes).
        if self._debug != was and getattr(self, "_selector", None) is not None:
            self._refresh_fast()

    def add_signal_handler(self, sig: int, callback: Callable[[*_Ts], object], *args: *_Ts) -> None:
        try:
            super().add_signal_handler(sig, callback, *args)
        finally:
            self._refresh_fast()

    def remove_signal_handler(self, sig: int) -> bool:
        try:
            return super().remove_signal_handler(sig)
        finally:
            self._refresh_fast()

    # Recording tasks on a timeline: an observer, attached only while the clock has a timeline.

    _recorder: TaskRecorder | None = None

    def _observe(self, timeline: Timeline) -> None:
        """Record task lifecycles on `timeline` from now until the loop closes."""
        if self._recorder is not None and self._recorder.timeline is timeline:
            return
        self._recorder = TaskRecorder(timeline, self._clock, self._recorder)
        # An instance attribute shadows the method, so only a recording loop pays.
        self._call_soon = self._call_soon_recorded  # type: ignore[method-assign]
        self._refresh_fast()

    def _call_soon_recorded(
        self, callback: Callable[..., object], args: Any, context: Context | None
    ) -> asyncio.Handle:
        recorder = self._recorder
        if recorder is not None:
            callback = recorder.step(self, callback)
        handle: asyncio.Handle = super()._call_soon(callback, args, context)  # type: ignore[misc]
        return handle

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        recorder = self._recorder
        if recorder is None:
            return super().create_task(coro, **kwargs)
        start = len(recorder.timeline.events)
        creator = asyncio.current_task(self)
        task: asyncio.Task[Any] = super().create_task(coro, **kwargs)
        recorder.task_made(task, start, creator)
        return task

    def _order_by_worker(
        self, handles: list[asyncio.Handle], workers: list[int]
    ) -> list[asyncio.Handle]:
        assert self._schedule is not None
        return self._schedule.order(handles, self._clock.now, [("worker", seq) for seq in workers])

    def _is_background(self) -> bool:
        return bool(self._background) and asyncio.current_task(self) in self._background

    def _timer_scheduled(self, when: float) -> None:
        if self._recorder is not None:
            task = asyncio.current_task(self)
            if task is not None:
                self._recorder.timer_set(task, when)

    def run_until_complete(self, future: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the error, not simclock's machinery
        if self._nothing_to_shut_down(future):
            # asyncio.Runner's close, and simclock's own test runner, call the
            # two shutdowns after every test. With nothing to shut down, the
            # coroutine only sets asyncio's flags, and the one iteration a real
            # loop would spend on it runs nothing else (checked below): it is
            # run here directly, without binding the clocks for an iteration.
            self._check_closed()
            self._check_running()  # type: ignore[attr-defined]
            try:
                future.send(None)
            except StopIteration as done:
                return done.value
            raise AssertionError(f"{future!r} waited although it had nothing to shut down")
        return super().run_until_complete(future)

    def _nothing_to_shut_down(self, coroutine: Any) -> bool:
        code = getattr(coroutine, "cr_code", None)
        if code is _SHUTDOWN_ASYNCGENS:
            nothing = not self._asyncgens  # type: ignore[attr-defined]
        elif code is _SHUTDOWN_EXECUTOR:
            nothing = self._default_executor is None
        else:
            return False
        return (
            nothing
            and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED
            and self.get_task_factory() is None  # a factory would see a task made
            and not self._ready
            and not self._stopping
            and not self._closed
            and self._timers.next_deadline() > self.time()
            and self._selector.registered <= self._internal_fds
            and not self._signal_handlers
            and not self._work.inbox
        )

    def run_forever(self) -> None:
        __tracebackhide__ = True  # pytest shows the error, not simclock's machinery
        # asyncio's own errors, with asyncio's words, before anything is bound.
        self._check_closed()
        self._check_running()  # type: ignore[attr-defined]
        if self._thread_probe is not None:
            self._thread_probe.close()
            self._thread_probe = None
        self._running_on = threading.get_native_id()
        clock = self._clock
        # What `with bindings.bound(...)` would do, spelled out: every test runs
        # a loop, most more than once.
        view = bindings.bind(clock, ClockView(clock, self._work))
        try:
            timeline = clock.timeline
            try:
                clock.start_running(self)
                try:
                    if timeline is None:
                        super().run_forever()
                    else:
                        self._observe(timeline)
                        with recording_prints(timeline, lambda: clock.now):
                            super().run_forever()
                finally:
                    clock.stop_running()
            except (Deadlock, Livelock, TimeLimitExceeded) as error:
                # Workers left waiting virtually would wait forever and keep the
                # process from exiting: their waits end, with RunEnded.
                self._work.abort(error)
                after_a_run_failed(clock, error)
                raise
            finally:
                after_a_loop_stopped(clock)
        finally:
            bindings.unbind(clock, view)

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[*_Ts], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        if executor is None or isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            # Thread pools: the call is found as it is submitted (simclock.threads.hooks),
            # also when the loop is not running yet.
            if self.is_running() or bindings.current_clock() not in (None, self._clock):
                return super().run_in_executor(executor, func, *args)
            with bindings.bound(self._clock, ClockView(self._clock, self._work)):
                return super().run_in_executor(executor, func, *args)
        if not isinstance(executor, concurrent.futures.ProcessPoolExecutor) and self._clock.crowded:
            # An executor of the program's own while other threads live on the clock
            # (asgiref's, which runs calls on the thread that started the loop): the
            # bubble sees whether that thread works or waits.
            return super().run_in_executor(executor, func, *args)
        # A process pool pickles the function, and its workers sleep for real:
        # count the work by its future instead.
        self._work.begin_external()
        try:
            future = super().run_in_executor(executor, func, *args)
        except BaseException:
            self._work.end_external()
            raise
        future.add_done_callback(lambda _: self._work.end_external())
        return future

    def close(self) -> None:
        super().close()
        if self._limit is not None:
            self._clock.remove_limit(self._limit)
            self._limit = None
        self._timers.clear()
        self._refresh_fast()
        # Bound methods kept on the loop itself: dropped so that a closed loop
        # is freed as soon as nobody holds it, not at the garbage collector's pass.
        self.__dict__.pop("_call_soon", None)
        self._inbox_order = None
        if self._thread_probe is not None:
            self._thread_probe.close()
            self._thread_probe = None
        # After closing, so that a worker starting a virtual sleep now either
        # sees the loop closed or is in the set released here.
        self._work.close()

    async def settle(self) -> None:
        """Return once nothing but the caller is ready and no tracked thread works."""
        while True:
            await asyncio.sleep(0)
            if self._ready or self._timers.next_deadline() <= self.time():
                continue
            if not self._work.holds_time() and not self._work.inbox:
                return
            waiter = self.create_future()
            self._idle_waiters.append(waiter)
            await waiter

    def _select(
        self, real: selectors.BaseSelector, registered: int, timeout: float | None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """The selector's `select`: poll real I/O without waiting; when idle, decide.

        `registered` counts the files registered, the self-pipe included. What
        workers posted before I/O events were seen happened before them: it is
        handed over first, so that it runs before the callbacks of those events,
        as on a stock loop, where it is in the ready queue already.
        """
        __tracebackhide__ = True  # pytest shows the error, not simclock's machinery
        self._selecting = True
        try:
            events = self._select_events(real, registered, timeout)
        finally:
            self._selecting = False
        if events and self._work.inbox:
            wake_up = self._ssock.fileno()  # the self-pipe only says a worker posted
            if any(key.fd != wake_up for key, _mask in events):
                self._catch_up_with_waits()
                self._work.deliver(self._ready, real_monotonic(), self._inbox_order, at_once=True)
        return events

    def _select_events(
        self, real: selectors.BaseSelector, registered: int, timeout: float | None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        __tracebackhide__ = True
        work = self._work
        if work.inbox:
            self._catch_up_with_waits()
            if work.deliver(self._ready, real_monotonic(), self._inbox_order):
                timeout = 0  # what workers handed back is ready to run now
        reading = self._clock.reading
        if reading == self._instant:
            self._spins += 1
            if self._spins > self._livelock_after:
                self._spun_too_long(self._spins)
        else:
            self._instant, self._spins = reading, 0
        if registered <= self._internal_fds and not self._signal_handlers:
            # Only the self-pipe is registered. What call_soon_threadsafe sends
            # is already in the ready queue; the pipe only wakes a sleeping
            # loop, so polling it here would be a system call for nothing.
            if timeout == 0:
                return []
            return self._when_idle(real, timeout)
        events = real.select(0)
        if events and self._outside.expecting:
            self._outside.saw(events)
        if events or timeout == 0:
            return events
        # Nothing is ready and no timer is due: this is where a real loop would sleep.
        return self._when_idle(real, timeout)

    def _files_changed(self, unregistered: int | None = None) -> None:
        """A file was registered, or `unregistered` (its fd) was: the fast path may change."""
        if unregistered is not None:
            transport = transport_of(self, unregistered)
            # A paused reader (pause_reading) is unregistered too; its peer is still
            # there, and still watched until its transport closes.
            if transport is None or transport.is_closing():
                self._outside.forget(unregistered)
        self._refresh_fast()

    def _when_idle(
        self, real: selectors.BaseSelector, timeout: float | None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """Called by the selector when nothing is ready and no timer is due: wait, jump or fail.

        While a worker works, or another member of the bubble does, wait in real
        time, looking again and again whether it is really working or durably
        blocked; meanwhile real time brings the next deadline (`_real_time_due`).
        Once nobody works, the rest is `simclock.clock.idle.decide`'s.
        """
        __tracebackhide__ = True
        work = self._work
        clock = self._clock
        bubble = bubble_of(clock) if clock.crowded else None
        me = threading.get_ident()
        others = bubble.next_deadline(me) if bubble is not None else math.inf
        if self._catch_up_with_waits():
            return []  # the clock moved: timers may be due
        if work.holds_time():
            target = self._earliest(others)
            # Looked at first: a worker that posted and went back to a durable
            # wait lets what it posted be delivered at once (`WorkInFlight.deliverable`).
            if work.look_closer(real_monotonic(), target != math.inf, _PATIENCE):
                look = self._real_time_due(target, work.next_look(), bubble, me)
                if look is None:
                    return []  # real time brought the deadline: the clock moved to it
                return real.select(look)
            if work.inbox:
                return []  # every worker is durably blocked: the inbox goes to the loop now
        target = self._earliest(others)
        if children.a_child_works() or (target != math.inf and natives.a_native_works()):
            # A child process of the run computes or sleeps, or a thread C code started
            # for it (`simclock.process.natives`) computes or waits with a timeout:
            # real work, as a worker's. With nothing pending, such a thread only holds
            # off a deadlock as a stranger does (`_strangers_may_post`).
            look = self._real_time_due(target, work.next_look(), bubble, me)
            if look is None:
                return []
            events = real.select(look)
            if natives.waiting():
                # A native thread waits with a timeout (c-ares for a DNS reply): the
                # wait takes real time, as in a real run, so the clock follows it.
                self._catch_up_with_real_time(target, bubble, me)
            return events
        work.settled()
        idle: dict[int, float] = {}
        if bubble is not None and bubble.others_working(me, real_monotonic(), idle):
            # Another member may still post work or set a timer: look again soon.
            look, self._member_look = self._member_look, min(0.05, self._member_look * 2)
            target = self._earliest(others)
            due_look = self._real_time_due(target, look, bubble, me)
            return [] if due_look is None else self._idle_select(real, due_look)
        self._member_look, self._working_since = 0.001, None
        if self._ready:
            # A member or a stranger posted (call_soon_threadsafe) after this iteration
            # found nothing ready, then went into a wait: that runs first, at this instant.
            return []
        if bubble is not None:
            # The other loops' deadlines as `others_working` just saw them idle: read
            # at the top, a loop then still running would have been left out.
            others = bubble.next_deadline(me, idle)
        decision = decide(self._idle_snapshot(others))
        verdict = decision.verdict
        if verdict is Verdict.JUMP:
            if bubble is not None:
                if self._ready:
                    return []  # a member posted meanwhile: that runs first, at this instant
            self._move_clock(decision.reading, bubble, me)
            return []
        if verdict is Verdict.DELIVER:
            self._deliver()
            return []
        if verdict is Verdict.WAIT_FOR_PEER:
            events = self._idle_select(real, decision.seconds)
            if events:
                self._outside.saw(events)  # outside data restarts the grace
            return events
        if verdict is Verdict.WAIT_FOR_OUTSIDE or verdict is Verdict.WAIT_FOR_REPLACED_CLOCK:
            return self._idle_select(real, decision.seconds)
        if verdict is Verdict.END_ADVANCE:
            self._end_advance(decision.reading)
            return []
        if verdict is Verdict.DEADLOCK and self._strangers_may_post():
            # Nothing is pending, so waiting skips nothing: a thread outside the
            # bubble may still post, as it would to a real loop asleep in select.
            events = self._idle_select(real, _STRANGERS_LOOK)
            if events or self._ready:
                self._strangers_since = None  # a post arrived: patience starts afresh
            return events
        raise self._deadlock(verdict)

    def _strangers_may_post(self) -> bool:
        """Whether a thread outside the bubble may still post (`simclock.threads.strangers`)."""
        me = threading.get_ident()
        members = self._clock.members()
        work = self._work

        def known(thread: threading.Thread) -> bool:
            return thread.ident == me or thread.ident in members or work.employs(thread)

        now = real_monotonic()
        names = strangers.STRANGERS.may_post(known, now)
        names += [f"native thread {tid}" for tid in natives.native_workers()]
        if not names:
            self._strangers_since, self._idle_strangers = None, []
            return False
        if self._strangers_since is None:
            self._strangers_since = now
        if now - self._strangers_since < strangers.PATIENCE:
            return True
        # Named in this deadlock; a later one (the loop run again) starts afresh.
        self._strangers_since, self._idle_strangers = None, names
        return False

    def _real_time_due(
        self, target: float, look: float, bubble: Bubble | None, me: int
    ) -> float | None:
        """While someone works: how long to wait before looking again, or None after a jump.

        Waiting is skipped, working is real: while a worker or another member
        of the bubble works, the earliest deadline comes due once as much real
        time has passed, since the clock last moved, as virtual time lies
        before it; the clock then moves to exactly that deadline. Work that
        ends sooner takes no virtual time. `Clock(compute="instant")` turns
        this off: work never brings a deadline, as on an infinitely fast machine.
        """
        if target == math.inf or self._clock.compute == "instant":
            return look
        now = real_monotonic()
        reading = self._clock.reading
        since = self._working_since
        if since is None or since[1] != reading:
            since = self._working_since = (now, reading)
        left = target - reading - (now - since[0])
        if left > 0:
            return min(look, left)
        self._working_since = None
        self._move_clock(target, bubble, me)
        return None

    def _catch_up_with_real_time(self, target: float, bubble: Bubble | None, me: int) -> None:
        """Move the clock by the real time spent waiting for real work, never past `target`."""
        since = self._working_since
        if since is None or since[1] != self._clock.reading:
            return
        reading = min(since[1] + (real_monotonic() - since[0]), target)
        self._working_since = None
        self._move_clock(reading, bubble, me)

    def _catch_up_with_waits(self) -> bool:
        """Move the clock to where workers' timed kernel waits brought them; True if it moved.

        See `WorkInFlight.waited_to`. Never past the next deadline: real time
        brings that one (`_real_time_due`).
        """
        reading = self._work.waited_to()
        if reading <= self._clock.reading:
            return False
        reading = min(reading, self._earliest())
        bubble = bubble_of(self._clock) if self._clock.crowded else None
        self._move_clock(reading, bubble, threading.get_ident())
        return True

    def _move_clock(self, reading: float, bubble: Bubble | None, me: int) -> None:
        """Move the clock to `reading`, for the whole bubble (waking its loops) if crowded."""
        if bubble is not None:
            bubble.jump_to(reading, me)
        else:
            self._clock.jump_to(reading)

    def _earliest(self, others: float = math.inf) -> float:
        """The earliest deadline of this loop's timers, its workers' waits and `others`."""
        return min(self._next_timer(), self._work.next_wait(), others)

    def _next_timer(self) -> float:
        """The earliest deadline of a live timer that can come due, or `math.inf`.

        A deadline past what the wall clock can show (`asyncio.sleep(1e300)`)
        can never come due in a real run: like `math.inf`, it means never.
        """
        deadline = self._timers.next_deadline()
        return deadline if deadline <= self._clock.latest else math.inf

    def _idle_snapshot(self, others: float = math.inf) -> Snapshot:
        """The loop as `decide` sees it; read only once no worker works.

        A worker registers its deadline before it stops working, so none can be
        missed. `others`: the earliest deadline of the rest of the bubble.
        """
        work = self._work
        advancing = self._advancing
        return Snapshot(
            next_timer=self._next_timer(),
            next_wait=min(work.next_wait(), others),
            owed=bool(self._idle_waiters) or work.deliverable(real_monotonic()),
            peer_budget=self._outside.wait_budget(),
            could_be_woken=self._could_be_woken(),
            autojump=self._clock.autojump or self._winding_down,
            advancing_to=None if advancing is None else advancing[0],
            only_background=bool(self._background) and self._only_background_ticks(),
            replaced_time=self.time() if "time" in vars(self) else None,
        )

    def _deliver(self) -> None:
        """Hand over what workers posted, or else wake the `run_until_idle()` waiters."""
        if self._work.deliver(self._ready, real_monotonic(), self._inbox_order):
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _deadlock(self, verdict: Verdict) -> Deadlock:
        if verdict is Verdict.FROZEN:
            return Deadlock(
                self._clock.now,
                self._pending_tasks(),
                self._blocked_threads(),
                hint="autojump is off and no task awaits clock.advance(): time cannot move",
            )
        if verdict is Verdict.BACKGROUND_ONLY:
            return Deadlock(
                self._clock.now,
                self._foreground_tasks(),
                [
                    f"background task {task.get_name()!r} still ticking"
                    for task in sorted(self._background, key=lambda t: t.get_name())
                    if not task.done()
                ],
            )
        hint = None
        if self._idle_strangers:
            hint = (
                f"threads outside the run ({', '.join(self._idle_strangers)}) kept working "
                f"or waking for {strangers.PATIENCE:g} real seconds and never posted to the loop"
            )
        return Deadlock(self._clock.now, self._pending_tasks(), self._blocked_threads(), hint=hint)

    def _could_be_woken(self) -> bool:
        """External I/O, a signal or a child process could still wake an idle loop."""
        return bool(
            self._selector.registered > self._internal_fds
            or self._signal_handlers
            or self._outside.could_wake()
        )

    # Time that moves only when the program says so (autojump=False).

    async def shutdown_asyncgens(self) -> None:
        self._winding_down = True
        await super().shutdown_asyncgens()

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        """As asyncio's, but after the run failed, threads still stuck are not waited for.

        The run's error is what the user must see; joining a worker that no one
        will release would only hang, or raise a second error in its place.
        """
        self._winding_down = True
        executor = self._default_executor
        if self._work.aborted and executor is not None:
            self._executor_shutdown_called = True
            self._default_executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return
        await super().shutdown_default_executor(*args, **kwargs)

    async def advance_to(self, until: float) -> None:
        """With autojump off: run every timer up to `until` at its own instant, then return."""
        if self._advancing is not None:
            raise RuntimeError("another task is already awaiting clock.advance() on this loop")
        waiter = self.create_future()
        self._advancing = (until, waiter)
        try:
            await waiter
        finally:
            self._advancing = None

    def _end_advance(self, until: float) -> None:
        """With autojump off: the `await clock.advance()` in progress reached its instant."""
        assert self._advancing is not None
        _until, waiter = self._advancing
        self._clock.jump_to(until)  # checks the limit as any jump does
        self._advancing = None
        if not waiter.done():
            waiter.set_result(None)

    def _only_background_ticks(self) -> bool:
        """Every pending timer is a background task's, and nothing else could wake a task.

        Then the other tasks wait on something no timer of theirs, no worker and
        no I/O can bring: the background tasks would tick forever for nothing.
        """
        if self._work.next_deadline() is not None or self._could_be_woken():
            return False
        if any(not timer._background for timer in self._timers if not timer._cancelled):
            return False
        return bool(self._foreground_tasks())

    def _foreground_tasks(self) -> list[asyncio.Task[Any]]:
        return [task for task in self._pending_tasks() if task not in self._background]

    def _ready_hands_over_a_result(self) -> bool:
        """Whether a ready callback receives a finished future: a task woken by a result."""
        for handle in self._ready:
            args = handle._args
            if args and isinstance(args[0], asyncio.Future):
                return True
        return False

    def _spun_too_long(self, spins: int) -> None:
        """`livelock_after` iterations at one instant: reach the next deadline, or `Livelock`.

        Only a spin that makes no progress counts. Past `livelock_after`
        iterations, the next `_SCRUTINY` are looked at: if one of them wakes a
        task with a future's result (a queue handing over an item, a lock
        passed on), tasks are exchanging work, as a long pipeline at one
        instant does, and the count starts again. A spin counts if none
        does: tasks that only yield (`await asyncio.sleep(0)`), callbacks that
        only re-arm themselves. Tasks that hand each other results forever are
        a program that never ends, as it would not in a real run either.

        A loop that only spins (re-arming zero-delay steps, `await sleep(0)` in a
        loop) while a timer is pending is what a real loop does until that
        timer comes due: the clock moves to it, after that many iterations
        (deterministic, whatever the machine's speed), and the count starts
        again. With no deadline ahead, nothing can ever end the spin: `Livelock`.
        The count starts again either way, so the teardown after a `Livelock`
        (cancelling tasks, running their `finally` blocks) gets its own.
        """
        __tracebackhide__ = True  # pytest shows the error, not simclock's machinery
        if spins <= self._livelock_after + _SCRUTINY:
            if self._ready_hands_over_a_result():
                self._instant, self._spins = math.nan, 0  # progress: count afresh
            return
        self._instant, self._spins = math.nan, 0
        clock = self._clock
        if clock.crowded:
            # Another member may end the spin, or be waiting for a deadline:
            # the spin is real work, so real time brings the bubble's next one.
            bubble = bubble_of(clock)
            me = threading.get_ident()
            target = self._earliest(bubble.next_deadline(me))
            self._real_time_due(target, 0.0, bubble, me)
            return
        if (
            self._work.holds_time()
            or CHILDREN
            or not clock.autojump
            or self._advancing is not None
            or self._outside.expecting
        ):
            return  # something real may end the spin: not a livelock, and no jump
        target = self._earliest()
        if target != math.inf and target > clock.reading:
            clock.jump_to(target)
            return
        self._livelock(spins)

    def _livelock(self, spins: int) -> None:
        __tracebackhide__ = True  # pytest shows the error, not simclock's machinery
        now = self._clock.reading
        due = [timer for timer in self._timers if timer._when <= now]
        callbacks = []
        for handle in [*self._ready, *due][:5]:
            callback = getattr(handle, "_callback", None)
            code = getattr(getattr(callback, "__func__", callback), "__code__", None)
            where = f" (defined at {code.co_filename}:{code.co_firstlineno})" if code else ""
            callbacks.append(f"{shorten(repr(handle), 100)}{where}")
        raise Livelock(self._clock.now, spins, callbacks)

    def _blocked_threads(self) -> list[str]:
        lines = []
        for worker, stack in iter_thread_stacks(self._work.blocked_workers()):
            what = worker.waiting_on or worker.activity.value
            lines.append(f"thread {worker.name!r}: {worker.state.value}, {what}")
            lines += ["    " + line.rstrip().replace("\n", "\n    ") for line in stack[-2:]]
        return lines

    def limit_report(self) -> tuple[list[asyncio.Task[Any]], list[str]]:
        """The pending tasks and the next timers: what `TimeLimitExceeded` names."""
        return self._pending_tasks(), self._next_timers()

    def _next_timers(self, count: int = 5) -> list[str]:
        """The next live timers, due when and waking whom: what keeps a runaway going."""
        timers = []
        for timer in self._timers:
            if not timer._cancelled:
                timers.append((timer._when - self._clock.reading + self._clock.now, timer))
                if len(timers) == count:
                    break
        return describe_timers(timers)

    def _pending_tasks(self) -> list[asyncio.Task[Any]]:
        return [task for task in asyncio.all_tasks(self) if not task.done()]


def _drop_own_frame(handle: asyncio.Handle) -> None:
    """In debug mode, end a handle's source traceback where the program called, not here."""
    traceback = getattr(handle, "_source_traceback", None)
    if traceback:
        del traceback[-1]


def check_limit(limit: object) -> None:
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0
    ):
        raise ValueError(f"limit must be a positive number of virtual seconds, got {limit!r}")


def check_io_grace(io_grace: object) -> None:
    if isinstance(io_grace, bool) or not (
        isinstance(io_grace, (int, float)) and 0 <= io_grace < math.inf
    ):
        raise ValueError(f"io_grace must be a finite number of real seconds >= 0, got {io_grace!r}")


def _choose_clock(clock: Clock | None, start: StartLike | None) -> Clock:
    if clock is not None:
        if start is not None:
            raise TypeError("pass either clock= or start=, not both")
        return clock
    driving = bindings.current_clock()
    if driving is None:
        return Clock(start)
    if start is not None:
        raise ClockConflict(
            f"start={start!r} cannot apply: {driving!r} already drives the process "
            "clocks, and this loop attaches to it"
        )
    return driving


def background(task: asyncio.Task[_T]) -> asyncio.Task[_T]:
    """Mark `task` as background work (a heartbeat, a keepalive, a poller). Returns the task.

    Background tasks do not keep a run alive: when every other task waits and
    the only timers pending are background tasks' (no worker, I/O or signal
    could wake anything either), the run is deadlocked, and `Deadlock` names
    the waiting tasks and the background tasks still ticking. The contract:
    nothing the other tasks wait for may come from a background task alone.
    A simulated test that ends with a background task still pending cancels it
    quietly instead of reporting it as left over.
    """
    loop = task.get_loop()
    if isinstance(loop, VirtualEventLoop):
        loop._background.add(task)
        loop._refresh_fast()
    return task


def background_tasks(loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[Any]]:
    """The tasks marked with `background()` on `loop` that still exist."""
    return set(loop._background) if isinstance(loop, VirtualEventLoop) else set()


def new_event_loop(
    clock: Clock | None = None,
    *,
    start: StartLike | None = None,
    limit: float | None = None,
    io_grace: float = DEFAULT_IO_GRACE,
    livelock_after: int = DEFAULT_LIVELOCK_AFTER,
) -> VirtualEventLoop:
    """Make a `VirtualEventLoop`; usable as `asyncio.Runner(loop_factory=...)`.

    On Python 3.12 and later it also serves as `asyncio.run(coro, loop_factory=...)`.
    With no arguments, the loop attaches to the clock that drives the process,
    if any, and otherwise gets a clock of its own.
    """
    return VirtualEventLoop(
        clock, start=start, limit=limit, io_grace=io_grace, livelock_after=livelock_after
    )


_SHUTDOWN_ASYNCGENS = VirtualEventLoop.shutdown_asyncgens.__code__
_SHUTDOWN_EXECUTOR = VirtualEventLoop.shutdown_default_executor.__code__
