"""Threads that C code starts while a clock is bound: members of the run that Python never sees.

A C library can start threads of its own: c-ares (behind aiodns, and so
aiohttp's resolver) runs each channel's queries in a thread it makes with
`pthread_create`, and hands the answers to the loop with
`call_soon_threadsafe`. `threading` knows nothing of such a thread, so no hook
sees it start, wait or work. But the kernel does: `/proc/self/task` lists every
thread of the process.

A thread that appeared while the clock is bound, that `threading` did not
start and that runs no Python code, is a member of the run as any thread a
member starts (see
`simclock.threads.bubble`). While it computes or sleeps in the kernel with a
timeout (c-ares waits for a DNS reply in `epoll_wait` with the query's
timeout), it works for the run, and the loop's clock follows real time rather
than jumping past it. Blocked with no timeout (c-ares between queries), it
waits for the run and holds nothing.

Threads that existed when the clock was bound (a BLAS pool made at import, a
previous test's resolver) are strangers and count for nothing here.

Whether a thread came or went is asked before every jump, so it must cost
next to nothing: glibc counts the threads it started in `__nptl_nthreads`, and
reading that counter costs a memory load (about 20 ns from Python). Where it
is missing (musl, say), the link count of `/proc/self/task`, which is the
number of threads plus two, costs an `fstat` (about a microsecond). Once such
threads exist, each one is probed at every idle decision
(`simclock.process.probe`). Elsewhere than Linux nothing is seen, and such
threads count for nothing, as before.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Any, Protocol

from simclock.process.probe import Activity, ThreadProbe

__all__ = [
    "a_native_works",
    "install",
    "native_workers",
    "threads_to_watch",
    "uninstall",
    "waiting",
]

_TASKS = "/proc/self/task"

# /proc/self/task, open while a clock is bound where glibc's counter is missing.
_tasks_fd: int | None = None
# The threads of the process when the clock was bound.
_before: frozenset[int] = frozenset()


class Counter(Protocol):
    """`counter[0]`: the number of threads of the process now."""

    def __getitem__(self, index: int, /) -> int: ...


# What counts the process's threads (see `_thread_counter`).
_counter: Counter | None = None
# What `_counter[0]` read at the last look (-1: look again).
_last_count = -1
# Native threads started since the clock was bound, with their probes.
_probes: dict[int, ThreadProbe] = {}
# Whether a native thread was seen in a wait with a timeout at the last look.
_waiting = False
# Threads seen once with no Python thread behind them: natives if seen so again.
_candidates: set[int] = set()
# Threads running Python code that `threading` did not start, when the clock was bound.
_raw_before = 0
# Threads taken for such Python threads: never probed.
_ignored: set[int] = set()


class _LinkCount:
    """`[0]`: the number of threads, from the link count of /proc/self/task."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __getitem__(self, index: int, /) -> int:
        try:
            return os.fstat(self._fd).st_nlink - 2
        except OSError:
            return -1


# glibc's counter as an array of one unsigned int; None: there is none; False: not sought yet.
_glibc_counter: Any = False


def _glibc_thread_counter() -> Any:
    """glibc's count of the threads it started (`[0]`), read in place; None without one."""
    global _glibc_counter
    if _glibc_counter is False:
        _glibc_counter = None
        if os.path.isdir(_TASKS):  # the lists of threads come from there
            for library in (None, "libpthread.so.0"):  # merged into libc from glibc 2.34
                try:
                    count = ctypes.c_uint.in_dll(ctypes.CDLL(library), "__nptl_nthreads")
                except (OSError, ValueError):
                    continue
                _glibc_counter = memoryview(count).cast("B").cast("I")
                break
    return _glibc_counter


def _thread_counter() -> Counter | None:
    """glibc's counter, else the link count of /proc/self/task, else None (no /proc)."""
    global _tasks_fd
    counter: Counter | None = _glibc_thread_counter()
    if counter is not None:
        return counter
    if _tasks_fd is None:
        try:
            _tasks_fd = os.open(_TASKS, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # not Linux, or no /proc
            return None
    return _LinkCount(_tasks_fd)


def install() -> None:
    """The clock is bound: every thread there is now is a stranger."""
    global _before, _last_count, _counter, _raw_before
    _counter = _thread_counter()
    if _counter is None:
        return
    _last_count = _counter[0]
    if _last_count == _python_threads():
        _before, _raw_before = frozenset(), 0  # every thread is threading's: no list needed
        return
    try:
        _before = frozenset(int(tid) for tid in os.listdir(_TASKS))
    except OSError:
        _before = frozenset()
    _raw_before = _raw_python_threads()


def _raw_python_threads() -> int:
    """Threads running Python code that `threading` did not start (`_thread`'s, execnet's)."""
    known = {thread.ident for thread in threading.enumerate() if not _is_dummy(thread)}
    return len(sys._current_frames().keys() - known)


def _python_threads() -> int:
    """How many threads `threading` started, or -1 if a thread C code started is among them."""
    active = threading._active  # type: ignore[attr-defined]
    if any(_is_dummy(thread) for thread in list(active.values())):
        return -1
    return len(active) + len(threading._limbo)  # type: ignore[attr-defined]


def uninstall() -> None:
    global _tasks_fd, _last_count, _waiting, _counter
    if _tasks_fd is not None:
        os.close(_tasks_fd)
        _tasks_fd = None
    _counter = None
    _last_count = -1
    _waiting = False
    _candidates.clear()
    _ignored.clear()
    for probe in _probes.values():
        probe.close()
    _probes.clear()


def threads_to_watch() -> tuple[Counter | None, int]:
    """For the fast path: what counts the threads (`[0]`), and the count it must keep.

    While the count stays (no thread came or went) and no native thread of the
    run is known, no native thread can hold time. (None, 0) where nothing can be
    watched; (counter, -1) while native threads are known: always look closer.
    """
    if _counter is None:
        return None, 0
    if _probes or _candidates or _last_count < 0:
        return _counter, -1
    return _counter, _last_count


def _look_for_new_ones() -> None:
    """Start probing native threads that appeared since the last look.

    A thread is taken for C code's once seen at two looks in a row with no
    Python thread behind it: a Python thread still starting has no native id
    yet, and one that has just ended lingers in the kernel for a moment.
    """
    global _last_count
    if _counter is None:
        return
    count = _counter[0]
    if count == _last_count and not _candidates:
        return  # no thread came or went since the last look
    try:
        now = {int(tid) for tid in os.listdir(_TASKS)}
    except OSError:
        return
    pythons = {thread.native_id for thread in threading.enumerate() if not _is_dummy(thread)}
    for tid in [tid for tid in _probes if tid not in now or tid in pythons]:
        _probes.pop(tid).close()
    if None in pythons:
        # A Python thread is starting: which thread is whose shows at the next look.
        _last_count = -1
        _candidates.clear()
        return
    _last_count = count
    _ignored.intersection_update(now)
    unknown = now - _before - pythons - _probes.keys() - _ignored
    confirmed = unknown & _candidates
    if confirmed:
        # Threads `_thread` started (pytest-xdist's execnet starts them as it likes) run
        # Python code: no C library's. While as many have appeared as are confirmed,
        # the confirmed ones are taken for them, strangers as any Python thread is.
        if len(confirmed) > _raw_python_threads() - _raw_before:
            for tid in confirmed:
                _probes[tid] = ThreadProbe(tid)
        else:
            _ignored.update(confirmed)
    _candidates.clear()
    _candidates.update(unknown - confirmed)


def _is_dummy(thread: threading.Thread) -> bool:
    # A thread C code started that has since called into Python (`threading`
    # made it a stand-in on first sight): still a native thread.
    return isinstance(thread, threading._DummyThread)


def native_workers() -> list[int]:
    """The native threads of the run that compute or sleep with a timeout, by thread id."""
    _look_for_new_ones()
    return _workers()


def _workers() -> list[int]:
    global _waiting
    working = []
    _waiting = False
    for tid, probe in list(_probes.items()):
        activity = probe.activity()
        if activity is Activity.GONE:
            _probes.pop(tid).close()
            continue
        # UNKNOWN: not asleep in the kernel, so running or about to run.
        if activity in (Activity.COMPUTING, Activity.UNKNOWN):
            working.append(tid)
        elif probe.timed:
            working.append(tid)
            _waiting = True
    return working


def waiting() -> bool:
    """Whether a native thread was in a wait with a timeout at the last look.

    What it hands the loop next comes after that wait: a DNS reply that took
    0.5 s of real time took 0.5 s in a real run too.
    """
    return _waiting


def a_native_works() -> bool:
    """Whether a native thread of the run computes or sleeps with a timeout."""
    if _counter is None:
        return False
    _look_for_new_ones()
    if _candidates and not _probes:
        return True  # a thread C code may have started: seen again at the next look
    return bool(_probes) and bool(_workers())
