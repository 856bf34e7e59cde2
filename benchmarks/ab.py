"""An interleaved A/B of simclock's jump speed: a base commit against the working tree.

    python benchmarks/ab.py --base 6aaba05 [--rounds 15]

Each round times the seq and fan workloads (20,000 sequential `asyncio.sleep(1)`;
1,000 tasks x 20 sleeps) once under each side, in fresh processes, in an order that
alternates by round, and takes the ratio within the round. The report is the median
ratio (working tree / base): below 1.00 the working tree is faster. The base is
checked out with `git worktree` into a temporary folder and put first on `sys.path`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = r"""
import asyncio, gc, sys, time
import simclock

async def seq():
    for _ in range(20_000):
        await asyncio.sleep(1)

async def sleeper(i):
    for _ in range(20):
        await asyncio.sleep(1 + i / 1000)

async def fan():
    await asyncio.gather(*(sleeper(i) for i in range(1000)))

work = {"seq": seq, "fan": fan}[sys.argv[1]]
simclock.run(work())  # warm-up
gc.disable()
best = float("inf")
for _ in range(3):
    started = time.perf_counter()
    simclock.run(work())
    best = min(best, time.perf_counter() - started)
print(best)
"""


def timed(source: Path, workload: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, workload],
        env=env,
        cwd=tempfile.gettempdir(),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(base), args.base],
            cwd=ROOT,
            check=True,
        )
        try:
            for workload in ("seq", "fan"):
                ratios, mine, theirs = [], [], []
                for round_ in range(args.rounds):
                    order = [(ROOT, mine), (base, theirs)]
                    if round_ % 2:
                        order.reverse()
                    for source, times in order:
                        times.append(timed(source, workload))
                    ratios.append(mine[-1] / theirs[-1])
                print(
                    f"{workload}: working tree {statistics.median(mine) * 1e3:.1f} ms, "
                    f"{args.base} {statistics.median(theirs) * 1e3:.1f} ms, "
                    f"median ratio {statistics.median(ratios):.3f} "
                    f"(range {min(ratios):.3f}-{max(ratios):.3f}, {args.rounds} rounds)"
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT)


if __name__ == "__main__":
    main()
