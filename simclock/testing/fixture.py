"""The `simclock` fixture: the clock of the loop a test runs on, or one bound for a sync test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from simclock.clock.clock import Advance, Clock
from simclock.loop.loop import VirtualEventLoop
from simclock.process import bindings
from simclock.process.loops import virtual_loops
from simclock.testing.options import (
    _OWN_LOOP,
    _is_async_test,
    _Options,
    _options,
    _settings,
    bind_sync_test,
    stashed,
)
from simclock.timeline.timeline import Timeline


class ClockFixture:
    """What the `simclock` fixture gives a test: the clock of the loop it runs on.

    Inside an async simclock test it is the running loop's clock; in a sync test
    it is a clock bound for the duration of the test, so `time.time()` and
    friends are virtual and `simclock.run(coro)` continues its timeline.
    """

    def __init__(self, fallback: Clock | Callable[[], Clock | None] | None) -> None:
        # A sync test's own clock, or how to find the clock an async test ran on
        # once its loop has stopped (a sync fixture's teardown reads it then).
        self._fallback = fallback

    @property
    def clock(self) -> Clock:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if isinstance(loop, VirtualEventLoop):
            return loop.clock
        fallback = self._fallback() if callable(self._fallback) else self._fallback
        if fallback is not None:
            return fallback
        raise RuntimeError(
            "the simclock fixture has no clock here: this test does not run on a virtual loop"
        )

    @property
    def now(self) -> float:
        """Virtual seconds on the test's clock."""
        return self.clock.now

    @property
    def timeline(self) -> Timeline | None:
        """What the test's loop recorded: tasks, prints and marks, with virtual times."""
        return self.clock.timeline

    def advance(self, seconds: float) -> Advance:
        """Move virtual time forward; see `Clock.advance` (await it with autojump=False)."""
        return self.clock.advance(seconds)

    async def run_until_idle(self) -> None:
        """Let every other task run until all of them wait; see `Clock.run_until_idle`."""
        await self.clock.run_until_idle()


@pytest.fixture(name="simclock")
def simclock_fixture(request: pytest.FixtureRequest) -> Iterator[ClockFixture]:
    """The virtual clock of this test: `now`, `advance()`, `run_until_idle()`, `timeline`."""
    item = request.node
    own = stashed(item, _OWN_LOOP)
    if own is not None:
        yield ClockFixture(own.clock)
        return
    if _is_async_test(item):

        def clock_that_ran() -> Clock | None:
            loop = stashed(item, _OWN_LOOP)
            return loop.clock if loop is not None else bindings.last_bound()

        yield ClockFixture(clock_that_ran)
        return
    options = _options(item) or _Options(None, None, tick=_settings(item.config).tick)
    binding, loops = bind_sync_test(item, options)
    # asyncio.run, asyncio.Runner and new_event_loop inside the test: on its clock.
    with binding, virtual_loops(loops):
        assert loops.clock is not None
        yield ClockFixture(loops.clock)
