"""Event loops that are not asyncio's run on real time, whatever clock is bound.

`trio.run()` keeps its own clock on `time.perf_counter()` and waits for I/O
in real time: called on a thread that lives on a virtual clock, it would read
a clock that stands still while it waits, and never wake. While a clock is
bound, `trio.run` runs with the calling thread on real time, as a thread that
does not live on the clock does; trio's own `MockClock` is the way to
virtual time there. So does an asyncio loop that is not simclock's (built by
class, or by a `loop_factory` simclock does not make).

`install` and `uninstall` (for `trio.run`) are called as a clock is bound and
released, and `STOCK_LOOPS` is put on as one is bound; `simclock.loop`
registers them.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any

from simclock.process import bindings
from simclock.process.patches import Patch

__all__ = ["STOCK_LOOPS", "install", "uninstall"]

_saved: dict[str, Callable[..., Any]] = {}
# The stand-in made for each original, made once: a clock is bound for every test.
_stand_ins: dict[Callable[..., Any], Callable[..., Any]] = {}


def install() -> None:
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


def _run_forever_on_real_time(
    run_forever: Callable[[asyncio.AbstractEventLoop], None], self: asyncio.AbstractEventLoop
) -> None:
    """An asyncio loop that is not simclock's runs with its thread on real time.

    Built by class (`asyncio.SelectorEventLoop()`, a `loop_factory`), it reads
    `time.monotonic()` for its timers; on a thread that lives on the clock that
    reading would stand still while the loop waits in real time, and its first
    timer would never come due. Simclock's own loops carry
    `_runs_on_virtual_time` and are left alone.
    """
    if getattr(self, "_runs_on_virtual_time", False) or bindings.current_view() is None:
        return run_forever(self)
    with bindings.viewing(None):
        return run_forever(self)


# On a class every loop derives from: installed as a clock is bound, and left
# on between bindings of a pytest session (`bindings.hooks_stay`). A loop run
# nested in another's (nest_asyncio) is put on real time as the outer one is.
STOCK_LOOPS = Patch(
    asyncio.base_events.BaseEventLoop, "run_forever", _run_forever_on_real_time, reentrant=True
)


def uninstall() -> None:
    run = _saved.pop("run", None)
    trio = sys.modules.get("trio")
    if run is not None and trio is not None:
        trio.run = run  # type: ignore[attr-defined]
