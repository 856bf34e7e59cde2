"""Run the workloads and collect the numbers the report prints.

Timing runs in this process. For each workload, every repeat runs every
contender once, in an order rotated by one per repeat: a burst of machine noise
then lands on all of them alike, and none is always first after the previous
workload's garbage. A contender whose runs have used up the time budget of
its cell stops repeating there; the cell says how many runs it got.

Memory runs in fresh processes (see `memory_probe.py`), after all timing.
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter  # bound by name: simclock patches time.perf_counter in a run
from typing import Any

from blog_replay import BlogExample, Replay
from contenders import Contender
from workloads import QUICK, WORKLOADS, Outcome, Sizes, Workload

__all__ = ["Cell", "MemoryCell", "measure_blog", "measure_memory", "measure_times"]

PROBE = Path(__file__).resolve().parent / "memory_probe.py"


@dataclass
class Cell:
    """The timed runs of one workload on one contender."""

    seconds: list[float] = field(default_factory=list)
    outcome: Outcome | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


@dataclass
class MemoryCell:
    """The peak RSS growth of one workload on one contender, in a fresh process."""

    rss_delta: int | None = None
    outcome: Outcome | None = None
    error: str | None = None


def _log(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def _rotated(items: list[Contender], by: int) -> list[Contender]:
    shift = by % len(items)
    return items[shift:] + items[:shift]


def measure_blog(examples: list[BlogExample], repeats: int) -> dict[str, list[Replay]]:
    """Workload a: every example once per repeat, after one untimed replay of each."""
    for example in examples:
        example.replay()  # first replays pay for imports the examples trigger
    replays: dict[str, list[Replay]] = {example.name: [] for example in examples}
    for repeat in range(repeats):
        _log(f"a: blog examples, repeat {repeat + 1}/{repeats}")
        for example in examples:
            gc.collect()
            replays[example.name].append(example.replay())
    return replays


def _time_once(contender: Contender, workload: Workload, sizes: Sizes) -> tuple[float, Outcome]:
    """One timed run with the collector off, as timeit does.

    With 100,000 live tasks, the collector's full passes cost as much as the
    loop itself, the same for every contender: left on, they only dilute the
    differences this table is about.
    """
    gc.collect()
    gc.disable()
    try:
        began = perf_counter()
        outcome = contender.run(workload, sizes)
        return perf_counter() - began, outcome
    finally:
        gc.enable()


def _warm_up(contenders: Iterable[Contender], workload: Workload) -> None:
    """Run each contender once at the quick sizes, so no first run pays for imports and caches."""
    for contender in contenders:
        try:
            contender.run(workload, QUICK)
        except Exception:  # noqa: BLE001 - the timed run reports the same failure
            pass


def measure_times(
    contenders: list[Contender], sizes: Sizes, repeats: int, budget_seconds: float
) -> dict[tuple[str, str], Cell]:
    """Workloads b-e: `repeats` interleaved runs per contender, within `budget_seconds` a cell."""
    cells: dict[tuple[str, str], Cell] = {}
    for workload in WORKLOADS:
        runnable = [contender for contender in contenders if contender.supports(workload)]
        _warm_up(runnable, workload)
        for contender in runnable:
            cells[workload.key, contender.key] = Cell()
        for repeat in range(repeats):
            _log(f"{workload.describe(sizes)}: repeat {repeat + 1}/{repeats}")
            for contender in _rotated(runnable, repeat):
                cell = cells[workload.key, contender.key]
                if cell.error is None and sum(cell.seconds) < budget_seconds:
                    _time_into(cell, contender, workload, sizes)
    return cells


def _time_into(cell: Cell, contender: Contender, workload: Workload, sizes: Sizes) -> None:
    try:
        seconds, outcome = _time_once(contender, workload, sizes)
    except Exception as error:  # noqa: BLE001 - a failing contender is reported, not fatal
        cell.error = f"{type(error).__name__}: {error}"
        return
    cell.seconds.append(seconds)
    cell.outcome = outcome


def measure_memory(
    contenders: list[Contender], reference: Contender, quick: bool
) -> dict[tuple[str, str], MemoryCell]:
    """Peak RSS of d and e per contender, in one fresh process each; `reference` on d only.

    One process is enough: the peak RSS of a run varies by less than 0.1% between runs.
    """
    cells: dict[tuple[str, str], MemoryCell] = {}
    for workload in (w for w in WORKLOADS if w.units is not None):
        extra = [reference] if workload.key == "d" else []
        for contender in [*contenders, *extra]:
            if not contender.supports(workload):
                continue
            _log(f"memory of {workload.key} on {contender.title}")
            cell = cells[workload.key, contender.key] = MemoryCell()
            _probe_into(cell, contender.key, workload.key, quick)
    return cells


def _probe_into(cell: MemoryCell, contender_key: str, workload_key: str, quick: bool) -> None:
    command = [sys.executable, str(PROBE), contender_key, workload_key]
    result = subprocess.run(
        [*command, "--quick"] if quick else command, capture_output=True, text=True, check=False
    )
    report = _last_json_line(result.stdout)
    if report is None:
        tail = " / ".join(result.stderr.strip().splitlines()[-2:])
        cell.error = f"probe exited {result.returncode}: {tail}"
    elif "error" in report:
        cell.error = str(report["error"])
    else:
        cell.rss_delta = int(report["rss_delta"])
        cell.outcome = Outcome(**report["outcome"])


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    return None
