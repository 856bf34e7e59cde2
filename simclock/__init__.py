"""simclock: run asyncio code on a virtual clock.

`asyncio.sleep`, timeouts and `call_later` take no real time, yet the program
prints what a real run prints, in the same order, and `time.time()`,
`datetime.now()`, `time.monotonic()`, `time.perf_counter()` and a blocking
`time.sleep()` all follow the same virtual time.
"""

from simclock.clock import DEFAULT_START, Clock
from simclock.errors import ClockConflict, Deadlock, SimclockError, TimeLimitExceeded
from simclock.loop import VirtualEventLoop, background, new_event_loop
from simclock.runner import run
from simclock.testcase import VirtualClockTestCase
from simclock.threads import external_work
from simclock.timeline import Event, EventKind, Timeline, TimelineAssertionError, mark
from simclock.wallclock import current_clock

__all__ = [
    "DEFAULT_START",
    "Clock",
    "ClockConflict",
    "Deadlock",
    "Event",
    "EventKind",
    "SimclockError",
    "TimeLimitExceeded",
    "Timeline",
    "TimelineAssertionError",
    "VirtualClockTestCase",
    "VirtualEventLoop",
    "background",
    "current_clock",
    "external_work",
    "mark",
    "new_event_loop",
    "run",
]

__version__ = "0.1.0"
