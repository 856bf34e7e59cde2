"""Workload f: what the pytest plugin costs per test.

Two generated test files of N tests each, run by pytest in a fresh process:
- simclock: each test is marked and sleeps 60 virtual seconds;
- plain: each test sleeps 0 (the same scheduling, real loop).
Four variants, all against plain pytest-asyncio with simclock switched off
(`-p no:simclock`), the baseline:
- "unmarked, simclock installed": the plain file with simclock loaded;
- "simclock": the simclock file under pytest-asyncio;
- "simclock, no pytest-asyncio": the simclock file on simclock's own runner.
And unittest variants against a stock one: N `IsolatedAsyncioTestCase` tests,
stock (each sleeps 0, `-p no:simclock`), under `--simclock` (each sleeps 60
virtual seconds on a loop simclock makes for it), and under `--simclock` with
the stock body (sleep 0).
Like for like: a sleep(60) makes a timer and a future that a sleep(0) does not
(and unittest's debug mode captures a stack for each), so the sleeping variants
are also compared with stock tests that sleep 1 ns: the same timer and future,
with no waiting (the timer is due at the loop's next look).
Per-test cost = (time for N tests - time for 1 test) / (N - 1), where a run's
time is what its collection and its test loop took, timed inside the pytest
process by a two-hook plugin: interpreter and plugin start-up, which only add
noise, are left out, and so does whatever is the same for 1 and N tests. Both
wall time and CPU time (the process's, user + system) are taken; none of these
tests waits, so the two agree up to the machine's noise. A ratio is taken per
round, against the baseline run of the same round, and the median of the rounds
is quoted. The peers' own pytest plugins, installed in the same venv, are
switched off.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PytestOverhead", "measure_pytest_overhead"]

_SIMCLOCK_TEST = """
@pytest.mark.asyncio
@pytest.mark.simclock
async def test_{index}():
    await asyncio.sleep(60)
"""
_PLAIN_TEST = """
@pytest.mark.asyncio
async def test_{index}():
    await asyncio.sleep({delay})
"""
_HEADER = "import asyncio\nimport unittest\nimport pytest\n"
_UNITTEST = """
class Test{index}(unittest.IsolatedAsyncioTestCase):
    async def test_{index}(self):
        await asyncio.sleep({delay})
"""
# Loaded with -p: times collection and the test loop from inside the process.
_TIMING_PLUGIN = """
import json, os, time
import pytest

_spent = {"wall": 0.0, "cpu": 0.0}


def _timed():
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    _spent["wall"] += time.perf_counter() - wall
    _spent["cpu"] += time.process_time() - cpu


pytest_collection = pytest.hookimpl(wrapper=True, tryfirst=True)(_timed)
pytest_runtestloop = pytest.hookimpl(wrapper=True, tryfirst=True)(_timed)


def pytest_unconfigure(config):
    with open(os.environ["SIMCLOCK_BENCH_TIMES"], "w") as out:
        json.dump(_spent, out)
"""
_TIMING_MODULE = "simclock_bench_timing"
# The peers' pytest plugins, installed beside simclock in the benchmark venv: sleepfake's
# adds an autouse fixture to every test, and looptime's hooks every fixture's setup.
_PEER_PLUGINS = ("sleepfake", "looptime_plugin", "looptime_chronometers", "looptime_timeproxies")


BASELINE = "plain"
UNMARKED = "unmarked, simclock installed"
UNDER_PYTEST_ASYNCIO = "simclock"
OWN_RUNNER = "simclock, no pytest-asyncio"
UNITTEST_STOCK = "IsolatedAsyncioTestCase, stock"
UNITTEST = "IsolatedAsyncioTestCase, --simclock"
# The same body as the stock one (sleep 0): what putting the test on the clock costs,
# without the virtual sleep's timer (which asyncio's debug mode, on in every
# IsolatedAsyncioTestCase, gives a captured stack).
UNITTEST_SAME_BODY = "IsolatedAsyncioTestCase, --simclock, sleep 0"
# Stock tests doing a sleep's work without its wait: the like-for-like baselines.
PLAIN_SAME_WORK = "plain, sleep 1 ns"
UNITTEST_STOCK_SAME_WORK = "IsolatedAsyncioTestCase, stock, sleep 1 ns"
_SAME_WORK = {
    UNDER_PYTEST_ASYNCIO: PLAIN_SAME_WORK,
    OWN_RUNNER: PLAIN_SAME_WORK,
    UNITTEST: UNITTEST_STOCK_SAME_WORK,
}


@dataclass(frozen=True)
class PytestOverhead:
    tests: int
    wall: dict[str, list[float]]  # variant -> seconds per test, one per round
    cpu: dict[str, list[float]]  # variant -> CPU seconds per test, one per round

    @property
    def per_test_ms(self) -> dict[str, float]:
        """Median wall milliseconds per test, by variant."""
        return {name: statistics.median(values) * 1000 for name, values in self.wall.items()}

    def ratio(self, variant: str) -> float:
        """The median over rounds of the variant's wall time over its baseline's."""
        return _median_ratio(self.wall[variant], self.wall[baseline_of(variant)])

    def cpu_ratio(self, variant: str) -> float:
        return _median_ratio(self.cpu[variant], self.cpu[baseline_of(variant)])

    def like_for_like(self, variant: str) -> float | None:
        """The variant's wall time over a stock test's that does its sleep's work unwaited."""
        same = _SAME_WORK.get(variant)
        if same is None or same not in self.wall:
            return None
        return _median_ratio(self.wall[variant], self.wall[same])


def baseline_of(variant: str) -> str:
    """What a variant is compared with: stock unittest for unittest, else plain pytest-asyncio."""
    if variant in (UNITTEST, UNITTEST_SAME_BODY, UNITTEST_STOCK_SAME_WORK):
        return UNITTEST_STOCK
    return BASELINE


def _median_ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(value / base for value, base in zip(values, baseline, strict=True))


def _write(folder: Path, name: str, template: str, count: int) -> Path:
    path = folder / f"test_{name}_{count}.py"
    body = "".join(template.format(index=index) for index in range(count))
    path.write_text(_HEADER + body, encoding="utf-8")
    return path


def _pytest(path: Path, options: tuple[str, ...], prefix: tuple[str, ...] = ()) -> None:
    """Run pytest on `path` in a fresh process (under `prefix`, a tool's command, if any)."""
    command = [*prefix, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [*options, str(path), "-p", _TIMING_MODULE]
    command += [f"-pno:{plugin}" for plugin in _PEER_PLUGINS]
    command += ["-o", "asyncio_default_fixture_loop_scope=function"]
    environment = dict(os.environ, SIMCLOCK_BENCH_TIMES=str(path.parent / "times.json"))
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(path.parent), environment.get("PYTHONPATH")])
    )
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=path.parent, env=environment
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"pytest failed on {path.name}:\n{(result.stdout + result.stderr)[-2000:]}"
        )


def _run(path: Path, *options: str) -> tuple[float, float]:
    """Wall and CPU seconds that collection and the test loop took in one pytest run."""
    _pytest(path, options)
    spent = json.loads((path.parent / "times.json").read_text(encoding="utf-8"))
    return spent["wall"], spent["cpu"]


# Instructions, counted by valgrind: the same on every run of the same code, so a
# change of a few microseconds a test shows, which the machine's noise hides.
_INSTRUCTION_VARIANTS = (BASELINE, UNMARKED, UNDER_PYTEST_ASYNCIO, OWN_RUNNER, PLAIN_SAME_WORK)


def _install_valgrind() -> None:
    """valgrind, from Debian's packages when it is missing and this runs as root."""
    if shutil.which("valgrind") is not None:
        return
    if shutil.which("apt-get") is not None and os.geteuid() == 0:
        install = ["apt-get", "install", "-y", "-q", "valgrind"]
        # Then, if the package lists were too old to have it, again after an update.
        for command in (install, ["apt-get", "update", "-q"], install):
            if shutil.which("valgrind") is None:
                subprocess.run(command, capture_output=True, check=False)
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind: apt-get install valgrind (as root)")


def measure_instructions(tests: int) -> dict[str, float]:
    """Instructions per test by variant: (a run of `tests` tests - a run of 1) / (tests - 1).

    Each run is counted by valgrind's cachegrind, with hash randomization and
    the garbage collector off (a collection lands wherever the allocations
    happen to trigger it, and moves a count by more than a test costs); every
    file is run once first, so that no count includes compiling it.
    """
    _install_valgrind()
    variants = {name: _VARIANTS[name] for name in _INSTRUCTION_VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / f"{_TIMING_MODULE}.py").write_text(_TIMING_PLUGIN, encoding="utf-8")
        (root / "sitecustomize.py").write_text("import gc\ngc.disable()\n", encoding="utf-8")
        runs = []
        for index, (name, (template, options)) in enumerate(variants.items()):
            for count in (tests, 1):
                path = _write(root, f"v{index}", template, count)
                _pytest(path, options)  # compiles what the counted run would
                runs.append((name, count, path, options))

        def count_instructions(run: tuple[str, int, Path, tuple[str, ...]]) -> int:
            _, _, path, options = run
            out = path.with_suffix(".cachegrind")
            tool = ("env", "PYTHONHASHSEED=0", "valgrind", "--tool=cachegrind", "--cache-sim=no")
            _pytest(path, options, (*tool, f"--cachegrind-out-file={out}"))
            lines = out.read_text(encoding="utf-8").splitlines()
            return int(next(line for line in lines if line.startswith("summary:")).split()[1])

        # Two at a time: each count is the same however busy the machine is.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            totals = list(pool.map(count_instructions, runs))
    counted: dict[str, float] = {}
    for (name, count, _, _), total in zip(runs, totals, strict=True):
        sign = 1 if count == tests else -1
        counted[name] = counted.get(name, 0.0) + sign * total / (tests - 1)
    return counted


# Each variant's test file template and pytest options.
_VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    BASELINE: (_PLAIN_TEST.replace("{delay}", "0"), ("-p", "no:simclock")),
    UNMARKED: (_PLAIN_TEST.replace("{delay}", "0"), ()),
    UNDER_PYTEST_ASYNCIO: (_SIMCLOCK_TEST, ()),
    OWN_RUNNER: (_SIMCLOCK_TEST, ("-p", "no:asyncio")),
    UNITTEST_STOCK: (_UNITTEST.replace("{delay}", "0"), ("-p", "no:simclock")),
    UNITTEST: (_UNITTEST.replace("{delay}", "60"), ("--simclock",)),
    UNITTEST_SAME_BODY: (_UNITTEST.replace("{delay}", "0"), ("--simclock",)),
    PLAIN_SAME_WORK: (_PLAIN_TEST.replace("{delay}", "1e-9"), ("-p", "no:simclock")),
    UNITTEST_STOCK_SAME_WORK: (_UNITTEST.replace("{delay}", "1e-9"), ("-p", "no:simclock")),
}


def measure_pytest_overhead(tests: int, repeats: int) -> PytestOverhead:
    variants = _VARIANTS
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / f"{_TIMING_MODULE}.py").write_text(_TIMING_PLUGIN, encoding="utf-8")
        files = {
            name: (_write(Path(folder), f"v{i}", t, tests), _write(Path(folder), f"v{i}", t, 1))
            for i, (name, (t, _)) in enumerate(variants.items())
        }
        for round_ in range(repeats):
            order = list(variants.items())
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for name, (_, options) in order:
                many, one = files[name]
                many_wall, many_cpu = _run(many, *options)
                one_wall, one_cpu = _run(one, *options)
                wall[name].append((many_wall - one_wall) / (tests - 1))
                cpu[name].append((many_cpu - one_cpu) / (tests - 1))
    return PytestOverhead(tests, wall, cpu)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000, help="tests per file (default 1000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant (default 5)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per test under valgrind instead of timing (one run each)",
    )
    arguments = parser.parse_args()
    if arguments.tests < 2:
        parser.error("--tests must be 2 or more: a test's cost is the difference from 1 test")
    if arguments.instructions:
        counts = measure_instructions(arguments.tests)
        print(f"{arguments.tests} tests, instructions per test (valgrind, garbage collector off)")
        for name, value in counts.items():
            ratio = value / counts[BASELINE]
            print(f"{name:36} {value / 1e6:8.3f} M  {ratio:5.3f}x  {BASELINE}")
        like = counts[UNDER_PYTEST_ASYNCIO] / counts[PLAIN_SAME_WORK]
        print(f"  {UNDER_PYTEST_ASYNCIO:34} {like:5.3f}x  {PLAIN_SAME_WORK}")
        raise SystemExit(0)
    measured = measure_pytest_overhead(arguments.tests, arguments.repeats)
    print(f"{arguments.tests} tests, medians of {arguments.repeats} interleaved runs")
    print(
        f"{'variant':36} {'wall ms/test':>12} {'ratio':>6} {'CPU ms/test':>12} {'ratio':>6}"
        "  against"
    )
    for name, values in measured.wall.items():
        cpu_ms = statistics.median(measured.cpu[name]) * 1000
        print(
            f"{name:36} {statistics.median(values) * 1000:12.3f} {measured.ratio(name):5.2f}x"
            f" {cpu_ms:12.3f} {measured.cpu_ratio(name):5.2f}x  {baseline_of(name)}"
        )
    print("like for like, against a stock test that sleeps 1 ns (the sleep's work, unwaited):")
    for name, same in _SAME_WORK.items():
        print(f"  {name:34} {measured.like_for_like(name):5.2f}x  {same}")
