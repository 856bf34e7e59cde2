"""What an explored schedule did differently, told as a reader knows the tasks.

A `Decision` is one place where an explored run's order differed from
asyncio's: when, whom each handle acted for, and the order taken. Tasks are
named when the decision is made, by their coroutine and the line they waited
at (`second() at lost_update.py:31`), so that a decision keeps no task alive
and shows where each one was then. `Schedule` (in `simclock.clock.schedule`)
makes them; `simclock.exploration` shrinks and tells them.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from simclock._compat.asyncio_internals import CANCELLED

__all__ = ["NAMED", "UNNAMED", "Decision", "kind_of", "lag_text", "name_of"]

#: Owners a decision names in each order (the rest are `UNNAMED`): more than a
#: report shows.
NAMED = 8
UNNAMED = "..."


@dataclass(frozen=True)
class Decision:
    """A place where the explored order differed from the default one."""

    at: float  # virtual seconds since the clock started
    #: Which decision of the run this was: the n-th with more than one owner (from 1).
    index: int
    #: Whom each handle acted for, in the default order, as a reader knows them:
    #: a task by its coroutine and the line it waited at (named when made: the
    #: decision keeps no task alive, and shows where each one was then).
    owners: tuple[str, ...]
    ranked: tuple[int, ...]  # the order chosen, as indices into `owners`
    #: For an await's postponement (`Schedule.awaits`): by how many loop iterations.
    postponed: int = 0

    @property
    def default(self) -> tuple[str, ...]:
        return self.owners

    @property
    def chosen(self) -> tuple[str, ...]:
        return tuple(self.owners[index] for index in self.ranked)

    def __str__(self) -> str:
        if self.postponed:
            return f"t={self.at:.6g}s: {self.owners[0]} resumed {self.postponed} iterations late"
        return f"t={self.at:.6g}s: ran {_listed(self.chosen)} (default: {_listed(self.default)})"

    def explain(self) -> str:
        """The deviation as one sentence: what ran before what it would have followed."""
        if self.postponed:
            iterations = "iteration" if self.postponed == 1 else "iterations"
            return (
                f"at t={self.at:.3f}s, the await of {self.owners[0]} took longer: it resumed "
                f"{self.postponed} loop {iterations} late, after {_listed(self.owners[1:])}"
            )
        first = self.owners[self.ranked[0]]
        overtaken = [self.owners[i] for i in range(min(self.ranked[0], NAMED))]
        before = ", ".join(dict.fromkeys(overtaken)) or _listed(self.default)
        if self.ranked[0] > NAMED:
            before += f" and {self.ranked[0] - NAMED} more"
        return f"at t={self.at:.3f}s, {first} ran before {before}"


def _listed(names: tuple[str, ...], shown: int = 6) -> str:
    text = " -> ".join(names[:shown])
    return text + (f" -> ... ({len(names) - shown} more)" if len(names) > shown else "")


def lag_text(steps: int, seconds: float) -> str:
    """`8 slow steps, 6.1 ms in all`."""
    return f"{steps} slow step{'s' if steps != 1 else ''}, {seconds * 1000:.3g} ms in all"


def kind_of(owner: Any) -> str:
    """What a replay calls `owner` too: its coroutine's (or callback's) qualified name."""
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return str(getattr(coro, "__qualname__", None) or owner.get_name())
    return str(getattr(owner, "__qualname__", None) or type(owner).__qualname__)


def name_of(owner: Any, *, where: bool = True) -> str:
    """`second() at lost_update.py:31`; a task named by the program also shows its name.

    `where=False` leaves out the line it waits at."""
    if owner is CANCELLED:
        return "(cancelled)"
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        function = getattr(coro, "__name__", None)
        name = owner.get_name()
        if not function:
            return name
        # asyncio's default names tell apart two tasks of one coroutine function.
        label = f"{function}() ({name})" if name.startswith("Task-") else f"{name!r} {function}()"
        frame = getattr(coro, "cr_frame", None)
        if where and frame is not None:
            label += f" at {os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        return label
    if type(owner) is tuple:  # a worker thread: ("worker", seq)
        return "worker thread #" + str(owner[-1])
    name = getattr(owner, "__qualname__", None) or type(owner).__name__
    return str(name)
