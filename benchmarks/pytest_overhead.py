"""Workload f: what the pytest plugin costs per test.

Two generated test files of N tests each, run by pytest in a fresh process:
- simclock: each test is marked and sleeps 60 virtual seconds;
- plain pytest-asyncio: each test sleeps 0 (the same scheduling, real loop).
A third run puts the simclock file on the plugin's own runner (`-p no:asyncio`).
Per-test cost = (time for N tests - time for 1 test) / (N - 1), so interpreter and
pytest start-up cancel out. Medians over the repeats, runs interleaved. The peers'
own pytest plugins, installed in the same venv, are switched off.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class PytestOverhead:
    tests: int
    per_test_ms: dict[str, float]  # variant -> median milliseconds per test

    def ratio(self, variant: str) -> float:
        return self.per_test_ms[variant] / self.per_test_ms["plain"]


def _write(folder: Path, name: str, template: str, count: int) -> Path:
    path = folder / f"test_{name}_{count}.py"
    body = "".join(template.format(index=index) for index in range(count))
    path.write_text(_HEADER + body, encoding="utf-8")
    return path


def _run(path: Path, *options: str) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(path)]
    command += [f"-pno:{plugin}" for plugin in _PEER_PLUGINS]
    command += ["-o", "asyncio_default_fixture_loop_scope=function"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=path.parent)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"pytest failed on {path.name}:\n{(result.stdout + result.stderr)[-2000:]}"
        )
    return took


def measure_pytest_overhead(tests: int, repeats: int) -> PytestOverhead:
    variants = {
        "plain": (_PLAIN_TEST, ()),
        "simclock": (_SIMCLOCK_TEST, ()),
        "simclock, no pytest-asyncio": (_SIMCLOCK_TEST, ("-p", "no:asyncio")),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        files = {
            name: (_write(Path(folder), f"v{i}", t, tests), _write(Path(folder), f"v{i}", t, 1))
            for i, (name, (t, _)) in enumerate(variants.items())
        }
        for _ in range(repeats):
            for name, (_, options) in variants.items():
                many, one = files[name]
                seconds[name].append((_run(many, *options) - _run(one, *options)) / (tests - 1))
    return PytestOverhead(
        tests, {name: statistics.median(values) * 1000 for name, values in seconds.items()}
    )
