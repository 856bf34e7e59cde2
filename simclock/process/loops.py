"""Every event loop asyncio makes by default, made by a factory of simclock's instead.

The factory is given, not imported: this layer knows no event loop class.
"""

from __future__ import annotations

import asyncio
import sys
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
    stock_class = getattr(asyncio, "EventLoop", None)  # 3.13+
    if isinstance(stock_class, type):
        _stand_in(stock_class, make_loop)
    saved_policy_method = None
    if POLICY_BASE is not None:
        saved_policy_method = POLICY_BASE.__dict__.get("new_event_loop")
        POLICY_BASE.new_event_loop = policy_new_event_loop
    try:
        yield
    finally:
        if isinstance(stock_class, type):
            _put_back(stock_class)
        asyncio.events.new_event_loop, asyncio.new_event_loop = saved
        if POLICY_BASE is not None:
            if saved_policy_method is None:
                del POLICY_BASE.new_event_loop
            else:
                POLICY_BASE.new_event_loop = saved_policy_method


class _StandsIn(type):
    """The metaclass of a stand-in: instances of the class it stands for pass for its own."""

    __stock__: type

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, cls.__stock__)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls.__stock__)


def _stand_in(stock: type, make_loop: Callable[[], asyncio.AbstractEventLoop | None]) -> None:
    """Rebind `asyncio.EventLoop` (3.13+) to a stand-in whose bare construction is `make_loop()`.

    Code that names the class as a loop factory (`asyncio.run(main(),
    loop_factory=asyncio.EventLoop)`, a test case's `loop_factory`) bypasses
    `new_event_loop`. A construction with arguments, or where `make_loop`
    declines, builds the stock loop; `isinstance` with the name still holds.
    """

    def __new__(cls: type, *args: object, **kwargs: object) -> object:
        if not args and not kwargs:
            loop = make_loop()
            if loop is not None:
                return loop  # not an instance of the stand-in: __init__ is not run again
        return stock(*args, **kwargs)

    stand_in = _StandsIn(stock.__name__, (), {"__new__": __new__, "__doc__": stock.__doc__})
    stand_in.__stock__ = stock
    stand_in.__qualname__ = stock.__qualname__
    setattr(asyncio, "EventLoop", stand_in)  # noqa: B010 - not in 3.11's stubs
    module = sys.modules.get(stock.__module__)
    if module is not None and getattr(module, "EventLoop", None) is stock:
        setattr(module, "EventLoop", stand_in)  # noqa: B010 - asyncio.unix_events


def _put_back(stock: type) -> None:
    setattr(asyncio, "EventLoop", stock)  # noqa: B010 - not in 3.11's stubs
    module = sys.modules.get(stock.__module__)
    if module is not None and isinstance(getattr(module, "EventLoop", None), _StandsIn):
        setattr(module, "EventLoop", stock)  # noqa: B010
