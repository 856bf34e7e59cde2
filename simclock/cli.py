"""The `simclock` command: a thin shell over `simclock.replay`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from simclock.clock import DEFAULT_START, Clock
from simclock.replay import ScriptError, compile_script, run_script

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simclock",
        description="Run asyncio code on a virtual clock: sleeps and timeouts take no real time.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run a script as `python SCRIPT ARGS` would, on the virtual clock",
        description="Run a script as `python SCRIPT ARGS` would, with the whole process "
        "on a virtual clock from its first line.",
    )
    run.add_argument(
        "--start",
        default=None,
        help="wall-clock start: ISO 8601, epoch seconds or 'now' (default: 2025-01-01T00:00:00Z)",
    )
    run.add_argument(
        "--summary",
        action="store_true",
        help="after the run, print virtual and real time to stderr",
    )
    run.add_argument("script", metavar="SCRIPT", help="the Python script to run")
    run.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for the script"
    )
    return parser


def _parse_start(text: str | None) -> Clock:
    if text is None:
        return Clock(DEFAULT_START)
    try:
        return Clock(float(text))
    except ValueError:
        return Clock(text)


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        clock = _parse_start(options.start)
    except (ValueError, TypeError) as error:
        print(f"simclock: --start: {error}", file=sys.stderr)
        return 2
    try:
        script = compile_script(options.script)
    except ScriptError as error:
        print(f"simclock: {error}", file=sys.stderr)
        return error.status
    real_start = time.perf_counter()
    status = run_script(script, options.args, clock)
    real = time.perf_counter() - real_start
    if options.summary:
        sys.stdout.flush()
        speedup = f"{clock.now / real:,.0f}x" if real > 0 else "n/a"
        print(
            f"simclock: {clock.now:.3f} s virtual in {real * 1000:.1f} ms real ({speedup})",
            file=sys.stderr,
        )
    return status
