"""Schedules as Hypothesis strategies: Hypothesis finds, shrinks, stores and replays them.

    from hypothesis import given
    from simclock.strategies import schedules

    @given(schedule=schedules(awaits=True))
    def test_no_deposit_is_lost(schedule):
        schedule.run(main)

A `ScheduleChoices` is a sequence of numbers, one per decision a run meets
where asyncio leaves the order open (see `simclock.clock.schedule`): 0 takes
asyncio's own order, n lets the n-th owner (counted round) go first, and for
an await that stands for I/O (`awaits=True`) n resumes it n mod 4 loop
iterations late. Past its end every decision takes asyncio's order.

So Hypothesis's shrinking, which deletes numbers and makes them smaller,
walks a failing schedule back toward asyncio's order: the falsifying example
it prints holds only the deviations the failure needs, and its example
database replays it on the next run, beside the test's other inputs.

Hypothesis is not a dependency of simclock: this module needs it installed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import strategies as st

from simclock.clock.clock import Clock
from simclock.loop.runner import run

__all__ = ["ScheduleChoices", "schedules"]

_T = TypeVar("_T")

# Numbers per decision: enough to pick among many owners; small ones shrink first.
_MOST_CHOICE = 255


@dataclass(frozen=True)
class ScheduleChoices:
    """The decisions of one explored run, as Hypothesis drew them."""

    choices: tuple[int, ...]
    drift: float = 0.0
    awaits: bool = False

    def clock(self, **options: Any) -> Clock:
        """A clock whose loops take these decisions (`options` as for `simclock.Clock`)."""
        return Clock(seed=0, drift=self.drift, awaits=self.awaits, choices=self.choices, **options)

    def run(self, main: Callable[[], Coroutine[Any, Any, _T]], **options: Any) -> _T:
        """`simclock.run(main(), ...)` on these decisions; `options` as for `simclock.run`."""
        return run(main(), clock=self.clock(), **options)


def schedules(
    *, awaits: bool = False, drift: float = 0.0, most_decisions: int = 64
) -> st.SearchStrategy[ScheduleChoices]:
    """Schedules of up to `most_decisions` decisions (later ones take asyncio's order).

    `awaits` and `drift` are as for `simclock.explore`.
    """
    if isinstance(most_decisions, bool) or not isinstance(most_decisions, int):
        raise TypeError(f"most_decisions must be an int, got {most_decisions!r}")
    if most_decisions < 1:
        raise ValueError(f"most_decisions must be at least 1, got {most_decisions}")
    numbers = st.lists(st.integers(0, _MOST_CHOICE), max_size=most_decisions)
    return numbers.map(lambda drawn: ScheduleChoices(tuple(drawn), drift, awaits))
