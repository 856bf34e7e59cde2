"""`simclock.explore` and `simclock.check`: many schedules of one program, and one twice.

`explore` runs a program on `runs` different seeded schedules (see
`simclock.clock.schedule`) and stops at the first that fails, saying which seed
replays it: `simclock.run(main(), seed=S)` takes exactly that schedule again,
on any machine. `check` runs a program twice on the same schedule and reports
the first event where the two runs differ: something outside the clock (an
unseeded `random`, set order under `PYTHONHASHSEED`, real I/O) decided it.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from simclock.clock.clock import Clock
from simclock.clock.decisions import lag_text
from simclock.clock.schedule import Schedule, check_drift, check_seed
from simclock.errors import SimclockError
from simclock.loop.runner import run
from simclock.process.bindings import real_perf_counter
from simclock.timeline.timeline import Timeline

__all__ = ["Exploration", "Nondeterminism", "check", "explore", "first_difference"]

_T = TypeVar("_T")
Main = Callable[[], Coroutine[Any, Any, _T]]


@dataclass(frozen=True)
class Exploration:
    """What `explore` did when every run passed."""

    runs: int
    seeds: range
    #: Decisions that differed from asyncio's order, over all runs.
    reordered: int
    #: How many distinct schedules the runs took (by their deviations from asyncio's
    #: order; asyncio's own counts as one): when it stops growing, more runs help little.
    distinct: int = 0
    #: For a systematic search (`explore(bound=d)`): d, and whether every schedule within
    #: it was tried (False: `runs` ran out first).
    bound: int | None = None
    complete: bool = False

    def __str__(self) -> str:
        if self.bound is not None:
            whole = "" if self.complete else ", stopped at the runs limit"
            return f"no failure within bound {self.bound} ({self.runs} schedules{whole})"
        return f"no failure in {self.runs} runs ({self.distinct} distinct schedules)"


class Nondeterminism(SimclockError):
    """Two runs on the same schedule did different things."""

    def __init__(self, index: int, first: str | None, second: str | None) -> None:
        self.index = index
        self.first = first
        self.second = second
        super().__init__(
            f"two runs on the same schedule differ at event {index}:\n"
            f"  first run:  {first or '(run ended here)'}\n"
            f"  second run: {second or '(run ended here)'}\n"
            "something outside the virtual clock decided it: an unseeded random, "
            "set or dict order under PYTHONHASHSEED, real I/O, or a thread's timing"
        )


def explore(
    main: Main[_T],
    *,
    runs: int = 100,
    seed: int = 0,
    drift: float = 0.0,
    bound: int | None = None,
    **options: Any,
) -> Exploration:
    """Run `main()` on `runs` seeded schedules, `seed`, `seed + 1`, ...; raise the first failure.

    `main` is a callable returning a fresh coroutine (each run needs its own).
    `options` go to `simclock.run` (start, limit, io_grace, ...). A failing run
    re-raises its exception with a note naming the run, its seed, how to replay
    it, and the schedule decisions that differed from asyncio's order, shrunk
    to the fewest that still fail.

    `drift` (seconds of seeded CPU time per step, see `simclock.clock.schedule`)
    applies to every other run, from the first: it separates most deadlines
    that were equal (all but the favoured task's), so the runs between keep
    exact instants and explore every tie.

    `bound=d` searches systematically instead: every schedule that differs from
    asyncio's order at up to `d` decisions (at each, one task goes first), up to
    `runs` schedules; when all pass, `Exploration.bound` says "no failure within
    bound d" held for the `Exploration.runs` schedules tried (`complete` if none
    was left untried).
    """
    if isinstance(runs, bool) or not isinstance(runs, numbers.Integral) or runs < 1:
        raise ValueError(f"runs must be a positive integer, got {runs!r}")
    seed = check_seed(seed)
    drift = check_drift(drift)
    _check_main(main, "explore")
    if bound is not None:
        if isinstance(bound, bool) or not isinstance(bound, numbers.Integral) or bound < 0:
            raise ValueError(f"bound must be a whole number of deviations, got {bound!r}")
        return _systematic(main, int(bound), int(runs), seed, drift, options)
    clock_options = _clock_options(options)
    reordered = 0
    seen: set[tuple[tuple[int, tuple[int, ...]], ...]] = set()
    for index in range(int(runs)):
        run_seed = seed + index
        # The first run and every other one drift; the others keep exact instants
        # (and so every tie).
        run_drift = 0.0 if index % 2 else drift
        clock = Clock(seed=run_seed, drift=run_drift, **clock_options)
        try:
            run(main(), clock=clock, **options)
        except Exception as error:
            replay = {"seed": run_seed, **({"drift": run_drift} if run_drift else {})}
            replay |= clock_options | options
            arguments = ", ".join(f"{name}={value!r}" for name, value in replay.items())
            assert clock.schedule is not None
            shrunk = _shrink(main, clock.schedule, type(error), run_drift, clock_options, options)
            if shrunk is not None:
                error.add_note(shrunk)
            error.add_note(
                f"found by simclock.explore on run {index + 1} of {runs}; replay it with "
                f"simclock.run(main(), {arguments}) (in pytest: --simclock-seed={run_seed})"
            )
            raise
        assert clock.schedule is not None
        reordered += clock.schedule.reordered
        seen.add(clock.schedule.fingerprint())
    return Exploration(int(runs), range(seed, seed + int(runs)), reordered, len(seen))


def _clock_options(options: dict[str, Any]) -> dict[str, Any]:
    """Take out of `options` what each run's own clock is made with."""
    if "clock" in options:
        raise TypeError(
            "explore() makes a clock for each run, on its own seed: give start=, tick= or "
            "autojump= instead of clock="
        )
    names = ("start", "tick", "autojump", "awaits")
    return {name: options.pop(name) for name in names if name in options}


def _systematic(
    main: Main[Any],
    bound: int,
    most: int,
    seed: int,
    drift: float,
    options: dict[str, Any],
) -> Exploration:
    """Every schedule within `bound` deviations, breadth first, at most `most` of them.

    A deviation puts one owner's handles first at one decision; deviations are
    added in the order of their decisions, so each set is tried once.
    """
    clock_options = _clock_options(options)
    Deviations = tuple[tuple[int, tuple[int, ...]], ...]
    frontier: list[Deviations] = [()]
    tried = 0
    for depth in range(bound + 1):
        following: list[Deviations] = []
        for deviations in frontier:
            if tried >= most:
                return Exploration(tried, range(seed, seed), 0, tried, bound, False)
            tried += 1
            clock = Clock(seed=seed, drift=drift, forced=dict(deviations), **clock_options)
            try:
                run(main(), clock=clock, **options)
            except Exception as error:
                steps = [d.explain() for d in clock.schedule.decisions] if clock.schedule else []
                told = "\n".join(f"  {step}" for step in steps) or "  (asyncio's own order)"
                error.add_note(
                    f"found by simclock.explore(bound={bound}) on schedule {tried}, "
                    f"{len(steps)} deviation{'s' if len(steps) != 1 else ''} from asyncio's "
                    f"order:\n{told}"
                )
                raise
            if depth == bound:
                continue
            assert clock.schedule is not None
            last = deviations[-1][0] if deviations else 0
            for index, groups in clock.schedule.points:
                if index <= last:
                    continue
                for chosen in range(1, len(groups)):
                    rest = [
                        i for number, group in enumerate(groups) if number != chosen for i in group
                    ]
                    ranked = (*groups[chosen], *sorted(rest))
                    following.append((*deviations, (index, ranked)))
        frontier = following
        if not frontier:
            break
    return Exploration(tried, range(seed, seed), 0, tried, bound, True)


# How long shrinking may take: replays, and real seconds.
_SHRINK_REPLAYS = 500
_SHRINK_SECONDS = 5.0


def _shrink(
    main: Main[Any],
    schedule: Schedule,
    failure: type[BaseException],
    drift: float,
    clock_options: dict[str, Any],
    options: dict[str, Any],
) -> str | None:
    """The failing schedule cut down to the fewest deviations from asyncio's order, told.

    Delta debugging over the run's deviations (by decision index): a subset
    is kept when replaying only it (asyncio's order everywhere else, the same
    drift) still fails with the same exception type. At most `_SHRINK_REPLAYS`
    replays and `_SHRINK_SECONDS` real seconds; what is left is told as timed,
    named steps. None when there is nothing to shrink.
    """
    deviations = {d.index: d.ranked for d in schedule.decisions}
    if len(schedule.decisions) >= 100 or not (deviations or schedule.lags):
        return None  # more deviations than were kept, or nothing to shrink
    started = real_perf_counter()
    replays = 0

    def fails(keys: list[int], slow_only: frozenset[Hashable] | None = None) -> Schedule | None:
        nonlocal replays
        replays += 1
        forced = {key: deviations[key] for key in keys}
        clock = Clock(
            seed=schedule.seed, drift=drift, forced=forced, slow_only=slow_only, **clock_options
        )
        try:
            run(main(), clock=clock, **options)
        except failure:
            return clock.schedule
        except Exception:  # noqa: BLE001 - another failure is not this one
            return None
        return None

    def spent() -> bool:
        return replays >= _SHRINK_REPLAYS or real_perf_counter() - started > _SHRINK_SECONDS

    kept = sorted(deviations)
    last = fails([]) if not spent() else None
    if last is not None:
        kept = []  # it fails in asyncio's own order: drift alone did it
    chunks = 2
    while len(kept) > 1 and not spent():
        size = max(1, len(kept) // chunks)
        pieces = [kept[i : i + size] for i in range(0, len(kept), size)]
        for piece in pieces:
            rest = [key for key in kept if key not in piece]
            for candidate in (piece, rest):
                if spent():
                    break
                replayed = fails(candidate)
                if replayed is not None:
                    kept, last = candidate, replayed
                    chunks = 2 if candidate is piece else max(chunks - 1, 2)
                    break
            else:
                continue
            break
        else:
            if size == 1:
                break
            chunks = min(len(kept), chunks * 2)
    if last is None:
        last = fails(kept) if not spent() else None
    if last is None:
        return None
    # Then the drift: the tasks whose slowness the failure needs, dropping the
    # least loaded first; each is kept only if the failure goes without it.
    lags = last.lags
    slow = list(lags)
    for key in sorted(slow, key=lambda key: lags[key][2]):
        if spent():
            break
        replayed = fails(kept, frozenset(other for other in slow if other != key))
        if replayed is not None:
            slow.remove(key)
            last = replayed
    steps = [decision.explain() for decision in last.decisions]
    lines = [
        f"shrunk to {len(steps)} deviation{'s' if len(steps) != 1 else ''} from asyncio's "
        f"order (of {len(deviations)}, in {replays} replays):"
    ]
    lines += [f"  {step}" for step in steps] or ["  (none: asyncio's own order fails too)"]
    if drift:
        lines += _drift_needed(last, schedule)
    return "\n".join(lines)


def _drift_needed(replay: Schedule, found: Schedule) -> list[str]:
    """What a shrunk failure needs of drift: which tasks ran slow, and by how much.

    Tasks are named as in the run that found the failure (`found`).
    """
    if not replay.lags:
        return ["  and no task needs to run slow: it fails without drift too"]
    lines = [
        f"  and it still fails with only {len(replay.lags)} of the {len(found.lags)} slow "
        "tasks slow, the others at full speed:"
    ]
    for key in replay.slowest():
        label, steps, seconds = replay.lags[key]
        label = found.lags[key][0] if key in found.lags else label
        lines.append(f"    {label}: {lag_text(steps, seconds)}, so its later steps ran that late")
    return lines


def check(main: Main[_T], *, seed: int | None = None, **options: Any) -> Timeline:
    """Run `main()` twice on the same schedule; raise `Nondeterminism` at the first difference.

    Task names that asyncio numbers per process (`Task-7`) and object addresses
    are compared by their order of appearance, not their digits. Returns the
    first run's timeline.
    """
    _check_main(main, "check")
    timelines = []
    for _ in range(2):
        timeline = Timeline()
        run(main(), seed=seed, timeline=timeline, **options)
        timelines.append(timeline)
    difference = first_difference(*timelines)
    if difference is not None:
        raise difference
    return timelines[0]


def first_difference(first: Timeline, second: Timeline) -> Nondeterminism | None:
    """Where two timelines of one program first differ, or None if they agree throughout."""
    one, two = _normalised(first), _normalised(second)
    for index, (a, b) in enumerate(zip(one, two, strict=False)):
        if a != b:
            return Nondeterminism(index, a, b)
    if len(one) != len(two):
        index = min(len(one), len(two))
        return Nondeterminism(
            index,
            one[index] if index < len(one) else None,
            two[index] if index < len(two) else None,
        )
    return None


_NUMBERED = r"\bTask-\d+\b|\b0x[0-9a-f]+\b"  # compiled (and cached) by re on first use


def _normalised(timeline: Timeline) -> list[str]:
    names: dict[str, str] = {}
    counts = {"Task": 0, "0x": 0}

    def rename(match: re.Match[str]) -> str:
        text = match.group(0)
        if text not in names:
            kind = "Task" if text.startswith("Task") else "0x"
            counts[kind] += 1
            names[text] = f"{kind}#{counts[kind]}"
        return names[text]

    lines = []
    for event in timeline.events:
        text = f"t={event.at:.9f}s [{event.task or '-'}] {event.kind.value}: {event.text}"
        lines.append(re.sub(_NUMBERED, rename, text))
    return lines


def _check_main(main: object, what: str) -> None:
    if not callable(main):
        raise TypeError(
            f"{what}() takes a callable that returns a coroutine (each run needs a fresh "
            f"one), got {main!r}"
        )
