"""Blocking waits for a child process follow real time, on any thread that lives on a clock.

`subprocess.Popen.wait(timeout=...)` and `communicate(timeout=...)` (and so
`subprocess.run(timeout=...)`) measure their deadline with `time.monotonic()`
and poll with `time.sleep()`. On virtual time the deadline would pass at
once, or thousands of virtual seconds would go by, while the real child has
had no time at all. A child is real, so waiting for it is too: while a thread
that lives on a clock waits for a child, it reads real time, and afterwards
the loop's clock has moved on by the real time the wait took, as a blocking
call moves it. (A worker's own clocks already include the real time it spent.)

The same holds for a hand-written poll: while a child process that this run
started (with `subprocess`, `asyncio`'s subprocesses or `os.fork`) is still
running, a blocking `time.sleep()` on a clock's thread sleeps for real and
moves the clock by the real time. Children started before the run (a
session's server, say) leave sleeps virtual.

`POPEN` and `FORK` are the hooks, put on and taken off as groups, and `forget`
ends a run's children at a release; `simclock.loop` registers them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from simclock.process import bindings
from simclock.process.bindings import ClockView, real_monotonic
from simclock.process.patches import Patch, Patches
from simclock.process.probe import Activity, ThreadProbe, process_running

__all__ = ["CHILDREN", "FORK", "POPEN", "a_child_runs", "a_child_works", "forget"]

#: Children started while the clock is bound, by pid, until seen ended.
CHILDREN: set[int] = set()
_children = CHILDREN


def a_child_runs() -> bool:
    """A child this run started is still running (seen through /proc)."""
    for pid in list(_children):
        if not process_running(pid):
            _children.discard(pid)
    return bool(_children)


# Probes of the children, by pid, to tell working from durably blocked.
_probes: dict[int, ThreadProbe] = {}


def a_child_works() -> bool:
    """A child this run started computes, or sleeps with a timeout (`nanosleep`).

    Such a child is real work of the run: while it works, time follows real
    time (see `simclock.loop`). A child blocked elsewhere (in `accept`, a read,
    a wait with no timeout) waits for the run and holds nothing.
    """
    working = False
    for pid in list(_children):
        probe = _probes.get(pid)
        if probe is None:
            probe = _probes[pid] = ThreadProbe(pid, process=True)
        activity = probe.activity()
        if activity is Activity.GONE or not process_running(pid):
            _children.discard(pid)
            _probes.pop(pid).close()
            continue
        # UNKNOWN: not asleep in the kernel at all, so running or about to.
        if activity in (Activity.COMPUTING, Activity.UNKNOWN) or b"nanosleep" in probe.wchan:
            working = True
    return working


def _popen_init(
    init: Callable[..., None], self: subprocess.Popen[Any], *args: Any, **kwargs: Any
) -> None:
    init(self, *args, **kwargs)
    _children.add(self.pid)


def _fork(fork: Callable[[], int]) -> int:
    pid = fork()
    if pid:
        _children.add(pid)
    return pid


@contextmanager
def _in_real_time() -> Iterator[None]:
    view = bindings.current_view()
    if view is None:
        yield
        return
    started = real_monotonic()
    try:
        with bindings.viewing(None):
            yield
    finally:
        if isinstance(view, ClockView):
            view.sleep(max(0.0, real_monotonic() - started))


def _wait(
    wait: Callable[..., int], self: subprocess.Popen[Any], timeout: float | None = None
) -> int:
    if self.returncode is not None:
        return self.returncode
    with _in_real_time():
        return wait(self, timeout)


def _communicate(
    communicate: Callable[..., Any],
    self: subprocess.Popen[Any],
    input: Any = None,
    timeout: float | None = None,
) -> Any:
    with _in_real_time():
        return communicate(self, input, timeout)


# Put on as a clock is bound. Those on `Popen`, a class, may stay on between
# bindings (`bindings.hooks_stay`): assigning a class attribute at every bind
# costs each test. `os.fork` is taken off at each release: its warning in a
# process with threads names the line that called it, which a hook left on
# would be for the rest of the session.
POPEN = Patches(
    Patch(subprocess.Popen, "__init__", _popen_init),
    Patch(subprocess.Popen, "wait", _wait),
    Patch(subprocess.Popen, "communicate", _communicate),
)
FORK = Patches(*((Patch(os, "fork", _fork),) if hasattr(os, "fork") else ()))


def forget() -> None:
    """The clock is released: the children it saw start are no longer this run's."""
    _children.clear()
    for probe in _probes.values():
        probe.close()
    _probes.clear()
