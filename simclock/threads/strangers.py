"""Threads that are no member of any bubble, and whether one of them may still post to a loop.

A loop can be fed from a thread simclock never saw start: a server thread a
test started before the run, or the thread that made the loop and then runs
it in another thread (`run_coroutine_threadsafe`, a portal made by hand). Such
a stranger reads real time and waits in real time; it cannot be part of a
virtual jump. But it can still call `call_soon_threadsafe`, so a loop with
nothing pending at all must not call that a deadlock while a stranger works:
a real loop would sleep in `select` until the post arrives.

Waiting costs no virtual time there (nothing is pending, so there is nothing
to skip to). A stranger counts as able to post while it computes, for
`SETTLE` real seconds after it blocks, and while it sleeps in the kernel with
a timeout (a `time.sleep`, a `select` or a lock wait with a timeout: it comes
back by itself). The deadlock is reported once every stranger is blocked with
no timeout (a thread waiting in `future.result()` for the loop's own answer
cannot post), or, should strangers keep working or waking up for `PATIENCE`
real seconds and never post, then: a heartbeat thread must not turn a
deadlock into a hang.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from simclock.process.probe import Activity, ThreadWatch
from simclock.threads.bubble import SETTLE

__all__ = ["PATIENCE", "STRANGERS", "Strangers"]

#: Real seconds strangers that never post may hold off a deadlock.
PATIENCE = 10.0


class Strangers:
    """Probes of the threads outside every bubble, kept from one look to the next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watch = ThreadWatch()

    def may_post(self, known: Callable[[threading.Thread], bool], now: float) -> list[str]:
        """The names of the threads `known` does not claim that may still post.

        Those that compute or blocked only lately (a thread's first probe counts
        as work: whether it is quiet shows only from one look to the next), and
        those asleep in the kernel with a timeout. `now`: a real monotonic reading.
        """
        names = []
        with self._lock:
            seen = set()
            for thread in threading.enumerate():
                ident, native = thread.ident, thread.native_id
                if ident is None or native is None or known(thread):
                    continue
                seen.add(ident)
                if self._may_post(ident, native, now):
                    names.append(thread.name)
            self._watch.keep_only(seen)
        return names

    def _may_post(self, ident: int, native: int, now: float) -> bool:
        activity, quiet_since = self._watch.look(ident, native, now)
        if activity is Activity.GONE:
            return False
        # Quiet only lately: it may be waiting a moment for a mutex its holder is
        # about to release (the GIL's, under load), not for good.
        if quiet_since is None or now - quiet_since < SETTLE:
            return True
        if activity is Activity.ON_LOCK_FOR_GOOD:
            return False  # only another thread can end its wait
        probe = self._watch.probe(ident, native)
        # Asleep with a timeout, or awake and waiting only for a CPU (its sleep over).
        return probe.timed or probe.runnable()

    def forget(self) -> None:
        """Close every probe (the next look starts afresh)."""
        with self._lock:
            self._watch.close()


#: The process's strangers, shared by every loop.
STRANGERS = Strangers()
