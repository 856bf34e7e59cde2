"""One worker of the CPython asyncio conformance run: runs one test_asyncio module.

`conformance.cpython_asyncio` starts this in the Python under test, once per
module and kind of loop, and watches it:

    python -X faulthandler -m conformance.cpython_asyncio_worker MODULE \\
        --loop stock|simclock --out FILE [--exclude FILE] [--clock fresh|attach] ...

It appends JSON lines to FILE: `begin` (how many tests), `start` and `end` for
each test (its outcome, the tail of its traceback, its real seconds), `done`;
or `missing` when this Python has no such module. Tests named in the exclude
file are left out, so that a new worker can carry on after a hang or crash.
With `--loop simclock`, every loop asyncio's factories make is simclock's
(`install_simclock_factories`); simclock is imported from `PYTHONPATH`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

# Outcomes, worst first: a test's outcome is the worst of its parts (subtests).
FAILING = ("crash", "hang", "error", "failed", "xpass")
OUTCOME_RANK = {
    name: rank
    for rank, name in enumerate(
        ("crash", "hang", "error", "failed", "xpass", "passed", "xfail", "skipped")
    )
}
PASSING = ("passed", "xfail")
DETAIL_CHARS = 6000


def install_simclock_factories(clock_mode: str, policy_factory: bool = True) -> list[int]:
    """Make asyncio's loop factories return simclock loops; returns a one-item loop counter.

    `clock_mode` "fresh" gives each loop a clock of its own; "attach" lets a
    loop made while another virtual loop drives the process share that clock
    (what `simclock.new_event_loop()` does by default).
    """
    import asyncio
    import asyncio.events as events

    import simclock

    made = [0]
    # --seed: every loop explores its own seeded schedule (seed * 1,000,000 + its number).
    seed = os.environ.get("SIMCLOCK_CONFORMANCE_SEED")

    def make_loop() -> simclock.VirtualEventLoop:
        made[0] += 1
        if clock_mode == "fresh":
            if seed is not None:
                return simclock.VirtualEventLoop(
                    simclock.Clock(seed=int(seed) * 1_000_000 + made[0])
                )
            return simclock.VirtualEventLoop(simclock.Clock())
        if seed is not None and simclock.current_clock() is None:
            return simclock.VirtualEventLoop(simclock.Clock(seed=int(seed) * 1_000_000 + made[0]))
        return simclock.new_event_loop()

    get_policy = getattr(events, "_get_event_loop_policy", None) or events.get_event_loop_policy
    default_policy = type(get_policy())
    stock_new_event_loop = events.new_event_loop

    def new_event_loop() -> Any:
        # asyncio.run, asyncio.Runner and IsolatedAsyncioTestCase all come here
        # (`events.new_event_loop()`, looked up at call time). A test that
        # installed a policy with a new_event_loop of its own keeps it.
        policy = getattr(events, "_event_loop_policy", None)
        if policy is not None and type(policy).new_event_loop is not default_policy.new_event_loop:
            return stock_new_event_loop()
        return make_loop()

    new_event_loop.__doc__ = stock_new_event_loop.__doc__
    events.new_event_loop = new_event_loop
    asyncio.new_event_loop = new_event_loop

    # The policy API is deprecated from 3.14, but on 3.11-3.13 two paths reach
    # the default policy's private loop factory without passing through
    # `events.new_event_loop`: the implicit loop that `asyncio.get_event_loop()`
    # makes when none is set (`self.set_event_loop(self.new_event_loop())` in
    # BaseDefaultEventLoopPolicy.get_event_loop), and tests that call
    # `policy.new_event_loop()` on a policy they made or fetched themselves
    # (test_subprocess's watcher tests on 3.11, tests that install a fresh
    # DefaultEventLoopPolicy()). Both end in `self._loop_factory()`. Without
    # this, test_subprocess on 3.11 makes 1 simclock loop instead of ~117, and
    # test_events' HandleTests.test_handle_source_traceback runs on a stock loop.
    if policy_factory:
        default_policy._loop_factory = staticmethod(make_loop)

    # From 3.13, `asyncio.EventLoop` names the platform's loop class, and tests
    # pass it as an explicit loop factory (`loop_factory = asyncio.EventLoop` in
    # 3.14's test_taskgroups, `asyncio.run(main(), loop_factory=asyncio.EventLoop)`),
    # which bypasses `events.new_event_loop`. The name is rebound to a subclass
    # whose bare construction is a simclock loop; a loop built with arguments,
    # or from a further subclass, is built as before. SelectorEventLoop, which
    # the stock class also is, stays stock: loops built by that name are a
    # test's own choice.
    stock_event_loop = getattr(asyncio, "EventLoop", None)
    if stock_event_loop is not None:

        class EventLoop(stock_event_loop):  # type: ignore[misc, valid-type]
            def __new__(cls, *args: Any, **kwargs: Any) -> Any:
                if cls is EventLoop and not args and not kwargs:
                    return make_loop()
                return super().__new__(cls)

        EventLoop.__qualname__ = stock_event_loop.__qualname__
        EventLoop.__doc__ = stock_event_loop.__doc__
        asyncio.EventLoop = EventLoop
        sys.modules[stock_event_loop.__module__].EventLoop = EventLoop  # asyncio.unix_events
    return made


def _plain_test(test: Any) -> Any:
    """A subtest stands for its test: outcomes are kept per test id."""
    import unittest.case

    if isinstance(test, unittest.case._SubTest):
        return test.test_case
    return test


def _real_seconds() -> float:
    # Not time.perf_counter or time.monotonic: simclock may point those at virtual
    # time (even references taken before it was imported) while a loop runs.
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def make_recorder(emit: Any, test_timeout: float, made: list[int] | None) -> Any:
    import faulthandler
    import unittest

    class Recorder(unittest.TestResult):
        """Sends one JSON record when a test starts and one when it ends, with its outcome."""

        def __init__(self) -> None:
            super().__init__()
            self._current: dict[str, Any] = {}

        def startTest(self, test: Any) -> None:
            super().startTest(test)
            self._current[test.id()] = {"outcome": None, "detail": "", "start": _real_seconds()}
            emit(event="start", id=test.id())
            if test_timeout > 0:
                # Just before the parent gives up on this test: every thread's stack, to the log.
                faulthandler.dump_traceback_later(max(1.0, test_timeout - 2), exit=False)

        def stopTest(self, test: Any) -> None:
            super().stopTest(test)
            faulthandler.cancel_dump_traceback_later()
            state = self._current.pop(test.id(), None)
            if state is None:
                return
            emit(
                event="end",
                id=test.id(),
                outcome=state["outcome"] or "passed",
                detail=state["detail"],
                seconds=round(_real_seconds() - state["start"], 4),
                loops=None if made is None else made[0],
            )

        def _note(self, test: Any, outcome: str, detail: str = "") -> None:
            test = _plain_test(test)
            state = self._current.get(test.id())
            if state is None:
                # Not inside a test: setUpClass, setUpModule, tearDownModule (an _ErrorHolder).
                emit(
                    event="end",
                    id=test.id(),
                    outcome=outcome,
                    detail=detail[-DETAIL_CHARS:],
                    seconds=0,
                )
                return
            old = state["outcome"]
            if old is None or OUTCOME_RANK[outcome] < OUTCOME_RANK[old]:
                state["outcome"] = outcome
                if detail:
                    state["detail"] = detail[-DETAIL_CHARS:]

        def addSuccess(self, test: Any) -> None:
            super().addSuccess(test)
            self._note(test, "passed")

        def addError(self, test: Any, err: Any) -> None:
            super().addError(test, err)
            self._note(test, "error", self._exc_info_to_string(err, _plain_test(test)))

        def addFailure(self, test: Any, err: Any) -> None:
            super().addFailure(test, err)
            self._note(test, "failed", self._exc_info_to_string(err, _plain_test(test)))

        def addSkip(self, test: Any, reason: str) -> None:
            super().addSkip(test, reason)
            self._note(test, "skipped", reason)

        def addExpectedFailure(self, test: Any, err: Any) -> None:
            super().addExpectedFailure(test, err)
            self._note(test, "xfail")

        def addUnexpectedSuccess(self, test: Any) -> None:
            super().addUnexpectedSuccess(test)
            self._note(test, "xpass", "unexpected success")

        def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
            super().addSubTest(test, subtest, err)
            if err is not None:
                failed = issubclass(err[0], test.failureException)
                text = f"in {subtest.id()}:\n" + self._exc_info_to_string(err, test)
                self._note(test, "failed" if failed else "error", text)

    return Recorder()


def _flatten(suite: Any) -> list[Any]:
    import unittest

    tests: list[Any] = []
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            tests.extend(_flatten(item))
        else:
            tests.append(item)
    return tests


def run_tests(args: argparse.Namespace) -> int:
    """Run the tests of `args.module`, sending one JSON record per test start and end."""
    import importlib.util
    import unittest

    out = open(args.out, "a", buffering=1, encoding="utf-8")

    def emit(**record: Any) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    # A Python started with SIGINT ignored (a background job of a shell, CI) keeps
    # it ignored, and then `_thread.interrupt_main()` does nothing: test_runners'
    # interrupt tests would wait forever. Tests expect a fresh interpreter's state.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # MODULE may name a class or a test in it: test_streams.StreamTests.test_start_tls.
    name = f"test.test_asyncio.{args.module}"
    if importlib.util.find_spec(f"test.test_asyncio.{args.module.split('.')[0]}") is None:
        emit(event="missing")
        return 0
    made = (
        install_simclock_factories(args.clock, not args.no_policy_factory)
        if args.loop == "simclock"
        else None
    )
    excluded: set[str] = set()
    if args.exclude:
        excluded = set(Path(args.exclude).read_text(encoding="utf-8").split("\n")) - {""}
    where = sys.modules["simclock"].__file__ if "simclock" in sys.modules else None
    tests: list[Any] = []
    try:
        suite = unittest.defaultTestLoader.loadTestsFromName(name)
    except unittest.SkipTest as skip:
        # A module that skips itself on import (test_windows_events off Windows)
        # counts as one skipped test, as regrtest counts it.
        emit(event="begin", tests=1, simclock=where)
        emit(event="end", id=name, outcome="skipped", detail=str(skip), seconds=0)
    else:
        tests = [test for test in _flatten(suite) if test.id() not in excluded]
        emit(event="begin", tests=len(tests), simclock=where)
    result = make_recorder(emit, args.test_timeout, made)
    unittest.TestSuite(tests).run(result)
    emit(event="done", loops=None if made is None else made[0])
    out.close()
    # Leftover non-daemon threads of a broken test must not keep the worker alive.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run one test.test_asyncio module; each test's outcome goes out as JSON.",
    )
    parser.add_argument("module", help="a test.test_asyncio module, or MODULE.Class[.test]")
    parser.add_argument("--loop", choices=("stock", "simclock"), required=True)
    parser.add_argument("--out", required=True, help="the file to append JSON lines to")
    parser.add_argument("--exclude", help="a file of test ids to leave out, one a line")
    parser.add_argument("--clock", choices=("fresh", "attach"), default="fresh")
    parser.add_argument("--no-policy-factory", action="store_true")
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=0.0,
        help="real seconds after which faulthandler dumps every stack (0: never)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run_tests(parse_args(sys.argv[1:])))
