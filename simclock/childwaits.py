"""Blocking waits for a child process follow real time, on any thread that lives on a clock.

`subprocess.Popen.wait(timeout=...)` and `communicate(timeout=...)` (and so
`subprocess.run(timeout=...)`) measure their deadline with `time.monotonic()`
and poll with `time.sleep()`. On virtual time the deadline would pass at
once, or thousands of virtual seconds would go by, while the real child has
had no time at all. A child is real, so waiting for it is too: while a thread
that lives on a clock waits for a child, it reads real time, and afterwards
the loop's clock has moved on by the real time the wait took, as a blocking
call moves it. (A worker's own clocks already include the real time it spent.)

Installed while a clock is bound (`simclock.bindings.while_bound`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from simclock import bindings
from simclock.bindings import ClockView, real_monotonic

__all__: list[str] = []

_originals: dict[str, Callable[..., Any]] = {}


@contextmanager
def _in_real_time() -> Iterator[None]:
    view = bindings.current_view()
    if view is None:
        yield
        return
    started = real_monotonic()
    bindings.push_view(None)
    try:
        yield
    finally:
        bindings.pop_view(None)
        if isinstance(view, ClockView):
            view.sleep(max(0.0, real_monotonic() - started))


def _wait(self: subprocess.Popen[Any], timeout: float | None = None) -> int:
    if self.returncode is not None:
        return self.returncode
    with _in_real_time():
        code: int = _originals["wait"](self, timeout)
    return code


def _communicate(
    self: subprocess.Popen[Any], input: Any = None, timeout: float | None = None
) -> Any:
    with _in_real_time():
        return _originals["communicate"](self, input, timeout)


def _install() -> None:
    _originals.update(wait=subprocess.Popen.wait, communicate=subprocess.Popen.communicate)
    subprocess.Popen.wait = _wait  # type: ignore[method-assign]
    subprocess.Popen.communicate = _communicate  # type: ignore[method-assign]


def _uninstall() -> None:
    for name, original in _originals.items():
        setattr(subprocess.Popen, name, original)
    _originals.clear()


bindings.while_bound(_install, _uninstall)
