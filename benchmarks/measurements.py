"""Run the workloads and collect the numbers the report prints.

Timing runs in this process, in rounds. Each round runs every contender once,
in an order rotated by one per round, so a burst of machine noise lands on all
of them alike and none is always first after the previous workload's garbage.
A ratio between two contenders is computed within each round and the report
shows the median of those per-round ratios: a slow minute of the machine moves
both runs of a round together and cancels out. A contender whose runs have used
up a cell's time budget stops there (looptime's defaults take seconds a run);
its ratios come from the rounds it ran.

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
from typing import Any, TypeVar

from blog_replay import BlogExample, Replay
from contenders import Contender
from workloads import QUICK, WORKLOADS, Outcome, Sizes, Workload

__all__ = [
    "Cell",
    "MemoryCell",
    "log",
    "measure_blog",
    "measure_memory",
    "measure_times",
    "median_ratio",
    "rotated",
]

_T = TypeVar("_T")

PROBE = Path(__file__).resolve().parent / "memory_probe.py"


@dataclass
class Cell:
    """The timed runs of one measurement on one contender, by round."""

    seconds: dict[int, float] = field(default_factory=dict)
    # The run whose clock was furthest off: one wrong run makes the cell wrong.
    outcome: Outcome | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds.values()) if self.seconds else None

    def record(self, round_index: int, seconds: float, outcome: Outcome) -> None:
        self.seconds[round_index] = seconds
        if self.outcome is None or outcome.worst_error > self.outcome.worst_error:
            self.outcome = outcome


def median_ratio(numerator: Cell | None, denominator: Cell | None) -> float | None:
    """The median over shared rounds of numerator/denominator, or None without one."""
    if numerator is None or denominator is None:
        return None
    rounds = numerator.seconds.keys() & denominator.seconds.keys()
    ratios = [numerator.seconds[r] / denominator.seconds[r] for r in rounds]
    return statistics.median(ratios) if ratios else None


@dataclass
class MemoryCell:
    """Memory of the crowd of sleepers on one contender, in a fresh process."""

    # RSS with every task asleep at once, minus RSS before the first task was made.
    rss_asleep: int | None = None
    outcome: Outcome | None = None
    error: str | None = None


def log(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def rotated(items: list[_T], by: int) -> list[_T]:
    if not items:
        return items
    shift = by % len(items)
    return items[shift:] + items[:shift]


def measure_blog(examples: list[BlogExample], repeats: int) -> dict[str, list[Replay]]:
    """Every blog example once per repeat, after one untimed replay of each."""
    for example in examples:
        example.replay()  # first replays pay for imports the examples trigger
    replays: dict[str, list[Replay]] = {example.name: [] for example in examples}
    for repeat in range(repeats):
        log(f"blog examples, repeat {repeat + 1}/{repeats}")
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
    contenders: list[Contender],
    sizes: Sizes,
    rounds_of: dict[str, int],
    budget_seconds: float,
) -> dict[tuple[str, str], Cell]:
    """Every workload, `rounds_of[key]` interleaved rounds, within `budget_seconds` a cell."""
    cells: dict[tuple[str, str], Cell] = {}
    for workload in WORKLOADS:
        runnable = [contender for contender in contenders if contender.supports(workload)]
        _warm_up(runnable, workload)
        for contender in runnable:
            cells[workload.key, contender.key] = Cell()
        rounds = rounds_of[workload.key]
        for round_index in range(rounds):
            log(f"{workload.describe(sizes)}: round {round_index + 1}/{rounds}")
            for contender in rotated(runnable, round_index):
                cell = cells[workload.key, contender.key]
                if cell.error is None and sum(cell.seconds.values()) < budget_seconds:
                    _time_into(cell, round_index, contender, workload, sizes)
    return cells


def _time_into(
    cell: Cell, round_index: int, contender: Contender, workload: Workload, sizes: Sizes
) -> None:
    try:
        seconds, outcome = _time_once(contender, workload, sizes)
    except Exception as error:  # noqa: BLE001 - a failing contender is reported, not fatal
        cell.error = f"{type(error).__name__}: {error}"
        return
    cell.record(round_index, seconds, outcome)


def measure_memory(contenders: list[Contender], quick: bool) -> dict[str, MemoryCell]:
    """Memory per sleeping task of each contender, in one fresh process each.

    One process is enough: the RSS of a run varies by less than 0.1% between runs.
    """
    cells: dict[str, MemoryCell] = {}
    for contender in contenders:
        log(f"memory of the crowd on {contender.title}")
        cell = cells[contender.key] = MemoryCell()
        if contender.unavailable:
            cell.error = contender.unavailable
            continue
        _probe_into(cell, contender.key, quick)
    return cells


def _probe_into(cell: MemoryCell, contender_key: str, quick: bool) -> None:
    command = [sys.executable, str(PROBE), contender_key]
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
        cell.rss_asleep = int(report["rss_asleep"])
        cell.outcome = Outcome(**report["outcome"])


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    return None
