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

Each worker is `conformance.cpython_asyncio_worker`; the report is
`conformance.cpython_asyncio_report`.
"""

from __future__ import annotations

import argparse
import json
import os
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

from conformance.cpython_asyncio_report import (
    broken,
    compare,
    count,
    module_line,
    print_report,
)
from conformance.cpython_asyncio_worker import DETAIL_CHARS

REPO = Path(__file__).resolve().parent.parent

#: `--modules all`: every test module of the interpreter's own test.test_asyncio.
#: Those for Windows only skip themselves on import and count as one skipped test.
ALL_MODULES = "all"


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
            "conformance.cpython_asyncio_worker",
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
        print(module_line(full, module, entry, opts.loops), file=out, flush=True)


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
    if opts.strict and any(broken(report) for report in reports):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
