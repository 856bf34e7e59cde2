"""Event loops that are not asyncio's run on real time, whatever clock is bound.

`trio.run()` keeps its own clock on `time.perf_counter()` and waits for I/O
in real time: called on a thread that lives on a virtual clock, it would read
a clock that stands still while it waits, and never wake. While a clock is
bound, `trio.run` runs with the calling thread on real time, as a thread that
does not live on the clock does; trio's own `MockClock` is the way to
virtual time there. So does an asyncio loop that is not simclock's (built by
class, or by a `loop_factory` simclock does not make).

`install` and `uninstall` are called as a clock is bound and released;
`simclock.loop` registers them.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any

from simclock.process import bindings

__all__ = ["install", "uninstall"]

_saved: dict[str, Callable[..., Any]] = {}
# The stand-in made for each original, made once: a clock is bound for every test.
_stand_ins: dict[Callable[..., Any], Callable[..., Any]] = {}


def install() -> None:
    _real_time_for_stock_loops()
    trio = sys.modules.get("trio")
    run = getattr(trio, "run", None)
    if run is None or getattr(run, "__simclock_real_time__", False):
        return
    _saved["run"] = run
    trio.run = _stand_in(run, _trio_run_on_real_time)  # type: ignore[union-attr]


def _stand_in(
    original: Callable[..., Any], make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Callable[..., Any]:
    stand_in = _stand_ins.get(original)
    if stand_in is None:
        stand_in = _stand_ins[original] = functools.wraps(original)(make(original))
        stand_in.__simclock_real_time__ = True  # type: ignore[attr-defined]
    return stand_in


def _trio_run_on_real_time(run: Callable[..., Any]) -> Callable[..., Any]:
    def run_on_real_time(*args: Any, **kwargs: Any) -> Any:
        with bindings.viewing(None):
            return run(*args, **kwargs)

    return run_on_real_time


def _real_time_for_stock_loops() -> None:
    """An asyncio loop that is not simclock's runs with its thread on real time.

    Built by class (`asyncio.SelectorEventLoop()`, a `loop_factory`), it reads
    `time.monotonic()` for its timers; on a thread that lives on the clock that
    reading would stand still while the loop waits in real time, and its first
    timer would never come due. Simclock's own loops carry
    `_runs_on_virtual_time` and are left alone.
    """
    base = asyncio.base_events.BaseEventLoop
    run_forever = base.run_forever
    if getattr(run_forever, "__simclock_real_time__", False):
        return
    _saved["run_forever"] = run_forever
    base.run_forever = _stand_in(run_forever, _run_forever_on_real_time)  # type: ignore[method-assign]


def _run_forever_on_real_time(run_forever: Callable[..., Any]) -> Callable[..., Any]:
    def run_forever_on_real_time(self: asyncio.AbstractEventLoop) -> None:
        if getattr(self, "_runs_on_virtual_time", False) or bindings.current_view() is None:
            return run_forever(self)  # type: ignore[no-any-return]
        with bindings.viewing(None):
            return run_forever(self)  # type: ignore[no-any-return]

    return run_forever_on_real_time


def uninstall() -> None:
    run_forever = _saved.pop("run_forever", None)
    if run_forever is not None:
        asyncio.base_events.BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign]
    run = _saved.pop("run", None)
    trio = sys.modules.get("trio")
    if run is not None and trio is not None:
        trio.run = run  # type: ignore[attr-defined]
