"""What happened when: the events a run records, and the assertions over them.

Imports nothing else of simclock; `simclock.timeline.draw` turns a timeline into charts.
"""

from simclock.timeline.events import Event, EventKind, TaskEvent, TaskState, TaskStates
from simclock.timeline.timeline import Timeline, TimelineAssertionError

__all__ = [
    "Event",
    "EventKind",
    "TaskEvent",
    "TaskState",
    "TaskStates",
    "Timeline",
    "TimelineAssertionError",
]
