"""Virtual time: the `Clock` every loop and process clock of a run reads, and schedules.

Knows no event loop and patches nothing.
"""

from typing import TYPE_CHECKING, Any

from simclock.clock.clock import DEFAULT_START, MONOTONIC_ORIGIN, Clock, StartLike, later

if TYPE_CHECKING:
    from simclock.clock.schedule import Schedule


def __getattr__(name: str) -> Any:
    # Loaded on first use: only an explored run needs it, not every replay's start-up.
    if name == "Schedule":
        from simclock.clock.schedule import Schedule

        return Schedule
    raise AttributeError(f"module 'simclock.clock' has no attribute {name!r}")


__all__ = ["DEFAULT_START", "MONOTONIC_ORIGIN", "Clock", "Schedule", "StartLike", "later"]
