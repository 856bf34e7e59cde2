"""Real time for round trips between a loop and a thread blocked in `queue.SimpleQueue.get()`.

    python benchmarks/queue_pingpong.py [--trips N] [--repeats R]   (simclock importable)

A thread the run starts serves requests from a `SimpleQueue`, a C-level wait
simclock has no hook for, and answers each with `call_soon_threadsafe`, as a
database-in-a-thread library does. The loop sends one request at a time and
awaits the answer: no virtual time passes, so simclock should cost about what
plain asyncio costs. It once cost two 50 ms settle delays per round trip.
A second workload adds `asyncio.sleep(0.01)` after each answer: there plain
asyncio waits, and simclock must still tell that the thread is durably blocked
before it jumps. Each repeat runs both loops, alternating which goes first;
prints the median real time per round trip and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import statistics
import sys
import threading

import simclock
from simclock.process.bindings import real_perf_counter


async def pingpong(trips: int, pause: float) -> float:
    loop = asyncio.get_running_loop()
    requests: queue.SimpleQueue[tuple[asyncio.Future[int], int] | None] = queue.SimpleQueue()

    def serve() -> None:
        while (item := requests.get()) is not None:
            future, value = item
            loop.call_soon_threadsafe(future.set_result, value * 2)

    server = threading.Thread(target=serve)
    server.start()
    started = real_perf_counter()
    total = 0
    for value in range(trips):
        future = loop.create_future()
        requests.put((future, value))
        total += await future
        if pause:
            await asyncio.sleep(pause)
    elapsed = real_perf_counter() - started
    requests.put(None)
    await asyncio.to_thread(server.join)
    if total != trips * (trips - 1):
        sys.exit(f"wrong answers: {total}")
    return elapsed / trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, median of {args.repeats} runs, {args.trips} trips")
    for pause in (0.0, 0.01):
        plain, virtual = [], []
        for repeat in range(args.repeats):
            runs = [(plain, asyncio.run), (virtual, simclock.run)]
            for times, run in runs if repeat % 2 else runs[::-1]:
                times.append(run(pingpong(args.trips, pause)))
        p, v = statistics.median(plain), statistics.median(virtual)
        what = "no sleep" if not pause else f"sleep({pause:g}) after each answer"
        print(
            f"{what:>28}: plain asyncio {p * 1e6:9.1f} us, simclock {v * 1e6:9.1f} us "
            f"per round trip; simclock/plain = {v / p:.2f}"
        )


if __name__ == "__main__":
    main()
