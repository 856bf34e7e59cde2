"""The bubble: every thread that lives on one clock, and when the clock may move for all of them.

A clock is shared by every loop made while it is bound and by the threads that
bound it: a test's own thread beside a loop it runs in another thread (a portal,
a bridge, `run_coroutine_threadsafe`), or two loops in two threads. With more
than one such member (`Clock.crowded`), no loop may decide alone. An idle loop
asks the bubble first:

- is another member still working? A loop that is not idle, or a thread that
  bound the clock and is computing (the kernel's word, `simclock.process.probe`)
  or blocked for less than `SETTLE` real seconds, may still post work to this
  loop or set a timer: wait in real time and look again;
- else, what is the earliest deadline of the others: another idle loop's next
  timer, or a member's virtual wait? The idle decision takes it into account,
  and whichever idle loop decides first moves the clock and wakes the others.

A member that is not a loop waits virtually while the bubble is crowded: its
`time.sleep()` and `threading` waits (a `Future.result()`, an `Event`, a
queue) block until a notify or the clock reaches their deadline, as a worker's
do, so that the loops' timers fire in between at their own instants.

Go's `testing/synctest` calls the same unit a bubble, and moves its fake
clock only when every goroutine in it is durably blocked.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import weakref
from typing import Any

from simclock._compat.threading_internals import allocate_lock, thread_has_started
from simclock.clock.clock import Clock, later
from simclock.errors import RunEnded
from simclock.process import bindings
from simclock.process.probe import Activity, ThreadWatch

__all__ = [
    "GATES",
    "SETTLE",
    "Bubble",
    "after_a_loop_stopped",
    "after_a_run_failed",
    "bubble_of",
    "crowded_sleep",
    "in_a_crowd",
]

#: Real seconds a member that is not a loop must be blocked, using no CPU,
#: before it counts as unable to post work (see `simclock.threads.work`).
SETTLE = 0.05

#: Every gate a member blocks on in a virtual wait, to its bubble: a notify
#: that releases one marks the member working before it runs.
GATES: dict[Any, Bubble] = {}

# What a released gate's entry says instead of its member's ident.
_EXPIRED, _LET_GO, _ABORTED = -1, -2, -3

_bubbles: weakref.WeakKeyDictionary[Clock, Bubble] = weakref.WeakKeyDictionary()
_made = threading.Lock()


def bubble_of(clock: Clock) -> Bubble:
    """The bubble of `clock` (made on first use)."""
    bubble = _bubbles.get(clock)
    if bubble is None:
        with _made:
            bubble = _bubbles.get(clock)
            if bubble is None:
                bubble = _bubbles[clock] = Bubble(clock)
    return bubble


class Bubble:
    """The members of one clock's bubble: their states, virtual waits and probes."""

    def __init__(self, clock: Clock) -> None:
        # Held weakly: the clock holds this through its followers while waits are due.
        self._clock = weakref.ref(clock)
        self._lock = threading.RLock()
        self._seq = itertools.count()
        # Members in a virtual wait: gate -> thread ident; and the deadlines, as
        # (deadline, seq, gate).
        self._waiting: dict[Any, int] = {}
        self._deadlines: list[tuple[float, int, Any]] = []
        self._following = False
        # The error a loop's run ended with, for members whose waits it cut short.
        self._aborted: BaseException | None = None
        # Probes of members that are not loops, and of loops blocked in a callback.
        self._watch = ThreadWatch()
        # Threads members started, members from before they start until they end.
        self._started: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

    @property
    def clock(self) -> Clock:
        clock = self._clock()
        assert clock is not None
        return clock

    # What an idle loop asks.

    def others_working(self, me: int, now: float, idle: dict[int, float] | None = None) -> bool:
        """Whether a member other than thread `me` may still post work or set a timer.

        When not, `idle` (if given) holds the deadline each other loop published as
        it was seen idle, for `next_deadline`: read once, so that a loop read as idle
        here is not read as working there (a loop's state changes in between).
        """
        clock = self.clock
        loops = clock.loops()
        with self._lock:
            waiting = set(self._waiting.values())
        for ident, native in clock.members().items():
            if ident == me or ident in waiting:
                continue
            loop = loops.get(ident)
            if loop is not None:
                published = loop.idle_deadline()
                if published is None:
                    return True
                if loop.is_blocked() and self._running(ident, native):
                    # Blocked in a callback, but its thread runs: what it waited
                    # for came, and it has not yet said so.
                    return True
                if idle is not None:
                    idle[ident] = published
                continue
            if self._working(ident, native, now):
                return True
        members = clock.members()
        for thread in list(self._started):
            if not thread_has_started(thread):
                # About to start: `is_alive()` is False until its bootstrap says it
                # started, also once its ident is set: not a sign that it has ended.
                return True
            if not thread.is_alive():
                self._started.discard(thread)
                continue
            started, started_native = thread.ident, thread.native_id
            if (
                started is None
                or started_native is None
                or started in members
                or started in waiting
            ):
                continue  # seen above (both ids are set once it has started)
            if self._working(started, started_native, now):
                return True
        return False

    def started(self, thread: threading.Thread) -> None:
        """A member starts `thread`: it is a member too, from now until it ends."""
        self._started.add(thread)

    def not_started(self, thread: threading.Thread) -> None:
        """`thread.start()` failed: it will never run."""
        if not thread_has_started(thread):
            self._started.discard(thread)

    def next_deadline(self, me: int, idle: dict[int, float] | None = None) -> float:
        """The earliest deadline of the other members: an idle loop's, or a virtual wait's.

        `idle`: the loops' deadlines as `others_working` saw them, instead of reading them again.
        """
        deadline = math.inf
        if idle is None:
            idle = {}
            for ident, loop in self.clock.loops().items():
                if ident != me:
                    published = loop.idle_deadline()
                    if published is not None:
                        idle[ident] = published
        for published in idle.values():
            if published < deadline:
                deadline = published
        with self._lock:
            while self._deadlines and self._deadlines[0][2] not in self._waiting:
                heapq.heappop(self._deadlines)
            if self._deadlines and self._deadlines[0][0] < deadline:
                deadline = self._deadlines[0][0]
        return deadline

    def jump_to(self, reading: float, me: int) -> None:
        """Move the clock for the whole bubble, and wake the other loops to look again."""
        with self._lock:
            self.clock.jump_to(reading)
        self.wake_loops(me)

    def wake_loops(self, me: int | None = None) -> None:
        for ident, loop in self.clock.loops().items():
            if ident != me:
                loop.wake()

    def _running(self, ident: int, native: int) -> bool:
        """Whether thread `ident` runs or is ready to run: not asleep in the kernel right now."""
        return not self._watch.probe(ident, native).asleep()

    def _working(self, ident: int, native: int, now: float) -> bool:
        activity, quiet_since = self._watch.look(ident, native, now)
        if activity is Activity.GONE:
            return False
        return quiet_since is None or now - quiet_since < SETTLE

    # A member's virtual wait.

    def wait(self, gate: Any, timeout: float | None) -> bool:
        """Block the calling member on `gate` (a locked lock) for at most `timeout` virtual seconds.

        Someone else releases the gate (a notify), or the clock reaching the
        deadline does. False if the bubble let it go because no loop runs on
        the clock any more: then the wait goes on in real time.
        """
        clock = self.clock
        deadline = None if timeout is None else later(clock.reading, timeout)
        me = threading.get_ident()
        with self._lock:
            self._waiting[gate] = me
            GATES[gate] = self
            if deadline is not None:
                heapq.heappush(self._deadlines, (deadline, next(self._seq), gate))
                if not self._following:
                    self._following = True
                    clock.follow(self._expire_due)
        self.wake_loops(me)  # an idle loop may move the clock now
        gate.acquire()
        with self._lock:
            state = self._waiting.pop(gate, me)
            GATES.pop(gate, None)
        if state == _ABORTED and self._aborted is not None:
            raise RunEnded(self._aborted)
        return state != _LET_GO

    def sleep(self, clock: Clock, seconds: float) -> bool:
        """A member's `time.sleep()` while another thread runs a loop on `clock`."""
        if clock is not self.clock or not _another_loop_runs(clock):
            return False
        gate = allocate_lock()
        gate.acquire()
        started = bindings.real_monotonic()
        if not self.wait(gate, seconds):
            # Let go because no loop runs any more: the rest of the sleep is real.
            bindings.real_sleep(max(0.0, seconds - (bindings.real_monotonic() - started)))
        return True

    def resume(self, gate: Any) -> None:
        """A notify is about to release `gate`: its member works again, from now."""
        with self._lock:
            ident = self._waiting.pop(gate, None)
            if ident is not None:
                self._watch.works_again(ident)

    def _expire_due(self, reading: float) -> None:
        due = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= reading:
                gate = heapq.heappop(self._deadlines)[2]
                if gate in self._waiting:
                    self._waiting[gate] = _EXPIRED
                    due.append(gate)
            if self._following and not self._deadlines:
                self._following = False
                self.clock.unfollow(self._expire_due)
        _open(due)

    def abort(self, error: BaseException) -> None:
        """A loop's run ended with `error`: every member's virtual wait raises `RunEnded`.

        A member waiting on that loop (a `Future.result()` it will never
        resolve) would otherwise wait forever, and the process could not exit.
        """
        with self._lock:
            self._aborted = error
            self._end_waits(_ABORTED)

    def release_all(self) -> None:
        """No loop runs on the clock any more: every virtual wait goes on in real time.

        The probes are closed too: the next crowd makes its own.
        """
        with self._lock:
            self._watch.close()
            self._end_waits(_LET_GO)

    def _end_waits(self, how: int) -> None:
        """Release every member still in a virtual wait, its entry saying `how` it ended."""
        with self._lock:
            gates = [gate for gate, ident in self._waiting.items() if ident >= 0]
            for gate in gates:
                self._waiting[gate] = how
        _open(gates)


def _open(gates: list[Any]) -> None:
    for gate in gates:
        try:
            gate.release()
        except RuntimeError:  # released by a notify meanwhile
            pass


def _another_loop_runs(clock: Clock) -> bool:
    me = threading.get_ident()
    return any(ident != me for ident in clock.loops())


def crowded_sleep(clock: Clock, seconds: float) -> bool:
    """`bindings.sleep_in_a_crowd`'s handler: a member's sleep is a wait of the bubble."""
    return bubble_of(clock).sleep(clock, seconds)


def in_a_crowd(clock: Clock) -> Bubble | None:
    """The bubble of `clock` if a loop runs on it in another thread than the caller's."""
    if clock.crowded and _another_loop_runs(clock):
        return bubble_of(clock)
    return None


def after_a_run_failed(clock: Clock, error: BaseException) -> None:
    """A loop's run on `clock` ended with `error`: members in virtual waits raise `RunEnded`."""
    bubble = _bubbles.get(clock)
    if bubble is not None:
        bubble.abort(error)


def after_a_loop_stopped(clock: Clock) -> None:
    """A loop stopped running on `clock`: with none left, members' waits go on in real time."""
    bubble = _bubbles.get(clock)
    if bubble is not None and not clock.loops():
        bubble.release_all()
