"""Recording a run on its clock's timeline: printed lines and `simclock.mark()`."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from simclock.process import bindings
from simclock.timeline.timeline import EventKind, Timeline

__all__ = ["mark", "recording_prints"]


def mark(text: str) -> None:
    """Record `text` at the current virtual instant, in the current task.

    Does nothing when no timeline is recording, so marks can stay in code that
    also runs for real.
    """
    clock = bindings.current_clock()
    if clock is None or clock.timeline is None:
        return
    timeline = clock.timeline
    task = _current_task_name()
    timeline.record(clock.now, task, EventKind.MARK, str(text))


def _current_task_name() -> str | None:
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    return task.get_name() if task is not None else None


class _PrintRecorder(io.TextIOBase):
    """A stdout stand-in that writes through and records each completed line.

    Each thread's unfinished line is kept apart (`print` writes its text and its
    newline in two calls, and threads print at once): every printed line is
    recorded once, whole, under the thread that printed it.
    """

    def __init__(self, target: TextIO, timeline: Timeline, now: Any) -> None:
        self._target = target
        self._timeline = timeline
        self._now = now
        self._partials: dict[int, str] = {}
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        written = self._target.write(text)
        me = threading.get_ident()
        with self._lock:
            partial = self._partials.pop(me, "") + text
            if "\n" not in partial:
                self._partials[me] = partial
                return written
            *lines, rest = partial.split("\n")
            if rest:
                self._partials[me] = rest
            task = _current_task_name()
            for line in lines:
                self._timeline.record(self._now(), task, EventKind.PRINTED, line)
        return written

    def flush(self) -> None:
        self._target.flush()

    def close_partial(self) -> None:
        with self._lock:
            partials, self._partials = list(self._partials.values()), {}
            for partial in partials:
                self._timeline.record(self._now(), _current_task_name(), EventKind.PRINTED, partial)

    def fileno(self) -> int:
        return self._target.fileno()

    def __getattr__(self, name: str) -> Any:
        # Everything else a script may ask of stdout (reconfigure, name, mode,
        # line_buffering, ...) is the real stream's.
        return getattr(self._target, name)

    def isatty(self) -> bool:
        return self._target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._target.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._target.errors

    @property
    def buffer(self) -> Any:
        return self._target.buffer


@contextmanager
def recording_prints(timeline: Timeline, now: Any) -> Iterator[None]:
    """Record what is printed to `sys.stdout` during the block, still printing it."""
    original = sys.stdout
    if isinstance(original, _PrintRecorder) and original._timeline is timeline:
        yield  # already recording for this timeline (a loop inside a replay)
        return
    recorder = _PrintRecorder(original, timeline, now)
    sys.stdout = recorder
    try:
        yield
    finally:
        recorder.close_partial()
        if sys.stdout is recorder:
            sys.stdout = original
