"""The things a `Timeline` records, and the names assertions use for them.

An `Event` is one thing that happened at one virtual instant. A `TaskEvent`
names a task's lifecycle step in an assertion (`TaskEvent("washing_task",
"finished")`, or the string `"washing_task finished"`). A `TaskState` is
where a task stood at an instant, as `Timeline.state_at` reports it.
"""

from __future__ import annotations

import enum
import re
from typing import Any, NamedTuple

__all__ = [
    "Event",
    "EventKind",
    "TaskEvent",
    "TaskState",
    "TaskStates",
    "same_instant",
]

# Instants closer than this are one instant: the loop's clock resolution.
_RESOLUTION = 1e-9


def same_instant(a: float, b: float) -> bool:
    """`a` and `b` are one instant, allowing for float sums (0.1 + 0.2 is 0.3)."""
    return abs(a - b) <= _RESOLUTION


class EventKind(enum.StrEnum):
    CREATED = "created"
    RAN = "ran"
    WAITED = "waited"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    PRINTED = "printed"
    MARK = "mark"


ENDINGS = frozenset({EventKind.FINISHED, EventKind.CANCELLED, EventKind.FAILED})


class Event(NamedTuple):  # a NamedTuple: a frozen dataclass costs start-up time to make
    """One thing that happened: when (virtual seconds), in which task, what, and its text.

    Two fields say how tasks relate, when the loop could tell: `parent` on a
    CREATED event names the task that was running when this one was made, and
    `awaited` on a WAITED event names the tasks whose ending the task waited
    for (a task it awaited directly, or the tasks of an `asyncio.gather`).
    """

    at: float
    task: str | None
    kind: EventKind
    text: str = ""
    awaited: tuple[str, ...] = ()
    parent: str | None = None

    def __str__(self) -> str:
        where = self.task or "-"
        text = f" {self.text}" if self.text else ""
        if self.awaited:
            text += f" (awaiting {', '.join(self.awaited)})"
        return f"t={self.at:8.3f}s  {where:<16} {self.kind.value:<9}{text}"

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data: `t`, `task`, `kind`, `text`, and the relations if set."""
        data: dict[str, Any] = {"t": self.at, "task": self.task, "kind": self.kind.value}
        data["text"] = self.text
        if self.awaited:
            data["awaited"] = list(self.awaited)
        if self.parent is not None:
            data["parent"] = self.parent
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """The event `as_dict` described."""
        return cls(
            float(data["t"]),
            data.get("task"),
            EventKind(data["kind"]),
            str(data.get("text", "")),
            tuple(data.get("awaited", ())),
            data.get("parent"),
        )


_STEP_WORDS = ("created", "finished", "cancelled", "failed", "ended")
_STEP = rf"(?P<task>.+) (?P<step>{'|'.join(_STEP_WORDS)})"


class _TaskStep(NamedTuple):
    task: str
    step: str


class TaskEvent(_TaskStep):
    """A step of a task's life, for assertions: `TaskEvent("washing_task", "finished")`.

    `step` is `created`, `finished`, `cancelled`, `failed`, or `ended` (any of
    the last three). `task` is the task's name, or the label a chart gives a
    default-named task (`main()` for the one task that ran `main`). Assertions
    also accept the string `"washing_task finished"`: see `parse`.
    """

    __slots__ = ()

    def __new__(cls, task: str, step: str = "ended") -> TaskEvent:
        if step not in _STEP_WORDS:
            raise ValueError(f"a task step is one of {', '.join(_STEP_WORDS)}, not {step!r}")
        return super().__new__(cls, task, step)

    def __str__(self) -> str:
        return f"{self.task} {self.step}"

    def kinds(self) -> frozenset[EventKind]:
        """The event kinds this step matches."""
        if self.step == "ended":
            return ENDINGS
        return frozenset({EventKind(self.step)})

    @staticmethod
    def parse(text: str, tasks: set[str]) -> TaskEvent | None:
        """`"washing_task finished"` as a TaskEvent, if it names one of `tasks` and a step.

        Anything else (`"세탁기 종료"`, or a name no task has) is None: text to
        look for among the printed lines and marks.
        """
        match = re.fullmatch(_STEP, text)  # re caches it: no compile at import
        if match is None or match["task"] not in tasks:
            return None
        return TaskEvent(match["task"], match["step"])


class TaskState(enum.StrEnum):
    """Where a task stood at an instant; see `Timeline.state_at`."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        """Finished, cancelled or failed: what `Task.done()` would say."""
        return self in (TaskState.FINISHED, TaskState.CANCELLED, TaskState.FAILED)


class TaskStates(dict[str, TaskState]):
    """Each task's state at one instant, by task name, tasks in the order they were made.

    `done` lists the done tasks in the order they ended; `pending` lists the
    tasks not done (running included) in the order they were made.
    """

    def __init__(self) -> None:
        super().__init__()
        self._ended: list[str] = []

    def end(self, task: str, state: TaskState) -> None:
        """Record that `task` ended, in `state`."""
        self[task] = state
        self._ended.append(task)

    @property
    def done(self) -> list[str]:
        return [task for task in self._ended if self[task].done]

    @property
    def pending(self) -> list[str]:
        return [task for task, state in self.items() if not state.done]
