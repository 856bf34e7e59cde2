"""`VirtualClockTestCase`: `unittest.IsolatedAsyncioTestCase` on a virtual clock."""

from __future__ import annotations

import asyncio
import unittest

from simclock.clock.clock import DEFAULT_START, Clock, StartLike
from simclock.loop.loop import VirtualEventLoop
from simclock.timeline.timeline import Timeline

__all__ = ["VirtualClockTestCase"]


class VirtualClockTestCase(unittest.IsolatedAsyncioTestCase):
    """Each test, with its `asyncSetUp` and `asyncTearDown`, runs on a fresh virtual clock.

    Set `simclock_start`, `simclock_limit` or `simclock_tick` on the class to change the wall-clock
    start or the virtual time limit; `self.clock` is the running test's clock,
    with its `timeline` recording tasks, prints and marks.

    Unlike `IsolatedAsyncioTestCase`, tests run without asyncio's debug mode
    unless `simclock_debug = True`: debug mode records a stack for every
    callback, and a test on a virtual clock schedules a great many (a test
    that runs away to the one-day limit took 20 s with it, 1 s without).

        class TestCache(simclock.VirtualClockTestCase):
            async def test_entry_expires_after_its_ttl(self):
                cache = Cache(ttl=60)
                cache["k"] = 1
                await asyncio.sleep(61)
                self.assertNotIn("k", cache)
    """

    simclock_start: StartLike = DEFAULT_START
    simclock_limit: float | None = 86400.0
    simclock_tick: float = 0.0
    simclock_debug: bool = False
    clock: Clock

    def _setupAsyncioRunner(self) -> None:
        # The stdlib's own hook for making each test's runner, on 3.11 to 3.13.
        self.clock = Clock(self.simclock_start, tick=self.simclock_tick)
        self.clock.timeline = Timeline()
        runner = asyncio.Runner(debug=self.simclock_debug, loop_factory=self._make_loop)
        self._asyncioRunner = runner

    def _make_loop(self) -> VirtualEventLoop:
        return VirtualEventLoop(self.clock, limit=self.simclock_limit)
