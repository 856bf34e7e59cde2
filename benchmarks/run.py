"""Benchmark simclock side by side with stock asyncio and its peers, and judge issue 13's targets.

    python benchmarks/run.py             # full run (under ten minutes), writes results/latest.md
    python benchmarks/run.py --quick     # tiny sizes, seconds: checks each workload runs right
    python benchmarks/run.py --no-peers  # simclock vs stock asyncio only, no network needed
    python benchmarks/run.py --simclock-commit HEAD --output results/x.md
                                         # measure a commit's simclock, not the working tree

Any Python >= 3.11 will do: the script makes `benchmarks/.env/<python>/`, installs
this checkout of simclock and the peers pinned in `requirements.txt` there, and
re-executes itself inside it (see `venv_bootstrap.py`). Nothing is asserted about
speed: every target is computed and printed as met or not met. The run fails
(exit 1) only when simclock or stock asyncio errs, or simclock's virtual times
come out wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import venv_bootstrap

RESULTS = Path(__file__).resolve().parent / "results"
# A cell stops repeating once its runs add up to this: looptime's defaults take seconds
# per run, and the whole benchmark must stay within ten minutes.
DEFAULT_BUDGET_SECONDS = 8.0
BLOG_REPEATS = 7
PARKED_ROUNDS = 5
SOCKET_ROUNDS = 10

# How many generated tests a pytest run holds.
PYTEST_TESTS = 1000
PYTEST_TESTS_QUICK = 20


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="simclock vs stock asyncio, looptime, aiotools, async-solipsism, trio "
        "and sleepfake, and issue 13's targets."
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    parser.add_argument(
        "--no-peers", action="store_true", help="skip installing and running the peers"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of seq and fan (default: 30; the others fewer)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_SECONDS,
        help="real seconds after which a cell stops repeating (default %(default)s)",
    )
    parser.add_argument(
        "--simclock-commit",
        metavar="REVISION",
        help="measure simclock as committed at REVISION, not the working tree",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown file to write (default results/latest.md, results/quick.md.tmp if --quick)",
    )
    return parser.parse_args(argv)


def _command(argv: list[str]) -> str:
    return " ".join(["python benchmarks/run.py", *argv])


def main(argv: list[str]) -> int:
    args = _parse(argv)
    with_peers = not args.no_peers
    # Without peers and without network, an interpreter that already runs this checkout will do.
    if not (args.no_peers and venv_bootstrap.runs_this_checkout()):
        venv_bootstrap.ensure_venv_and_reexec(argv, with_peers)
    if args.simclock_commit:
        venv_bootstrap.use_commit(args.simclock_commit)
    return _benchmark(args, argv, with_peers)


def _benchmark(args: argparse.Namespace, argv: list[str], with_peers: bool) -> int:
    # Imported only now: they need simclock and the peers, which the venv provides.
    import blog_replay
    import contenders
    import jump_cost
    import measurements
    import pytest_overhead
    import report
    import startup
    import targets
    import workloads

    quick = args.quick
    sizes = workloads.QUICK if quick else workloads.FULL
    rounds_of = {w.key: 1 if quick else w.rounds for w in workloads.WORKLOADS}
    if args.rounds and not quick:
        rounds_of.update(seq=args.rounds, fan=args.rounds)
    workloads.prepare(sizes)
    racers = contenders.load_contenders(with_peers, venv_bootstrap.install_failures())
    simclock = next(c for c in racers if c.key == "simclock")

    times = measurements.measure_times(racers, sizes, rounds_of, args.budget)
    counts = jump_cost.PARKED_QUICK if quick else jump_cost.PARKED_FULL
    parked = jump_cost.measure_parked(racers, counts, 1 if quick else PARKED_ROUNDS, quick)
    sockets = jump_cost.measure_sockets(simclock, 1 if quick else SOCKET_ROUNDS, quick)
    # looptime's defaults share noop_cycles=0's loop classes, and its memory with them.
    memory_racers = [c for c in racers if c.key not in ("limit", "plain", "looptime")]
    memory = measurements.measure_memory(
        [contenders.plain_asyncio_real_timers(), *memory_racers], quick
    )
    if quick:
        startups, startup_problem = None, startup.check_startup(Path(sys.executable))
    else:
        startups, startup_problem = startup.measure_startup(), None
    blog = measurements.measure_blog(blog_replay.blog_examples(), 1 if quick else BLOG_REPEATS)
    overhead = pytest_overhead.measure_pytest_overhead(
        PYTEST_TESTS_QUICK if quick else PYTEST_TESTS, 1 if quick else 5
    )

    measured = targets.Measurements(
        command=_command(argv),
        sizes=sizes,
        quick=quick,
        rounds_of=rounds_of,
        contenders=racers,
        blog=blog,
        times=times,
        parked_counts=counts,
        parked=parked,
        sockets=sockets,
        memory=memory,
        startup=startups,
        startup_problem=startup_problem,
        pytest_overhead=overhead,
    )
    text = report.render_report(measured)
    print(text)
    output = args.output or RESULTS / ("quick.md.tmp" if quick else "latest.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"[benchmarks] wrote {output}", file=sys.stderr)
    failures = report.problems(measured)
    for failure in failures:
        print(f"[benchmarks] FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
