"""Virtual time: the `Clock` every loop and process clock of a run reads, and schedules.

Knows no event loop and patches nothing.
"""

from simclock.clock.clock import DEFAULT_START, MONOTONIC_ORIGIN, Clock, StartLike, later
from simclock.clock.schedule import Schedule

__all__ = ["DEFAULT_START", "MONOTONIC_ORIGIN", "Clock", "Schedule", "StartLike", "later"]
