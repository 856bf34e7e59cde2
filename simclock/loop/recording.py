"""Recording a loop's tasks on a timeline, without touching them.

A `TaskRecorder` observes one loop. The loop attaches it when its clock has a
timeline and otherwise pays one check for it. It wraps each task step the
loop schedules, records when the task ran, waited and ended, and never
changes an attribute, a callback or a name of the program's own objects: no
done callback shows in a task's repr, and a failed task's exception is read
without marking it retrieved.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import reprlib
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simclock._compat.asyncio_internals import awaited_future, stored_exception
from simclock.errors import awaited_tasks, shorten
from simclock.timeline.timeline import Event, EventKind, Timeline

if TYPE_CHECKING:
    from simclock.clock.clock import Clock

__all__ = ["TaskRecorder", "is_loop_housekeeping"]


class TaskRecorder:
    """The timeline side of a virtual loop: what each task did at which instant."""

    def __init__(
        self, timeline: Timeline, clock: Clock, previous: TaskRecorder | None = None
    ) -> None:
        self.timeline = timeline
        self._clock = clock
        # Where each task's "created" event sits, to name it once the name is final:
        # asyncio.create_task(name=...) names a task only after the loop made it.
        self._created_event: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = (
            previous._created_event if previous is not None else weakref.WeakKeyDictionary()
        )
        # How arguments are drawn in labels, numbering objects across the run.
        self._arguments: _Arguments = previous._arguments if previous is not None else _Arguments()
        # The deadline each task set its last timer for, to say what it waits until.
        self._timer_of_task: weakref.WeakKeyDictionary[asyncio.Task[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def step(
        self, loop: asyncio.AbstractEventLoop, callback: Callable[..., object]
    ) -> Callable[..., object]:
        """The callback the loop schedules instead of `callback`: a task's step, recorded."""
        task = getattr(callback, "__self__", None)
        if not isinstance(task, asyncio.Task) or is_loop_housekeeping(task):
            return callback
        if task not in self._created_event:
            self._created_event[task] = len(self.timeline.events)
            parent = asyncio.current_task(loop)
            self.timeline.record(
                self._clock.now,
                task.get_name(),
                EventKind.CREATED,
                _call_text(task, self._arguments),
                parent=parent.get_name() if parent is not None else None,
            )
        return functools.partial(self._run_task_step, task, callback)

    def task_made(
        self, task: asyncio.Task[Any], start: int, creator: asyncio.Task[Any] | None
    ) -> None:
        """`create_task` returned `task`; `start` is how many events there were before it."""
        if task not in self._created_event and not is_loop_housekeeping(task):
            self._record_eager_start(self.timeline, task, start, creator)

    def timer_set(self, task: asyncio.Task[Any], when: float) -> None:
        """`task` set a timer due at reading `when`."""
        self._timer_of_task[task] = when

    def _record_eager_start(
        self,
        timeline: Timeline,
        task: asyncio.Task[Any],
        start: int,
        creator: asyncio.Task[Any] | None,
    ) -> None:
        """An eager task (`eager_task_factory`) ran its first step inside `create_task`.

        Record it as made at that instant, before what its first step printed.
        The loop names an eager task only after that step, so its lines went
        under a default `Task-N` name that no recorded task has: they are its
        own. (On 3.12 `asyncio.create_task(name=...)` names it later still:
        `_task_name` renames its events once the name is final.)
        """
        name = task.get_name()
        known = {event.task for event in timeline.events if event.kind is EventKind.CREATED}
        for index in range(start, len(timeline.events)):
            event = timeline.events[index]
            if event.task not in known and _DEFAULT_NAME.fullmatch(event.task or ""):
                timeline.events[index] = event._replace(task=name)
        now = self._clock.now
        steps = [
            Event(now, name, EventKind.CREATED, "", (), creator.get_name() if creator else None),
            Event(now, name, EventKind.RAN),
        ]
        timeline.events[start:start] = steps
        for other, index in list(self._created_event.items()):
            if index >= start:
                self._created_event[other] = index + len(steps)
        self._created_event[task] = start
        timeline.coroutines[name] = getattr(task.get_coro(), "__name__", "?")
        self._record_step_end(timeline, task, name)

    def _task_name(self, timeline: Timeline, task: asyncio.Task[Any]) -> str:
        name = task.get_name()
        index = self._created_event.get(task)
        if index is not None and index < len(timeline.events):
            created = timeline.events[index]
            if created.task != name:
                # Named after it was made: everything recorded under its first
                # name (an eager first step's lines) is its own.
                first = created.task
                timeline.events[:] = [
                    event._replace(task=name) if event.task == first else event
                    for event in timeline.events
                ]
                timeline.coroutines.pop(first or "", None)
        timeline.coroutines[name] = getattr(task.get_coro(), "__name__", "?")
        return name

    def _run_task_step(
        self, task: asyncio.Task[Any], step: Callable[..., object], *args: Any
    ) -> None:
        timeline = self.timeline
        name = self._task_name(timeline, task)
        timeline.record(self._clock.now, name, EventKind.RAN)
        step(*args)
        self._record_step_end(timeline, task, name)

    def _record_step_end(self, timeline: Timeline, task: asyncio.Task[Any], name: str) -> None:
        """After a step: the task ended, or it waits (until a deadline, or on what)."""
        if task.done():
            # Recorded here, at the instant the task ended, and not through a
            # done callback: a recorder must not show in the task's repr.
            self._record_task_end(task)
            return
        until = self._timer_of_task.pop(task, None)
        waiter = awaited_future(task)
        if until is not None and waiter is not None:
            text = f"until t={until - self._clock.reading + self._clock.now:.3f}s"
        else:
            text = shorten(repr(waiter), 80) if waiter is not None else ""
        awaited = tuple(other.get_name() for other in awaited_tasks(task))
        timeline.record(self._clock.now, name, EventKind.WAITED, text, awaited=awaited)

    def _record_task_end(self, task: asyncio.Task[Any]) -> None:
        timeline = self.timeline
        name = self._task_name(timeline, task)
        exception = stored_exception(task)  # not exception(): that marks it retrieved
        if task.cancelled():
            timeline.record(self._clock.now, name, EventKind.CANCELLED)
        elif exception is not None:
            timeline.record(self._clock.now, name, EventKind.FAILED, repr(exception))
        else:
            timeline.record(self._clock.now, name, EventKind.FINISHED)


_DEFAULT_NAME = re.compile(r"Task-\d+")
# A repr that shows where an object lives in memory, which differs on every run.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


class _Arguments(reprlib.Repr):
    """Arguments as a label shows them: values by their repr, objects by their type.

    An object whose repr would show a memory address is drawn by its type
    (`Client`), and a second object of that type in the same run by its type
    and a number in order of appearance (`Client#2`), so labels are the same
    on every run. A function or class is drawn by its name.
    """

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 24
        self._numbers: dict[int, str] = {}
        self._per_type: dict[str, int] = {}

    def repr_instance(self, x: object, level: int) -> str:
        named = getattr(x, "__qualname__", None)
        if isinstance(named, str) and (callable(x) or isinstance(x, type)):
            return named
        try:
            text = repr(x)
        except Exception:  # noqa: BLE001 - a program's __repr__ may raise anything
            text = "<unprintable>"
        if not _ADDRESS.search(text):
            return super().repr_instance(x, level)
        return self._numbered(x)

    def _numbered(self, x: object) -> str:
        known = self._numbers.get(id(x))
        if known is not None:
            return known
        kind = type(x).__name__
        count = self._per_type[kind] = self._per_type.get(kind, 0) + 1
        label = kind if count == 1 else f"{kind}#{count}"
        self._numbers[id(x)] = label
        # Forgotten when the object goes, so that a new one given its id gets a
        # number of its own; nothing here keeps a program's object alive.
        with contextlib.suppress(TypeError):  # an object without weak references
            weakref.finalize(x, self._numbers.pop, id(x), None)
        return label


def _call_text(task: asyncio.Task[Any], arguments: _Arguments) -> str:
    """`fetch_data('A', 3)`: the call that made the task's coroutine, read before it starts.

    A chart shows it for a task left with a default name, where `Task-7`
    would say nothing. Only the frame's arguments are read; nothing is called
    but their reprs (see `_Arguments`).
    """
    coro = task.get_coro()
    frame = getattr(coro, "cr_frame", None)
    name = getattr(coro, "__name__", None)
    if frame is None or name is None:
        return ""
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    values = frame.f_locals
    shown = [arguments.repr(values[n]) for n in names if n in values and n not in ("self", "cls")]
    return f"{name}({', '.join(shown)})"


def is_loop_housekeeping(task: asyncio.Task[Any]) -> bool:
    """Tasks asyncio.run makes for its own teardown, which a timeline leaves out."""
    coro = task.get_coro()
    if type(coro).__name__ == "async_generator_athrow":  # closing an abandoned async generator
        return True
    qualname = getattr(coro, "__qualname__", "")
    return qualname.startswith(("BaseEventLoop.", "VirtualEventLoop."))
