"""Real time to draw a recorded timeline of 1k, 5k and 20k tasks as SVG, HTML and text.

    python benchmarks/render_speed.py [--quick]    (with simclock importable)

Each task sleeps a few virtual seconds, prints a line and ends, so every lane has
a creation, two steps, a wait, a printed line and an ending. Past `MOST_LANES`
tasks the drawings summarise lanes by coroutine; the last line times the
largest chart drawn a lane per task. Drawing should grow in proportion to the
tasks: the last column is the time per task at this size
against the time per task at the smallest size (1.0 means linear).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
from collections.abc import Callable

import simclock
from simclock.process.bindings import real_perf_counter
from simclock.timeline import draw
from simclock.timeline.draw.model import MOST_LANES

SIZES = (1_000, 5_000, 20_000)
QUICK_SIZES = (200, 1_000)
RUNS = 5


async def _tasks(count: int) -> None:
    async def worker(index: int) -> None:
        await asyncio.sleep(1 + index % 97 / 10)
        print(f"worker {index} done")

    await asyncio.gather(
        *(asyncio.create_task(worker(i), name=f"worker-with-a-long-name-{i}") for i in range(count))
    )


def recorded(count: int) -> simclock.Timeline:
    timeline = simclock.Timeline()
    real_stdout = sys.stdout
    sys.stdout = _Discard()
    try:
        simclock.run(_tasks(count), timeline=timeline)
    finally:
        sys.stdout = real_stdout
    return timeline


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def seconds_to_draw(draw: Callable[[simclock.Timeline], str], timeline: simclock.Timeline) -> float:
    """The median of `RUNS` draws, the garbage collector off while timing, as timeit does."""
    times = []
    for _ in range(RUNS):
        gc.collect()
        gc.disable()
        try:
            started = real_perf_counter()
            draw(timeline)
            times.append(real_perf_counter() - started)
        finally:
            gc.enable()
    return statistics.median(times)


def main() -> None:
    sizes = QUICK_SIZES if "--quick" in sys.argv else SIZES
    formats: dict[str, Callable[[simclock.Timeline], str]] = {
        "svg": draw.to_svg,
        "html": draw.to_html,
        "text": draw.to_text,
    }
    print(f"{'tasks':>7} {'format':>6} {'seconds':>9} {'us/task':>9} {'growth':>7}")
    per_task_at_first: dict[str, float] = {}
    for size in sizes:
        timeline = recorded(size)
        for name, drawer in formats.items():
            took = seconds_to_draw(drawer, timeline)
            per_task = took / size
            first = per_task_at_first.setdefault(name, per_task)
            print(
                f"{size:>7,} {name:>6} {took:>9.3f} {per_task * 1e6:>9.1f} {per_task / first:>7.2f}"
            )
    print(f"(median of {RUNS} runs, garbage collector off; growth: time per task against")
    print(f" the time per task at {sizes[0]:,} tasks, 1.00 for linear)")
    timeline = recorded(MOST_LANES)
    took = seconds_to_draw(draw.to_svg, timeline)
    print(f"the largest chart drawn a lane per task, {MOST_LANES} tasks, to SVG: {took:.3f} s")


if __name__ == "__main__":
    main()
