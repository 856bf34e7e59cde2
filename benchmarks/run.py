"""Benchmark simclock side by side with plain asyncio and its peers.

    python benchmarks/run.py             # full run (a few minutes), writes results/latest.md
    python benchmarks/run.py --quick     # tiny sizes, seconds: keeps this code from rotting
    python benchmarks/run.py --no-peers  # simclock vs plain asyncio only, no network needed

Any Python >= 3.11 will do: the script makes `benchmarks/.env/<python>/`, installs
this checkout of simclock and the peers pinned in `requirements.txt` there, and
re-executes itself inside it (see `venv_bootstrap.py`). Nothing is asserted:
the targets are computed and printed as met or not met.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import venv_bootstrap

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_REPEATS = 7
# A cell stops repeating once its runs add up to this: looptime's defaults take seconds
# per run on b, c and d, and the whole benchmark must stay within a few minutes.
DEFAULT_BUDGET_SECONDS = 8.0


# Workload f: how many generated tests a pytest run holds.
PYTEST_TESTS = 500
PYTEST_TESTS_QUICK = 20


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="simclock vs plain asyncio, looptime, aiotools, async-solipsism and trio."
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument(
        "--no-peers", action="store_true", help="skip installing and running the peers"
    )
    parser.add_argument("--repeats", type=int, help=f"runs per cell (default {DEFAULT_REPEATS})")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_SECONDS,
        help="real seconds after which a cell stops repeating (default %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown file to write (default results/latest.md, results/quick.md.tmp if --quick)",
    )
    return parser.parse_args(argv)


def _command(argv: list[str]) -> str:
    return " ".join(["python benchmarks/run.py", *argv])


def main(argv: list[str]) -> None:
    args = _parse(argv)
    with_peers = not args.no_peers
    # Without peers and without network, an interpreter that already runs this checkout will do.
    if not (args.no_peers and venv_bootstrap.runs_this_checkout()):
        venv_bootstrap.ensure_venv_and_reexec(argv, with_peers)
    _benchmark(args, argv, with_peers)


def _benchmark(args: argparse.Namespace, argv: list[str], with_peers: bool) -> None:
    # Imported only now: they need simclock and the peers, which the venv provides.
    import blog_replay
    import contenders
    import measurements
    import pytest_overhead
    import report
    import workloads

    sizes = workloads.QUICK if args.quick else workloads.FULL
    repeats = args.repeats or (1 if args.quick else DEFAULT_REPEATS)
    workloads.prepare(sizes)
    racers = contenders.load_contenders(with_peers, venv_bootstrap.install_failures())
    reference = contenders.plain_asyncio_real_timers()

    blog = measurements.measure_blog(blog_replay.blog_examples(), repeats)
    times = measurements.measure_times(racers, sizes, repeats, args.budget)
    memory = measurements.measure_memory(racers, reference, args.quick)
    overhead = pytest_overhead.measure_pytest_overhead(
        PYTEST_TESTS_QUICK if args.quick else PYTEST_TESTS, min(repeats, 3)
    )

    text = report.render_report(
        report.Measurements(
            command=_command(argv),
            sizes=sizes,
            repeats=repeats,
            quick=args.quick,
            contenders=racers,
            blog=blog,
            times=times,
            memory=memory,
            reference=reference,
            pytest_overhead=overhead,
        )
    )
    print(text)
    output = args.output or RESULTS / ("quick.md.tmp" if args.quick else "latest.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"[benchmarks] wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
