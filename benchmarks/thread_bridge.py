"""Real time for a worker thread that bridges `asyncio.sleep(0.05)` calls through the loop.

    python benchmarks/thread_bridge.py [--calls N]   (simclock importable, e.g. .venv-3.11)

A thread started by `asyncio.to_thread` calls
`asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result()` N times.
Plain asyncio waits 0.05 real seconds per call, by definition; simclock should
cost a small fraction of that (its first version cost a whole 1 s `io_grace`
per call). Plain asyncio runs `--plain-calls` of them (default 20, one second)
and is reported per call; simclock runs `--calls` (default 1,000). Prints the
median of `--repeats` runs and the ratio per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

import simclock
from simclock.process.bindings import real_perf_counter


async def bridge(calls: int) -> float:
    loop = asyncio.get_running_loop()

    def worker() -> None:
        for _ in range(calls):
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result()

    started = real_perf_counter()
    await asyncio.to_thread(worker)
    return (real_perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--plain-calls", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    plain, virtual = [], []
    for _ in range(args.repeats):
        plain.append(asyncio.run(bridge(args.plain_calls)))
        clock = simclock.Clock()
        virtual.append(simclock.run(bridge(args.calls), clock=clock))
        expected = args.calls * 0.05
        if abs(clock.now - expected) > 1e-6 * args.calls:
            sys.exit(f"simclock's virtual time came out {clock.now} s, not {expected} s")
    p, v = statistics.median(plain), statistics.median(virtual)
    print(f"Python {sys.version.split()[0]}, median of {args.repeats} runs")
    print(
        f"plain asyncio: {p * 1e3:8.3f} ms real per bridged sleep(0.05) ({args.plain_calls} calls)"
    )
    print(f"simclock:      {v * 1e3:8.3f} ms real per bridged sleep(0.05) ({args.calls} calls)")
    print(f"simclock is {p / v:,.0f}x faster than plain asyncio per call")


if __name__ == "__main__":
    main()
