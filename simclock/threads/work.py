"""Threads working for a virtual loop, and when they let virtual time move.

The rule (Go's `testing/synctest` rule): virtual time moves only when every
thread that could wake the loop is *durably blocked*, that is, blocked on
something only the loop or virtual time can release.

Which threads work for a loop. A thread is a *worker* of a loop when code
running for that loop (on its thread, or in one of its workers) starts it
with `Thread.start`, or hands a call to a thread pool with
`ThreadPoolExecutor.submit` (which `run_in_executor`, `to_thread` and
`getaddrinfo` use): see `simclock.threads.hooks`, which finds them without the
program declaring anything. A pool thread is a worker only while it runs
such a call. `external_work()` declares work simclock cannot see.

What a worker is doing, in states:

A call waiting for a pool thread is not a worker yet: it holds time while
its pool has a free thread to start it.

- WORKING: running, or blocked where simclock has no hook. It holds time for
  as long as it works, with no cap. When the loop has nothing else to do it
  asks the kernel (`simclock.process.probe`): a worker seen twice in a lock
  wait with no timeout, using no CPU between, is durably blocked; one asleep
  anywhere else (a socket, a child, a wait with a timeout) may come back by
  itself and holds time until it has been quiet for `io_grace`.
- WAITING: in a virtual wait: `time.sleep`, a `threading` wait with or
  without a timeout (`Event.wait`, `Condition.wait`, `queue.Queue.get/put`,
  `concurrent.futures.Future.result`, `Semaphore.acquire`), `Thread.join`.
  Durably blocked. A timeout expires at its virtual deadline, as a timer on
  the loop; whoever releases the wait (a notify, the deadline) marks the
  worker WORKING again before the loop can move on.
- ENDED.

A worker's clocks read the virtual instant its work started (or its last
wait ended) plus the real time it has spent since, never going backwards.
The loop's clock does not move meanwhile.

Determinism: what workers hand to the loop with `call_soon_threadsafe`
(results of `to_thread`, `run_coroutine_threadsafe`, their own timers) waits
in an inbox and reaches the loop's ready queue in the order the workers were
started or submitted, once no worker works, so that the same program makes
the same schedule on every run. A worker that keeps the loop waiting longer
than `SETTLE` real seconds has its results delivered as they come.
"""

from __future__ import annotations

import _thread
import asyncio
import enum
import heapq
import itertools
import math
import sys
import threading
import traceback
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Generic, Protocol, TypeVar

from simclock.clock.clock import Clock, later
from simclock.errors import ClockConflict, RunEnded
from simclock.process import bindings
from simclock.process.probe import Activity, ThreadProbe

__all__ = ["SETTLE", "LoopPort", "WorkInFlight", "Worker", "external_work"]

_T = TypeVar("_T")

#: Every gate a worker blocks on in a virtual wait, to the work it belongs to.
GATES: dict[Any, WorkInFlight] = {}

#: Real seconds a worker's results may wait in the inbox for other workers to settle.
SETTLE = 0.05
# Real seconds between looks at working threads while the loop waits for them.
_FIRST_LOOK, _LAST_LOOK = 0.001, 0.05
# Real seconds before a second look at a worker seen in a lock wait with no timeout.
_CONFIRM_LOOK = 0.0002
# Real seconds a worker must be seen quiet in a wait with a timeout before its time
# counts as waited (`WorkInFlight.waited_to`): longer than any wait for the GIL.
_A_REAL_WAIT = 0.02
# Real seconds between looks, by a worker in a virtual wait, at a loop whose thread
# may be blocked inside a callback (see `WorkInFlight.unstick`).
_STUCK_LOOK = 0.05


class LoopPort(Protocol):
    """What work in flight may ask of its loop. It never imports the loop."""

    def time(self) -> float: ...
    def is_closed(self) -> bool: ...
    def wake(self) -> None: ...
    def stuck_in_a_callback(self) -> bool: ...


class State(enum.Enum):
    WORKING = "working"
    WAITING = "waiting"
    ENDED = "ended"


class Worker:
    """One thread (or one pool call) working for a loop; also that thread's clock view."""

    def __init__(self, work: WorkInFlight, seq: int, name: str) -> None:
        self.work = work
        self.seq = seq
        self.name = name
        self.state = State.WORKING
        self.thread: threading.Thread | None = None
        self.probe: ThreadProbe | None = None
        self.activity = Activity.COMPUTING
        self.quiet_since: float | None = None
        self.waiting_on = ""
        # The clock view: virtual base, real base, last reading.
        self._clock = work.clock
        self._base_virtual = work.port.time()
        self._base_real = bindings.real_monotonic()
        self._last = self._base_virtual
        # Blocked on something that ends in real time (joining a thread that
        # does not work for the loop): holds time whatever the kernel says.
        self._real_waits = 0
        # Gates of workers joining this one's thread: its end wakes them.
        self.joiners: list[Any] = []
        # Released from a virtual wait, and its thread has not run since.
        self.waking = False
        # Seen asleep in the kernel with a timeout since the loop's clock last
        # caught up with it: a real wait, whose time the loop's clock owes.
        self.timed_wait = False

    @property
    def worker(self) -> Worker:
        """The worker a view belongs to (a view is its own worker)."""
        return self

    def __repr__(self) -> str:
        return f"<simclock worker #{self.seq} {self.name!r} {self.state.value}>"

    # The thread's view of the clocks.

    def read(self) -> float:
        now = bindings.real_monotonic()
        reading = self._base_virtual + (now - self._base_real)
        clock = self._clock._reading
        if reading < clock:
            # The loop moved on while this thread was durably blocked somewhere
            # simclock has no hook (a C-level lock): it waited, so its time
            # passed too. It counts on from there.
            self._base_virtual, self._base_real = clock, now
            reading = clock
        if reading < self._last:
            reading = self._last
        self._last = reading
        return reading

    def peek(self) -> float:
        return self.read()

    def sleep(self, seconds: float) -> None:
        if not seconds:
            bindings.real_sleep(0)  # as time.sleep(0): let other threads run, wait for nothing
            return
        gate = _thread.allocate_lock()
        gate.acquire()
        if not self.block(gate, seconds, "time.sleep"):
            bindings.real_sleep(seconds)

    # Waiting.

    def block(self, gate: Any, timeout: float | None, what: str) -> bool:
        """Block on `gate` (a locked lock) as a virtual wait of at most `timeout` seconds.

        Someone else releases the gate: a notify, or the virtual deadline.
        Returns False, at once or on being released, if the loop is gone and
        the wait must be done in real time.
        """
        work = self.work
        # Counted from the virtual instant the worker's work began, not from
        # its real-time reading: deadlines must not depend on how fast this
        # machine is, or the same program would wake its workers in another
        # order on another run.
        deadline = None if timeout is None else later(self._base_virtual, timeout)
        # The deadline is known before the worker counts as waiting, so the
        # loop never sees it waiting with its deadline nowhere.
        if not work.register_gate(self, gate, what, deadline):
            return False
        work.park(self, gate)
        while not gate.acquire(timeout=_STUCK_LOOK):
            work.unstick()
        self.waking = False
        resumed = work._resumed(self, gate)
        # Work begins again at the loop's instant, however far this thread's own
        # readings ran ahead before the wait (they stay: `read` never goes back).
        # Deadlines count from here, so the real time the thread took before
        # its wait does not move them.
        self._base_virtual = work.port.time()
        self._base_real = bindings.real_monotonic()
        return resumed

    @contextmanager
    def waiting_for_real(self) -> Iterator[None]:
        """A block during which the worker waits on real time: it holds virtual time."""
        self._real_waits += 1
        try:
            yield
        finally:
            self._real_waits -= 1

    def start_running_on(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.probe = ThreadProbe(thread.native_id)

    #: True once the run is over: the thread reads real time, as it would have without simclock.
    retired = False

    def retire(self) -> None:
        """The loop closed while this thread lives on: from now on it reads real clocks.

        A later run binds the process clocks again; a thread left over from this
        one must not read this run's dead clock then. Set as instance attributes,
        so that the reads of a working thread pay nothing for the check.
        """
        self.retired = True
        self.read = self.peek = bindings.real_monotonic  # type: ignore[method-assign]
        self.sleep = bindings.real_sleep  # type: ignore[method-assign, assignment]


class _Pool:
    """Calls handed to one thread pool: waiting for a thread, and holding one."""

    __slots__ = ("active", "capacity", "queued")

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.queued = 0
        self.active = 0

    def starts_queued(self) -> bool:
        """A queued call can start now: some thread of the pool is free."""
        return bool(self.queued) and (self.capacity is None or self.active < self.capacity)


class _Gone:
    """The port of a loop nobody holds any more: closed, and at no time."""

    def time(self) -> float:
        return math.nan

    def is_closed(self) -> bool:
        return True

    def wake(self) -> None:
        pass

    def stuck_in_a_callback(self) -> bool:
        return False


_GONE = _Gone()


class WorkInFlight:
    """A loop's workers, their virtual waits, and the inbox of what they hand back."""

    def __init__(self, port: LoopPort, clock: Clock, io_grace: float) -> None:
        # Held weakly: the loop holds this, and a cycle would keep every
        # finished loop alive until the garbage collector's next pass.
        self._port = weakref.ref(port)
        self._clock = clock
        # Whether `expire_due` follows the clock's moves: exactly while some
        # virtual wait has a deadline, so that a jump with none costs nothing.
        self._following = False
        # See `waited_to`.
        self._waited_to = -math.inf
        self.io_grace = io_grace
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._workers: dict[int, Worker] = {}
        self._pools: dict[int, _Pool] = {}
        self._external = 0
        # Gates of workers in virtual waits, to the worker, for notify and close.
        self._gates: dict[Any, Worker] = {}
        self._closed = False
        # Holds of the process clocks by calls that started before the loop ran
        # (see `hold_clock`), each to the call that lets it go.
        self._holds: set[Callable[[], None]] = set()
        # The error the run ended with, once it has: virtual waits then end at once.
        self._aborted: BaseException | None = None
        # Deadlines of virtual waits: (deadline, worker seq, arrival, gate).
        self._deadlines: list[tuple[float, int, int, Any]] = []
        # Handles from workers, by (worker seq, arrival), and when the oldest came.
        self.inbox: list[tuple[int, int, asyncio.Handle]] = []
        self._arrivals = itertools.count()
        self._inbox_since = 0.0
        # One waiting worker at a time looks at a stuck loop (see `unstick`).
        self._unsticking = threading.Lock()
        # When a look found every worker durably blocked (see `look_closer`).
        self._seen_settled_at = -math.inf
        self._look_every = _FIRST_LOOK

    @property
    def port(self) -> LoopPort:
        port = self._port()
        return port if port is not None else _GONE

    @property
    def clock(self) -> Clock:
        """The clock the loop runs on."""
        return self._clock

    # Workers coming and going.

    def next_seq(self) -> int:
        """A worker's place in the order: what workers post reaches the loop in this order."""
        with self._lock:
            return next(self._seq)

    def enlist(self, name: str, seq: int | None = None) -> Worker:
        """A new worker, working from now; retired at once if the loop has closed.

        `seq` is its place, taken with `next_seq` when its work was handed over
        (a pool call, which starts when a pool thread is free); by default, now.
        """
        if seq is None:
            seq = self.next_seq()
        # Made outside the lock: it reads the loop's time, which may move the
        # clock (`tick_loop`), and the clock's moves take the lock (`expire_due`).
        worker = Worker(self, seq, name)
        with self._lock:
            self._workers[seq] = worker
            if self._closed:
                worker.retire()
        return worker

    def hold_clock(self) -> Callable[[], None] | None:
        """Keep the process clocks on the loop's clock for a call that starts before the loop runs.

        Returns what lets the hold go; None while another clock is bound, and
        once the loop has closed: a call that starts then runs in real time, as
        every thread left over from a run does. Closing the loop lets every hold
        go, so that a call still running cannot keep a finished run's clock
        bound into the next run (the next test's bind would fail).
        """
        if self._closed:
            return None
        # Bound outside the lock: binding may collect garbage, and a loop
        # collected then closes its work, which takes the lock.
        try:
            release = bindings.hold(self._clock)
        except ClockConflict:  # another clock came first
            return None
        with self._lock:
            closed = self._closed
            if not closed:
                self._holds.add(release)
        if closed:  # meanwhile
            release()
            return None

        def let_go() -> None:
            with self._lock:
                if release not in self._holds:
                    return  # the loop's close let it go
                self._holds.remove(release)
            release()

        return let_go

    def discharge(self, worker: Worker) -> None:
        self._owe_waited(worker)
        with self._lock:
            worker.state = State.ENDED
            self._workers.pop(worker.seq, None)
            joiners, worker.joiners = worker.joiners, []
        for gate in joiners:
            self.resume_gate(gate)
        if worker.probe is not None:
            worker.probe.close()
        self.port.wake()

    def join_gate(self, joiner: Worker, gate: Any, thread: threading.Thread) -> bool:
        """The joiner waits for worker thread `thread` to end.

        False if `thread` is not one of this loop's workers (any more): then
        it ends in real time, and so does the wait for it.
        """
        with self._lock:
            joined = next((w for w in self._workers.values() if w.thread is thread), None)
            if joined is None:
                return False
            joined.joiners.append(gate)
        return self.suspend(joiner, gate, f"join({thread.name})")

    def employs(self, thread: threading.Thread) -> bool:
        """Whether `thread` is one of this loop's workers now."""
        with self._lock:
            return any(worker.thread is thread for worker in self._workers.values())

    def pool(self, executor: object, capacity: int | None) -> _Pool:
        with self._lock:
            return self._pools.setdefault(id(executor), _Pool(capacity))

    def begin_external(self) -> None:
        with self._lock:
            self._external += 1

    def end_external(self) -> None:
        with self._lock:
            self._external -= 1
        self.port.wake()

    @property
    def closed(self) -> bool:
        return self._closed

    # Virtual waits.

    def register_gate(
        self, worker: Worker, gate: Any, what: str, deadline: float | None = None
    ) -> bool:
        """The worker is about to block on `gate`, until `deadline` at the latest.

        False if the loop is gone. Deadlines are kept here, not as loop timers:
        equal ones expire in worker order, and they can expire while the loop's
        own thread is blocked too.
        """
        with self._lock:
            if self._aborted is not None:
                raise RunEnded(self._aborted)
            if self._closed or self.port.is_closed():
                return False
            worker.waiting_on = what
            self._gates[gate] = worker
            GATES[gate] = self
            if deadline is not None:
                heapq.heappush(self._deadlines, (deadline, worker.seq, next(self._arrivals), gate))
                if not self._following:
                    self._following = True
                    self._clock.follow(self.expire_due)
        return True

    def park(self, worker: Worker, gate: Any) -> None:
        """The worker blocks on its registered gate now: it no longer holds time."""
        with self._lock:
            if self._gates.get(gate) is worker:
                worker.state = State.WAITING
        self.port.wake()

    def suspend(self, worker: Worker, gate: Any, what: str) -> bool:
        """Register and park at once, for a wait with no deadline."""
        if not self.register_gate(worker, gate, what):
            return False
        self.park(worker, gate)
        return True

    def resume_gate(self, gate: Any, by_itself: bool = False) -> None:
        """The gate is about to be released (a notify): its worker works again, from now.

        `by_itself`: called by the worker's own thread, which runs already.
        """
        with self._lock:
            worker = self._gates.pop(gate, None)
            GATES.pop(gate, None)
            if worker is not None and worker.state is State.WAITING:
                worker.state = State.WORKING
                # Until its thread runs again, it still shows blocked in the kernel:
                # no look may take that for a durable block (see `look_closer`).
                worker.waking = not by_itself
                worker.waiting_on = ""
                worker.activity = Activity.COMPUTING

    def next_deadline(self) -> float | None:
        """The earliest deadline of a worker still in its virtual wait, if any."""
        if not self._deadlines:
            return None
        with self._lock:
            deadlines = self._deadlines
            while deadlines and deadlines[0][3] not in self._gates:
                heapq.heappop(deadlines)
            self._follow_while_deadlines()
            return deadlines[0][0] if deadlines else None

    def _follow_while_deadlines(self) -> None:
        """Stop following the clock once no deadline is left (called under the lock)."""
        if self._following and not self._deadlines:
            self._following = False
            self._clock.unfollow(self.expire_due)

    def next_wait(self) -> float:
        """`next_deadline()`, with `math.inf` for none."""
        deadline = self.next_deadline()
        return math.inf if deadline is None else deadline

    def expire_due(self, reading: float) -> bool:
        """End every virtual wait whose deadline is at or before `reading`, in order."""
        if not self._deadlines:
            return False
        due = []
        with self._lock:
            deadlines = self._deadlines
            while deadlines and deadlines[0][0] <= reading:
                gate = heapq.heappop(deadlines)[3]
                if gate in self._gates:
                    due.append(gate)
            self._follow_while_deadlines()
        for gate in due:
            self.resume_gate(gate)
            _release(gate)
        return bool(due)

    def _resumed(self, worker: Worker, gate: Any) -> bool:
        """After the gate opened: tidy up; False if it opened because the loop closed.

        Raises `RunEnded` if it opened because the run ended with an error.
        """
        self.resume_gate(gate, by_itself=True)
        if self._aborted is not None:
            raise RunEnded(self._aborted)
        return not self._closed

    @property
    def aborted(self) -> bool:
        """The run ended with an error (see `abort`)."""
        return self._aborted is not None

    def abort(self, error: BaseException) -> None:
        """The run ended with `error`: every virtual wait, now or later, raises `RunEnded`."""
        with self._lock:
            self._aborted = error
            gates, self._gates = list(self._gates), {}
            for gate in gates:
                GATES.pop(gate, None)
        for gate in gates:
            _release(gate)

    def close(self) -> None:
        """The loop is closing: open every virtual wait; they go on in real time."""
        with self._lock:
            self._closed = True
            self._deadlines.clear()
            self._follow_while_deadlines()
            gates, self._gates = list(self._gates), {}
            for gate in gates:
                GATES.pop(gate, None)
            for worker in self._workers.values():
                worker.retire()
            holds, self._holds = self._holds, set()
        for gate in gates:
            _release(gate)
        for release in holds:
            release()

    def unstick(self) -> None:
        """Called by a worker in a virtual wait: move time if the loop cannot.

        A callback may block the loop's own thread in a wait simclock has no hook
        for (a C-level `Lock.acquire()`, `SimpleQueue.get()`, a pipe read) until
        a worker releases it, and that worker may first sleep virtually. The
        loop cannot move the clock then; a real run would simply let the sleep
        pass. So once the loop's thread is seen blocked with no timeout, twice,
        outside its idle wait, and no worker works, the waiting workers move the
        clock to their earliest deadline themselves.
        """
        if not self._unsticking.acquire(blocking=False):
            return  # another waiting worker is at it
        try:
            if self._closed or self._aborted is not None or self._clock.crowded:
                return
            deadline = self.next_deadline()
            if deadline is None or self.inbox or self._external:
                return
            with self._lock:
                if any(w.state is State.WORKING for w in self._workers.values()):
                    return
            if self.port.stuck_in_a_callback():
                self._clock.jump_to(max(deadline, self._clock.reading))
        finally:
            self._unsticking.release()

    # What the loop asks.

    def quiet(self) -> bool:
        """Nothing in flight, no virtual wait, nothing undelivered: a jump needs no second look."""
        if self.inbox or self._deadlines or self._external or self._workers:
            return False
        return not self._pools or not any(pool.starts_queued() for pool in self._pools.values())

    def holds_time(self, besides: int | None = None) -> bool:
        """Some worker (other than worker `besides`) is working, so the loop must not jump.

        Without looking closer: `look_closer` asks what working threads really do.
        """
        if self._external:
            return True
        if not self._workers and not self._pools:
            return False
        for worker in list(self._workers.values()):
            if worker.state is State.WORKING and worker.seq != besides:
                return True
        return any(pool.starts_queued() for pool in self._pools.values())

    def look_closer(self, now: float, timer_pending: bool, patience: float) -> bool:
        """Ask the kernel what each working thread does; True if some still holds time.

        A worker holds time while it computes; in a lock wait with no timeout,
        seen twice in the same wait with no CPU used between, it is durably blocked; asleep
        anywhere else in the kernel (I/O, a wait with a timeout), it holds time
        until quiet for `io_grace` seconds (with a timer pending) or `patience`
        seconds (without one, before a deadlock is declared).
        """
        if self._external or any(pool.starts_queued() for pool in self._pools.values()):
            return True
        holding = False
        quiet_limit = self.io_grace if timer_pending else patience
        loops = self._clock.loops()
        for worker in list(self._workers.values()):
            if worker.state is not State.WORKING:
                continue
            if worker.thread is not None and worker.thread.ident in loops:
                continue  # it runs a loop on this clock: the bubble sees what it does
            if worker.probe is None or worker._real_waits or worker.waking:
                holding = True
                continue
            activity = worker.probe.activity()
            worker.activity = activity
            if activity is Activity.ON_LOCK_FOR_GOOD:
                worker.quiet_since = worker.quiet_since or now
                continue  # only another thread can end its wait: durably blocked now
            if worker.probe.durable_now:
                # In a lock wait with no timeout: a second look, soon, confirms it.
                self._look_every = min(self._look_every, _CONFIRM_LOOK)
            if activity is Activity.COMPUTING or activity is Activity.UNKNOWN:
                worker.quiet_since = None
                holding = True
                continue
            if worker.quiet_since is None or worker.probe.woke:
                worker.quiet_since = now  # quiet from now: a wait that ended is no longer quiet
            if worker.probe.timed and now - worker.quiet_since >= _A_REAL_WAIT:
                # Quiet across looks between which the loop's thread left the GIL
                # free: no wait for the GIL, a wait with a timeout of its own.
                worker.timed_wait = True
            # Blocked in the kernel with a timeout (a `select`, a `Lock.acquire(timeout=)`,
            # a wait for the GIL), or where the kernel does not say: it comes back by itself.
            if now - worker.quiet_since < quiet_limit:
                holding = True
        if not holding:
            self._seen_settled_at = now
        return holding

    def _owe_waited(self, worker: Worker) -> None:
        """Called on the worker's thread as it posts or ends: after a timed wait, owe its time.

        A wait with a timeout in the kernel (a C-level `Lock.acquire(timeout=)`,
        a `select` with a timeout) is waiting, not working: it took its real
        time, and the worker's own clock says so. What the worker hands the
        loop then happens at the worker's reading, and the loop's clock follows
        (`waited_to`); quick work with no such wait still takes no virtual time.
        """
        if worker.timed_wait:
            worker.timed_wait = False
            reading = worker.read()
            with self._lock:
                self._waited_to = max(self._waited_to, reading)

    def waited_to(self) -> float:
        """The instant that workers' timed waits brought them to, once (`-inf`: none)."""
        if self._waited_to == -math.inf:
            return -math.inf
        with self._lock:
            reading, self._waited_to = self._waited_to, -math.inf
        return reading

    def next_look(self) -> float:
        """Real seconds to wait before looking at working threads again (growing)."""
        wait = self._look_every
        self._look_every = min(_LAST_LOOK, wait * 2)
        return wait

    def settled(self) -> None:
        self._look_every = _FIRST_LOOK

    def blocked_workers(self) -> list[Worker]:
        with self._lock:
            return [w for w in self._workers.values() if w.state is not State.ENDED]

    # The inbox.

    def post(self, worker: Worker, handle: asyncio.Handle, now: float) -> None:
        """A worker handed the loop a callback: keep it until the workers settle."""
        self._owe_waited(worker)
        with self._lock:
            if not self.inbox:
                self._inbox_since = now
            self.inbox.append((worker.seq, next(self._arrivals), handle))

    def deliverable(self, now: float) -> bool:
        """Something is in the inbox, and no worker works or it waited long enough."""
        if not self.inbox:
            return False
        if now - self._inbox_since >= SETTLE or self._seen_settled_at >= self._inbox_since:
            return True  # waited long enough, or every worker settled since the first post
        return not self.holds_time() or self._one_poster_alone()

    def _one_poster_alone(self) -> bool:
        """Whether one worker posted all of the inbox and no other works: no order to keep."""
        with self._lock:
            posters = {seq for seq, _arrival, _handle in self.inbox}
        return len(posters) == 1 and not self.holds_time(besides=posters.pop())

    def deliver(
        self,
        ready: Any,
        now: float,
        order: Callable[[list[asyncio.Handle], list[int]], list[asyncio.Handle]] | None = None,
        at_once: bool = False,
    ) -> bool:
        """Move the inbox to `ready` if no worker works or it waited long enough, or `at_once`.

        In worker order, each worker's handles in the order it posted them; an
        explored schedule (`order`, given each handle's worker) may interleave
        workers, never one worker's own handles.
        """
        if not (self.inbox if at_once else self.deliverable(now)):
            return False
        with self._lock:
            batch, self.inbox = self.inbox, []
        batch.sort(key=lambda item: (item[0], item[1]))
        handles = [handle for _seq, _arrival, handle in batch]
        if order is not None and len(handles) > 1:
            handles = order(handles, [seq for seq, _arrival, _handle in batch])
        ready.extend(handles)
        return True


def _release(gate: Any) -> None:
    try:
        gate.release()
    except RuntimeError:  # already released by a notify
        pass


class TrackedCall(Generic[_T]):
    """A call handed to a thread pool by code working for a loop: a worker while it runs.

    It stays a worker until its future is done, not merely until the function
    returns: the future's callbacks (`run_in_executor`'s, which hand the result
    to the loop) run in the pool thread after the return, and they must reach
    the inbox as this worker's, or the loop could see no work in flight and
    no result either.
    """

    def __init__(self, work: WorkInFlight, pool: _Pool, func: Callable[..., _T]) -> None:
        self._work = work
        self._pool = pool
        self._func = func
        self._started = False
        self._future: Any = None
        self._attached = _thread.allocate_lock()
        self._attached.acquire()
        self._worker: Worker | None = None
        self._hold: Callable[[], None] | None = None
        # Its place among the loop's workers is its submission's: pool threads
        # may pick calls up in any order (on a free-threaded Python, often do).
        self._seq = work.next_seq()
        with work._lock:
            pool.queued += 1

    def __repr__(self) -> str:
        return repr(self._func)

    def attach(self, future: Any) -> None:
        """The pool's future for this call (known only once `submit` returned)."""
        self._future = future
        self._attached.release()

    def __call__(self, *args: Any, **kwargs: Any) -> _T:
        work, pool = self._work, self._pool
        worker = self._worker = work.enlist(
            getattr(self._func, "__qualname__", repr(self._func)), self._seq
        )
        with work._lock:
            if not self._started:  # not counted off already (`future_done`)
                self._started = True
                pool.queued -= 1
            pool.active += 1
        worker.start_running_on(threading.current_thread())
        if bindings.current_clock() is None:
            # Handed over before the loop runs (and binds its clock), this call
            # may start first: its clocks must be the loop's all the same.
            self._hold = work.hold_clock()
        bindings.push_view(worker)
        try:
            return self._func(*args, **kwargs)
        finally:
            with self._attached:
                future = self._future
            if future is None:  # submit failed after queueing the call: no future to wait for
                self._finish(None)
            else:
                future.add_done_callback(self._finish)

    def _finish(self, future: object) -> None:
        # The future keeps its callbacks, this call's among them: holding the
        # future too would make a cycle that only the collector breaks, and
        # through the future's other callbacks it would keep the loop alive.
        self._future = None
        worker = self._worker
        if worker is None:
            return
        bindings.pop_view(worker)
        hold, self._hold = self._hold, None
        if hold is not None:
            hold()
        with self._work._lock:
            self._pool.active -= 1
        self._work.discharge(worker)

    def future_done(self, future: object = None) -> None:
        """Cancelled before a thread picked it up: it no longer waits in the queue."""
        self._future = None  # no cycle through the future's callbacks (see `_finish`)
        with self._work._lock:
            if not self._started:
                self._started = True
                self._pool.queued -= 1


@asynccontextmanager
async def external_work() -> AsyncIterator[None]:
    """Declare real work that simclock cannot see, so virtual time waits for it.

    Use it around an await on something finished by a process or a C library
    that simclock does not track. Threads started or pool calls submitted from
    the loop are found without it. Inside the block the loop does not jump; it
    waits in real time, woken by its self-pipe.

        async with simclock.external_work():
            result = await some_c_library_callback_future()

    On a loop that is not virtual it does nothing.
    """
    loop = asyncio.get_running_loop()
    work: WorkInFlight | None = getattr(loop, "_work", None)
    if not isinstance(work, WorkInFlight):
        yield
        return
    work.begin_external()
    try:
        yield
    finally:
        work.end_external()


def iter_thread_stacks(workers: list[Worker]) -> Iterator[tuple[Worker, list[str]]]:
    """Each worker with the innermost lines of its thread's Python stack."""
    frames = sys._current_frames()
    for worker in workers:
        thread = worker.thread
        frame = frames.get(thread.ident) if thread is not None and thread.ident else None
        lines = traceback.format_stack(frame, limit=4) if frame is not None else []
        yield worker, lines
