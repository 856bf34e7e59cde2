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

from simclock.process.probe import Activity, ThreadProbe, in_a_timed_wait
from simclock.threads.bubble import SETTLE

__all__ = ["PATIENCE", "STRANGERS", "Strangers"]

#: Real seconds strangers that never post may hold off a deadlock.
PATIENCE = 10.0


class Strangers:
    """Probes of the threads outside every bubble, kept from one look to the next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # ident -> (probe, native id, real instant it was first seen quiet, or None).
        self._probes: dict[int, tuple[ThreadProbe, int, float | None]] = {}

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
                if self._working(ident, native, now) or in_a_timed_wait(native):
                    names.append(thread.name)
            for ident in [ident for ident in self._probes if ident not in seen]:
                self._probes.pop(ident)[0].close()
        return names

    def _working(self, ident: int, native: int, now: float) -> bool:
        probe, known_native, quiet_since = self._probes.get(ident, (None, 0, None))
        if probe is None or known_native != native:
            if probe is not None:
                probe.close()
            probe, quiet_since = ThreadProbe(native), None
        activity = probe.activity()
        if activity is Activity.COMPUTING or activity is Activity.UNKNOWN:
            quiet_since = None  # UNKNOWN: runnable, waiting for a CPU
        elif quiet_since is None:
            quiet_since = now
        self._probes[ident] = (probe, native, quiet_since)
        if activity is Activity.ON_LOCK_FOR_GOOD:
            return False  # only another thread can end its wait
        return quiet_since is None or now - quiet_since < SETTLE

    def forget(self) -> None:
        """Close every probe (the next look starts afresh)."""
        with self._lock:
            for probe, _native, _quiet in self._probes.values():
                probe.close()
            self._probes.clear()


#: The process's strangers, shared by every loop.
STRANGERS = Strangers()
