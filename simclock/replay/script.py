"""Run a script as `python SCRIPT ARGS` would, with the whole process on a virtual clock.

The script sees what `python SCRIPT` gives it: `__name__ == "__main__"`, an
absolute `__file__`, `sys.argv` as typed, `sys.path[0]` set to the script's
real directory, the same warnings and the same traceback and exit status for
an uncaught exception. The differences are the point of the exercise:

- the clock is bound before the script's first line, so a module-level
  `start = time.time()` is virtual time;
- `asyncio.run`, `asyncio.Runner`, `asyncio.new_event_loop` and
  `asyncio.get_event_loop` make `VirtualEventLoop`s on that one clock, so two
  `asyncio.run` calls in a row continue one timeline (see `virtual_loops`;
  no event-loop policy is involved).
"""

from __future__ import annotations

import builtins
import io
import os
import sys
import traceback
import types
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from importlib.machinery import SourceFileLoader
from typing import Any, NamedTuple, TextIO

from simclock.clock.clock import DEFAULT_START, Clock, StartLike
from simclock.loop.loop import VirtualEventLoop
from simclock.loop.outside import DEFAULT_IO_GRACE
from simclock.process import bindings
from simclock.process.loops import virtual_loops
from simclock.process.prints import recording_prints
from simclock.timeline.timeline import Timeline

__all__ = [
    "ScriptError",
    "ScriptRun",
    "compile_script",
    "replay_script",
    "run_script",
    "virtual_process",
]


#: What `run_script` returns for an uncaught KeyboardInterrupt: the caller should
#: die by SIGINT, as python does, once its own output is flushed.
INTERRUPTED = 130


class ScriptError(Exception):
    """The script cannot be run at all: missing, a directory, unreadable, or not valid Python.

    Its message is what a person should read, without a simclock traceback;
    `status` is the exit status `python` gives for the same mistake.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Script(NamedTuple):  # a NamedTuple: a frozen dataclass costs start-up time to make
    argv0: str
    path: str
    code: types.CodeType


def compile_script(path: str) -> _Script:
    """Read and compile `path` as `python path` would, or raise ScriptError saying why not."""
    absolute = os.path.abspath(path)
    if os.path.isdir(absolute):
        raise ScriptError(f"can't run '{path}': it is a directory, not a Python script", 2)
    try:
        with open(absolute, "rb") as file:
            source = file.read()
    except OSError as error:
        raise ScriptError(
            f"can't open file '{absolute}': [Errno {error.errno}] {error.strerror}", 2
        ) from None
    try:
        code = compile(source, absolute, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        detail = "".join(traceback.format_exception_only(error)).rstrip("\n")
        raise ScriptError(f"{path} is not valid Python:\n{detail}", 1) from None
    return _Script(argv0=path, path=absolute, code=code)


# Where asyncio looks up the factory of a loop nobody asked a factory for:
# `asyncio.run`, `asyncio.Runner` and `asyncio.new_event_loop` call
# `events.new_event_loop`; until Python 3.16 removes policies,
# `asyncio.get_event_loop()`'s implicit loop and pytest-asyncio's older
# releases call the default policy's `new_event_loop`. Patching these
# (never the deprecated policy functions) reaches every one of them.
@contextmanager
def virtual_process(
    clock: Clock, limit: float | None = None, io_grace: float | None = None
) -> Iterator[Clock]:
    """Put the process clocks and every new asyncio loop on `clock` for the block.

    The limit caps the whole block, not each loop: it counts from now.
    """
    grace = DEFAULT_IO_GRACE if io_grace is None else io_grace

    def make_loop() -> VirtualEventLoop:
        return VirtualEventLoop(clock, io_grace=grace)

    entry = None if limit is None else clock.add_limit(limit)
    try:
        with bindings.bound(clock), virtual_loops(make_loop):
            yield clock
    finally:
        if entry is not None:
            clock.remove_limit(entry)


@contextmanager
def _as_main(script: _Script, args: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Install the script as `__main__`, with its argv and path, and undo it afterwards."""
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __file__=script.path,
        __cached__=None,
        __loader__=SourceFileLoader("__main__", script.path),
        __spec__=None,
        __builtins__=builtins,
    )
    saved_main = sys.modules.get("__main__")
    saved_argv = sys.argv
    saved_path = list(sys.path)
    sys.modules["__main__"] = module
    sys.argv = [script.argv0, *args]
    script_dir = os.path.dirname(os.path.realpath(script.path))
    if sys.path:
        sys.path[0] = script_dir
    else:
        sys.path.insert(0, script_dir)
    try:
        yield module.__dict__
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        if saved_main is not None:
            sys.modules["__main__"] = saved_main


def run_script(
    script: _Script,
    args: Sequence[str],
    clock: Clock,
    *,
    limit: float | None = None,
    io_grace: float | None = None,
    timeline: Timeline | None = None,
) -> int:
    """Run a compiled script on `clock` and return the exit status `python` would give.

    An uncaught exception prints the same traceback `python` prints (only the
    script's own frames) and gives status 1; `SystemExit` gives its code.
    With a `timeline`, everything the script's tasks do and print is recorded
    on it, and its `real_seconds` is set to how long the run took.
    """
    if timeline is not None:
        clock.timeline = timeline
    recording = (
        recording_prints(timeline, lambda: clock.now) if timeline is not None else nullcontext()
    )
    virtual_start = clock.now
    real_start = bindings.real_perf_counter()
    try:
        with (
            _as_main(script, args) as namespace,
            virtual_process(clock, limit, io_grace),
            recording,
        ):
            try:
                exec(script.code, namespace)
            except SystemExit as exit_:
                return _exit_status(exit_.code)
            except BaseException as error:  # noqa: BLE001 - reported as python would
                _print_script_traceback(error, script.code)
                return INTERRUPTED if isinstance(error, KeyboardInterrupt) else 1
        return 0
    finally:
        if timeline is not None:
            timeline.real_seconds = bindings.real_perf_counter() - real_start
            timeline.virtual_seconds = clock.now - virtual_start


class ScriptRun(NamedTuple):
    """What `replay_script` saw: the exit status, both output streams, and the timeline."""

    status: int
    stdout: str
    stderr: str
    timeline: Timeline


def replay_script(
    path: str | os.PathLike[str],
    *,
    argv: Sequence[str] = (),
    start: StartLike | None = None,
    limit: float | None = None,
    io_grace: float | None = None,
) -> ScriptRun:
    """Run the script at `path` in this process as `simclock run` does, and return what it did.

    The in-process form of `simclock run --json`: the script runs as
    `python path *argv` would (`__main__`, its own `sys.argv`), with the
    whole process on a fresh virtual clock starting at the wall-clock
    instant `start` (default `DEFAULT_START`, so dates come out the same on
    every run). Its stdout and stderr are captured rather than printed; an
    uncaught exception shows in `stderr` as python prints it and gives
    status 1, `SystemExit` gives its code. The timeline records everything,
    ready for assertions: `replay_script("lesson.py").timeline.assert_at(4.0, "done")`.

    Raises `ScriptError` when the script cannot be run at all (missing, not
    Python). Call it where no virtual clock drives the process already: not
    from inside a simclock test or another replay.

    It is called `replay_script`, not `replay`, because `simclock.replay` is
    this module.
    """
    script = compile_script(os.fspath(path))
    timeline = Timeline()
    clock = Clock(DEFAULT_START if start is None else start)
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        with _pythons_warnings():
            status = run_script(
                script, list(argv), clock, limit=limit, io_grace=io_grace, timeline=timeline
            )
    finally:
        sys.stdout, sys.stderr = saved
    return ScriptRun(status, stdout.getvalue(), stderr.getvalue(), timeline)


@contextmanager
def _pythons_warnings() -> Iterator[None]:
    """Warnings filtered and shown on stderr as a fresh `python SCRIPT` would, for the block.

    The caller's own filters (pytest's, say) would otherwise keep the
    script's warnings from its stderr.
    """
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning):
            warnings.simplefilter("ignore", category)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            text = warnings.formatwarning(message, category, filename, lineno, line)
            (file or sys.stderr).write(text)

        warnings.showwarning = show
        yield


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_script_traceback(error: BaseException, code: types.CodeType) -> None:
    """The traceback `python script.py` prints: from the script's frame on, none of simclock's."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    shown = tb if tb is not None else error.__traceback__
    report = traceback.TracebackException(type(error), error, shown)
    _drop_own_frames(report, set())
    sys.stderr.writelines(report.format())


# The package root, not this folder: every frame of simclock is its own.
_OWN_SOURCES = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _drop_own_frames(report: traceback.TracebackException, seen: set[int]) -> None:
    """Remove simclock's frames (its loop's own methods) from `report` and its chain."""
    if id(report) in seen:
        return
    seen.add(id(report))
    frames = [frame for frame in report.stack if not frame.filename.startswith(_OWN_SOURCES)]
    if len(frames) != len(report.stack):
        report.stack = traceback.StackSummary.from_list(frames)
    for linked in (report.__cause__, report.__context__, *(report.exceptions or ())):
        if linked is not None:
            _drop_own_frames(linked, seen)
