"""Event loops that are not asyncio's run on real time, whatever clock is bound.

`trio.run()` keeps its own clock on `time.perf_counter()` and waits for I/O
in real time: called on a thread that lives on a virtual clock, it would read
a clock that stands still while it waits, and never wake. While a clock is
bound, `trio.run` runs with the calling thread on real time, as a thread that
does not live on the clock does; trio's own `MockClock` is the way to
virtual time there. So does an asyncio loop that is not simclock's (built by
class, or by a `loop_factory` simclock does not make).

`install` (for `trio.run`) and `STOCK_LOOPS` are put on as a clock is bound,
and may stay on between bindings (`bindings.hooks_stay`); `simclock.loop`
registers them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from simclock.process import bindings
from simclock.process.patches import Patch

__all__ = ["STOCK_LOOPS", "install", "uninstall"]

# The patch on `trio.run` of the trio module last seen at a bind.
_trio: list[Patch] = []


def _trio_run_on_real_time(run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with bindings.viewing(None):
        return run(*args, **kwargs)


def install() -> None:
    """While a clock is bound, `trio.run` runs on real time (from the first bind after import)."""
    trio = sys.modules.get("trio")
    if _trio and _trio[0].owner is not trio:
        # Another module is `trio` now (a stub a test put there, or trio imported
        # again): the old one's hook comes off, and the new one gets its own.
        _trio.pop().uninstall()
    if not _trio:
        if getattr(trio, "run", None) is None:
            return
        _trio.append(Patch(trio, "run", _trio_run_on_real_time, reentrant=True))
    _trio[0].install()


def uninstall() -> None:
    if _trio:
        _trio[0].uninstall()


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
