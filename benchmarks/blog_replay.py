"""Workload a: replay each blog example in-process, as `simclock run` would, on a fresh clock.

The script's output goes to a sink that drops it: what is timed is simclock
running the script, not the terminal printing it.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter  # bound by name: simclock patches time.perf_counter in a run

import simclock
from simclock.replay.script import compile_script, run_script

__all__ = ["BlogExample", "blog_examples"]

BLOG_DIR = Path(__file__).resolve().parent.parent / "examples" / "blog"


class _NullSink(io.TextIOBase):
    """A text stream that accepts everything and keeps nothing."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@dataclass(frozen=True)
class Replay:
    real_seconds: float
    virtual_seconds: float
    exit_status: int


@dataclass(frozen=True)
class BlogExample:
    name: str
    path: Path

    def replay(self) -> Replay:
        """Compile and run the script once on a new clock, as `simclock run` does."""
        sink = _NullSink()
        clock = simclock.Clock()
        began = perf_counter()
        with redirect_stdout(sink), redirect_stderr(sink):
            status = run_script(compile_script(str(self.path)), [], clock)
        return Replay(perf_counter() - began, clock.now, status)


def blog_examples() -> list[BlogExample]:
    return [BlogExample(path.stem, path) for path in sorted(BLOG_DIR.glob("*.py"))]
