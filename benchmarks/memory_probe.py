"""Memory per sleeping task, in a fresh process: `memory_probe.py CONTENDER [--quick]`.

Runs the crowd of sleepers (100,000 tasks, random lengths) on one contender and
reads the resident set size (RSS) from /proc/self/status at the moment every
task is asleep at once, minus the RSS just before the first task was made. RSS
counts what the process really holds, allocator overhead included, where
tracemalloc would count Python objects only and slow the run down besides. A
fresh process per measurement keeps one contender's freed-but-kept arenas out of
the next one's numbers. The collector is off during the run, as in the timings.

Prints one JSON object on stdout: `rss_asleep` in bytes, `method`, and the
run's `outcome` (or `error`).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import resource
import sys
from pathlib import Path

import contenders
import workloads

__all__ = ["MEMORY_METHOD"]

MEMORY_METHOD = (
    "RSS with every task asleep at once minus RSS before the first was made, "
    "in a fresh process per contender"
)


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Without /proc, the peak is the best there is: ru_maxrss, in KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def measure(contender_key: str, quick: bool) -> dict[str, object]:
    sizes = workloads.QUICK if quick else workloads.FULL
    workloads.prepare(sizes)
    contender = contenders.load_one(contender_key)
    if contender.unavailable:
        return {"error": contender.unavailable}
    asleep: list[int] = []

    def on_all_asleep() -> None:
        asleep.append(_rss_bytes())

    gc.collect()
    gc.disable()
    before = _rss_bytes()
    if contender.run_trio is not None:
        run_trio = contender.run_trio
        outcome = run_trio(lambda: workloads.trio_crowd_of_sleepers(sizes, on_all_asleep))
    else:
        main = workloads.crowd_of_sleepers(sizes, contender.pace, on_all_asleep)
        outcome = contender.run_coroutine(main)
    gc.enable()
    if not asleep:
        return {"error": "the run never had every task asleep at once"}
    return {
        "rss_asleep": asleep[0] - before,
        "method": MEMORY_METHOD,
        "outcome": dataclasses.asdict(outcome),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("contender")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    try:
        result = measure(args.contender, args.quick)
    except Exception as error:  # noqa: BLE001 - reported in the table, not as a traceback
        result = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
