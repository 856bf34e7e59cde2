"""How fast exploration finds each race of examples/races, and what a seeded run costs.

    python benchmarks/races.py      (with simclock importable, e.g. from .venv-3.11)

For each race: from 20 different starting seeds, the number of runs
`simclock.explore` needed to find it (median and worst). Then the real time of
one run of a busy program on a seeded schedule against the same program with
no seed: the medians of 9 interleaved rounds, and their ratio.
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import sys
from pathlib import Path

import simclock
from simclock.process.bindings import real_perf_counter

RACES = Path(__file__).resolve().parent.parent / "examples" / "races"
STARTS = range(0, 2000, 100)  # 20 starting seeds
RUNS = 100
ROUNDS = 9


def runs_needed(main: object, start: int) -> int | None:
    try:
        simclock.explore(main, runs=RUNS, seed=start)  # type: ignore[arg-type]
    except (AssertionError, simclock.Deadlock) as error:  # the race, found
        note = next(n for n in error.__notes__ if "simclock.run(main(), seed=" in n)
        return int(note.split("seed=")[1].split(")")[0]) - start + 1
    return None


async def busy() -> None:
    async def worker(index: int) -> None:
        for step in range(20):
            await asyncio.sleep(1 + (index + step) % 5)

    await asyncio.gather(*(worker(index) for index in range(500)))


def timed(seed: int | None) -> float:
    started = real_perf_counter()
    simclock.run(busy(), seed=seed)
    return real_perf_counter() - started


def main() -> None:
    sys.path.insert(0, str(RACES))
    print(f"| race | found within {RUNS} runs | runs needed: median | worst |")
    print("| --- | --- | --- | --- |")
    for name in ("token_refresh", "lost_update", "lock_order"):
        module = importlib.import_module(name)
        needed = [runs_needed(module.main, start) for start in STARTS]
        found = [count for count in needed if count is not None]
        worst = max(found) if found else "-"
        median = statistics.median(found) if found else "-"
        print(f"| {name} | {len(found)} of {len(needed)} starts | {median} | {worst} |")
    plain, seeded = [], []
    for round_ in range(ROUNDS):
        plain.append(timed(None))
        seeded.append(timed(round_))
    ratio = statistics.median(s / p for s, p in zip(seeded, plain, strict=True))
    print(
        f"\nseeded run of 500 tasks x 20 sleeps: {statistics.median(seeded) * 1e3:.1f} ms, "
        f"unseeded {statistics.median(plain) * 1e3:.1f} ms: {ratio:.2f}x "
        f"(median of {ROUNDS} per-round ratios)"
    )


if __name__ == "__main__":
    main()
