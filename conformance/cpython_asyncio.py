"""Run CPython's own asyncio tests twice: on stock loops, and with simclock's loop everywhere.

For each Python (3.11 and later) this runs every module of the interpreter's
own `test.test_asyncio` package (or those `--modules` names), each module in a
subprocess of its own, once as shipped ("stock") and once with every loop that
asyncio's factories make being a `simclock.VirtualEventLoop` ("simclock");
`-j N` runs N of those subprocesses at once. It prints one line per Python:

    tests run, failures+errors, skipped and real seconds, stock | simclock,
    then the real time the whole Python took

and, with `--list-regressions` (or `-v`), the ids of the tests that pass stock
but fail on simclock, each with the last line of its error.

What "simclock as the loop" covers (see `install_simclock_factories`):
`asyncio.new_event_loop()`, `asyncio.run()`, `asyncio.Runner`,
`unittest.IsolatedAsyncioTestCase`, `asyncio.EventLoop()` (3.13+, also when
passed as a `loop_factory`), the implicit loop of `asyncio.get_event_loop()`
and `policy.new_event_loop()` on the default policy (the last two through the
policy class's private `_loop_factory`, on 3.11 to 3.13 the only way in;
`--no-policy-factory` leaves it alone). Each loop gets a
fresh `simclock.Clock()`; `--clock attach` instead lets a loop made while a
virtual loop runs share that loop's clock. Loops a test builds by class
(`asyncio.SelectorEventLoop()`, `test_utils.TestLoop`, mocks) stay what they
are, so a module can pass on simclock simply because it never used it: the
"loops" figure of `-v` says how many simclock loops each module made.

Which simclock: the work tree by default; `--simclock-rev REV` tests the
package as committed at REV (`git archive`, nothing in the work tree changes),
so figures can be tied to a commit while the code moves.

Hangs and crashes: the parent watches each worker. A test that runs longer
than `--test-timeout` real seconds is a hang: the worker (its whole process
group) is killed, after faulthandler wrote every thread's stack to the log,
and a new worker runs the module's remaining tests. A worker that dies mid-test
(a segfault, `os._exit`) marks that test a crash, and the rest is run the same
way. `--timeout` bounds one module's real time over all its attempts. Each
worker runs in a session of its own, killed whole when it ends, so processes a
test leaves behind (a forked pool's workers) do not outlive it.

Interpreters and time-machine (simclock's only dependency): the parent needs
Python 3.11+ and the stdlib only. The worker runs with `PYTHONPATH` set to
this repository, so simclock needs no install, but it must import
`time_machine`. For each `--python`, the worker interpreter is, in order:

1. a `--venv DIR` given for the same X.Y version;
2. the Python itself, if it can import time_machine;
3. this repository's `.venv-X.Y` (what `scripts/test` makes), if its version matches;
4. a venv in `$SIMCLOCK_CONFORMANCE_CACHE` (default `~/.cache/simclock-conformance`)
   named `venv-X.Y.Z`, made on first use with `pip install time-machine`.

A venv runs the same interpreter and stdlib, `test.test_asyncio` included.
A Python that lives in a Debian root (`scripts/python3.14`, `scripts/python3.15`)
is tested by running this harness itself inside the root, which holds the
checkout at its own path:

    scripts/python3.15 run python3.15 -m conformance.cpython_asyncio \
        --python python3.15 --venv "$PWD/.venv-3.15" -j 2

Usage (from the repository root):

    python3 -m conformance.cpython_asyncio -j 2             # every 3.11+ from scripts/find-pythons
    python3 -m conformance.cpython_asyncio --python /root/.pyenv/versions/3.12.1/bin/python3.12 \\
        --modules test_timeouts,test_locks --list-regressions --json /tmp/conformance.json

Internal: `--worker MODULE --loop stock|simclock --out FILE` is how the parent
runs one module; it appends JSON lines to FILE (one per test start and end).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: `--modules all`: every test module of the interpreter's own test.test_asyncio.
#: Those for Windows only skip themselves on import and count as one skipped test.
ALL_MODULES = "all"

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


# ---------------------------------------------------------------------------
# Worker side: runs inside the Python under test.


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


def worker_main(args: argparse.Namespace) -> int:
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
    name = f"test.test_asyncio.{args.worker}"
    if importlib.util.find_spec(f"test.test_asyncio.{args.worker.split('.')[0]}") is None:
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


# ---------------------------------------------------------------------------
# Parent side: stdlib only, any Python 3.11+.


def export_simclock(rev: str) -> str:
    """A directory holding the simclock package as committed at `rev` (git archive)."""
    target = Path(tempfile.mkdtemp(prefix="simclock-rev-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, "simclock"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return str(target)


def find_pythons() -> list[str]:
    script = REPO / "scripts" / "find-pythons"
    found = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if line.strip()]


def python_version(python: str) -> tuple[str, str]:
    """(X.Y, X.Y.Z) of an interpreter."""
    code = "import sys; v = sys.version_info; print(f'{v[0]}.{v[1]} {v[0]}.{v[1]}.{v[2]}')"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    short, full = out.split()
    return short, full


def _imports_time_machine(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import time_machine"], capture_output=True, check=False)
    return probe.returncode == 0


def asyncio_test_modules(python: str) -> dict[str, int] | None:
    """Every test module of `python`'s test.test_asyncio, with its source size in bytes;
    None if that Python has no test package (Debian ships it as libpythonX.Y-testsuite)."""
    code = (
        "import os, pkgutil, test.test_asyncio as package\n"
        "for m in pkgutil.iter_modules(package.__path__):\n"
        "    if m.name.startswith('test_'):\n"
        "        path = os.path.join(package.__path__[0], m.name + '.py')\n"
        "        print(m.name, os.path.getsize(path) if os.path.exists(path) else 0)\n"
    )
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        return None
    return {name: int(size) for name, size in (line.split() for line in found.stdout.splitlines())}


def worker_python(python: str, venvs: list[str], log: Any) -> str:
    """The interpreter that runs the workers for `python`: the same Python, with time-machine."""
    short, full = python_version(python)
    for venv in venvs:
        candidate = str(Path(venv) / "bin" / "python")
        if python_version(candidate)[0] == short:
            return candidate
    if _imports_time_machine(python):
        return python
    repo_venv = REPO / f".venv-{short}" / "bin" / "python"
    if repo_venv.exists() and python_version(str(repo_venv))[1] == full:
        if _imports_time_machine(str(repo_venv)):
            return str(repo_venv)
    cache = Path(
        os.environ.get(
            "SIMCLOCK_CONFORMANCE_CACHE", Path.home() / ".cache" / "simclock-conformance"
        )
    )
    venv = cache / f"venv-{full}"
    candidate = venv / "bin" / "python"
    if not (candidate.exists() and _imports_time_machine(str(candidate))):
        print(f"making {venv} with time-machine for {python}", file=log, flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(candidate),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "time-machine>=2.13,<4",
            ],
            check=True,
        )
    return str(candidate)


def _tail(path: Path, chars: int = DETAIL_CHARS) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - chars))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _last_line(path: Path) -> str:
    lines = [line for line in _tail(path, 2000).splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else "empty"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the worker's process group (its own session) and reap the worker."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_module(python: str, module: str, loop: str, opts: argparse.Namespace) -> dict[str, Any]:
    """Run one module on one kind of loop, restarting after hangs and crashes."""
    tests: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    loops_made = 0
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"cpython-asyncio-{module}-{loop}-"))
    progress, log, exclude = workdir / "progress.jsonl", workdir / "worker.log", workdir / "exclude"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [opts.simclock_dir, str(REPO), env.get("PYTHONPATH")])
    )
    for name in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONWARNINGS"):
        env.pop(name, None)
    if opts.seed is not None:
        env["SIMCLOCK_CONFORMANCE_SEED"] = str(opts.seed)
    missing = False
    simclock_file = None
    attempt = 0
    while True:
        attempt += 1
        exclude.write_text("\n".join(tests) + "\n", encoding="utf-8")
        command = [
            python,
            "-X",
            "faulthandler",
            "-m",
            "conformance.cpython_asyncio",
            "--worker",
            module,
            "--loop",
            loop,
            "--clock",
            opts.clock,
            "--out",
            str(progress),
            "--exclude",
            str(exclude),
            "--test-timeout",
            str(opts.test_timeout),
        ] + (["--no-policy-factory"] if opts.no_policy_factory else [])
        with open(log, "ab") as log_file:
            log_file.write(f"\n===== attempt {attempt}: {' '.join(command)}\n".encode())
            log_file.flush()
            proc = subprocess.Popen(
                command,
                cwd=workdir,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        known_before = len(tests)
        attempt_loops = 0
        current: str | None = None
        current_since = 0.0
        done = False
        killed_for: str | None = None
        offset = 0
        while True:
            exited = proc.poll() is not None
            with open(progress, "rb") if progress.exists() else open(os.devnull, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offset += len(complete)
            for line in complete.decode("utf-8", "replace").splitlines():
                record = json.loads(line)
                event = record["event"]
                if event == "start":
                    current, current_since = record["id"], time.monotonic()
                elif event == "end":
                    attempt_loops = record.get("loops") or attempt_loops
                    tests[record["id"]] = {
                        "outcome": record["outcome"],
                        "seconds": record["seconds"],
                        "detail": record["detail"],
                    }
                    if record["id"] == current:
                        current = None
                elif event == "begin":
                    simclock_file = record.get("simclock") or simclock_file
                elif event == "done":
                    done = True
                    attempt_loops = record["loops"] or attempt_loops
                elif event == "missing":
                    missing = done = True
            if exited:
                break
            now = time.monotonic()
            if current is not None and now - current_since > opts.test_timeout:
                killed_for = "hang"
            elif now - started > opts.timeout:
                killed_for = "module-timeout"
            elif opts.stopping.is_set():
                killed_for = "interrupted"
            if killed_for:
                _kill_group(proc)
                break
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        loops_made += attempt_loops
        # Whatever the tests left behind in the worker's session (a process pool's
        # forked workers, a child nobody waited for) goes with it.
        _kill_group(proc)
        if done:
            if proc.returncode:
                notes.append(f"worker exited {proc.returncode} after finishing")
            break
        code = proc.returncode
        if killed_for == "interrupted":
            notes.append("interrupted")
            break
        if killed_for == "module-timeout":
            what = f"module timed out after {opts.timeout:g} s"
            if current is not None:
                tests[current] = {"outcome": "hang", "seconds": None, "detail": _tail(log)}
                what += f" in {current}"
            notes.append(what)
            break
        if killed_for == "hang":
            assert current is not None
            notes.append(f"hang: {current} ran over {opts.test_timeout:g} s")
            tests[current] = {"outcome": "hang", "seconds": None, "detail": _tail(log)}
        elif current is not None:
            notes.append(f"crash: worker exited {code} in {current}")
            tests[current] = {"outcome": "crash", "seconds": None, "detail": _tail(log)}
        else:
            notes.append(f"crash: worker exited {code} outside any test (log: {_last_line(log)})")
            if len(tests) == known_before:
                # No progress at all: another attempt would do the same.
                tests.setdefault(
                    f"{module} (worker)",
                    {"outcome": "crash", "seconds": None, "detail": _tail(log)},
                )
                break
        if attempt > opts.max_restarts:
            notes.append("gave up restarting: the module's remaining tests did not run")
            break
    seconds = time.monotonic() - started
    if opts.keep_logs:
        notes.append(f"log: {log}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "module": module,
        "loop": loop,
        "missing": missing,
        "seconds": round(seconds, 2),
        "loops_made": loops_made if loop == "simclock" else None,
        "simclock": simclock_file,
        "notes": notes,
        "tests": tests,
    }


def count(tests: dict[str, dict[str, Any]]) -> dict[str, int]:
    outcomes = [t["outcome"] for t in tests.values()]
    return {
        "run": len(outcomes),
        "failed": sum(o in FAILING for o in outcomes),
        "skipped": sum(o == "skipped" for o in outcomes),
        "hangs": sum(o == "hang" for o in outcomes),
        "crashes": sum(o == "crash" for o in outcomes),
    }


def summary_line(error: str) -> str:
    """The line of a traceback that names the exception: the first unindented line after
    the frames of its last "Traceback (most recent call last):"."""
    lines = error.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    for line in lines[starts[-1] + 1 if starts else 0 :]:
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()[:300]
    return next((line.strip()[:300] for line in reversed(lines) if line.strip()), "")


def where_stuck(log: str, simclock_file: str | None) -> str:
    """From faulthandler's dump in a worker's log, where the main thread (listed last)
    waits: its innermost frame in the simclock package that `simclock_file` (its
    `__init__.py`, as the worker imported it) belongs to, and its innermost test frame."""
    lines = log.splitlines()
    heads = [i for i, line in enumerate(lines) if "(most recent call first):" in line]
    if not heads:
        return "no stack dump in the log"
    frames = []
    for line in lines[heads[-1] + 1 :]:
        match = re.match(r'\s*File "(.+)", line (\d+) in (\S+)', line)
        if match is None:
            break
        frames.append((match[1], match[2], match[3]))
    # simclock's frames by the package's own directory: a path merely containing
    # "/simclock/" may be a checkout of that name, test_asyncio's frames included.
    package = Path(simclock_file).parent if simclock_file else None
    picks = []
    for path, line, function in frames:
        if package is not None and Path(path).is_relative_to(package):
            picks.append(f"simclock/{Path(path).relative_to(package)}:{line} {function}()")
            break
    for path, line, function in frames:
        if Path(path).parent.name == "test_asyncio":
            picks.append(f"test_asyncio/{Path(path).name}:{line} {function}()")
            break
    if not picks and frames:
        path, line, function = frames[0]
        picks.append(f"{Path(path).name}:{line} {function}()")
    return "main thread in " + ", from ".join(picks) if picks else "empty stack dump"


def compare(stock: dict[str, Any], sim: dict[str, Any]) -> dict[str, Any]:
    """The tests whose outcome differs between the stock run and the simclock run."""
    regressions, fixed, not_run = [], [], []
    for test_id, result in stock["tests"].items():
        other = sim["tests"].get(test_id)
        if other is None:
            if result["outcome"] in PASSING:
                not_run.append(test_id)
            continue
        if result["outcome"] in PASSING and other["outcome"] in FAILING:
            regressions.append(
                {
                    "id": test_id,
                    "outcome": other["outcome"],
                    "summary": summary_line(other["detail"])
                    if other["outcome"] not in ("hang", "crash")
                    else f"{other['outcome']}; {where_stuck(other['detail'], sim['simclock'])}",
                    "detail": other["detail"],
                }
            )
        elif result["outcome"] in FAILING and other["outcome"] in PASSING:
            fixed.append(test_id)
    for test_id, other in sim["tests"].items():
        # Ids only the simclock run has: a class or module fixture that failed there.
        if test_id not in stock["tests"] and other["outcome"] in FAILING:
            regressions.append(
                {
                    "id": test_id,
                    "outcome": other["outcome"],
                    "summary": summary_line(other["detail"]),
                    "detail": other["detail"],
                }
            )
    return {"regressions": regressions, "fixed": fixed, "not_run_on_simclock": not_run}


def _fmt(counts: dict[str, int], seconds: float) -> str:
    text = (
        f"{counts['run']:5d} run {counts['failed']:4d} fail {counts['skipped']:4d} skip "
        f"{seconds:7.1f} s"
    )
    extra = []
    if counts["hangs"]:
        extra.append(f"{counts['hangs']} hang")
    if counts["crashes"]:
        extra.append(f"{counts['crashes']} crash")
    return text + (f" ({', '.join(extra)})" if extra else "")


def _module_line(full: str, module: str, entry: dict[str, Any], loops: list[str]) -> str:
    parts = []
    for loop in loops:
        run = entry[loop]
        made = f" loops={run['loops_made']}" if loop == "simclock" else ""
        parts.append(f"{loop} {_fmt(count(run['tests']), run['seconds'])}{made}")
    regressions = len(entry["compare"]["regressions"]) if "compare" in entry else 0
    lines = [f"  {full} {module:17s} " + " | ".join(parts) + f" | {regressions} regressed"]
    for loop in loops:
        lines.extend(f"      {loop}: {note}" for note in entry[loop]["notes"])
    return "\n".join(lines)


def run_python(python: str, opts: argparse.Namespace, out: Any) -> dict[str, Any]:
    """Run every module on every loop of `opts` for one Python, `opts.jobs` runs at once.

    Runs of different modules share nothing but the machine (each worker has its
    own directory, session and ports from the kernel), which is why CPython's own
    regrtest runs these modules in parallel too. The biggest modules start first,
    so that the last one to finish is a short one.
    """
    started = time.monotonic()
    full = python_version(python)[1]
    runner = worker_python(python, opts.venv, out)
    report: dict[str, Any] = {
        "python": python,
        "version": full,
        "worker_python": runner,
        "jobs": opts.jobs,
        "modules": {},
    }
    sizes = asyncio_test_modules(runner)
    if sizes is None:
        print(f"  {full}: no test.test_asyncio package in {runner}", file=out, flush=True)
        report["modules"]["test.test_asyncio"] = {"missing": True}
        modules: list[str] = []
    elif opts.modules == [ALL_MODULES]:
        modules = sorted(sizes)
    else:
        modules = opts.modules
    order = sorted(modules, key=lambda module: -(sizes or {}).get(module.split(".")[0], 0))
    runs: dict[str, dict[str, Any]] = {module: {} for module in modules}
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        pending = {
            pool.submit(run_module, runner, module, loop, opts): (module, loop)
            for module in order
            for loop in opts.loops
        }
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    module, loop = pending.pop(future)
                    runs[module][loop] = future.result()
                    if len(runs[module]) == len(opts.loops):
                        _module_done(full, module, runs[module], report, opts, out)
        except BaseException:
            opts.stopping.set()
            for future in pending:
                future.cancel()
            raise
    report["modules"] = {module: report["modules"][module] for module in sorted(report["modules"])}
    totals: dict[str, Any] = {}
    for loop in opts.loops:
        tests: dict[str, Any] = {}
        seconds = 0.0
        for entry in report["modules"].values():
            if entry.get("missing"):
                continue
            tests.update(entry[loop]["tests"])
            seconds += entry[loop]["seconds"]
        totals[loop] = {**count(tests), "seconds": round(seconds, 1)}
    report["totals"] = totals
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def _module_done(
    full: str,
    module: str,
    entry: dict[str, Any],
    report: dict[str, Any],
    opts: argparse.Namespace,
    out: Any,
) -> None:
    """File a module whose every run has finished in `report`, and say so with -v."""
    if any(run["missing"] for run in entry.values()):
        report["modules"][module] = {"missing": True}
        print(
            f"  {full} {module}: not in this Python's test.test_asyncio, skipped",
            file=out,
            flush=True,
        )
        return
    if len(opts.loops) == 2:
        entry["compare"] = compare(entry["stock"], entry["simclock"])
    report["modules"][module] = entry
    if opts.verbose:
        print(_module_line(full, module, entry, opts.loops), file=out, flush=True)


def print_report(reports: list[dict[str, Any]], opts: argparse.Namespace, out: Any) -> None:
    print(file=out)
    for report in reports:
        parts = [
            f"{loop} {_fmt(report['totals'][loop], report['totals'][loop]['seconds'])}"
            for loop in opts.loops
        ]
        line = f"Python {report['version']:8s} " + " | ".join(parts)
        if len(opts.loops) == 2:
            regressions = sum(
                len(e["compare"]["regressions"])
                for e in report["modules"].values()
                if "compare" in e
            )
            fixed = sum(
                len(e["compare"]["fixed"]) for e in report["modules"].values() if "compare" in e
            )
            line += f" | {regressions} regressed, {fixed} fixed"
        missing = [m for m, e in report["modules"].items() if e.get("missing")]
        if missing:
            line += f" | missing: {','.join(missing)}"
        line += f" | {report['seconds']:.0f} s wall, {report['jobs']} at once"
        print(line, file=out)
    if not (opts.list_regressions and len(opts.loops) == 2):
        return
    for report in reports:
        lines = []
        for module, entry in report["modules"].items():
            if "compare" not in entry:
                continue
            for item in entry["compare"]["regressions"]:
                lines.append(f"  {item['id']}\n      {item['outcome']}: {item['summary']}")
            not_run = entry["compare"]["not_run_on_simclock"]
            if not_run:
                lines.append(
                    f"  {module}: {len(not_run)} tests that pass stock did not run on simclock "
                    f"(worker gave up), e.g. {not_run[0]}"
                )
        if lines:  # a header with nothing under it reads as a failure
            print(f"\nPython {report['version']}: fail on simclock, pass stock", file=out)
            print("\n".join(lines), file=out)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run CPython's test.test_asyncio modules on stock loops and on simclock's.",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="PATH",
        help="interpreter to test (repeatable; default: every 3.11+ from scripts/find-pythons)",
    )
    parser.add_argument(
        "--venv",
        action="append",
        default=[],
        metavar="DIR",
        help="a venv with time-machine to run the workers of the Python of its X.Y version",
    )
    parser.add_argument(
        "--modules",
        default=ALL_MODULES,
        help="comma-separated test.test_asyncio modules, or MODULE.Class[.test] "
        "to run part of one; 'all': every module of each Python's own "
        "test.test_asyncio (default: %(default)s)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="module runs (one module on one loop) to run at once (default: %(default)s)",
    )
    parser.add_argument(
        "--loops",
        default="stock,simclock",
        help="which runs to make: stock, simclock or both (default: %(default)s)",
    )
    parser.add_argument(
        "--clock",
        choices=("fresh", "attach"),
        default="fresh",
        help="fresh: each simclock loop gets its own Clock (default); attach: "
        "a loop made while a virtual loop runs shares its clock",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if a test that passes on the stock loop fails or does not run on "
        "simclock's (for CI)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="run simclock loops on explored schedules: loop N of a module gets "
        "seed SEED * 1,000,000 + N (with --clock attach, loops that attach to a running "
        "clock share its schedule)",
    )
    parser.add_argument(
        "--no-policy-factory",
        action="store_true",
        help="leave the default policy's _loop_factory alone: only "
        "asyncio.new_event_loop() and what calls it make simclock loops",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="real seconds one module may take over all its attempts (default: %(default)s)",
    )
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=60.0,
        help="real seconds one test may take before it counts as a hang (default: %(default)s)",
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=5,
        help="new workers per module after hangs or crashes (default: %(default)s)",
    )
    parser.add_argument(
        "--list-regressions",
        action="store_true",
        help="list the tests that pass stock but fail on simclock",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="a line per module as it finishes, and --list-regressions",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write every outcome, with tracebacks, to FILE"
    )
    parser.add_argument(
        "--simclock-rev",
        metavar="REV",
        help="test simclock as committed at git REV (e.g. HEAD) instead of the work tree",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep each worker's output and say where"
    )
    # The worker's own arguments.
    parser.add_argument("--worker", metavar="MODULE", help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=("stock", "simclock"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--exclude", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    opts.modules = [m.strip() for m in opts.modules.split(",") if m.strip()]
    opts.loops = [loop.strip() for loop in opts.loops.split(",") if loop.strip()]
    if any(loop not in ("stock", "simclock") for loop in opts.loops) or not opts.loops:
        parser.error("--loops takes stock, simclock or stock,simclock")
    if opts.jobs < 1:
        parser.error("--jobs takes 1 or more")
    if opts.verbose:
        opts.list_regressions = True
    # Workers run in directories of their own: a relative path would name nothing there.
    opts.venv = [os.path.abspath(venv) for venv in opts.venv]
    opts.python = [
        os.path.abspath(python) if os.sep in python else python for python in opts.python
    ]
    opts.stopping = threading.Event()
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.worker:
        return worker_main(opts)
    opts.simclock_dir = None
    if opts.simclock_rev:
        opts.simclock_dir = export_simclock(opts.simclock_rev)
    pythons = opts.python or find_pythons()
    if not pythons:
        print("no Python 3.11+ found; pass --python PATH", file=sys.stderr)
        return 2
    out = sys.stdout
    reports = []
    for python in pythons:
        print(f"== {python}", file=out, flush=True)
        reports.append(run_python(python, opts, out))
    print_report(reports, opts, out)
    if opts.simclock_dir:
        shutil.rmtree(opts.simclock_dir, ignore_errors=True)
    if opts.json:
        Path(opts.json).write_text(json.dumps(reports, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {opts.json}", file=out)
    if opts.strict and any(_broken(report) for report in reports):
        return 1
    return 0


def _broken(report: dict[str, Any]) -> bool:
    """A test that passes stock failed or did not run on simclock, or a module went missing."""
    for entry in report["modules"].values():
        if entry.get("missing"):
            return True
        compare = entry.get("compare")
        if compare and (compare["regressions"] or compare["not_run_on_simclock"]):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
