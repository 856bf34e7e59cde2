"""Run real asyncio libraries' own test suites stock and under `pytest --simclock`.

For each library in `LIBRARIES` this script:

1. downloads the library's sdist from PyPI at a pinned version
   (`pip download --no-deps --no-binary :all: NAME==VERSION`) and unpacks it:
   the sdist is where the test suite comes from;
2. makes a venv with `--python`, installs the sdist, the pinned test
   dependencies and simclock itself (`pip install -e` of this repository, or of
   `--simclock-src`); installing simclock registers its pytest plugin, which
   does nothing until `--simclock` is given;
3. runs the suite from the unpacked sdist twice, in a subprocess each:
   "stock" (`pytest -p no:cacheprovider -q ...`) and "simclock" (the same
   command plus `--simclock`, so every async test runs on the virtual clock);
4. prints one line per library

       NAME VERSION: stock P passed F failed in S s | simclock P passed F failed in S s

   where F counts failures and errors and S is real seconds for the whole
   pytest process, followed by every test that passes stock but fails,
   errors or has no outcome under simclock, with pytest's one-line reason.

The libraries were picked because their suites sleep, time out, use TTLs,
rate limits or threads, and pass stock on CPython 3.11 from their sdists;
and for the route by which their tests reach an event loop: pytest-asyncio,
anyio's plugin, unittest's IsolatedAsyncioTestCase (aiosqlite), Starlette's
TestClient (starlette), pytest-aiohttp (aiojobs, aiohttp-jinja2), aiohttp's
bundled plugin (aiohttp) and pytest-trio (trio-websocket).
Where a suite needs a tweak to run at all from an sdist (a git checkout, a
benchmark plugin, a pytest option the repository keeps outside the sdist),
the table says so, with the reason; nothing is deselected because of simclock.

Stdlib only. Usage (from the repository root):

    python3 -m conformance.real_suites --python /root/.pyenv/versions/3.11.7/bin/python3.11
    python3 -m conformance.real_suites --only janus,async-lru -v
    python3 -m conformance.real_suites --simclock-src /tmp/simclock-checkout --json out.json

Downloads, venvs and logs go to `--workdir` (default ~/.cache/simclock-suites),
never into this repository. A venv is reused while its library, test
dependencies, Python and simclock source are unchanged; `--fresh` remakes it.
Each run's full pytest output is kept as WORKDIR/logs/NAME-VERSION.MODE.log.
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
import tarfile
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# Pinned so that a rerun tests the same code; bump deliberately.
PYTEST = "pytest==9.2.0"
PYTEST_ASYNCIO = "pytest-asyncio==1.5.0"
# Every venv also gets pytest-timeout, and every run `--timeout=--test-timeout`:
# a hanging test then fails alone instead of the whole run being killed.
PYTEST_TIMEOUT = "pytest-timeout==2.4.0"

# Options every run gets, stock and simclock alike:
# - `-o addopts=` drops the sdists' own addopts, which ask for pytest-cov
#   (`--cov ...`, aiometer's `--cov-fail-under=100`) and print extra output;
# - `-p no:randomly` keeps test order fixed should pytest-randomly be present;
# - `-rfEp` prints one short-summary line per passed, failed or errored test,
#   which is what `parse_outcomes` reads.
COMMON_ARGS = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q", "-o", "addopts=", "-rfEp"]


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    # What the tests exercise, for the reader of this table.
    exercises: str
    # Test dependencies beyond the library's own install_requires.
    deps: tuple[str, ...] = ()
    # Extra pytest arguments (paths, -o overrides), each with its reason in a comment.
    args: tuple[str, ...] = ()
    # Node ids or paths left out of both runs: {nodeid_or_path: reason}.
    deselect: dict[str, str] = field(default_factory=dict)


LIBRARIES: list[Library] = [
    Library(
        "janus",
        "2.0.0",
        "mixed sync/async queue: run_in_executor threads blocking on the queue, "
        "asyncio.wait_for timeouts",
        deps=(PYTEST, PYTEST_ASYNCIO),
        deselect={
            "tests/test_benchmarks.py": "needs pytest-codspeed's `benchmark` fixture; "
            "benchmarks, not behaviour",
        },
    ),
    Library(
        "async-lru",
        "2.4.0",
        "LRU cache with TTL (loop.call_later expiry), cancellation, thread safety checks",
        deps=(PYTEST, PYTEST_ASYNCIO),
        # The sdist's setup.cfg has filterwarnings=error and leaves the fixture
        # loop scope unset, so pytest-asyncio's warning about it becomes an
        # INTERNALERROR before any test runs.
        args=("-o", "asyncio_default_fixture_loop_scope=function"),
    ),
    Library(
        "aiolimiter",
        "1.3.0",
        "leaky-bucket rate limiter driven by loop.time() and call_at wake-ups",
        deps=(PYTEST, PYTEST_ASYNCIO, "dunamai==1.26.5"),
        deselect={
            "tests/test_aiolimiter.py::test_version": "compares against `git describe`; "
            "an sdist is no git checkout",
        },
    ),
    Library(
        "aiojobs",
        "1.4.0",
        "job scheduler: close/wait timeouts, shielding, aiohttp app integration "
        "(in-process sockets)",
        deps=(PYTEST, PYTEST_ASYNCIO, "aiohttp==3.14.5", "pytest-aiohttp==1.1.1"),
        # The tests are unmarked `async def`s; the repository's pytest config
        # that selects auto mode is not in the sdist.
        args=("-o", "asyncio_mode=auto"),
    ),
    Library(
        "aiometer",
        "1.0.0",
        "anyio-based concurrency limits and max_per_second rate limiting, "
        "checked against anyio.current_time(); anyio's pytest plugin, no pytest-asyncio",
        # With trio installed anyio's plugin runs every test twice, [asyncio-...]
        # and [trio-...]; the sdist's filterwarnings also names a trio warning
        # class, which pytest imports. Under --simclock the [trio-...] variants
        # run on simclock's asyncio loop too (simclock runs the test itself), so
        # they pass without testing trio: count them as asyncio runs.
        deps=(PYTEST, "anyio==4.16.0", "trio==0.35.0"),
    ),
    Library(
        "aiostream",
        "0.8.1",
        "stream operators with timeouts and sleeps, run on the suite's own "
        "time-travel loop (TimeTrackingTestLoop via pytest_asyncio_loop_factories)",
        deps=(PYTEST, PYTEST_ASYNCIO),
    ),
    Library(
        "aiosqlite",
        "0.22.1",
        "sqlite3 driven from a worker thread; tests are unittest's "
        "IsolatedAsyncioTestCase, which runs each test on a loop of its own",
        deps=(PYTEST,),
        # The suite is aiosqlite/tests/smoke.py (what `python -m unittest
        # aiosqlite.tests` runs); its file name is outside pytest's test_*.py
        # pattern, so it is named. perf.py is benchmarks, not behaviour.
        args=("aiosqlite/tests/smoke.py",),
    ),
    Library(
        "starlette",
        "1.10.0",
        "ASGI framework: sync tests drive apps through TestClient (an anyio "
        "blocking portal in a thread), async tests run on anyio's plugin over "
        "asyncio and trio",
        # Test dependencies at the versions of the sdist's own uv.lock.
        deps=(
            PYTEST,
            "anyio==4.15.1",
            "trio==0.34.0",
            "httpx==0.28.1",
            "httpx2[zstd]==2.13.1",
            "itsdangerous==2.2.0",
            "jinja2==3.1.6",
            "python-multipart==0.0.32",
            "pyyaml==6.0.3",
            "opentelemetry-api==1.44.0",
            "opentelemetry-sdk==1.44.0",
            "blockbuster==1.5.28",
            "importlib-metadata==9.0.1",
        ),
        # benchmarks/ holds pytest-codspeed benchmarks, not behaviour.
        args=("tests",),
    ),
    Library(
        "aiohttp-jinja2",
        "1.6",
        "jinja2 rendering in aiohttp.web handlers, served on a real socket and "
        "requested through pytest-aiohttp's aiohttp_client fixture",
        # aiohttp 3.13 warns (NotAppKeyWarning) on the str request keys that
        # aiohttp-jinja2 1.6 stores, which filterwarnings=error turns into a 500
        # in test_context_processors: 3.12 is the newest aiohttp it passes on.
        deps=(PYTEST, PYTEST_ASYNCIO, "aiohttp==3.12.15", "pytest-aiohttp==1.1.1"),
        # The sdist's pytest.ini has filterwarnings=error and leaves the fixture
        # loop scope unset: as with async-lru, an INTERNALERROR before any test.
        args=("-o", "asyncio_default_fixture_loop_scope=function"),
    ),
    Library(
        "aiohttp",
        "3.14.5",
        "aiohttp's own suite on its bundled plugin (aiohttp.pytest_plugin: its "
        "own `loop` fixture and its own runner of async tests, no pytest-asyncio): "
        "client and server over loopback, websockets, timeouts, keepalive",
        # Test dependencies at the versions of the sdist's requirements/test.txt,
        # less those only for xdist, benchmarks, docker and uvloop. coverage
        # stays: the sdist's filterwarnings names a coverage warning class,
        # which pytest imports.
        deps=(
            PYTEST,
            "aiodns==4.0.4",
            "blockbuster==1.5.26",
            "brotli==1.2.0",
            "coverage==7.14.1",
            "freezegun==1.5.5",
            "gunicorn==26.0.0",
            "isal==1.8.0",
            "pkgconfig==1.6.0",
            "proxy-py==2.4.10",
            "pytest-mock==3.15.1",
            "setuptools-git==1.2",
            "trustme==1.2.1",
            "zlib-ng==1.0.0",
        ),
        args=(
            # The functional tests: servers and clients made by the plugin's
            # fixtures (aiohttp_client, aiohttp_server, aiohttp_raw_server) and
            # run on its loop. The whole suite takes about 15 minutes a run here
            # on one core; these files, a fifth of it, exercise the plugin.
            "tests/test_web_functional.py",
            "tests/test_client_functional.py",
            "tests/test_web_websocket_functional.py",
            "tests/test_client_ws_functional.py",
            "tests/test_web_sendfile_functional.py",
            "tests/test_test_utils.py",
            "tests/test_pytest_plugin.py",
            # The sdist's addopts, dropped with the rest, also deselect the
            # tests its CI runs in separate jobs.
            "-m",
            "not dev_mode and not autobahn and not internal",
        ),
    ),
    Library(
        "trio-websocket",
        "0.12.2",
        "WebSocket client and server on trio over loopback TCP and TLS, with "
        "timeouts and autojump_clock; pytest-trio runs the tests",
        deps=(PYTEST, "pytest-trio==0.8.0", "trio==0.35.0", "trustme==1.2.1", "attrs==26.1.0"),
        # The tests are unmarked `async def`s; the repository's pytest config
        # that selects trio mode is not in the sdist.
        args=("-o", "trio_mode=true"),
    ),
]


# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_quiet(command: list[str], **kwargs: Any) -> None:
    """Run a setup command; on failure show its output and stop."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        log(result.stdout[-4000:])
        log(result.stderr[-4000:])
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(command)}")


def python_version(python: str) -> str:
    result = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


# --------------------------------------------------------------------------- sdist


def fetch_sdist(lib: Library, python: str, workdir: Path) -> Path:
    """Download the pinned sdist (once) and return the path of the unpacked tree."""
    sdists = workdir / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    archive = find_archive(sdists, lib)
    if archive is None:
        log(f"{lib.name}: downloading the {lib.version} sdist from PyPI")
        run_quiet(
            [
                python,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--disable-pip-version-check",
                "-d",
                str(sdists),
                f"{lib.name}=={lib.version}",
            ]
        )
        archive = find_archive(sdists, lib)
        if archive is None:
            raise SystemExit(f"{lib.name}: pip download left no sdist in {sdists}")
    tree = workdir / "src" / f"{lib.name}-{lib.version}"
    if not (tree / ".unpacked").exists():
        shutil.rmtree(tree, ignore_errors=True)
        unpack(archive, tree)
        (tree / ".unpacked").write_text(archive.name)
    # An sdist has one top-level folder, e.g. async_lru-2.4.0/.
    (top,) = [entry for entry in tree.iterdir() if entry.is_dir()]
    return top


def find_archive(folder: Path, lib: Library) -> Path | None:
    # Sdist file names normalise differently over time: async_lru-2.4.0.tar.gz,
    # asgi-lifespan-2.1.0.tar.gz. Compare with - and _ folded together.
    wanted = f"{lib.name}-{lib.version}".replace("_", "-").lower()
    for path in folder.iterdir():
        stem = re.sub(r"\.(tar\.gz|tgz|zip|tar\.bz2)$", "", path.name)
        if stem != path.name and stem.replace("_", "-").lower() == wanted:
            return path
    return None


def unpack(archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
        return
    with tarfile.open(archive) as tf:
        if hasattr(tarfile, "data_filter"):  # 3.11.4+: refuse links and paths out of dest
            tf.extractall(dest, filter="data")
        else:
            tf.extractall(dest)


# --------------------------------------------------------------------------- venv


def make_venv(lib: Library, python: str, simclock_src: Path, workdir: Path, fresh: bool) -> Path:
    """A venv with the library (from its sdist), its test deps and simclock (editable)."""
    version = python_version(python)
    venv = workdir / "venvs" / f"{lib.name}-{lib.version}-py{version}"
    archive = find_archive(workdir / "sdists", lib)
    assert archive is not None
    spec = json.dumps(
        {
            "python": str(Path(python).resolve()),
            "version": version,
            "sdist": archive.name,
            "deps": [*lib.deps, PYTEST_TIMEOUT],
            "simclock": str(simclock_src.resolve()),
        },
        sort_keys=True,
    )
    stamp = venv / ".simclock-suites"
    if not fresh and stamp.exists() and stamp.read_text() == spec:
        return venv
    log(f"{lib.name}: making {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    run_quiet([python, "-m", "venv", str(venv)])
    pip = [str(venv_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # Install the sdist archive, not the unpacked tree, so the tree the tests
    # run from stays as shipped (no build/ or egg-info written into it).
    run_quiet([*pip, str(archive), *lib.deps, PYTEST_TIMEOUT])
    run_quiet([*pip, "-e", str(simclock_src)])
    stamp.write_text(spec)
    return venv


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    mode: str
    seconds: float
    counts: dict[str, int]
    outcomes: dict[str, str]  # node id -> "passed" | "failed" | "error"
    reasons: dict[str, str]  # node id -> pytest's one-line reason, for failures
    returncode: int | None  # None: killed by the run timeout
    log: Path
    # pytest stopped the session early with an INTERNALERROR: tests after the
    # one it stopped at never ran, and the -rfEp summary was never printed.
    internal_error: bool = False
    # The JUnit report's outcome and one-line message of each test case, keyed
    # by `junit_address`; it is written even when the summary is not.
    junit: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def outcome(self, nodeid: str) -> str | None:
        """The test's outcome from the summary, else from the JUnit report, else None."""
        found = self.outcomes.get(nodeid)
        if found is None and (case := self.junit.get(junit_address(nodeid))) is not None:
            found = case[0]
        return found

    def reason(self, nodeid: str) -> str:
        if nodeid in self.reasons:
            return self.reasons[nodeid]
        case = self.junit.get(junit_address(nodeid))
        return (case[1] or case[0]) if case is not None else "no reason recorded"

    @property
    def passed(self) -> int:
        return self.counts.get("passed", 0)

    @property
    def failed(self) -> int:
        # Errors (setup/teardown) count as failures in the summary line.
        return self.counts.get("failed", 0) + self.counts.get("errors", 0)


# A node id may hold spaces (parametrize ids do); the reason follows the first " - ".
SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR) (.+?)(?: - (.*))?$")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?)")


def parse_outcomes(text: str) -> tuple[dict[str, int], dict[str, str], dict[str, str]]:
    """Counts from pytest's last line, and per-test outcomes from the -rfEp summary."""
    outcomes: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for line in text.splitlines():
        match = SUMMARY_LINE.match(line)
        if match is None:
            continue
        word, nodeid, reason = match.groups()
        outcome = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error"}[word]
        # A test that passed its call but errored in teardown appears twice; the error wins.
        if outcomes.get(nodeid) != "error":
            outcomes[nodeid] = outcome
        if reason and outcome != "passed":
            reasons.setdefault(nodeid, reason)
    counts: dict[str, int] = {}
    for line in reversed(text.splitlines()):
        if re.search(r"\bin [\d.]+s\b", line) and COUNT.search(line):
            for number, word in COUNT.findall(line):
                key = {"error": "errors", "warning": "warnings"}.get(word, word)
                counts[key] = int(number)
            break
    return counts, outcomes, reasons


def junit_address(nodeid: str) -> tuple[str, str]:
    """Where pytest's junitxml puts a test: tests/test_x.py::TestA::test_b[1] is
    classname "tests.test_x.TestA", name "test_b[1]"."""
    path, *rest = nodeid.split("::")
    classname = ".".join([re.sub(r"\.py$", "", path).replace("/", "."), *rest[:-1]])
    return classname, rest[-1] if rest else ""


def junit_cases(xml_path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """Each test case of the JUnit report: its outcome and its message as one line.

    The outcome is "passed", "failed", "error" or "skipped"; a case that
    failed its call and errored in teardown is an error, as in the summary.
    """
    if not xml_path.exists():
        return {}
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError:
        return {}
    cases: dict[tuple[str, str], tuple[str, str]] = {}
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped") and outcome != "error":
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = message or one_line(child.get("message") or (child.text or "").strip())
        cases[(case.get("classname", ""), case.get("name", ""))] = (outcome, message)
    return cases


def one_line(message: str, limit: int = 240) -> str:
    """A failure message squeezed onto one line: lines joined, addresses and ids blurred."""
    text = " / ".join(line.strip() for line in message.splitlines() if line.strip())
    text = re.sub(r"0x[0-9a-f]{6,}", "0x...", text)
    text = re.sub(r"\bTask-\d+\b", "Task-N", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_suite(
    lib: Library,
    venv: Path,
    tree: Path,
    mode: str,
    workdir: Path,
    run_timeout: float,
    test_timeout: float,
) -> Run:
    command = [str(venv_python(venv)), "-m", "pytest", *COMMON_ARGS, *lib.args]
    for target in lib.deselect:
        # A file or folder is ignored; a node id is deselected.
        command += [f"--ignore={target}"] if "::" not in target else ["--deselect", target]
    command.append(f"--timeout={test_timeout:g}")
    if mode == "simclock":
        command.append("--simclock")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    # Wide enough that pytest does not cut the one-line failure reasons short.
    env["COLUMNS"] = "400"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{lib.name}-{lib.version}.{mode}.log"
    xml_path = logs / f"{lib.name}-{lib.version}.{mode}.xml"
    xml_path.unlink(missing_ok=True)
    # The JUnit XML report carries each failure's whole message, where the
    # terminal summary has only its first line.
    command.append(f"--junitxml={xml_path}")
    log(f"{lib.name}: {mode} run")
    start = time.perf_counter()
    with open(log_path, "w") as out:
        out.write("$ " + " ".join(command) + f"\n# cwd: {tree}\n")
        out.flush()
        # A process group of its own, so a hang is ended with all its children.
        process = subprocess.Popen(
            command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode: int | None = process.wait(timeout=run_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = None
    seconds = time.perf_counter() - start
    text = log_path.read_text(errors="replace")
    counts, outcomes, reasons = parse_outcomes(text)
    junit = junit_cases(xml_path)
    for nodeid, outcome in outcomes.items():
        case = junit.get(junit_address(nodeid))
        # The report's message is whole where the summary's line is cut short.
        if outcome != "passed" and case is not None and case[1]:
            reasons[nodeid] = case[1]
    internal_error = "\nINTERNALERROR> " in text
    return Run(
        mode, seconds, counts, outcomes, reasons, returncode, log_path, internal_error, junit
    )


# --------------------------------------------------------------------------- report


def describe(run: Run) -> str:
    if run.returncode is None:
        return f"{run.mode} KILLED after {run.seconds:.1f} s (hang; see {run.log})"
    text = f"{run.mode} {run.passed} passed {run.failed} failed in {run.seconds:.1f} s"
    if run.internal_error:
        text += f" (pytest INTERNALERROR stopped the session early; see {run.log})"
    elif not run.counts:
        text += f" (no pytest summary, exit {run.returncode}; see {run.log})"
    return text


# The reasons given for a test that passed stock and has no outcome under simclock.
MISSING = "no outcome under simclock (not collected, skipped, or lost from the summary)"
NOT_REACHED = "never ran under simclock: an INTERNALERROR stopped the session before it"


def regressions(stock: Run, sim: Run) -> list[tuple[str, str]]:
    """Tests that pass stock but fail, error or go missing under simclock, with the reason.

    A test the simclock run never reports counts too: a plugin that drops or
    skips tests would otherwise look like a clean run with a smaller count.
    A run that reports nothing at all (killed, or crashed before pytest's
    summary and JUnit report) is described once by `describe` instead.
    """
    if sim.returncode is None or not (sim.counts or sim.junit):
        return []
    out = []
    for nodeid, outcome in stock.outcomes.items():
        if outcome != "passed":
            continue
        found = sim.outcome(nodeid)
        if found is None:
            out.append((nodeid, NOT_REACHED if sim.internal_error else MISSING))
        elif found != "passed":
            out.append((nodeid, sim.reason(nodeid)))
    return sorted(out)


def group_by_reason(tests: list[tuple[str, str]]) -> list[str]:
    """One line per test; tests sharing a reason are listed under it once."""
    reasons: dict[str, list[str]] = {}
    for nodeid, reason in tests:
        reasons.setdefault(reason, []).append(nodeid)
    lines = []
    for reason, nodeids in reasons.items():
        if len(nodeids) == 1:
            lines.append(f"    {nodeids[0]}: {reason}")
        else:
            lines.append(f"    {len(nodeids)} tests: {reason}")
            lines += [f"      {nodeid}" for nodeid in nodeids]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for the venvs (default: this one)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these libraries (repeat, or comma-separate)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(
            os.environ.get("SIMCLOCK_SUITES_CACHE", Path.home() / ".cache" / "simclock-suites")
        ),
        help="downloads, venvs and logs (default ~/.cache/simclock-suites)",
    )
    parser.add_argument(
        "--simclock-src",
        type=Path,
        default=REPO,
        help="simclock checkout to install editable (default: this repository)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="real seconds one pytest run may take before it is killed",
    )
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=120.0,
        help="real seconds one test may take (pytest-timeout) before it fails",
    )
    parser.add_argument("--fresh", action="store_true", help="remake the venvs")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also list every simclock failure, not only regressions",
    )
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    args = parser.parse_args(argv)

    wanted = {name.strip() for item in args.only for name in item.split(",") if name.strip()}
    unknown = wanted - {lib.name for lib in LIBRARIES}
    if unknown:
        parser.error(f"unknown library: {', '.join(sorted(unknown))}")
    libraries = [lib for lib in LIBRARIES if not wanted or lib.name in wanted]

    if args.list:
        for lib in libraries:
            print(f"{lib.name} {lib.version}: {lib.exercises}")
            print(f"    deps: {' '.join(lib.deps)}")
            if lib.args:
                print(f"    pytest args: {' '.join(lib.args)}")
            for target, reason in lib.deselect.items():
                print(f"    left out: {target} ({reason})")
        return 0

    workdir = args.workdir.expanduser().resolve()
    if workdir == REPO or REPO in workdir.parents:
        parser.error("--workdir must be outside the repository")
    results: list[dict[str, Any]] = []
    for lib in libraries:
        tree = fetch_sdist(lib, args.python, workdir)
        venv = make_venv(lib, args.python, args.simclock_src, workdir, args.fresh)
        stock = run_suite(lib, venv, tree, "stock", workdir, args.timeout, args.test_timeout)
        sim = run_suite(lib, venv, tree, "simclock", workdir, args.timeout, args.test_timeout)
        lost = regressions(stock, sim)
        block = [f"{lib.name} {lib.version}: {describe(stock)} | {describe(sim)}"]
        block += group_by_reason(lost)
        if args.verbose:
            # Failures that are not regressions: the test failed stock too.
            seen = {nodeid for nodeid, _ in lost}
            both = [
                (nodeid, sim.reason(nodeid))
                for nodeid, outcome in sorted(sim.outcomes.items())
                if outcome != "passed" and nodeid not in seen
            ]
            if both:
                block.append("    failing under simclock but not passing stock either:")
                block += group_by_reason(both)
        print("\n".join(block), flush=True)
        results.append(
            {
                "name": lib.name,
                "version": lib.version,
                **{
                    run.mode: {
                        "seconds": round(run.seconds, 3),
                        "counts": run.counts,
                        "returncode": run.returncode,
                        "log": str(run.log),
                    }
                    for run in (stock, sim)
                },
                "regressions": [{"test": n, "reason": r} for n, r in lost],
            }
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
