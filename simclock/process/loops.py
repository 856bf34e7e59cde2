"""Every event loop asyncio makes by default, made by a factory of simclock's instead.

The factory is given, not imported: this layer knows no event loop class.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from simclock._compat.asyncio_internals import POLICY_BASE
from simclock.process import bindings
from simclock.process.patches import Patch

__all__ = ["virtual_loops"]


class virtual_loops:  # a lower-case name: it replaced a context-manager function
    """Make every loop asyncio creates by default during the block with `make_loop`.

    `asyncio.run`, `asyncio.Runner`, `asyncio.new_event_loop` and the loop
    `asyncio.get_event_loop()` makes implicitly (Python 3.11 to 3.13) all get
    one. Loops made with an explicit `loop_factory` are left alone. Nothing of
    the event-loop policy API is used, so it works the same on 3.11 to 3.14.
    Where `make_loop` returns None, the block entered before it decides, and
    outside every block the loop is made as it would have been.

    Blocks are layers of one stack: asyncio's factories are replaced once, as
    the first block begins, and ask the layers from the newest down. A block
    may end out of order (a test's clock, bound inside the block of its call,
    is let go in its teardown): it leaves the stack wherever it is, and once
    none is left, asyncio's factories are exactly what they were.
    """

    __slots__ = ("_make_loop",)

    def __init__(self, make_loop: Callable[[], asyncio.AbstractEventLoop | None]) -> None:
        self._make_loop = make_loop

    def __enter__(self) -> None:
        if not _layers:
            _replace_factories()
        _layers.append(self)

    def __exit__(self, *exc_info: object) -> None:
        for index in range(len(_layers) - 1, -1, -1):
            if _layers[index] is self:
                del _layers[index]
                break
        if not _layers:
            _put_factories_back()


# The blocks now open, oldest first.
_layers: list[virtual_loops] = []
# What asyncio's factories were before the first open block replaced them.
_saved: dict[str, Any] = {}


def _loop_from_layers() -> asyncio.AbstractEventLoop | None:
    for layer in reversed(_layers):
        loop = layer._make_loop()
        if loop is not None:
            return loop
    return None


def _new_event_loop() -> asyncio.AbstractEventLoop:
    loop = _loop_from_layers()
    return loop if loop is not None else _saved["asyncio"]()


def _policy_new_event_loop(
    new_event_loop: Callable[[object], asyncio.AbstractEventLoop], policy: object
) -> asyncio.AbstractEventLoop:
    loop = _loop_from_layers()
    return loop if loop is not None else new_event_loop(policy)


# On the policy's class: put on as the first block begins, and left on between
# bindings of a pytest session (`bindings.hooks_stay`); with no block open it
# makes the loop the policy would have made.
_POLICY = (
    Patch(
        POLICY_BASE,
        "new_event_loop",
        _policy_new_event_loop,
        reentrant=True,
        only_while_bound=False,
    )
    if POLICY_BASE is not None
    else None
)


# 3.13+: asyncio.EventLoop, the class a loop_factory may name.
_NAMES_A_LOOP_CLASS = hasattr(asyncio, "EventLoop")


def _replace_factories() -> None:
    _saved["events"] = asyncio.events.new_event_loop
    _saved["asyncio"] = asyncio.new_event_loop
    asyncio.events.new_event_loop = asyncio.new_event_loop = _new_event_loop
    stock_class = getattr(asyncio, "EventLoop", None) if _NAMES_A_LOOP_CLASS else None
    if isinstance(stock_class, type):
        _saved["class"] = stock_class
        _stand_in(stock_class)
    if _POLICY is not None:
        _POLICY.install()


def _put_factories_back() -> None:
    stock_class = _saved.pop("class", None)
    if stock_class is not None:
        _put_back(stock_class)
    asyncio.events.new_event_loop = _saved.pop("events")
    asyncio.new_event_loop = _saved.pop("asyncio")
    if _POLICY is not None and not bindings.stays_on(_take_the_policy_off):
        _POLICY.uninstall()


def _take_the_policy_off() -> None:
    if not _layers and _POLICY is not None:  # else the last block to end takes it off
        _POLICY.uninstall()


class _StandsIn(type):
    """The metaclass of a stand-in: instances of the class it stands for pass for its own."""

    __stock__: type

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, cls.__stock__)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls.__stock__)


def _stand_in(stock: type) -> None:
    """Rebind `asyncio.EventLoop` (3.13+) to a stand-in whose bare construction asks the layers.

    Code that names the class as a loop factory (`asyncio.run(main(),
    loop_factory=asyncio.EventLoop)`, a test case's `loop_factory`) bypasses
    `new_event_loop`. A construction with arguments, or where no layer makes
    a loop, builds the stock loop; `isinstance` with the name still holds.
    """
    stand_in = _stand_ins.get(stock)
    if stand_in is None:  # made once for a class: making a class costs more than a bind

        def __new__(cls: type, *args: object, **kwargs: object) -> object:
            if not args and not kwargs:
                loop = _loop_from_layers()
                if loop is not None:
                    return loop  # not an instance of the stand-in: __init__ is not run again
            return stock(*args, **kwargs)

        stand_in = _StandsIn(stock.__name__, (), {"__new__": __new__, "__doc__": stock.__doc__})
        stand_in.__stock__ = stock
        stand_in.__qualname__ = stock.__qualname__
        _stand_ins.clear()  # only the newest: a tool may put a new class there for each test
        _stand_ins[stock] = stand_in
    setattr(asyncio, "EventLoop", stand_in)  # noqa: B010 - not in 3.11's stubs
    module = sys.modules.get(stock.__module__)
    if module is not None and getattr(module, "EventLoop", None) is stock:
        setattr(module, "EventLoop", stand_in)  # noqa: B010 - asyncio.unix_events


# The stand-in made for the class last found as `asyncio.EventLoop`, by that class.
_stand_ins: dict[type, _StandsIn] = {}


def _put_back(stock: type) -> None:
    setattr(asyncio, "EventLoop", stock)  # noqa: B010 - not in 3.11's stubs
    module = sys.modules.get(stock.__module__)
    if module is not None and isinstance(getattr(module, "EventLoop", None), _StandsIn):
        setattr(module, "EventLoop", stock)  # noqa: B010
