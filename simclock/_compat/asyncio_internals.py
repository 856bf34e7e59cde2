"""Every assumption simclock makes about asyncio's private state, in one place.

asyncio's handles, futures and policies keep their state in private
attributes that change between Python versions. simclock reads them only
through the functions here; `tests/test_compat.py` pins each assumption on
every supported Python, so a new release that breaks one fails there first,
naming it.
"""

from __future__ import annotations

import asyncio
from asyncio import base_events
from typing import Any

__all__ = [
    "CANCELLED",
    "HANDLE_SLOTS",
    "MAX_SELECT_TIMEOUT",
    "MIN_CANCELLED_FRACTION",
    "MIN_SCHEDULED_TIMERS",
    "POLICY_BASE",
    "RUN_FOREVER",
    "TIMER_SLOTS",
    "awaited_future",
    "format_handle",
    "gathered_children",
    "owner_of",
    "stored_exception",
    "transport_of",
]

#: The owner of a cancelled handle: it will not run, so it acts for nobody.
CANCELLED = object()

#: The base class of the default event-loop policies, whose `new_event_loop`
#: makes the loops `asyncio.get_event_loop()` makes implicitly (3.11 to 3.13);
#: renamed with a leading underscore in 3.14.
POLICY_BASE: Any = getattr(asyncio.events, "_BaseDefaultEventLoopPolicy", None) or getattr(
    asyncio.events, "BaseDefaultEventLoopPolicy", None
)

_Future = asyncio.Future


def owner_of(handle: Any) -> Any:
    """The task (or object) a handle acts for: whose priority orders it, whom it wakes.

    A timer that `asyncio.sleep` set resolves a future whose done-callback is
    the sleeping task's wake-up method; any other handle acts for the object
    its callback is bound to, or for the callback itself.
    """
    if handle._cancelled:
        return CANCELLED
    callback = handle._callback
    args = handle._args
    if args and type(args[0]) is _Future:
        for waiter, _context in args[0]._callbacks or ():
            task = getattr(waiter, "__self__", None)
            if isinstance(task, asyncio.Task):
                return task
    owner = getattr(callback, "__self__", None)
    return owner if owner is not None else callback


#: Every slot of an `asyncio.Handle` that its constructor sets. The loop's fast
#: path builds handles without the constructor's Python frame and sets exactly
#: these; with debug off, `_source_traceback` is None and `_repr` is None.
HANDLE_SLOTS = frozenset(
    {"_callback", "_args", "_cancelled", "_loop", "_source_traceback", "_repr", "_context"}
)
#: What an `asyncio.TimerHandle` adds: its deadline, and whether a loop holds it.
TIMER_SLOTS = HANDLE_SLOTS | {"_when", "_scheduled"}

#: The code of asyncio's loop driver: between two calls of `_run_once` it
#: checks only `_stopping`, so `_run_once` may run iterations back to back when
#: this is its caller.
RUN_FOREVER = base_events.BaseEventLoop.run_forever.__code__

#: asyncio's rule for dropping cancelled timers: all at once when more than
#: this many are held and cancelled ones are more than this fraction of them.
MIN_SCHEDULED_TIMERS: int = base_events._MIN_SCHEDULED_TIMER_HANDLES  # type: ignore[attr-defined]
MIN_CANCELLED_FRACTION: float = base_events._MIN_CANCELLED_TIMER_HANDLES_FRACTION  # type: ignore[attr-defined]
#: The longest a loop's selector is asked to wait at once.
MAX_SELECT_TIMEOUT: float = base_events.MAXIMUM_SELECT_TIMEOUT  # type: ignore[attr-defined]

#: How asyncio names a handle in its "Executing ... took ... seconds" warning.
format_handle: Any = base_events._format_handle  # type: ignore[attr-defined]


def awaited_future(task: asyncio.Task[Any]) -> Any:
    """The future `task` waits on now, or None (the task is ready, running or done)."""
    return getattr(task, "_fut_waiter", None)


def gathered_children(future: object) -> list[Any] | None:
    """The children of an `asyncio.gather` future, or None for any other future."""
    children = getattr(future, "_children", None)
    return list(children) if children is not None else None


def stored_exception(task: asyncio.Task[Any]) -> BaseException | None:
    """A done task's exception, read without marking it retrieved.

    `task.exception()` would mark it so and silence asyncio's "exception was
    never retrieved" report, which a recorder must not change.
    """
    exception: BaseException | None = getattr(task, "_exception", None)
    return exception


def transport_of(loop: asyncio.AbstractEventLoop, fd: int) -> Any:
    """The transport a selector loop keeps for file descriptor `fd`, or None."""
    transports = getattr(loop, "_transports", None)
    return transports.get(fd) if transports is not None else None
