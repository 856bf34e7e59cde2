"""The `simclock` command: a thin shell over `simclock.replay` and `simclock.timeline.draw`."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from simclock._version import __version__
from simclock.clock.clock import DEFAULT_START, Clock
from simclock.loop.loop import check_io_grace, check_limit
from simclock.process.bindings import real_perf_counter
from simclock.replay.script import INTERRUPTED, ScriptError, compile_script, run_script
from simclock.timeline.timeline import Timeline

__all__ = ["main"]

# The renderer of each chart suffix, by name: simclock.timeline.draw is imported only
# when a run draws something, which keeps it out of every replay's start-up.
_CHART_SUFFIXES = {
    ".svg": "to_svg",
    ".html": "to_html",
    ".htm": "to_html",
    ".mmd": "to_mermaid",
}
_CHART_KINDS = "a .svg, .html or .mmd (Mermaid) file"


def _suffix(path: str) -> str:
    # os.path, not pathlib: pathlib's imports cost every replay a few milliseconds.
    return os.path.splitext(path)[1].lower()


def _render() -> Any:
    from simclock.timeline import draw

    return draw


class _UsageError(Exception):
    """A mistake in the command line, found before the script runs: one line, status 2."""


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's own layout, with the width found without `shutil`.

    argparse makes a formatter for every argument added, and its default one
    imports shutil (with bz2 and lzma) for the terminal's width: 2 ms of every
    replay's start-up, for help that is rarely printed.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    """What `shutil.get_terminal_size().columns` answers: $COLUMNS, the terminal, or 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simclock",
        description="Run asyncio code on a virtual clock: sleeps and timeouts take no real time.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"simclock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        formatter_class=_HelpFormatter,
        help="run a script as `python SCRIPT ARGS` would, on the virtual clock",
        description="Run a script as `python SCRIPT ARGS` would, with the whole process "
        "on a virtual clock from its first line. Its stdout and stderr are untouched; "
        "what simclock adds goes to stderr after the run.",
    )
    run.add_argument(
        "--start",
        default=None,
        help="wall-clock start: ISO 8601, epoch seconds or 'now' (default 2025-01-01T00:00:00Z)",
    )
    run.add_argument(
        "--limit", type=float, default=None, help="stop with an error past this many virtual s"
    )
    run.add_argument(
        "--timeline",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="after the run, draw which task ran when: on stderr, or with the '=' form "
        "--timeline=FILE.svg, .html or .mmd (Mermaid) into FILE",
    )
    run.add_argument(
        "--io-grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="real time to wait for an outside peer (child process, server) before a jump",
    )
    run.add_argument("--json", metavar="FILE", help="write the recorded events as JSON to FILE")
    _add_seed(run)
    run.add_argument(
        "--summary", action="store_true", help="after the run, print virtual and real time"
    )
    _add_script(run)
    compare = commands.add_parser(
        "compare",
        formatter_class=_HelpFormatter,
        help="run a script for real and on the virtual clock; show whether the outputs match",
        description="Run SCRIPT once with python, in real time, and once under `simclock run`, "
        "then compare stdout and stderr (memory addresses aside) and report the speed-up.",
    )
    compare.add_argument(
        "--real-timeout", type=float, default=600.0, help="give up on the real run after this"
    )
    compare.add_argument(
        "--start",
        default=None,
        help="wall-clock start of the virtual run, as for `run` ('now' to match a real run's "
        "dates)",
    )
    _add_script(compare)
    check = commands.add_parser(
        "check",
        formatter_class=_HelpFormatter,
        help="run a script twice on one schedule; report the first event where the runs differ",
        description="Run SCRIPT twice under `simclock run` on the same schedule and compare "
        "what happened: a difference means something outside the virtual clock decided it "
        "(an unseeded random, PYTHONHASHSEED, real I/O).",
    )
    check.add_argument("--start", default=None, help="wall-clock start, as for `run`")
    _add_seed(check)
    _add_script(check)
    return parser


def _add_seed(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--seed",
        type=int,
        default=None,
        help="take the explored schedule SEED picks (see simclock.explore)",
    )


def _add_script(command: argparse.ArgumentParser) -> None:
    # Optional to argparse, so that a missing one is named alone (`_check_options`):
    # argparse would also call the optional ARGS after it "required".
    command.add_argument("script", metavar="SCRIPT", nargs="?", help="the Python script to run")
    command.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="its arguments")


def _clock(start: str | None, seed: int | None = None) -> Clock:
    if start is None:
        return Clock(DEFAULT_START, seed=seed)
    try:
        return Clock(float(start), seed=seed)
    except ValueError:
        return Clock(start, seed=seed)


# Options that take their value as the next token.
_VALUED = {"--start", "--limit", "--json", "--io-grace", "--real-timeout"}


def _split_bare_timeline(argv: list[str]) -> list[str]:
    """`--timeline` right before SCRIPT must not swallow SCRIPT as its file.

    A bare `--timeline` means the terminal; a file comes only as
    `--timeline=FILE`. When the token after a bare one looks like a chart
    file (`--timeline out.svg script.py`), that is a mistake to point out,
    not a script to run.
    """
    out = argv[:1]
    index = 1
    while index < len(argv):
        token = argv[index]
        if token in _VALUED:
            out += argv[index : index + 2]
            index += 2
            continue
        if token == "--timeline" and index + 1 < len(argv):
            following = argv[index + 1]
            if _suffix(following) == ".json":
                raise _UsageError(f"--timeline draws a chart; for JSON use --json {following}")
            if _suffix(following) in _CHART_SUFFIXES:
                raise _UsageError(
                    f"--timeline takes its file after '=': --timeline={following} "
                    f"(a bare --timeline draws on the terminal, and {following} is no script)"
                )
        out.append("--timeline=-" if token == "--timeline" else token)
        if not token.startswith("-"):
            return out + argv[index + 1 :]  # SCRIPT: what follows is the script's
        index += 1
    return out


def _check_writable(option: str, path: str) -> None:
    """Fail before the run, not after it, when `path` cannot be written."""
    parent = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise _UsageError(f"{option}={path}: is a directory")
    if not os.path.isdir(parent):
        raise _UsageError(f"{option}={path}: no directory {parent!r} to write it in")
    if not os.access(path if os.path.exists(path) else parent, os.W_OK):
        raise _UsageError(f"{option}={path}: not writable")


def _check_options(options: argparse.Namespace) -> None:
    """Every mistake in the options, found before the script's first line runs."""
    if getattr(options, "script", "") is None:
        raise _UsageError(
            f"{options.command}: which script? e.g. simclock {options.command} script.py [ARGS...]"
        )
    if options.command == "run":
        chart = options.timeline
        if chart not in (None, "-"):
            if _suffix(chart) not in _CHART_SUFFIXES:
                raise _UsageError(f"--timeline={chart}: use {_CHART_KINDS}")
            _check_writable("--timeline", chart)
        if options.json:
            _check_writable("--json", options.json)
        for option, check, value in (
            ("--limit", check_limit, options.limit),
            ("--io-grace", check_io_grace, options.io_grace),
        ):
            try:
                if value is not None:
                    check(value)
            except ValueError as error:
                raise _UsageError(f"{option}: {error}") from None
    try:
        _clock(options.start)
    except (ValueError, TypeError) as error:
        raise _UsageError(f"--start: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        options = _parser().parse_args(_split_bare_timeline(arguments))
        _check_options(options)
    except _UsageError as error:
        print(f"simclock: {error}", file=sys.stderr)
        return 2
    try:
        script = compile_script(options.script)
    except ScriptError as error:
        print(f"simclock: {error}", file=sys.stderr)
        return error.status
    if options.command == "compare":
        return _compare(options.script, options.args, options.real_timeout, options.start)
    if options.command == "check":
        return _check(options.script, options.args, options.seed, options.start)
    clock = _clock(options.start, options.seed)
    wants_timeline = options.timeline is not None or options.json or options.summary
    timeline = Timeline() if wants_timeline else None
    status = run_script(
        script,
        options.args,
        clock,
        limit=options.limit,
        io_grace=options.io_grace,
        timeline=timeline,
    )
    if timeline is not None:
        sys.stdout.flush()
        try:
            _report(timeline, options.timeline, options.json, options.summary, options.script)
        except _WriteError as error:
            print(f"simclock: {error}", file=sys.stderr)
            status = status or 1
    if status == INTERRUPTED:
        _die_by_sigint()
    return status


def _check(script: str, args: list[str], seed: int | None, start: str | None) -> int:
    """`simclock check`: two runs in fresh processes, one schedule; 0 if they agree."""
    import tempfile

    from simclock.exploration import first_difference

    timelines = []
    with tempfile.TemporaryDirectory(prefix="simclock-check-") as scratch:
        for index in range(2):
            record = os.path.join(scratch, f"run{index}.json")
            command = [sys.executable, "-m", "simclock", "run", "--json", str(record)]
            command += ["--seed", str(seed)] if seed is not None else []
            command += ["--start", start] if start is not None else []
            done = subprocess.run(
                [*command, script, *args], capture_output=True, text=True, check=False
            )
            if not os.path.exists(record):
                print(f"simclock: run {index + 1} of {script} wrote no timeline:", file=sys.stderr)
                print(done.stderr, file=sys.stderr, end="")
                return 1
            with open(record, encoding="utf-8") as recorded:
                timelines.append(Timeline.from_json(recorded.read()))
    difference = first_difference(*timelines)
    if difference is None:
        print(
            f"simclock: two runs of {script} agree on all {len(timelines[0].events)} events",
            file=sys.stderr,
        )
        return 0
    print(f"simclock: {difference}", file=sys.stderr)
    return 1


def _die_by_sigint() -> None:
    """End the process as python does after an uncaught KeyboardInterrupt: killed by SIGINT."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def _report(
    timeline: Timeline, chart: str | None, json_file: str | None, summary: bool, script: str
) -> None:
    if chart == "-":
        print(_render().to_text(timeline), file=sys.stderr, end="")
    elif chart is not None:
        draw = getattr(_render(), _CHART_SUFFIXES[_suffix(chart)])  # checked before
        _write("--timeline", chart, draw(timeline, f"simclock run {script}"))
        print(f"simclock: timeline written to {chart}", file=sys.stderr)
    if json_file:
        _write("--json", json_file, _render().to_json(timeline))
    if summary:
        print(f"simclock: {_render().summary(timeline)}", file=sys.stderr)


class _WriteError(Exception):
    """A file the run was to leave behind could not be written; the message is one line."""


def _write(option: str, path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        raise _WriteError(f"cannot write {option}={path}: {error.strerror or error}") from None


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def _only_numbers_differ(
    real: subprocess.CompletedProcess[str], virtual: subprocess.CompletedProcess[str]
) -> bool:
    def shape(text: str) -> str:
        return _NUMBER.sub("#", _ADDRESS.sub("0x…", text))

    return (shape(real.stdout), shape(real.stderr), real.returncode) == (
        shape(virtual.stdout),
        shape(virtual.stderr),
        virtual.returncode,
    )


def _compare(script: str, args: list[str], real_timeout: float, start: str | None) -> int:
    environment = {**os.environ, "PYTHONIOENCODING": os.environ.get("PYTHONIOENCODING", "utf-8")}

    def timed(
        command: list[str], timeout: float | None
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        started = real_perf_counter()
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=environment,
            timeout=timeout,
            check=False,
        )
        return real_perf_counter() - started, result

    starting = [] if start is None else [f"--start={start}"]
    try:
        real_seconds, real = timed([sys.executable, script, *args], real_timeout)
    except subprocess.TimeoutExpired:
        print(f"simclock: the real run took longer than {real_timeout:g} s", file=sys.stderr)
        return 2
    try:
        virtual_seconds, virtual = timed(
            [sys.executable, "-m", "simclock", "run", *starting, script, *args], real_timeout
        )
    except subprocess.TimeoutExpired:
        print(f"simclock: the virtual run took longer than {real_timeout:g} s", file=sys.stderr)
        return 2
    mismatches = []
    for stream, ours, theirs in (
        ("stdout", virtual.stdout, real.stdout),
        ("stderr", virtual.stderr, real.stderr),
    ):
        ours_lines = _ADDRESS.sub("0x…", ours).splitlines(keepends=True)
        theirs_lines = _ADDRESS.sub("0x…", theirs).splitlines(keepends=True)
        if ours_lines != theirs_lines:
            mismatches.append(
                "".join(
                    _difflib().unified_diff(
                        theirs_lines, ours_lines, f"{stream} (python)", f"{stream} (simclock)"
                    )
                )
            )
    if real.returncode != virtual.returncode:
        mismatches.append(f"exit status: python {real.returncode}, simclock {virtual.returncode}\n")
    speedup = real_seconds / virtual_seconds if virtual_seconds > 0 else float("inf")
    verdict = f"{speedup:,.1f}x faster" if speedup >= 1 else f"{1 / speedup:,.1f}x slower"
    timing = (
        f"python {real_seconds:.3f} s, simclock {virtual_seconds:.3f} s "
        f"(both as processes, interpreter start-up included): {verdict}"
    )
    if mismatches:
        print("".join(mismatches), end="")
        if _only_numbers_differ(real, virtual):
            print(
                "note: only numbers differ. If they are timings, the real run drifted "
                "(a loaded machine delays every wake-up); run the comparison again."
            )
        print(f"MISMATCH: {script}: {timing}")
        return 1
    print(f"match: {script}: stdout, stderr and exit status identical; {timing}")
    return 0


def _difflib() -> Any:
    import difflib  # only `compare` shows a diff: not every replay's start-up

    return difflib
