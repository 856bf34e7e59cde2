"""Seeded schedules: legal reorderings a real run could produce, chosen on purpose.

With a virtual clock every run is the same run. A `Schedule` makes a run take
a different, seeded, legal order wherever asyncio leaves the order open:

- timers due at the same virtual instant (stock asyncio's timer heap is not
  stable: their order is unspecified), but never two deadlines: the earlier
  always runs first;
- the callbacks one iteration's I/O events made ready, among themselves;
- what different worker threads handed back at once, but never one worker's
  own calls, which keep the order it made them in.

What asyncio orders by contract keeps its order: `call_soon` from one callback
runs in call order, a future's callbacks in registration order, a task's own
steps one after another. Handles already queued are never reordered.

The strategy follows probabilistic concurrency testing (PCT): every task (or
other owner of a callback) draws a random priority the first time it shows up,
and handles are ordered by their owner's priority. A bug that needs task B to
run before task A at *every* meeting is found in one run as often as B draws
the higher priority, where shuffling each meeting independently would need
luck at each one. At a few random decisions (the "change points") the highest
owner drops below all others, which reaches orders a fixed priority never gives.

The draws lean away from asyncio's own order, which every unexplored run
already tests: asyncio runs what was scheduled first first, so owners tend to
meet in the order they first showed up, and the later an owner shows up, the
higher its priority tends to be. Each priority is `_LEAN` times the number of
owners met before it (counting at most `_LEANING` of them) plus a standard
Gumbel draw, so of two owners met j apart the later goes first with
probability 1 / (1 + e**(-_LEAN * j)) (0.88 for neighbours): a race that
needs the newer task to win is found in the first run or two, one that needs
the older to win still in about one run of eight, and past the first few
owners a run meets, their order is drawn as evenly as before. Any priorities
give an order asyncio leaves open, so the lean changes only which legal
orders come first, never which are possible.

`drift` models a machine that takes time to work: before each callback runs
the clock moves on by a seeded amount of at most `drift` seconds, as the CPU
time of reaching and running a step would on a real machine, so what the step
does (the next timer it sets, the time it reads) comes that much later. Who is
slow follows the priorities: the machine favours the owner ranked highest of
those alive so far, whose steps take no time at all, and every owner ranked
below it is loaded, each step costing between half of `drift` and all of it.
(A step that takes no time is what every unexplored run assumes of all of
them, so any mix is one a real machine can show.) So a chain of a low-ranked
task's steps falls behind step after step while the favoured task's timer
keeps its time; and a deadline the favoured task sets right after another's
still ties with it, and the favoured task, ranked first, wins that tie: one
drifting run explores both kinds of race. Deadlines are still set from
`loop.time()`, which never goes back, so a timer set later with a later
deadline never comes due first (a per-timer stretch could do that, which no
real run allows); but a chain of short steps now takes longer than its
nominal time, and a longer timer whose nominal instant coincides with the
chain's end may come due before the chain's last step, as under load.

`awaits` (opt-in) models awaits that stand for I/O: in code where a bare
`await asyncio.sleep(0)` takes the place of a read or a request, the task's
resumption may come back later than asyncio's next iteration, behind other
ready work, as it would if that I/O had taken longer. A postponed task
resumes after at most a few loop iterations, and always before the loop
would go idle: every such schedule is one a real run produces when the I/O
ends after the other work of that instant but before the next timer. Only a
task's own bare yield is postponed; nothing is ever moved earlier, and
`call_soon` order among the other callbacks is kept. Which awaits are slow
follows the priorities that order ties: a task's await is slow when another
owner of ready work ranks above it, so a low-ranked task is slow at every
await and a bug that needs one task to lose every race is found often.

Every decision that differs from the default order is kept in `decisions`,
with the virtual instant and the owners involved, for the failure report.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import weakref
from collections.abc import Hashable, Sequence
from typing import Any

from simclock._compat.asyncio_internals import CANCELLED, owner_of
from simclock.clock.decisions import NAMED, UNNAMED, Decision, kind_of, lag_text, name_of

__all__ = [
    "Decision",
    "Schedule",
    "check_drift",
    "check_seed",
    "lag_text",
]  # Decision: from here too

# How likely each multi-owner decision is to be a change point.
_CHANGE_POINT_CHANCE = 0.05
# The most loop iterations a slow await resumes late (`Schedule.awaits`).
_MOST_LATE = 3
# How far each owner met before leans a new owner's priority up, and past how
# many owners the lean stops growing (see the module's docstring).
_LEAN = 2.0
_LEANING = 8
# Below every drawn priority (a Gumbel draw from 53 random bits is above -4):
# where a change point puts the owner it demotes.
_DEMOTED = -1e9


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    return int(seed)


def _check_choices(choices: Sequence[int]) -> Sequence[int]:
    for choice in choices:
        if isinstance(choice, bool) or not isinstance(choice, numbers.Integral) or choice < 0:
            raise ValueError(f"choices must be whole numbers >= 0, got {choice!r}")
    return choices


def check_drift(drift: object) -> float:
    if isinstance(drift, bool) or not isinstance(drift, numbers.Real) or not 0 <= float(drift) < 1:
        raise ValueError(f"drift must be a number in [0, 1), got {drift!r}")
    return float(drift)


class Schedule:
    """The seeded choices of one run. Deterministic: the same seed, the same run."""

    def __init__(
        self,
        seed: int,
        *,
        drift: float = 0.0,
        awaits: bool = False,
        forced: dict[int, tuple[int, ...]] | None = None,
        choices: Sequence[int] | None = None,
        slow_only: frozenset[Hashable] | None = None,
    ) -> None:
        """`forced`: replay only these deviations, by decision index (see `Decision`),
        and take asyncio's order everywhere else: how a failing schedule is shrunk.
        `slow_only`: under `drift`, only the owners with these keys (see `lags`)
        are slow, every other one runs at full speed: how a failure's drift is
        shrunk to the tasks whose slowness it needs.
        `awaits`: postpone tasks' bare yields (see the module's docstring).
        `choices`: take each decision from this sequence instead of the seed's
        random draws, one number per decision (0, or a decision past its end:
        asyncio's order; n: the n-th owner, counted round, goes first; for an
        await, n mod 4 iterations late). What `simclock.strategies` generates,
        so that Hypothesis shrinks a failing schedule by shrinking the numbers."""
        self.seed = check_seed(seed)
        self.drift = check_drift(drift)
        if not isinstance(awaits, bool):
            raise TypeError(f"awaits must be True or False, got {awaits!r}")
        self.awaits = awaits
        self.forced = forced
        self.slow_only = slow_only
        self.choices = None if choices is None else tuple(_check_choices(choices))
        #: With `forced`: every decision the run met, as (index, each owner's handles
        #: in default order), for a systematic search (`simclock.explore(bound=)`).
        self.points: list[tuple[int, list[list[int]]]] = []
        import random  # only an explored run pays for importing it

        self._random = random.Random(self.seed)
        self._drift_random = random.Random(~self.seed)
        # Each owner's priority, without keeping the owner alive: by id, with a
        # weak reference that forgets the entry when the owner goes (an object
        # that cannot be weakly referenced keeps its entry; a reused id then
        # only shares a priority, the same way on every run); by value for the
        # tuples that name a worker.
        self._by_id: dict[int, float] = {}
        self._watching: dict[int, weakref.ref[Any]] = {}
        self._by_value: dict[Any, float] = {}
        self._demoted = 0
        self._met = 0  # owners given a priority so far
        #: The highest priority of an owner alive (under `drift` its steps take no time).
        self._top = -math.inf
        #: Decisions that differed from the default order, oldest first (at most 100 kept).
        self.decisions: list[Decision] = []
        #: Seconds the steps of this run took in all under `drift`, and how many steps.
        self.drifted = 0.0
        self.drift_steps = 0
        #: Under `drift`, each slow owner's lag, by a key that names it the same way
        #: in a replay (its coroutine's name and how many of that name came first):
        #: [its label, how many of its steps were slow, the seconds they took].
        self.lags: dict[Hashable, list[Any]] = {}
        self._keys: dict[int, Hashable] = {}
        self._ordinals: dict[str, int] = {}
        #: Decisions with more than one owner, and how many of them changed the order.
        self.decision_count = 0
        self.reordered = 0

    def __repr__(self) -> str:
        awaits = ", awaits=True" if self.awaits else ""
        choices = f", choices={list(self.choices)}" if self.choices is not None else ""
        return f"Schedule(seed={self.seed}, drift={self.drift}{awaits}{choices})"

    def postpone(self, task: Any, now: float, waiting: Sequence[Any]) -> int:
        """How many loop iterations `task`'s bare yield resumes late (0: asyncio's next one).

        `waiting`: the owners of what is ready before it, which it may fall
        behind. With nothing else ready, postponing changes nothing: no decision.
        """
        others = [owner for owner in waiting if owner is not task and owner is not CANCELLED]
        if not others:
            return 0
        self.decision_count += 1
        if self.choices is not None:
            late = self._choice() % (_MOST_LATE + 1)
        else:
            late = 0
            if self._priority(task) < max(self._priority(owner) for owner in others):
                late = 1 + int(self._random.random() * _MOST_LATE)
            if self.forced is not None:  # drawn all the same: see `order`
                chosen = self.forced.get(self.decision_count, ())
                late = -chosen[0] if len(chosen) == 1 and chosen[0] < 0 else 0
        if late:
            self.reordered += 1
            if len(self.decisions) < 100:
                named = (name_of(task), *dict.fromkeys(name_of(owner) for owner in others[:NAMED]))
                self.decisions.append(Decision(now, self.decision_count, named, (-late,), late))
        return late

    def step_cost(self, owner: Any = None) -> float:
        """The CPU time a callback of `owner` takes in this run: at most `drift` seconds (seeded).

        The owner ranked highest of those alive so far takes none; every other
        owner's steps take between half of `drift` and all of it.
        """
        if self._priority(owner) >= self._top:
            return 0.0
        cost = self.drift * (0.5 + 0.5 * self._drift_random.random())
        key = self._key(owner)
        if self.slow_only is not None and key not in self.slow_only:
            return 0.0  # drawn all the same, so that the others' costs stay the run's
        lag = self.lags.get(key)
        if lag is None:
            lag = self.lags[key] = [name_of(owner, where=False), 0, 0.0]
        lag[1] += 1
        lag[2] += cost
        self.drifted += cost
        self.drift_steps += 1
        return cost

    def slowest(self) -> list[Hashable]:
        """The keys of `lags`, the owner whose steps took longest first."""
        return sorted(self.lags, key=lambda key: -self.lags[key][2])

    def _key(self, owner: Any) -> Hashable:
        """`owner` as the same run's replays name it: ("poller", 0) for the first poller()."""
        if type(owner) is tuple:
            return owner  # a worker thread, named by value
        key = self._keys.get(id(owner))
        if key is None:
            kind = kind_of(owner)
            ordinal = self._ordinals.get(kind, 0)
            self._ordinals[kind] = ordinal + 1
            key = self._keys[id(owner)] = (kind, ordinal)
        return key

    def order(
        self, handles: Sequence[Any], now: float, owners: Sequence[Any] | None = None
    ) -> list[Any]:
        """`handles`, made ready by different events, in this run's order.

        `owners` says whom each handle acts for (by default: its task, see
        `owner_of`); one owner's handles keep their relative order.
        """
        if owners is None:
            owners = list(map(owner_of, handles))
        keys = self._priorities(owners)
        if keys.count(keys[0]) == len(keys):
            return list(handles)  # one owner: its handles keep their order
        self.decision_count += 1
        if self.choices is not None:
            return self._chosen_order(handles, owners, now)
        # A forced replay draws and demotes as the run it replays did, so that its
        # priorities, and with them drift's costs, stay that run's.
        if self._random.random() < _CHANGE_POINT_CHANCE:
            top = max(range(len(owners)), key=keys.__getitem__)
            if owners[top] is not CANCELLED:
                self._demoted += 1
                self._set_priority(owners[top], _DEMOTED - self._demoted)
                self._find_top()
                keys = self._priorities(owners)
        if self.forced is not None:
            self.points.append((self.decision_count, _groups(owners)))
            return self._forced_order(handles, owners, now)
        # Highest priority first; sorted() is stable (reversed too), so one owner's
        # handles keep their order.
        ranked = sorted(range(len(handles)), key=keys.__getitem__, reverse=True)
        if all(map(operator.eq, ranked, range(len(ranked)))):
            return list(handles)
        self._record(now, owners, ranked)
        return list(map(handles.__getitem__, ranked))

    def _choice(self) -> int:
        """This decision's number in `choices` (0 past their end)."""
        assert self.choices is not None
        index = self.decision_count - 1
        return self.choices[index] if index < len(self.choices) else 0

    def _chosen_order(self, handles: Sequence[Any], owners: Sequence[Any], now: float) -> list[Any]:
        groups = _groups(owners)
        choice = self._choice()
        if choice == 0 or choice % len(groups) == 0:
            return list(handles)  # the first owner first: asyncio's order
        first = groups[choice % len(groups)]
        ranked = first + [index for index in range(len(handles)) if index not in first]
        self._record(now, owners, ranked)
        return [handles[index] for index in ranked]

    def _forced_order(self, handles: Sequence[Any], owners: Sequence[Any], now: float) -> list[Any]:
        assert self.forced is not None
        ranked = list(self.forced.get(self.decision_count, ()))
        if sorted(ranked) != list(range(len(handles))):
            return list(handles)  # not forced here, or the run took another path
        for indices in _groups(owners):  # one owner's handles keep their order
            positions = sorted(ranked.index(i) for i in indices)
            for position, index in zip(positions, indices, strict=True):
                ranked[position] = index
        if ranked == list(range(len(handles))):
            return list(handles)
        self._record(now, owners, ranked)
        return [handles[index] for index in ranked]

    def fingerprint(self) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """The run's deviations from asyncio's order: equal for runs that took one schedule."""
        return tuple((decision.index, decision.ranked) for decision in self.decisions)

    def _record(self, now: float, owners: Sequence[Any], ranked: list[int]) -> None:
        self.reordered += 1
        if len(self.decisions) < 100:
            # A report shows the first few in each order: only those are named
            # (naming costs; a tie of 500 timers would name 500 tasks).
            named = [UNNAMED] * len(owners)
            for index in {*range(min(len(owners), NAMED)), *ranked[:NAMED]}:
                named[index] = name_of(owners[index])
            self.decisions.append(Decision(now, self.decision_count, tuple(named), tuple(ranked)))

    def _priorities(self, owners: Sequence[Any]) -> list[float]:
        """Each owner's priority, drawing for new ones in order (`_priority`)."""
        if type(owners[0]) is not tuple:  # not workers, whose priorities are by value
            keys = list(map(self._by_id.get, map(id, owners)))  # the common case: all known
            if all(keys):  # no None: no new owner, no cancelled handle (nor a 0.0, rarely)
                return keys  # type: ignore[return-value]
        return [self._priority(owner) for owner in owners]

    def _priority(self, owner: Any) -> float:
        if owner is CANCELLED:
            return math.inf  # skipped when run; first, and no draw spent on it
        if type(owner) is tuple:
            known = self._by_value.get(owner)
            if known is None:
                known = self._by_value[owner] = self._draw()
            return known
        key = id(owner)
        known = self._by_id.get(key)
        if known is None:
            known = self._by_id[key] = self._draw()
            try:
                self._watching[key] = weakref.ref(owner, functools.partial(self._forget, key))
            except TypeError:
                pass
        return known

    def _draw(self) -> float:
        """A new owner's priority: leaning up by the owners met before it, plus Gumbel noise."""
        lean = _LEAN * min(self._met, _LEANING)
        self._met += 1
        exponential = -math.log(1.0 - self._random.random()) or 5e-324
        value = lean - math.log(exponential)
        if value > self._top:
            self._top = value
        return value

    def _set_priority(self, owner: Any, priority: float) -> None:
        if type(owner) is tuple:
            self._by_value[owner] = priority
        else:
            self._by_id[id(owner)] = priority

    def _forget(self, key: int, _gone: object) -> None:
        priority = self._by_id.pop(key, None)
        self._watching.pop(key, None)
        self._keys.pop(key, None)
        if priority == self._top:
            self._find_top()

    def _find_top(self) -> None:
        """The favoured owner is gone or demoted: the next one down takes its place."""
        self._top = max((*self._by_id.values(), *self._by_value.values()), default=-math.inf)

    def report(self, limit: int = 5) -> str:
        """What this schedule did differently, for a failure message."""
        lines = [
            (f"schedule choices={list(self.choices)}" if self.choices is not None else "")
            + (f"schedule seed={self.seed}" if self.choices is None else "")
            + (f", drift={self.drift}" if self.drift else "")
            + (", awaits=True" if self.awaits else "")
        ]
        if self.drift:
            lines.append(
                f"  drift: {self.drift_steps:,} steps each took up to {self.drift:g}s, "
                f"{self.drifted:.6g}s in all, so later steps ran that much later than "
                "their nominal instants"
            )
            slowest = [self.lags[key] for key in self.slowest()]
            for label, steps, seconds in slowest[:3]:
                lines.append(f"    {label}: {lag_text(steps, seconds)}")
            if len(slowest) > 3:
                lines.append(f"    ... and {len(slowest) - 3} more slow")
        if not self.decisions:
            lines.append("  (every decision took the default order)")
        for decision in self.decisions[:limit]:
            lines.append(f"  {decision}")
        if len(self.decisions) > limit:
            lines.append(f"  ... and {len(self.decisions) - limit} more")
        return "\n".join(lines)


def _groups(owners: Sequence[Any]) -> list[list[int]]:
    """The handles' indices, by owner, owners in order of their first handle."""
    groups: dict[object, list[int]] = {}
    for index, owner in enumerate(owners):
        groups.setdefault(owner if type(owner) is tuple else id(owner), []).append(index)
    return list(groups.values())
