"""What the pytest plugin reports: a failing test's virtual time and timeline, leftover tasks."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from simclock.clock.clock import Clock
from simclock.errors import describe_tasks
from simclock.loop.loop import VirtualEventLoop, background_tasks
from simclock.loop.recording import is_loop_housekeeping
from simclock.testing.options import _FAILED, stashed


class SimclockLeftoverTasksWarning(UserWarning):
    """A simulated test ended with tasks it started still pending."""


def _leftover_message(
    item: pytest.Item, loop: VirtualEventLoop, tasks: list[asyncio.Task[Any]]
) -> str:
    quiet = background_tasks(loop)
    reported = [task for task in tasks if task not in quiet]
    if not reported:
        return ""
    return "\n".join(
        [f"{item.nodeid} ended with tasks still pending:", *describe_tasks(reported)[1:]]
    )


def _report_leftovers(item: pytest.Item, loop: VirtualEventLoop | None) -> None:
    """After the test and its fixtures: warn (or fail) about tasks still pending.

    Runs before the loop closes, so a server or scheduler fixture has already
    closed what it owns; background tasks and asyncio's own housekeeping (the
    async-generator and executor shutdowns) are not reported.
    """
    if loop is None or loop.is_closed():
        return
    leftovers = [
        task
        for task in asyncio.all_tasks(loop)
        if not task.done() and not is_loop_housekeeping(task)
    ]
    if not leftovers:
        return
    message = _leftover_message(item, loop, leftovers)
    if not message or stashed(item, _FAILED):
        return
    if item.config.getini("simclock_strict_tasks"):
        pytest.fail(message, pytrace=False)
    warnings.warn(SimclockLeftoverTasksWarning(message), stacklevel=1)


def _failure_report(clock: Clock, last: int = 15) -> str:
    wall = f"{clock.datetime():%Y-%m-%d %H:%M:%S.%f}"
    lines = [f"virtual time at failure: t={clock.now:.6f}s (wall clock {wall} UTC)"]
    if clock.schedule is not None:
        lines.append(clock.schedule.report())
        lines.append(f"replay this schedule with: pytest --simclock-seed={clock.schedule.seed}")
    if clock.timeline is None:
        lines.append(
            "no timeline recorded: request the simclock fixture, or set "
            "simclock_timeline = always, to see the last events here"
        )
    elif clock.timeline.events:
        events = clock.timeline.events[-last:]
        lines.append(f"last {len(events)} of {len(clock.timeline.events)} timeline events:")
        lines += [f"  {event}" for event in events]
    return "\n".join(lines)
