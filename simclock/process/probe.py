"""What a thread is doing right now, as the kernel sees it: computing, waiting on a lock, or on I/O.

A thread that works for a virtual loop holds virtual time while it works.
When it blocks somewhere simclock does not hook (a C-level `Lock.acquire`, a
socket `recv`, a real `select`), only the kernel knows whether it is still
busy. On Linux, `/proc/self/task/TID/schedstat` gives the CPU time a thread
has used, to the nanosecond, and `/proc/self/task/TID/wchan` names the kernel
function it sleeps in (`futex_...` for a lock or condition variable).

A probe is cheap (a `pread` of an open file, about a microsecond). Elsewhere
than Linux the probe knows nothing, and such threads hold time until they end
or reach a wait simclock hooks.
"""

from __future__ import annotations

import enum
import os

__all__ = ["Activity", "ThreadProbe", "ThreadWatch", "process_running"]

# CPU time below this between two probes is noise (a timed wake-up, a
# signal), not work. A thread that only waits for the GIL gets it while the
# loop waits, and uses far more than this.
_PROGRESS_NS = 50_000


class Activity(enum.Enum):
    """What a probed thread was doing since the previous probe."""

    COMPUTING = "computing"
    ON_LOCK = "blocked on a lock"
    ON_LOCK_FOR_GOOD = "blocked on a lock with no timeout"
    ON_IO = "blocked outside Python (I/O, a child, a real sleep)"
    UNKNOWN = "unknown"
    GONE = "gone"


class ThreadProbe:
    """Reads one thread's CPU time and sleeping place; `activity()` compares with last time."""

    def __init__(self, native_id: int | None, process: bool = False) -> None:
        """Probe thread `native_id` of this process, or with `process`, process `native_id`."""
        self._cpu_fd: int | None = None
        self._wchan_fd: int | None = None
        self._cpu_ns = -1
        self._durable = False
        #: In a lock wait with no timeout at the last call: the next one may confirm it.
        self.durable_now = False
        #: Blocked with no timeout (a lock, a read, an accept) in the same wait at the
        #: last call and the one before, using no CPU between.
        self.blocked_for_good = False
        #: Asleep at the last call in a wait with a timeout (a `time.sleep`, a `select`,
        #: a lock wait with a timeout): it comes back by itself.
        self.timed = False
        # A thread of this process (whose system call can be read), or None.
        self._native_id = None if process else native_id
        #: Where the thread slept at the last probe, as the kernel names it.
        self.wchan = b""
        #: Asleep at the last call in another kernel wait than at the call before
        #: (another system call, or the same with other arguments): it woke and
        #: blocked again between the two, maybe using too little CPU to show. On a
        #: free-threaded Python every lock wait parks the thread on one semaphore of
        #: its own: two lock waits look the same there, and only a change of
        #: timeout or of system call shows.
        self.new_wait = False
        #: Its wait with a timeout ended since the call before, and it waits now with
        #: no known timeout: most often for a mutex on its way back (the GIL's), so
        #: its quiet time starts afresh, though waking used too little CPU to count
        #: as work.
        self.woke = False
        # The wait seen at the last call: its system call line, or where the kernel
        # does not give one, its wchan; None while not asleep.
        self._wait: bytes | None = None
        if native_id is None:
            return
        base = f"/proc/{native_id}" if process else f"/proc/self/task/{native_id}"
        try:
            self._cpu_fd = os.open(f"{base}/schedstat", os.O_RDONLY)
            self._wchan_fd = os.open(f"{base}/wchan", os.O_RDONLY)
        except OSError:
            self.close()

    def activity(self) -> Activity:
        """COMPUTING if it used CPU since the last call, else where it sleeps.

        ON_LOCK_FOR_GOOD: in a lock wait with no timeout (`Lock.acquire()`,
        `SimpleQueue.get()`), the same at this call and the last, using no CPU between:
        only another thread ends it. A thread waiting for the GIL waits with a
        timeout (the switch interval), so it is never taken for one.
        """
        if self._cpu_fd is None:
            return Activity.UNKNOWN
        try:
            cpu_ns = int(os.pread(self._cpu_fd, 64, 0).split()[0])
            wchan = os.pread(self._wchan_fd, 128, 0) if self._wchan_fd is not None else b""
        except (OSError, ValueError, IndexError):
            return Activity.GONE
        except Exception:  # noqa: BLE001 - a blocking-call detector's error: the kernel did not say
            return Activity.UNKNOWN
        previous, self._cpu_ns = self._cpu_ns, cpu_ns
        self.wchan = wchan
        futex = b"futex" in wchan
        asleep = wchan not in (b"", b"0")
        timeout, wait = None, None
        if asleep:
            timeout, wait = _kernel_wait(self._native_id) if self._native_id else (None, None)
            wait = wait or wchan
        durable = timeout is False
        was_timed, self.timed = self.timed, timeout is True
        progressed = previous < 0 or cpu_ns - previous > _PROGRESS_NS
        self.new_wait = asleep and wait != self._wait
        self.woke = self.new_wait and was_timed and not self.timed
        self._wait = wait
        # Seen twice in the same wait, with no work in between: a mutex taken for
        # a moment (the one around the GIL, say) also waits with no timeout, but
        # not for long.
        was_durable, self._durable = self._durable, durable
        self.durable_now = durable and futex
        self.blocked_for_good = durable and was_durable and not progressed and not self.new_wait
        if futex and self.blocked_for_good:
            return Activity.ON_LOCK_FOR_GOOD
        if progressed:
            return Activity.COMPUTING
        if futex:
            return Activity.ON_LOCK
        return Activity.ON_IO if asleep else Activity.UNKNOWN

    def asleep(self) -> bool:
        """Whether the thread sleeps in the kernel right now (not running, nor ready to run)."""
        if self._wchan_fd is None:
            return False
        try:
            return os.pread(self._wchan_fd, 128, 0) not in (b"", b"0")
        except OSError:
            return False

    def runnable(self) -> bool:
        """Whether the thread runs or only waits for a CPU right now (state R): it acts soon.

        Under load, a thread whose sleep has ended may wait a while for a CPU:
        neither asleep nor using CPU time, it is no less about to act.
        """
        if self._native_id is None:
            return False
        try:
            return _state_in(f"/proc/self/task/{self._native_id}/stat") == b"R"
        except (OSError, IndexError):
            return False

    def close(self) -> None:
        for fd in (self._cpu_fd, self._wchan_fd):
            if fd is not None:
                os.close(fd)
        self._cpu_fd = self._wchan_fd = None


class ThreadWatch:
    """Probes of several threads of this process, kept from one look to the next.

    Each thread's probe comes with the real instant it was first seen quiet
    (neither computing nor ready to run) since it last worked, or since its wait
    with a timeout ended (`ThreadProbe.woke`).
    """

    def __init__(self) -> None:
        # ident -> (probe, native id, real instant first seen quiet, or None).
        self._probes: dict[int, tuple[ThreadProbe, int, float | None]] = {}

    def probe(self, ident: int, native: int) -> ThreadProbe:
        """The probe of thread `ident` (a new one if the ident now names another thread)."""
        probe, known, quiet_since = self._probes.get(ident, (None, 0, None))
        if probe is None or known != native:
            if probe is not None:
                probe.close()
            probe, quiet_since = ThreadProbe(native), None
            self._probes[ident] = (probe, native, quiet_since)
        return probe

    def look(self, ident: int, native: int, now: float) -> tuple[Activity, float | None]:
        """What thread `ident` does, and since when it has been quiet (None: it works).

        `now` is a real monotonic reading. A thread's first look counts as work:
        whether it is quiet shows only from one look to the next. A thread that
        is gone is forgotten.
        """
        probe = self.probe(ident, native)
        activity = probe.activity()
        if activity is Activity.GONE:
            probe.close()
            self._probes.pop(ident, None)
            return activity, None
        quiet_since = self._probes[ident][2]
        if activity is Activity.COMPUTING or activity is Activity.UNKNOWN:
            quiet_since = None  # UNKNOWN: runnable, waiting for a CPU
        elif quiet_since is None or probe.woke:
            quiet_since = now  # quiet from now: a wait that ended is no longer quiet
        self._probes[ident] = (probe, native, quiet_since)
        return activity, quiet_since

    def works_again(self, ident: int) -> None:
        """Thread `ident` was woken: it counts as working from now."""
        entry = self._probes.get(ident)
        if entry is not None:
            self._probes[ident] = (entry[0], entry[1], None)

    def keep_only(self, idents: set[int]) -> None:
        """Forget every thread but `idents` (those that are gone)."""
        for ident in [ident for ident in self._probes if ident not in idents]:
            self._probes.pop(ident)[0].close()

    def close(self) -> None:
        """Close every probe: the next look starts afresh."""
        self.keep_only(set())


def _state_in(stat_path: str) -> bytes:
    """The state letter of a `/proc/.../stat` file (R, S, D, Z...).

    It follows the parenthesised name, which may itself hold ") ".
    """
    with open(stat_path, "rb") as file:
        return file.read().rsplit(b")", 1)[1].split()[0]


def process_running(pid: int) -> bool:
    """Whether process `pid` still runs (exited but not yet reaped counts as not running)."""
    try:
        state = _state_in(f"/proc/{pid}/stat")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)  # no /proc: alive or a zombie, either way not reaped
        except OSError:
            return False
        return True
    return state not in (b"Z", b"X")


# Blocking system calls, by number on this machine's architecture: which
# argument (0-based) holds the timeout, and whether it is a pointer (0: none)
# or a number of milliseconds (-1: none). nanosleep always has one; a read,
# an accept or a wait for a child never has (a socket timeout set with
# SO_RCVTIMEO does not show: such a read counts as blocked for good).
_TIMEOUT_ARGS_BY_MACHINE: dict[str, dict[int, tuple[int, str]]] = {
    "x86_64": {
        202: (3, "pointer"),  # futex
        35: (0, "always"),  # nanosleep
        230: (0, "always"),  # clock_nanosleep
        7: (2, "milliseconds"),  # poll
        271: (2, "pointer"),  # ppoll
        23: (4, "pointer"),  # select
        270: (4, "pointer"),  # pselect6
        232: (3, "milliseconds"),  # epoll_wait
        281: (3, "milliseconds"),  # epoll_pwait
        441: (3, "pointer"),  # epoll_pwait2
        0: (0, "never"),  # read
        45: (0, "never"),  # recvfrom
        47: (0, "never"),  # recvmsg
        43: (0, "never"),  # accept
        288: (0, "never"),  # accept4
        61: (0, "never"),  # wait4
    },
    "aarch64": {
        98: (3, "pointer"),  # futex
        101: (0, "always"),  # nanosleep
        115: (0, "always"),  # clock_nanosleep
        73: (2, "pointer"),  # ppoll
        72: (4, "pointer"),  # pselect6
        22: (3, "milliseconds"),  # epoll_pwait
        441: (3, "pointer"),  # epoll_pwait2
        63: (0, "never"),  # read
        207: (0, "never"),  # recvfrom
        212: (0, "never"),  # recvmsg
        202: (0, "never"),  # accept
        242: (0, "never"),  # accept4
        260: (0, "never"),  # wait4
    },
}
_TIMEOUT_ARGS = _TIMEOUT_ARGS_BY_MACHINE.get(os.uname().machine, {})


def _kernel_wait(native_id: int) -> tuple[bool | None, bytes | None]:
    """The thread's blocking system call: whether it has a timeout, and its line.

    The line (number, arguments, stack and instruction pointers) names the
    wait: the same line at two probes is the same wait, unless the thread woke
    and blocked again at the same place. (None, None) if the kernel does not say.
    """
    try:
        with open(f"/proc/self/task/{native_id}/syscall", "rb") as file:
            line = file.read()
    except Exception:  # noqa: BLE001 - also what a blocking-call detector raises in a test
        return None, None
    return _has_a_timeout(line.split()), line


def _has_a_timeout(fields: list[bytes]) -> bool | None:
    """Whether a blocking system call (its syscall file's fields) has a timeout; None: unknown."""
    try:
        number = int(fields[0])
    except (IndexError, ValueError):
        return None  # "running", or no system call
    where = _TIMEOUT_ARGS.get(number)
    if where is None:
        return None
    index, kind = where
    if kind == "always":
        return True
    if kind == "never":
        return False  # a read, an accept: only the other end (or a signal) ends it
    try:
        value = int(fields[1 + index], 16)
    except (IndexError, ValueError):
        return None
    if kind == "pointer":
        return value != 0
    return value & 0xFFFFFFFF != 0xFFFFFFFF  # -1 as a 32-bit int: no timeout
