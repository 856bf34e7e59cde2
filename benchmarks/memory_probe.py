"""Measure one workload's peak memory in a fresh process: `memory_probe.py CONTENDER WORKLOAD`.

Memory is the peak resident set size (RSS) during the run minus the RSS just
before it, read from /proc/self/status after resetting the kernel's high-water
mark (`/proc/self/clear_refs`). RSS counts what the process really holds,
allocator overhead included, where tracemalloc would count Python objects only
and slow the run down besides. A fresh process per measurement keeps one
contender's freed-but-kept arenas out of the next one's numbers.

Prints one JSON object on stdout: `rss_delta` in bytes, `method`, and the
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

MEMORY_METHOD = "peak RSS minus RSS before the run, in a fresh process"


def _proc_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Make the kernel's peak-RSS mark equal the current RSS (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _max_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def measure(contender_key: str, workload_key: str, quick: bool) -> dict[str, object]:
    sizes = workloads.QUICK if quick else workloads.FULL
    workloads.prepare(sizes)
    workload = next(w for w in workloads.WORKLOADS if w.key == workload_key)
    contender = contenders.load_one(contender_key)
    if contender.unavailable:
        return {"error": contender.unavailable}
    gc.collect()
    exact = _reset_peak_rss()
    before = (_proc_status_kib("VmRSS") or 0) * 1024 if exact else _max_rss_bytes()
    outcome = contender.run(workload, sizes)
    after = (_proc_status_kib("VmHWM") or 0) * 1024 if exact else _max_rss_bytes()
    return {
        "rss_delta": after - before,
        "method": "VmHWM - VmRSS" if exact else "ru_maxrss delta (an under-estimate)",
        "outcome": dataclasses.asdict(outcome),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("contender")
    parser.add_argument("workload")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    try:
        result = measure(args.contender, args.workload, args.quick)
    except Exception as error:  # noqa: BLE001 - reported in the table, not as a traceback
        result = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
