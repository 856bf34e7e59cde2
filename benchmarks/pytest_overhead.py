"""Workload f: what the pytest plugin costs per test.

Two generated test files of N tests each, run by pytest in a fresh process:
- simclock: each test is marked and sleeps 60 virtual seconds;
- plain: each test sleeps 0 (the same scheduling, real loop).
Four variants, all against plain pytest-asyncio with simclock switched off
(`-p no:simclock`), the baseline:
- "unmarked, simclock installed": the plain file with simclock loaded;
- "simclock": the simclock file under pytest-asyncio;
- "simclock, no pytest-asyncio": the simclock file on simclock's own runner.
Per-test cost = (time for N tests - time for 1 test) / (N - 1), so interpreter and
pytest start-up cancel out. Both the wall time and the CPU time (user + system)
of the pytest process are taken; none of these tests waits, so the two agree up
to the machine's noise, which the CPU time feels less. Medians over the repeats,
runs interleaved. The peers' own pytest plugins, installed in the same venv,
are switched off.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
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
    await asyncio.sleep(0)
"""
_HEADER = "import asyncio\nimport pytest\n"
# The peers' pytest plugins, installed beside simclock in the benchmark venv: sleepfake's
# adds an autouse fixture to every test, and looptime's hooks every fixture's setup.
_PEER_PLUGINS = ("sleepfake", "looptime_plugin", "looptime_chronometers", "looptime_timeproxies")


BASELINE = "plain"
UNMARKED = "unmarked, simclock installed"
UNDER_PYTEST_ASYNCIO = "simclock"
OWN_RUNNER = "simclock, no pytest-asyncio"


@dataclass(frozen=True)
class PytestOverhead:
    tests: int
    per_test_ms: dict[str, float]  # variant -> median wall milliseconds per test
    per_test_cpu_ms: dict[str, float]  # variant -> median CPU milliseconds per test

    def ratio(self, variant: str) -> float:
        return self.per_test_ms[variant] / self.per_test_ms[BASELINE]

    def cpu_ratio(self, variant: str) -> float:
        return self.per_test_cpu_ms[variant] / self.per_test_cpu_ms[BASELINE]


def _write(folder: Path, name: str, template: str, count: int) -> Path:
    path = folder / f"test_{name}_{count}.py"
    body = "".join(template.format(index=index) for index in range(count))
    path.write_text(_HEADER + body, encoding="utf-8")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(path: Path, *options: str) -> tuple[float, float]:
    """Wall and CPU seconds of one pytest run."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(path)]
    command += [f"-pno:{plugin}" for plugin in _PEER_PLUGINS]
    command += ["-o", "asyncio_default_fixture_loop_scope=function"]
    cpu = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=path.parent)
    took = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if result.returncode != 0:
        raise RuntimeError(
            f"pytest failed on {path.name}:\n{(result.stdout + result.stderr)[-2000:]}"
        )
    return took, cpu


def measure_pytest_overhead(tests: int, repeats: int) -> PytestOverhead:
    variants = {
        BASELINE: (_PLAIN_TEST, ("-p", "no:simclock")),
        UNMARKED: (_PLAIN_TEST, ()),
        UNDER_PYTEST_ASYNCIO: (_SIMCLOCK_TEST, ()),
        OWN_RUNNER: (_SIMCLOCK_TEST, ("-p", "no:asyncio")),
    }
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        files = {
            name: (_write(Path(folder), f"v{i}", t, tests), _write(Path(folder), f"v{i}", t, 1))
            for i, (name, (t, _)) in enumerate(variants.items())
        }
        for _ in range(repeats):
            for name, (_, options) in variants.items():
                many, one = files[name]
                many_wall, many_cpu = _run(many, *options)
                one_wall, one_cpu = _run(one, *options)
                wall[name].append((many_wall - one_wall) / (tests - 1))
                cpu[name].append((many_cpu - one_cpu) / (tests - 1))
    return PytestOverhead(
        tests,
        {name: statistics.median(values) * 1000 for name, values in wall.items()},
        {name: statistics.median(values) * 1000 for name, values in cpu.items()},
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000, help="tests per file (default 1000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant (default 5)")
    arguments = parser.parse_args()
    measured = measure_pytest_overhead(arguments.tests, arguments.repeats)
    print(f"{arguments.tests} tests, medians of {arguments.repeats} interleaved runs")
    print(f"{'variant':32} {'wall ms/test':>12} {'ratio':>6} {'CPU ms/test':>12} {'ratio':>6}")
    for name in measured.per_test_ms:
        print(
            f"{name:32} {measured.per_test_ms[name]:12.3f} {measured.ratio(name):5.2f}x"
            f" {measured.per_test_cpu_ms[name]:12.3f} {measured.cpu_ratio(name):5.2f}x"
        )
