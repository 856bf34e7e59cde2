"""Real time per virtual jump, with and without an idle listening socket on the loop.

    python benchmarks/jump_cost.py      (with simclock importable, e.g. from .venv-3.11)

An idle server must not make every jump wait: the loop polls it (one select(0)
system call per jump) and never gives it a grace, since nobody outside is
expected to answer. Prints the median of 7 interleaved runs of 20,000 jumps.
"""

from __future__ import annotations

import asyncio
import statistics

import simclock
from simclock.bindings import real_perf_counter

JUMPS = 20_000
RUNS = 7


async def jumps(with_server: bool) -> float:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0) if with_server else None
    started = real_perf_counter()
    for _ in range(JUMPS):
        await asyncio.sleep(1)
    took = real_perf_counter() - started
    if server is not None:
        server.close()
        await server.wait_closed()
    return took / JUMPS


def main() -> None:
    results: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(RUNS):
        for with_server in (False, True):
            results[with_server].append(simclock.run(jumps(with_server)))
    bare, served = (statistics.median(results[key]) * 1e6 for key in (False, True))
    print(f"no socket:              {bare:.2f} us per jump")
    extra = f"({served / bare:.2f}x, +{served - bare:.2f} us)"
    print(f"idle listening socket:  {served:.2f} us per jump {extra}")
    print(f"(median of {RUNS} runs of {JUMPS:,} jumps)")


if __name__ == "__main__":
    main()
