"""Real time per virtual jump while a peer outside the process is connected, paused or not.

    python benchmarks/paused_peer.py [--jumps N] [--repeats R]   (simclock importable)

A child process serves a TCP socket. The loop connects to it, says hello and
reads the answer, so the peer is known and watched; then it sleeps `--jumps`
times for one virtual second each, with the connection (a) absent, (b) open
and idle, (c) open with its reading paused (`pause_reading()`, as anyio does
after every receive and StreamReader does on large replies). A peer that has
answered and is quiet must not slow the jumps down, paused or not, once the
first jump has waited out what is left of its `io_grace` (it might still be
sending). Prints, per case, the median real time of that first jump, and of
each later jump with its ratio to (a).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys

import simclock
from simclock.process.bindings import real_perf_counter

SERVER = r"""
import socket, sys
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
connection, _ = server.accept()
while data := connection.recv(1024):
    connection.sendall(data)
"""


async def jumps(count: int, port: int | None, paused: bool) -> float:
    writer = None
    if port is not None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello\n")
        assert await reader.readline() == b"hello\n"
        if paused:
            writer.transport.pause_reading()  # type: ignore[attr-defined]
    started = real_perf_counter()
    await asyncio.sleep(1)  # the first jump waits out what is left of the peer's io_grace
    first = real_perf_counter() - started
    started = real_perf_counter()
    for _ in range(count):
        await asyncio.sleep(1)
    elapsed = real_perf_counter() - started
    if writer is not None:
        writer.close()
        await writer.wait_closed()
    return first, elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jumps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cases = {"no peer": (False, False), "idle peer": (True, False), "paused peer": (True, True)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, (connected, paused) in cases.items():
            port = None
            child = None
            if connected:
                child = subprocess.Popen(
                    [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True
                )
                assert child.stdout is not None
                port = int(child.stdout.readline())
            try:
                times[name].append(simclock.run(jumps(args.jumps, port, paused)))
            finally:
                if child is not None:
                    child.wait(10)
                    assert child.stdout is not None
                    child.stdout.close()
    base = statistics.median(jump for _first, jump in times["no peer"])
    print(f"Python {sys.version.split()[0]}, median of {args.repeats} runs, {args.jumps} jumps")
    for name, values in times.items():
        first = statistics.median(first for first, _jump in values)
        median = statistics.median(jump for _first, jump in values)
        print(
            f"{name:>12}: first jump {first * 1e3:7.1f} ms real, then {median * 1e6:6.2f} us "
            f"per jump ({median / base:.2f}x no peer)"
        )


if __name__ == "__main__":
    main()
