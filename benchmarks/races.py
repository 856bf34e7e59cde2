"""Race finding side by side: simclock's schedule exploration, simloom and frontrun.

    pip install -r benchmarks/requirements-races.txt   (Python >= 3.12, for simloom)
    PYTHONPATH=. python benchmarks/races.py            (about 10 minutes)
    PYTHONPATH=. python benchmarks/races.py --quick    (fewer seeds and runs: CI smoke)

Every program of `benchmarks/race_programs` (see its package docstring for the shape)
goes to every tool in this one process run. For each pair: from 20 starting seeds, up to
1,000 runs each, in how many the race was found, the median runs it took, the median
real seconds per run of the search (shrinking not included), and the median size of
the shrunk schedule. Each tool is driven the way its documentation recommends; a tool
that is missing or cannot express a program gets a cell saying so. Then, as before, what
a seeded simclock run costs against an unseeded one.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simclock
import simclock.exploration
from benchmarks.race_programs import programs
from simclock.process.bindings import real_perf_counter

ROUNDS = 9
# The cap counts search time only; shrinking may take the whole up to HARD_CAP times it.
HARD_CAP = 3
# simloom shrinks outside its search: only the first few found seeds, for the shrunk size.
SHRINK_SEEDS = 5
DRIFT = 0.001  # simclock's per-step CPU time, every program: at most 1 ms


@dataclass
class Search:
    """One tool's search from one starting seed."""

    found: bool
    runs: int  # runs made: to the failure when found
    seconds: float  # real seconds of the search, shrinking not included
    shrunk: int | None = None  # size of the shrunk schedule, when the tool gives one
    error: str = ""  # the exception type that showed the race


@dataclass
class Cell:
    """One tool on one program: every starting seed's search."""

    searches: list[Search] = field(default_factory=list)
    capped: bool = False  # the time cap stopped it before every seed was searched
    note: str = ""  # why a tool could not run the program, or what it ran with

    @property
    def found(self) -> list[Search]:
        return [search for search in self.searches if search.found]


def failed(check: Callable[[Any], None], state: Any) -> bool:
    try:
        check(state)
    except AssertionError:
        return True
    return False


# --- simclock ----------------------------------------------------------------------


def awaits_supported() -> bool:
    """Whether this simclock has the `awaits=True` mode (a bare sleep(0) as I/O)."""

    async def nothing() -> None:
        await asyncio.sleep(0)

    try:
        simclock.explore(nothing, runs=1, awaits=True)
    except TypeError:
        return False
    return True


class SimclockTool:
    name = "simclock"

    def __init__(self) -> None:
        self.awaits = awaits_supported()
        self.shrink_seconds = 0.0
        original = simclock.exploration._shrink

        def timed_shrink(*args: Any, **kwargs: Any) -> str | None:
            started = real_perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.shrink_seconds += real_perf_counter() - started

        simclock.exploration._shrink = timed_shrink  # to leave shrinking out of run times

    def options(self, module: ModuleType) -> tuple[dict[str, Any], str]:
        # One setup for every program, as for the peers: the program's class is not
        # consulted. Ties and I/O batches are always explored; drift and (when this
        # simclock has it) awaits are the opt-in modes a race hunt turns on.
        if self.awaits:
            return {"drift": DRIFT, "awaits": True}, f"drift={DRIFT}, awaits=True"
        return {"drift": DRIFT}, f"drift={DRIFT} (awaits mode missing)"

    def search(self, module: ModuleType, seed: int, runs: int) -> Search:
        options, _ = self.options(module)
        self.shrink_seconds = 0.0
        started = real_perf_counter()
        try:
            simclock.explore(module.main, runs=runs, seed=seed, **options)
        except Exception as error:  # noqa: BLE001 - any exception is the race showing
            seconds = real_perf_counter() - started - self.shrink_seconds
            notes = getattr(error, "__notes__", [])
            replay = next((n for n in notes if "simclock.run(main(), seed=" in n), "")
            match = re.search(r"seed=(-?\d+)", replay)
            made = int(match.group(1)) - seed + 1 if match else runs
            shrunk = next((n for n in notes if n.startswith("shrunk to ")), None)
            size = int(shrunk.split()[2]) if shrunk else None
            return Search(True, made, seconds, size, type(error).__name__)
        return Search(False, runs, real_perf_counter() - started)


# --- simloom -----------------------------------------------------------------------


class SimloomTool:
    """simloom's `@simloom.test` defaults: random walk, virtual time, seeded randomness,
    then `simloom.shrink` with the decorator's shrink budget (1,500 replays)."""

    name = "simloom"
    options: ClassVar[dict[str, Any]] = {"virtual_time": True, "seed_randomness": True}

    def __init__(self) -> None:
        import simloom

        self.simloom = simloom
        self.shrunk = 0  # searches shrunk on the current program

    def search(self, module: ModuleType, seed: int, runs: int) -> Search:
        started = real_perf_counter()
        found = self.simloom.explore(
            module.main, runs=runs, start_seed=seed, scheduler="random", **self.options
        )
        seconds = real_perf_counter() - started
        if not found.failed:
            return Search(False, found.runs, seconds)
        first = found.first_failure
        self.shrunk += 1
        if self.shrunk > SHRINK_SEEDS:
            return Search(True, found.runs, seconds, None, type(first.error).__name__)
        shrunk = self.simloom.shrink(module.main, first, max_runs=1500, **self.options)
        return Search(True, found.runs, seconds, shrunk.deviations, type(first.error).__name__)


# --- frontrun ----------------------------------------------------------------------


def preemptions(schedule: Any) -> int | None:
    """Switches away from a task that runs again later, in frontrun's counterexample."""
    if not isinstance(schedule, list) or not schedule:
        return None
    count = 0
    for index in range(1, len(schedule)):
        before = schedule[index - 1]
        if schedule[index] != before and before in schedule[index:]:
            count += 1
    return count


class FrontrunTool:
    """frontrun's recommended async explorer: await-level DPOR (its default strategy),
    with `clock="explored"` (its documented setting when a timer's firing is the race).
    DPOR is systematic and takes no seed: one search stands for all 20 starting seeds."""

    name = "frontrun"
    deterministic = True
    cap = 60.0  # real seconds for one search (frontrun's total_timeout)

    def __init__(self) -> None:
        import frontrun

        self.frontrun = frontrun

    def search(self, module: ModuleType, seed: int, runs: int) -> Search:
        async def explore() -> Any:
            return await self.frontrun.explore(
                setup=module.setup,
                workers=list(module.WORKERS),
                invariant=lambda state: not failed(module.check, state),
                clock="explored",
                max_executions=runs,
                reproduce_on_failure=0,
                total_timeout=self.cap,
            )

        started = real_perf_counter()
        result = asyncio.run(explore())
        seconds = real_perf_counter() - started
        found = result.property_holds is False
        runs_made = max(result.num_explored, 1)
        if not found:
            return Search(False, runs_made, seconds)
        kind = (result.explanation or "").split(":", 1)[0][:40]
        return Search(True, runs_made, seconds, preemptions(result.counterexample), kind)


# --- the comparison ----------------------------------------------------------------


def tools() -> tuple[list[Any], list[str]]:
    made, missing = [], []
    for tool in (SimclockTool, SimloomTool, FrontrunTool):
        try:
            made.append(tool())
        except ImportError as error:
            missing.append(f"{tool.name}: not installed ({error})")
    return made, missing


def measure(tool: Any, module: ModuleType, starts: list[int], runs: int, cap: float) -> Cell:
    cell = Cell()
    tool.shrunk = 0
    if isinstance(tool, SimclockTool):
        cell.note = tool.options(module)[1]
    began = time.monotonic()
    for start in starts:
        searching = sum(search.seconds for search in cell.searches)
        if searching > cap or time.monotonic() - began > HARD_CAP * cap:
            cell.capped = True
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search = tool.search(module, start, runs)
        except Exception as error:  # noqa: BLE001 - the tool could not run the program
            cell.note = f"could not run: {type(error).__name__}: {str(error)[:80]}"
            break
        cell.searches.append(search)
        if getattr(tool, "deterministic", False):
            cell.searches *= len(starts)  # the same search from every seed
            cell.note = cell.note or "systematic: same search for every seed"
            break
    return cell


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def show(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if digits else f"{value:g}"


def cell_text(cell: Cell, decoy: bool) -> tuple[str, str, str, str]:
    searched = len(cell.searches)
    found = cell.found
    if cell.note.startswith("could not run"):
        return (cell.note, "-", "-", "-")
    fails = f"{len(found)}/{searched}" + (" (capped)" if cell.capped else "")
    if decoy:
        fails = ("FAILED " if found else "clean ") + fails
    runs = median([float(s.runs) for s in found])
    per_run = median([s.seconds / s.runs for s in cell.searches if s.runs])
    shrunk = median([float(s.shrunk) for s in found if s.shrunk is not None])
    return (fails, show(runs), f"{per_run * 1e3:.2f}" if per_run else "-", show(shrunk))


def seeded_cost() -> str:
    async def busy() -> None:
        async def worker(index: int) -> None:
            for step in range(20):
                await asyncio.sleep(1 + (index + step) % 5)

        await asyncio.gather(*(worker(index) for index in range(500)))

    def timed(seed: int | None) -> float:
        started = real_perf_counter()
        simclock.run(busy(), seed=seed)
        return real_perf_counter() - started

    plain, seeded = [], []
    for round_ in range(ROUNDS):
        plain.append(timed(None))
        seeded.append(timed(round_))
    ratio = statistics.median(s / p for s, p in zip(seeded, plain, strict=True))
    return (
        f"seeded run of 500 tasks x 20 sleeps: {statistics.median(seeded) * 1e3:.1f} ms, "
        f"unseeded {statistics.median(plain) * 1e3:.1f} ms: {ratio:.2f}x "
        f"(median of {ROUNDS} per-round ratios; target <= 1.2x)"
    ), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 100 runs: a smoke run")
    parser.add_argument("--only", help="run only programs whose name contains this")
    arguments = parser.parse_args()
    seeds, runs, cap = (3, 100, 2.0) if arguments.quick else (20, 1000, 5.0)
    starts = [1000 * index for index in range(seeds)]
    made, missing = tools()
    FrontrunTool.cap = cap
    modules = [m for m in programs() if not arguments.only or arguments.only in m.__name__]
    names = [tool.name for tool in made]
    print(f"# Race finding: {', '.join(names)}\n")
    print(
        f"Python {sys.version.split()[0]}; {len(modules)} programs; {seeds} starting seeds "
        f"each, up to {runs} runs a seed; {cap:g} s cap on search time per tool per program "
        f"(shrinking adds to it, up to {HARD_CAP * cap:g} s in all)."
    )
    for line in missing:
        print(f"- {line}")
    if made and isinstance(made[0], SimclockTool):
        print(f"- simclock awaits=True mode: {'present' if made[0].awaits else 'mode missing'}")
    print(
        "\nEach cell: found in (seeds) | median runs to find | median ms per run | "
        "median shrunk size.\n"
    )
    header = "| program | class | " + " | ".join(
        f"{n} found | {n} runs | {n} ms/run | {n} shrunk" for n in names
    )
    print(header + " |")
    print("|" + " --- |" * (2 + 4 * len(names)))
    results: dict[str, dict[str, Cell]] = {}
    for module in modules:
        name = module.__name__.rsplit(".", 1)[1]
        results[name] = {}
        row = [name, module.KIND]
        for tool in made:
            cell = measure(tool, module, starts, runs, cap)
            results[name][tool.name] = cell
            row += cell_text(cell, module.KIND == "decoy")
        print("| " + " | ".join(row) + " |", flush=True)
    notes = [
        f"- {tool} on {name}: {cell.note}"
        for name, cells in results.items()
        for tool, cell in cells.items()
        if cell.note and tool != "simclock" and "systematic" not in cell.note
    ]
    if notes:
        print("\nCould not run:\n" + "\n".join(notes))
    summary(modules, results, names, seeds, runs)
    text, _ = seeded_cost()
    print("\n" + text)


def summary(
    modules: list[ModuleType],
    results: dict[str, dict[str, Cell]],
    names: list[str],
    seeds: int,
    runs: int,
) -> None:
    kinds = {m.__name__.rsplit(".", 1)[1]: m.KIND for m in modules}
    bugs = [name for name, kind in kinds.items() if kind != "decoy"]
    decoys = [name for name, kind in kinds.items() if kind == "decoy"]
    print("\n## Summary against the targets\n")
    for tool in names:
        every = [n for n in bugs if len(results[n][tool].found) == seeds]
        never = [n for n in bugs if not results[n][tool].found]
        false = [n for n in decoys if results[n][tool].found]
        capped = [n for n in kinds if results[n][tool].capped]
        print(
            f"- {tool}: {len(every)}/{len(bugs)} bug programs found from every seed within "
            f"{runs} runs; never found: {', '.join(never) or 'none'}; decoys failing: "
            f"{', '.join(false) or 'none'}; time cap hit on: {', '.join(capped) or 'none'}"
        )
    if "simclock" not in names:
        return
    peers = [n for n in names if n != "simclock"]
    better, not_worse, shrunk = [], [], []
    for name in bugs:
        mine = median([float(s.runs) for s in results[name]["simclock"].found])
        best = min(
            (
                m
                for m in (median([float(s.runs) for s in results[name][p].found]) for p in peers)
                if m is not None
            ),
            default=None,
        )
        if mine is not None and (best is None or mine <= best):
            not_worse.append(name)
        if mine is not None and (best is None or mine < best):
            better.append(name)
        size = median(
            [float(s.shrunk) for s in results[name]["simclock"].found if s.shrunk is not None]
        )
        if size is not None:
            shrunk.append(size)
    share = len(not_worse) / len(bugs) if bugs else 0.0
    print(
        f"- simclock's median runs-to-find no worse than the best peer on {len(not_worse)}/"
        f"{len(bugs)} bug programs ({share:.0%}; target >= 80%)"
    )
    unsound = {tool for tool in names if any(results[n][tool].found for n in decoys)}
    for kind in ("drift", "tie"):
        mine = [n for n in bugs if kinds[n] == kind]
        won = [n for n in mine if n in better]
        print(f"- better than every peer on {kind}: {len(won)}/{len(mine)} ({', '.join(won)})")
        # A median of 1 run is the floor; the mean over the seeds, and the seeds
        # that found it on the first run, still tell the tools apart there.
        cells = []
        for tool in names:
            found = [s.runs for n in mine for s in results[n][tool].found]
            first = sum(runs == 1 for runs in found)
            tried = seeds * len(mine)
            mean = f"{statistics.mean(found):.2f}" if found else "-"
            note = " (fails a correct decoy)" if tool in unsound else ""
            cells.append(f"{tool} {mean}, {first}/{tried} on run 1{note}")
        print(f"  {kind}, mean runs to find and seeds found on the first run: {'; '.join(cells)}")
    if shrunk:
        print(
            f"- simclock's shrunk schedule, median over programs: {statistics.median(shrunk):g} "
            f"deviations (target <= 2); largest {max(shrunk):g}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--list":
        for program in programs():
            print(program.__name__, program.KIND, inspect.getdoc(program).split("\n")[0])
    else:
        main()
