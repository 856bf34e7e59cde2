"""Every event loop asyncio makes by default, made by a factory of simclock's instead.

The factory is given, not imported: this layer knows no event loop class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from simclock._compat.asyncio_internals import POLICY_BASE

__all__ = ["virtual_loops"]


@contextmanager
def virtual_loops(
    make_loop: Callable[[], asyncio.AbstractEventLoop | None],
) -> Iterator[None]:
    """Make every loop asyncio creates by default during the block with `make_loop`.

    `asyncio.run`, `asyncio.Runner`, `asyncio.new_event_loop` and the loop
    `asyncio.get_event_loop()` makes implicitly (Python 3.11 to 3.13) all get
    one. Loops made with an explicit `loop_factory` are left alone. Nothing of
    the event-loop policy API is used, so it works the same on 3.11 to 3.14.
    Where `make_loop` returns None, the loop is made as it would have been.
    """
    saved = (asyncio.events.new_event_loop, asyncio.new_event_loop)
    saved_policy = getattr(POLICY_BASE, "new_event_loop", None)

    def new_event_loop() -> asyncio.AbstractEventLoop:
        loop = make_loop()
        return loop if loop is not None else saved[1]()

    def policy_new_event_loop(policy: object) -> asyncio.AbstractEventLoop:
        loop = make_loop()
        if loop is None and saved_policy is not None:
            loop = saved_policy(policy)
        assert loop is not None
        return loop

    asyncio.events.new_event_loop = asyncio.new_event_loop = new_event_loop
    saved_policy_method = None
    if POLICY_BASE is not None:
        saved_policy_method = POLICY_BASE.__dict__.get("new_event_loop")
        POLICY_BASE.new_event_loop = policy_new_event_loop
    try:
        yield
    finally:
        asyncio.events.new_event_loop, asyncio.new_event_loop = saved
        if POLICY_BASE is not None:
            if saved_policy_method is None:
                del POLICY_BASE.new_event_loop
            else:
                POLICY_BASE.new_event_loop = saved_policy_method
