"""The idle decision: what a virtual run does when nothing can run.

A real loop with nothing ready sleeps until its next timer or I/O. A virtual
run must instead decide what that sleep would have ended with, and this module
is the one place that decides it, for the loop's own idle iterations and for a
blocking `threading` wait on the loop's thread (a sync queue, a lock) alike.

The caller first settles one question that needs real time: whether a worker
thread is still working (it then waits in real time, looking again and again,
and does not ask). Once no worker works, it takes a `Snapshot` of everything
else and `decide` answers with one `Verdict`, checked in this order:

1. `DELIVER`: what workers handed the loop, or `run_until_idle()` waiters, can
   go now.
2. A deadline is pending (a timer's, or a worker's virtual wait's):
   - `WAIT_FOR_PEER`: a peer outside the process is expected to answer; give
     it the rest of its `io_grace` in real time first;
   - with autojump off and no `await clock.advance()` in progress:
     `WAIT_FOR_OUTSIDE` if I/O, a signal or a child could still wake the loop,
     else `FROZEN` (a deadlock that names autojump);
   - with an advance in progress whose instant comes first: `END_ADVANCE`;
   - `BACKGROUND_ONLY`: every pending timer belongs to a background task and
     the other tasks can only wait forever: a deadlock;
   - `WAIT_FOR_REPLACED_CLOCK`: a test replaced `loop.time`, so jumping the
     clock would make no timer due: wait in real time, as a real loop would;
   - otherwise `JUMP` to the earliest deadline.
3. No deadline: `END_ADVANCE` for an advance in progress (nothing is left to
   run before its instant), `WAIT_FOR_OUTSIDE` while I/O, a signal
   or a child could still wake the loop, else `DEADLOCK`.

`decide` reads only its snapshot: the same snapshot always gets the same answer.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

__all__ = ["Decision", "Snapshot", "Verdict", "decide"]


class Verdict(enum.Enum):
    """What an idle run does next."""

    DELIVER = "deliver what is owed to the loop"
    WAIT_FOR_PEER = "wait for a peer outside the process"
    WAIT_FOR_OUTSIDE = "wait in real time for I/O, a signal or a child"
    WAIT_FOR_REPLACED_CLOCK = "wait in real time for a replaced loop.time"
    JUMP = "jump to the next deadline"
    END_ADVANCE = "end an await clock.advance()"
    FROZEN = "deadlocked: autojump is off and nothing advances the clock"
    BACKGROUND_ONLY = "deadlocked: only background tasks still tick"
    DEADLOCK = "deadlocked: nothing can ever run again"


class Snapshot(NamedTuple):
    """What the run looks like while nothing can run, once no worker works.

    Deadlines are readings of the clock (`math.inf`: none).
    """

    #: The earliest live timer of the loop.
    next_timer: float = math.inf
    #: The earliest deadline of a worker's (or the blocked thread's own) virtual wait.
    next_wait: float = math.inf
    #: Workers handed the loop callbacks, or tasks await `run_until_idle()`.
    owed: bool = False
    #: Real seconds a peer outside the process still has to answer, if one is expected.
    peer_budget: float | None = None
    #: I/O, a signal handler or a child process could still wake the loop.
    could_be_woken: bool = False
    #: Whether time may move by itself: `clock.autojump`, or the loop is winding down.
    autojump: bool = True
    #: With autojump off: the instant an `await clock.advance()` moves to, if one does.
    advancing_to: float | None = None
    #: Every pending timer belongs to a background task and nothing else could wake a task.
    only_background: bool = False
    #: What a replaced `loop.time()` reads, if a test replaced it.
    replaced_time: float | None = None


class Decision(NamedTuple):
    """A verdict, and for `JUMP`/`END_ADVANCE` the reading, for waits the real seconds.

    `seconds` is None for a wait with no end but what wakes it.
    """

    verdict: Verdict
    reading: float = math.inf
    seconds: float | None = None


_DELIVER = Decision(Verdict.DELIVER)
_WAIT_FOR_OUTSIDE = Decision(Verdict.WAIT_FOR_OUTSIDE)
_FROZEN = Decision(Verdict.FROZEN)
_BACKGROUND_ONLY = Decision(Verdict.BACKGROUND_ONLY)
_DEADLOCK = Decision(Verdict.DEADLOCK)


def decide(snapshot: Snapshot) -> Decision:
    """The verdict for `snapshot`, by the rules of this module's docstring."""
    if snapshot.owed:
        return _DELIVER
    target = min(snapshot.next_timer, snapshot.next_wait)
    if target != math.inf:
        if snapshot.peer_budget is not None:
            return Decision(Verdict.WAIT_FOR_PEER, seconds=snapshot.peer_budget)
        if not snapshot.autojump:
            if snapshot.advancing_to is None:
                return _WAIT_FOR_OUTSIDE if snapshot.could_be_woken else _FROZEN
            if target > snapshot.advancing_to:
                return Decision(Verdict.END_ADVANCE, snapshot.advancing_to)
        if snapshot.only_background:
            return _BACKGROUND_ONLY
        if snapshot.replaced_time is not None:
            seconds = max(0.0, min(target - snapshot.replaced_time, 1.0))
            return Decision(Verdict.WAIT_FOR_REPLACED_CLOCK, seconds=seconds)
        return Decision(Verdict.JUMP, target)
    if not snapshot.autojump and snapshot.advancing_to is not None:
        return Decision(Verdict.END_ADVANCE, snapshot.advancing_to)
    if snapshot.could_be_woken:
        return _WAIT_FOR_OUTSIDE
    return _DEADLOCK
