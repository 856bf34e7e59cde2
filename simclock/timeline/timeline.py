"""What happened at which virtual instant, and assertions about it.

A `Timeline` attached to a `Clock` records, while a virtual loop runs on it:

- each task's lifecycle: created (and by which task), ran (every step),
  waited (and on which tasks), finished, cancelled or failed, under the
  task's name;
- every line printed to stdout, with the task that printed it;
- explicit marks, `simclock.mark("text")`.

It answers questions a lesson asks (`state_at`: which tasks were done at
t=3?) and its assertions read naturally and, when they fail, say when the
expected thing did happen. Rendering lives in `simclock.render`; this module
only records, saves and checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from simclock.timeline.events import (
    ENDINGS,
    Event,
    EventKind,
    TaskEvent,
    TaskState,
    TaskStates,
    same_instant,
)

__all__ = [
    "Event",
    "EventKind",
    "TaskEvent",
    "TaskState",
    "TaskStates",
    "Timeline",
    "TimelineAssertionError",
]

_SURROGATE = re.compile("[\ud800-\udfff]")
_DEFAULT_NAME = re.compile(r"Task-\d+")
_STATE_OF_ENDING = {
    EventKind.FINISHED: TaskState.FINISHED,
    EventKind.CANCELLED: TaskState.CANCELLED,
    EventKind.FAILED: TaskState.FAILED,
}


class TimelineAssertionError(AssertionError):
    """An assertion about a timeline failed; the message shows what was recorded."""


class Timeline:
    """The record of a virtual run, in the order things happened.

    Attach one with `simclock.run(coro, timeline=...)`, `simclock run --timeline`,
    `simclock.replay_script`, or the pytest fixture; load one that
    `simclock run --json` saved with `Timeline.from_json`. Times are the
    clock's `now` readings, so a timeline over a fresh clock starts at 0.0.

    The one matching rule, for every query and assertion:

    - A task is named by its name or by its label, the name the charts show
      (`labels`: `"washing_task"`, `"fetch_data('A', 3)"`, `"main()"`).
    - Something that happened is a `TaskEvent`, or a string. A string reading
      "<task> <step>" for a task that exists names that task's step
      (`"washing_task finished"`, `"main() ended"`); any other string names
      the first printed line or mark that *contains* it (`"finished"` finds
      `"washing machine finished"`).

    Only `assert_printed` and `assert_sequence`, which check the whole output,
    compare whole lines. A failure says what did happen, and when.
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
        import json  # only a run that writes JSON pays for importing it

        text = json.dumps(document, ensure_ascii=False, indent=1)
        # A lone surrogate cannot be written as UTF-8; as a JSON escape it can.
        return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)

    @classmethod
    def from_json(cls, document: str | bytes) -> Timeline:
        """The timeline `to_json` (or `simclock run --json`) wrote, ready for assertions."""
        import json

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
        return [event for event in self.notes() if same_instant(event.at, when)]

    def tasks(self) -> list[str]:
        """Task names in the order the tasks were created."""
        return [e.task for e in self.events if e.kind is EventKind.CREATED and e.task]

    def labels(self) -> dict[str, str]:
        """Each task as charts and lessons name it, by task name.

        A task left with a default name (`Task-7`) is named by the call that
        made it, `fetch_data('A', 3)`, or else by its coroutine, `main()`;
        any other task by its own name.
        """
        labels: dict[str, str] = {}
        for event in self.events:
            if event.kind is EventKind.CREATED and event.task:
                labels[event.task] = self._label(event.task, event.text)
        for task in self.coroutines.keys() - labels.keys():
            labels[task] = self._label(task, "")
        return labels

    def label(self, task: str) -> str:
        """`task` as charts name it: see `labels`."""
        return self.labels().get(task, task)

    def _label(self, task: str, call: str) -> str:
        if not _DEFAULT_NAME.fullmatch(task):
            return task
        if call:
            return call
        coroutine = self.coroutines.get(task)
        return f"{coroutine}()" if coroutine else task

    def span(self, task: str) -> tuple[float, float | None]:
        """When `task` (a name or a label) was created, and when it ended (None if it never did)."""
        task = self._task_name(task)
        start: float | None = None
        for event in self.events:
            if event.task != task:
                continue
            if event.kind is EventKind.CREATED:
                start = event.at
            elif event.kind in ENDINGS and start is not None:
                return start, event.at
        if start is None:
            raise TimelineAssertionError(f"{task!r} was never created")
        return start, None

    def find(self, what: str | TaskEvent) -> Event:
        """The first event `what` names: a task's step, or a printed line or mark containing it."""
        step = self._as_task_event(what)
        if step is not None:
            task, kinds = self._task_name(step.task), step.kinds()
            for event in self.events:
                if event.task == task and event.kind in kinds:
                    return event
            raise TimelineAssertionError(f"{step} never happened\n{self._dump()}")
        text = str(what)
        for event in self.notes():
            if text in event.text:
                return event
        raise TimelineAssertionError(f"nothing printed or marked contains {text!r}\n{self._dump()}")

    def state_at(self, when: float | Event) -> TaskStates:
        """Each task's state at virtual instant `when`, or at the moment an event happened.

        At an instant: a task counts from the instant it was created, and is
        done from just *after* the instant it ended. At the instant itself it
        is still pending: several things happen at one instant, and until its
        ending comes, code running at that instant sees it pending. So the
        blog's `asyncio.wait(tasks, timeout=3)`, which returns at t=3 just
        before A ends at t=3, reads as it did for the program:
        `state_at(3.0).done == [C, B]`, `.pending == [A]`.

        At an event (`state_at(timeline.find("완료된 작업"))`): exactly what
        was recorded before that event counts, and the event's own task is
        RUNNING. This settles every question about order within one instant.
        """
        if isinstance(when, Event):
            cutoff = next((i for i, e in enumerate(self.events) if e is when), None)
            if cutoff is None:
                cutoff = self.events.index(when)
            counted = self.events[:cutoff]
        else:
            counted = [e for e in self.events if e.at < when and not same_instant(e.at, when)]
            counted += [
                e
                for e in self.events[len(counted) :]
                if e.kind is EventKind.CREATED and same_instant(e.at, when)
            ]
        states = TaskStates()
        for event in counted:
            if event.task is None:
                continue
            if event.kind is EventKind.CREATED:
                states[event.task] = TaskState.PENDING
            elif event.kind in ENDINGS and event.task in states:
                states.end(event.task, _STATE_OF_ENDING[event.kind])
        running = when.task if isinstance(when, Event) else None
        if running is not None and running in states and not states[running].done:
            states[running] = TaskState.RUNNING
        return states

    def _task_name(self, task: str) -> str:
        """The name of the task `task` names: its own name, or its label (see `labels`)."""
        labels = self.labels()
        if task in labels:
            return task
        by_label = [name for name, label in labels.items() if label == task]
        if len(by_label) == 1:
            return by_label[0]
        if by_label:
            raise TimelineAssertionError(f"{task!r} could be any of {by_label}: name one")
        known = ", ".join(
            name if label == name else f"{label} ({name})" for name, label in labels.items()
        )
        raise TimelineAssertionError(f"no task named or labelled {task!r}; tasks: {known}")

    def _as_task_event(self, what: str | TaskEvent) -> TaskEvent | None:
        if isinstance(what, TaskEvent):
            return what
        labels = self.labels()
        return TaskEvent.parse(what, {*labels, *labels.values()})

    def _happened(self, what: str | TaskEvent) -> str:
        """When `what` happened, for a failure message: `at t=4.000s (washing_task)`."""
        try:
            event = self.find(what)
        except TimelineAssertionError:
            return "never happened"
        return f"happened at t={event.at:.3f}s ({event.task or 'outside any task'})"

    # Assertions.

    def assert_printed(self, expected: Sequence[str], *, subsequence: bool = False) -> None:
        """The printed lines are exactly `expected`, in order, each line whole.

        With `subsequence=True`, as `assert_printed_in_order`: lines containing
        each of `expected` were printed in that order, other lines allowed
        before, between and after them. A failure
        shows a diff: only the lines that differ are flagged, each recorded
        line with the time it was printed.
        """
        if subsequence:
            self._assert_printed_in_order(list(expected))
            return
        actual = [e for e in self.events if e.kind is EventKind.PRINTED]
        wanted = list(expected)
        got = [event.text for event in actual]
        if wanted == got:
            return
        lines = ["printed lines differ (- expected only, + printed only):"]
        matcher = _sequence_matcher()(a=wanted, b=got, autojunk=False)
        for op, a1, a2, b1, b2 in matcher.get_opcodes():
            if op == "equal":
                lines += [f"    t={actual[i].at:7.3f}s  {got[i]!r}" for i in range(b1, b2)]
                continue
            lines += [f"  - expected    {wanted[i]!r}" for i in range(a1, a2)]
            lines += [f"  + t={actual[i].at:7.3f}s  {got[i]!r}" for i in range(b1, b2)]
        raise TimelineAssertionError("\n".join(lines))

    def assert_printed_in_order(self, *expected: str) -> None:
        """Lines containing each of `expected` were printed in this order, others between."""
        self._assert_printed_in_order(list(expected))

    def _assert_printed_in_order(self, expected: list[str]) -> None:
        printed = [e for e in self.events if e.kind is EventKind.PRINTED]
        index = 0
        previous: Event | None = None
        for line in expected:
            while index < len(printed) and line not in printed[index].text:
                index += 1
            if index == len(printed):
                earlier = [e for e in printed if line in e.text]
                if not earlier:
                    where = "no printed line contains it"
                else:
                    where = f"it was printed at t={earlier[0].at:.3f}s, before that"
                after = f" after {previous.text!r} (t={previous.at:.3f}s)" if previous else ""
                raise TimelineAssertionError(
                    f"expected a line containing {line!r} to be printed{after}, but {where}\n"
                    f"{self._dump()}"
                )
            previous = printed[index]
            index += 1

    def assert_sequence(self, expected: Sequence[tuple[float, str]]) -> None:
        """The printed lines and marks are exactly `expected`, as (virtual time, text) pairs."""
        actual = [(event.at, event.text) for event in self.notes()]
        same = len(expected) == len(actual) and all(
            same_instant(t, at) and text == got
            for (t, text), (at, got) in zip(expected, actual, strict=True)
        )
        if not same:
            shown = [f"t={t:.3f}s {text}" for t, text in expected]
            recorded = [f"t={t:.3f}s {text}" for t, text in actual]
            raise TimelineAssertionError(_diff("printed lines and marks", shown, recorded))

    def assert_at(self, when: float, *expected: str | TaskEvent) -> None:
        """At virtual time `when`, each of `expected` happened.

        A string is text some printed line or mark at `when` contains, or a
        task's step (`"washing_task finished"`); a `TaskEvent` is a step.
        """
        here = [e for e in self.events if same_instant(e.at, when)]
        missing = []
        for what in expected:
            step = self._as_task_event(what)
            if step is not None:
                task, kinds = self._task_name(step.task), step.kinds()
                found = any(e.task == task and e.kind in kinds for e in here)
            else:
                found = any(str(what) in e.text for e in here if e.kind in _NOTE_KINDS)
            if not found:
                missing.append(what)
        if missing:
            said = "\n".join(f"  {str(what)!r} {self._happened(what)}" for what in missing)
            recorded = [e.text for e in here if e.kind in _NOTE_KINDS]
            raise TimelineAssertionError(
                f"at t={when:.3f}s expected {[str(what) for what in missing]!r}, recorded "
                f"{recorded!r}\n{said}\n{self._dump()}"
            )

    def assert_before(self, first: str | TaskEvent, then: str | TaskEvent) -> None:
        """`first` happened before `then`: printed lines, marks or task steps (see the class).

        Events at the same instant count in the order they happened.
        """
        a, b = self.find(first), self.find(then)
        if self.events.index(a) >= self.events.index(b):
            raise TimelineAssertionError(
                f"expected {str(first)!r} before {str(then)!r}, but\n  {b}\ncame before\n  {a}"
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
        if not same_instant(end - start, seconds):
            raise TimelineAssertionError(
                f"{task!r} took {end - start:.6g}s (t={start:.3f}..{end:.3f}s), "
                f"expected {seconds:g}s"
            )

    def _dump(self, last: int = 20) -> str:
        shown = self.events[-last:]
        head = f"recorded events (last {len(shown)} of {len(self.events)}):"
        return "\n".join([head, *(f"  {event}" for event in shown)])


_NOTE_KINDS = (EventKind.PRINTED, EventKind.MARK)


def _diff(what: str, expected: list[str], actual: list[str]) -> str:
    lines = [f"{what} differ (- expected only, + recorded only):"]
    matcher = _sequence_matcher()(a=expected, b=actual, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            lines += [f"    {line!r}" for line in expected[a1:a2]]
            continue
        lines += [f"  - {line!r}" for line in expected[a1:a2]]
        lines += [f"  + {line!r}" for line in actual[b1:b2]]
    return "\n".join(lines)


def _sequence_matcher() -> Any:
    from difflib import SequenceMatcher  # only a failed assertion needs it

    return SequenceMatcher
