"""simclock: run asyncio code on a virtual clock.

`asyncio.sleep`, timeouts and `call_later` take no real time, yet the program
prints what a real run prints, in the same order, and `time.time()`,
`datetime.now()`, `time.monotonic()`, `time.perf_counter()` and a blocking
`time.sleep()` all follow the same virtual time.
"""

from simclock._version import __version__
from simclock.clock import DEFAULT_START, MONOTONIC_ORIGIN, Clock
from simclock.errors import ClockConflict, Deadlock, Livelock, SimclockError, TimeLimitExceeded
from simclock.exploration import Exploration, Nondeterminism, check, explore
from simclock.loop import VirtualEventLoop, background, new_event_loop, run
from simclock.process import current_clock
from simclock.process.prints import mark
from simclock.replay import ScriptRun, replay_script
from simclock.testing import VirtualClockTestCase
from simclock.threads import external_work
from simclock.timeline import (
    Event,
    EventKind,
    TaskEvent,
    TaskState,
    TaskStates,
    Timeline,
    TimelineAssertionError,
)

__all__ = [
    "DEFAULT_START",
    "MONOTONIC_ORIGIN",
    "Clock",
    "ClockConflict",
    "Deadlock",
    "Event",
    "EventKind",
    "Exploration",
    "Livelock",
    "Nondeterminism",
    "ScriptRun",
    "SimclockError",
    "TaskEvent",
    "TaskState",
    "TaskStates",
    "TimeLimitExceeded",
    "Timeline",
    "TimelineAssertionError",
    "VirtualClockTestCase",
    "VirtualEventLoop",
    "__version__",
    "background",
    "check",
    "current_clock",
    "explore",
    "external_work",
    "mark",
    "new_event_loop",
    "replay_script",
    "run",
]
