"""simclock: run asyncio code on a virtual clock.

`asyncio.sleep`, timeouts and `call_later` take no real time, yet the program
prints what a real run prints, in the same order, and `time.time()`,
`datetime.now()`, `time.monotonic()`, `time.perf_counter()` and a blocking
`time.sleep()` all follow the same virtual time.
"""

from typing import TYPE_CHECKING, Any

from simclock._version import __version__
from simclock.clock import DEFAULT_START, MONOTONIC_ORIGIN, Clock
from simclock.errors import ClockConflict, Deadlock, Livelock, SimclockError, TimeLimitExceeded
from simclock.loop import VirtualEventLoop, background, new_event_loop, run
from simclock.process import current_clock
from simclock.process.prints import mark
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

if TYPE_CHECKING:
    from simclock.exploration import Exploration, Nondeterminism, check, explore
    from simclock.replay import ScriptRun, replay_script
    from simclock.testing import VirtualClockTestCase

# Imported on first use: `simclock run` needs none of them to start a script.
_LAZY = {
    "Exploration": "simclock.exploration",
    "Nondeterminism": "simclock.exploration",
    "check": "simclock.exploration",
    "explore": "simclock.exploration",
    "ScriptRun": "simclock.replay",
    "replay_script": "simclock.replay",
    "VirtualClockTestCase": "simclock.testing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'simclock' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
