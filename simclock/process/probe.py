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

__all__ = ["Activity", "ThreadProbe", "process_running"]

# CPU time below this between two probes is noise (a timed wake-up, a
# signal), not work. A thread that only waits for the GIL gets it while the
# loop waits, and uses far more than this.
_PROGRESS_NS = 50_000


class Activity(enum.Enum):
    """What a probed thread was doing since the previous probe."""

    COMPUTING = "computing"
    ON_LOCK = "blocked on a lock"
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
        #: Where the thread slept at the last probe, as the kernel names it.
        self.wchan = b""
        if native_id is None:
            return
        base = f"/proc/{native_id}" if process else f"/proc/self/task/{native_id}"
        try:
            self._cpu_fd = os.open(f"{base}/schedstat", os.O_RDONLY)
            self._wchan_fd = os.open(f"{base}/wchan", os.O_RDONLY)
        except OSError:
            self.close()

    def activity(self) -> Activity:
        """COMPUTING if it used CPU since the last call, else where it sleeps."""
        if self._cpu_fd is None:
            return Activity.UNKNOWN
        try:
            cpu_ns = int(os.pread(self._cpu_fd, 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return Activity.GONE
        previous, self._cpu_ns = self._cpu_ns, cpu_ns
        if previous < 0 or cpu_ns - previous > _PROGRESS_NS:
            return Activity.COMPUTING
        try:
            wchan = os.pread(self._wchan_fd, 128, 0) if self._wchan_fd is not None else b""
        except OSError:
            return Activity.GONE
        self.wchan = wchan
        if b"futex" in wchan:
            return Activity.ON_LOCK
        return Activity.ON_IO if wchan not in (b"", b"0") else Activity.UNKNOWN

    def close(self) -> None:
        for fd in (self._cpu_fd, self._wchan_fd):
            if fd is not None:
                os.close(fd)
        self._cpu_fd = self._wchan_fd = None


def process_running(pid: int) -> bool:
    """Whether process `pid` still runs (exited but not yet reaped counts as not running)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            state = file.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)  # no /proc: alive or a zombie, either way not reaped
        except OSError:
            return False
        return True
    return state not in (b"Z", b"X")
