"""What happened at which virtual instant, and assertions about it.

A `Timeline` attached to a `Clock` records, while a virtual loop runs on it:

- each task's lifecycle: created, ran (every step), waited, finished,
  cancelled or failed, under the task's name;
- every line printed to stdout, with the task that printed it;
- explicit marks, `simclock.mark("text")`.

Assertions read naturally and, when they fail, show the expected against the
recorded events with their virtual timestamps. Rendering lives in
`simclock.render`; this module only records and checks.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "EventKind", "Timeline", "TimelineAssertionError"]


# Instants closer than this are one instant: the loop's clock resolution.
_RESOLUTION = 1e-9

_SURROGATE = re.compile("[\ud800-\udfff]")


class EventKind(enum.StrEnum):
    CREATED = "created"
    RAN = "ran"
    WAITED = "waited"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    PRINTED = "printed"
    MARK = "mark"


_ENDINGS = frozenset({EventKind.FINISHED, EventKind.CANCELLED, EventKind.FAILED})


@dataclass(frozen=True)
class Event:
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


class TimelineAssertionError(AssertionError):
    """An assertion about a timeline failed; the message shows what was recorded."""


class Timeline:
    """The record of a virtual run, in the order things happened.

    Attach one with `simclock.run(coro, timeline=...)`, `simclock run --timeline`,
    or the pytest fixture. Times are the clock's `now` readings, so a timeline
    over a fresh clock starts at 0.0.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        # The coroutine each task ran, for labelling lanes of default-named tasks.
        self.coroutines: dict[str, str] = {}
        #: How long the recorded run took, set when it ends: real and virtual seconds.
        self.real_seconds = 0.0
        self.virtual_seconds = 0.0

    def __repr__(self) -> str:
        return f"<simclock.Timeline {len(self.events)} events, last at t={self.end:.3f}s>"

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    # Recording, called by the loop and the stdout tee.

    def record(
        self,
        at: float,
        task: str | None,
        kind: EventKind,
        text: str = "",
        *,
        awaited: tuple[str, ...] = (),
        parent: str | None = None,
    ) -> None:
        self.events.append(Event(at, task, kind, text, awaited, parent))

    # Saving and loading.

    def to_json(self) -> str:
        """The timeline as JSON, as `simclock run --json` writes it; `from_json` reads it back.

        `{"virtual_seconds", "real_seconds", "coroutines", "events": [...]}`. Text
        is kept exactly, a lone surrogate included (as a `\\udxxx` escape), so
        any printed line survives the round trip.
        """
        document = {
            "virtual_seconds": self.duration,
            "real_seconds": self.real_seconds,
            "coroutines": self.coroutines,
            "events": [event.as_dict() for event in self.events],
        }
        text = json.dumps(document, ensure_ascii=False, indent=1)
        # A lone surrogate cannot be written as UTF-8; as a JSON escape it can.
        return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)

    @classmethod
    def from_json(cls, document: str | bytes) -> Timeline:
        """The timeline `to_json` (or `simclock run --json`) wrote, ready for assertions."""
        data = json.loads(document)
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise ValueError("not a simclock timeline: expected an object with an 'events' list")
        timeline = cls()
        timeline.events = [Event.from_dict(event) for event in data["events"]]
        timeline.coroutines = dict(data.get("coroutines", {}))
        timeline.virtual_seconds = float(data.get("virtual_seconds", 0.0))
        timeline.real_seconds = float(data.get("real_seconds", 0.0))
        return timeline

    # Queries.

    @property
    def duration(self) -> float:
        """How long the recorded run took in virtual time (the last event's time until set)."""
        return self.virtual_seconds or self.end

    @property
    def end(self) -> float:
        """The virtual time of the last event (0.0 when empty)."""
        return self.events[-1].at if self.events else 0.0

    def printed(self) -> list[str]:
        """Every line printed while recording, in order."""
        return [event.text for event in self.events if event.kind is EventKind.PRINTED]

    def notes(self) -> list[Event]:
        """The printed lines and marks: what a reader of the output would see."""
        return [e for e in self.events if e.kind in (EventKind.PRINTED, EventKind.MARK)]

    def at(self, when: float) -> list[Event]:
        """The printed lines and marks recorded at virtual time `when`.

        "At" allows for float sums: 0.1 + 0.2 is the instant 0.3, to within the
        clock's 1 ns resolution.
        """
        return [event for event in self.notes() if _same_instant(event.at, when)]

    def tasks(self) -> list[str]:
        """Task names in the order the tasks were created."""
        return [e.task for e in self.events if e.kind is EventKind.CREATED and e.task]

    def span(self, task: str) -> tuple[float, float | None]:
        """When `task` was created, and when it ended (None if it never did)."""
        start: float | None = None
        for event in self.events:
            if event.task != task:
                continue
            if event.kind is EventKind.CREATED:
                start = event.at
            elif event.kind in _ENDINGS and start is not None:
                return start, event.at
        if start is None:
            raise TimelineAssertionError(f"no task named {task!r}; tasks: {self.tasks()}")
        return start, None

    def find(self, text: str) -> Event:
        """The first printed line or mark that contains `text`."""
        for event in self.notes():
            if text in event.text:
                return event
        raise TimelineAssertionError(f"nothing printed or marked contains {text!r}\n{self._dump()}")

    # Assertions.

    def assert_printed(self, expected: Sequence[str]) -> None:
        """The printed lines are exactly `expected`, in order."""
        actual = self.printed()
        if list(expected) != actual:
            raise TimelineAssertionError(
                _diff("printed lines", list(expected), actual) + "\n" + self._dump()
            )

    def assert_sequence(self, expected: Sequence[tuple[float, str]]) -> None:
        """The printed lines and marks are exactly `expected`, as (virtual time, text) pairs."""
        actual = [(event.at, event.text) for event in self.notes()]
        same = len(expected) == len(actual) and all(
            _same_instant(t, at) and text == got
            for (t, text), (at, got) in zip(expected, actual, strict=True)
        )
        if not same:
            shown = [f"t={t:.3f}s {text}" for t, text in expected]
            recorded = [f"t={t:.3f}s {text}" for t, text in actual]
            raise TimelineAssertionError(_diff("printed lines and marks", shown, recorded))

    def assert_at(self, when: float, *texts: str) -> None:
        """At virtual time `when`, lines or marks containing each of `texts` were recorded."""
        here = [event.text for event in self.at(when)]
        missing = [text for text in texts if not any(text in line for line in here)]
        if missing:
            raise TimelineAssertionError(
                f"at t={when:.3f}s expected {missing!r}, recorded {here!r}\n{self._dump()}"
            )

    def assert_before(self, first: str, then: str) -> None:
        """The first line or mark containing `first` came before the first containing `then`.

        Events at the same instant count in the order they happened.
        """
        a, b = self.find(first), self.find(then)
        if self.events.index(a) >= self.events.index(b):
            raise TimelineAssertionError(
                f"expected {first!r} before {then!r}, but\n  {b}\ncame before\n  {a}"
            )

    def assert_overlapped(self, task_a: str, task_b: str) -> None:
        """The two tasks were alive over a common stretch of virtual time."""
        a_start, a_end = self.span(task_a)
        b_start, b_end = self.span(task_b)
        a_end_ = self.end if a_end is None else a_end
        b_end_ = self.end if b_end is None else b_end
        if not (a_start < b_end_ and b_start < a_end_):
            raise TimelineAssertionError(
                f"{task_a!r} ran t={a_start:.3f}..{a_end_:.3f}s and {task_b!r} ran "
                f"t={b_start:.3f}..{b_end_:.3f}s: they did not overlap"
            )

    def assert_took(self, task: str, seconds: float) -> None:
        """`task` ended exactly `seconds` of virtual time after it was created."""
        start, end = self.span(task)
        if end is None:
            raise TimelineAssertionError(f"{task!r} started at t={start:.3f}s and never ended")
        if not _same_instant(end - start, seconds):
            raise TimelineAssertionError(
                f"{task!r} took {end - start:.6g}s (t={start:.3f}..{end:.3f}s), "
                f"expected {seconds:g}s"
            )

    def _dump(self, last: int = 20) -> str:
        shown = self.events[-last:]
        head = f"recorded events (last {len(shown)} of {len(self.events)}):"
        return "\n".join([head, *(f"  {event}" for event in shown)])


def _same_instant(a: float, b: float) -> bool:
    return abs(a - b) <= _RESOLUTION


def _diff(what: str, expected: list[str], actual: list[str]) -> str:
    lines = [f"{what} differ:"]
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else "<nothing>"
        got = actual[index] if index < len(actual) else "<nothing>"
        sign = " " if want == got else "!"
        lines.append(f" {sign} {index:3d} expected {want!r}")
        if want != got:
            lines.append(f"       recorded {got!r}")
    return "\n".join(lines)
