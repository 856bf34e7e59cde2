"""Event loops that are not asyncio's run on real time, whatever clock is bound.

`trio.run()` keeps its own clock on `time.perf_counter()` and waits for I/O
in real time: called on a thread that lives on a virtual clock, it would read
a clock that stands still while it waits, and never wake. While a clock is
bound, `trio.run` runs with the calling thread on real time, as a thread that
does not live on the clock does; trio's own `MockClock` is the way to
virtual time there.

`install` and `uninstall` are called as a clock is bound and released;
`simclock.loop` registers them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from simclock.process import bindings

__all__ = ["install", "uninstall"]

_saved: dict[str, Callable[..., Any]] = {}


def install() -> None:
    trio = sys.modules.get("trio")
    run = getattr(trio, "run", None)
    if run is None or getattr(run, "__simclock_real_time__", False):
        return
    _saved["run"] = run

    @functools.wraps(run)
    def run_on_real_time(*args: Any, **kwargs: Any) -> Any:
        bindings.push_view(None)
        try:
            return run(*args, **kwargs)
        finally:
            bindings.pop_view(None)

    run_on_real_time.__simclock_real_time__ = True  # type: ignore[attr-defined]
    trio.run = run_on_real_time  # type: ignore[union-attr]


def uninstall() -> None:
    run = _saved.pop("run", None)
    trio = sys.modules.get("trio")
    if run is not None and trio is not None:
        trio.run = run  # type: ignore[attr-defined]
