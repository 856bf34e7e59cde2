"""Every assumption simclock makes about asyncio's private state, in one place.

asyncio's handles, futures and policies keep their state in private
attributes that change between Python versions. simclock reads them only
through the functions here; `tests/test_compat.py` pins each assumption on
every supported Python, so a new release that breaks one fails there first,
naming it.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CANCELLED", "POLICY_BASE", "owner_of"]

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
