"""The errors a virtual run can end with, each with a message a person can act on."""

from __future__ import annotations

import asyncio
import linecache
import os
import types
from collections.abc import Sequence

from simclock._compat.asyncio_internals import awaited_future, gathered_children, owner_of

__all__ = ["ClockConflict", "Deadlock", "Livelock", "SimclockError", "TimeLimitExceeded"]


class SimclockError(RuntimeError):
    """Base class of every error simclock raises about a virtual run."""


class Deadlock(SimclockError):
    """No task can ever make progress again.

    Raised by the loop the moment nothing is ready, no timer is pending, and no
    I/O, signal, thread or declared external work could wake it. A real run
    would hang forever at this point; a virtual one stops at once and names
    every pending task with the line where it waits.
    """

    def __init__(
        self,
        now: float,
        tasks: list[asyncio.Task[object]],
        threads: list[str] | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        self.now = now
        self.tasks = tasks
        self.threads = threads or []
        lines = [
            f"no task can make progress at virtual t={now:.3f}s: "
            + (
                f"{hint}."
                if hint
                else "nothing is ready, no timer is pending, and no I/O, thread or "
                "signal can wake the loop."
            ),
        ]
        lines += describe_tasks(tasks) or ["  (no pending tasks)"]
        if self.threads:
            lines.append("threads working for the loop, all blocked:")
            lines += ["  " + line for line in self.threads]
        super().__init__("\n".join(lines))


class TimeLimitExceeded(SimclockError):
    """The run would pass its virtual time limit.

    Raised instead of jumping past `limit` seconds of virtual time, so that a
    `while True: await asyncio.sleep(1)` loop ends with a clear error rather
    than running until the float clock saturates.
    """

    def __init__(
        self,
        limit: float,
        now: float,
        next_deadline: float,
        tasks: list[asyncio.Task[object]],
        timers: list[str] | None = None,
    ) -> None:
        self.limit = limit
        self.now = now
        self.next_deadline = next_deadline
        self.tasks = tasks
        self.timers = timers or []
        lines = [
            f"virtual time limit of {limit:g}s exceeded: reached t={now:.3f}s and the "
            f"next timer is due at t={next_deadline:.3f}s.",
        ]
        if self.timers:
            lines.append("keeping the clock moving (the next timers, and whom they wake):")
            lines += ["  " + line for line in self.timers]
        lines += describe_tasks(tasks)
        lines.append(
            "if the program really runs this long, raise the limit: limit= on simclock.run, "
            "VirtualEventLoop or the simclock marker, --limit for simclock run, "
            "simclock_limit in the ini file ('none' for no limit)"
        )
        super().__init__("\n".join(lines))


class Livelock(SimclockError):
    """The loop ran too many iterations at one virtual instant: time can never move.

    A callback that re-arms itself for the current instant (`while loop.time()
    <= deadline: call_at(deadline, ...)`) keeps the loop busy forever without
    virtual time moving, so `limit` cannot catch it. The message names the
    callbacks that were ready when the bound was reached and where they are
    defined.
    """

    def __init__(self, now: float, iterations: int, callbacks: list[str]) -> None:
        self.now = now
        self.iterations = iterations
        self.callbacks = callbacks
        lines = [
            f"livelock at virtual t={now:.3f}s: {iterations:,} loop iterations without time "
            "moving. A callback keeps re-scheduling itself for the same instant.",
            "ready to run again:",
            *[f"  - {callback}" for callback in callbacks],
        ]
        super().__init__("\n".join(lines))


class ClockConflict(SimclockError):
    """A second clock tried to take over the process clocks while one drives them."""


class RunEnded(SimclockError):
    """Raised in a thread whose virtual wait the run's end cut short.

    When a run ends with an error (`Deadlock`, `Livelock`, `TimeLimitExceeded`),
    a worker left in a virtual wait (an `Event.wait()` nobody will set) would
    wait forever and keep the process from exiting. Its wait ends with this
    instead, naming the error the user sees from the run.
    """

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(
            f"the simclock run this thread worked for ended with {type(cause).__name__}; "
            "its wait was cut short so that the process can exit"
        )


def describe_timers(timers: Sequence[tuple[float, asyncio.TimerHandle]]) -> list[str]:
    """One line per timer: when it is due, and the task it wakes or the callback it runs."""
    lines = []
    for at, timer in timers:
        owner = owner_of(timer)
        if isinstance(owner, asyncio.Task):
            what = f"wakes task {owner.get_name()!r} {where_task_waits(owner)}"
        else:
            callback = getattr(timer, "_callback", None)
            code = getattr(getattr(callback, "__func__", callback), "__code__", None)
            where = f" (defined at {code.co_filename}:{code.co_firstlineno})" if code else ""
            what = f"runs {shorten(repr(callback), 80)}{where}"
        lines.append(f"t={at:.3f}s: {what}")
    return lines


def describe_tasks(tasks: list[asyncio.Task[object]]) -> list[str]:
    """The pending tasks as await chains: who waits on whom, down to the line that waits.

    A task awaited by another (directly, or through `gather`) is shown under
    it, so a report reads main -> gather -> child -> `await event.wait()`.
    """
    if not tasks:
        return []
    pending = set(tasks)
    children: dict[asyncio.Task[object], list[asyncio.Task[object]]] = {}
    awaited: set[asyncio.Task[object]] = set()
    for task in tasks:
        for child in awaited_tasks(task):
            if child in pending and child is not task:
                children.setdefault(task, []).append(child)
                awaited.add(child)
    lines = [f"pending tasks ({len(tasks)}):"]
    roots = sorted((t for t in tasks if t not in awaited), key=lambda t: t.get_name())
    seen: set[asyncio.Task[object]] = set()

    def show(task: asyncio.Task[object], depth: int) -> None:
        if task in seen:
            return
        seen.add(task)
        indent = "  " + "    " * depth + ("-> " if depth else "- ")
        lines.append(f"{indent}{task.get_name()!r} {where_task_waits(task)}")
        waiter = awaited_future(task)
        if waiter is not None and task not in children:
            lines.append(f"{'  ' + '    ' * depth}    awaiting {shorten(repr(waiter), 120)}")
        for child in children.get(task, []):
            show(child, depth + 1)

    for root in roots:
        show(root, 0)
    for task in tasks:  # a cycle of tasks awaiting each other has no root
        show(task, 0)
    return lines


def awaited_tasks(task: asyncio.Task[object]) -> list[asyncio.Task[object]]:
    """The tasks `task` awaits now: one task, or the children of a gather, or none."""
    waiter = awaited_future(task)
    if isinstance(waiter, asyncio.Task):
        return [waiter]
    gathered = gathered_children(waiter)
    if gathered:
        return [child for child in gathered if isinstance(child, asyncio.Task)]
    return []


def where_task_waits(task: asyncio.Task[object]) -> str:
    """`coro() waiting in inner() at file.py:12: source line` for a pending task.

    The line is the innermost one of the program's own code on the task's
    await chain (coroutines awaiting coroutines), not asyncio's.
    """
    coro = task.get_coro()
    name = getattr(coro, "__name__", type(coro).__name__)
    frame = _innermost_own_frame(coro)
    if frame is None:
        stack = task.get_stack()
        if not stack:
            return f"{name}() (not started)"
        frame = stack[-1]
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(filename, lineno).strip()
    where = f"{name}() waiting in {frame.f_code.co_name}() at {filename}:{lineno}"
    return f"{where}: {source}" if source else where


_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


def _innermost_own_frame(coro: object) -> types.FrameType | None:
    frame = None
    while coro is not None:
        current = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if current is None:
            break
        if not current.f_code.co_filename.startswith(_ASYNCIO_DIR):
            frame = current
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return frame


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
