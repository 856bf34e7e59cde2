"""The implementations the benchmarks race: plain asyncio, simclock and its peers.

Each peer is used the way its documentation tells a user outside pytest:

- looptime: `looptime.new_event_loop(**options)` patches a stock loop's class
  and selector (`LoopTimeEventLoop.setup_looptime`). Its `noop_cycles` (42 by
  default) is how many idle loop iterations it lets pass before each jump, so
  that code between two awaits gets to schedule its timers first.
- aiotools: `VirtualClock().patch_loop()`, entered inside the running loop.
- async-solipsism: its own `EventLoop`, given to `asyncio.Runner(loop_factory=...)`.
- trio: `trio.run(..., clock=MockClock(autojump_threshold=0))`, for seq, fan and crowd.
- sleepfake: `async with SleepFake():` around the workload, inside a stock loop. It
  patches `asyncio.sleep` (and `time.sleep`) and jumps at once to the next sleep's
  deadline; a bare loop timer (`call_later`, a timeout) fires only after the loop has
  been idle for `autojump_threshold` real seconds (0.02 by default).

Two stock-asyncio contenders mark the limit (see `workloads.Pace`): "sleep(0)" and
"limit", which resolves a future from `call_at(loop.time())` at each step.

A peer that cannot be installed or imported still gets a column, which says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from workloads import Outcome, Pace, Sizes, Workload

__all__ = [
    "Contender",
    "limit",
    "load_contenders",
    "load_one",
    "plain_asyncio_real_timers",
]

Main = Coroutine[Any, Any, Outcome]
RunAsyncio = Callable[[Main], Outcome]
RunTrio = Callable[[Callable[[], Main]], Outcome]


@dataclass(frozen=True)
class Contender:
    key: str
    title: str
    # The distribution it comes from, for install failures; None for the stdlib.
    distribution: str | None
    # How its workloads wait: real delays on a virtual clock, none for the limits.
    pace: Pace = field(default_factory=Pace)
    run_asyncio: RunAsyncio | None = None
    run_trio: RunTrio | None = None
    unavailable: str | None = None

    @property
    def is_peer(self) -> bool:
        return self.distribution not in (None, "simclock")

    @property
    def checks_clock(self) -> bool:
        """Whether its runs must show exact virtual durations (the limits cannot)."""
        return self.pace.checks_clock

    def supports(self, workload: Workload) -> bool:
        if self.unavailable is not None:
            return False
        if self.run_trio is not None:
            return workload.trio_main is not None
        return self.run_asyncio is not None

    def run(self, workload: Workload, sizes: Sizes) -> Outcome:
        """Run one workload once, from making the loop to closing it."""
        if self.run_trio is not None:
            trio_main = workload.trio_main
            assert trio_main is not None
            return self.run_trio(lambda: trio_main(sizes))
        return self.run_coroutine(workload.asyncio_main(sizes, self.pace))

    def run_coroutine(self, main: Main) -> Outcome:
        """Run one asyncio coroutine on this contender, from making the loop to closing it."""
        assert self.run_asyncio is not None
        return self.run_asyncio(main)


def _run_on_stock_loop(main: Main) -> Outcome:
    with asyncio.Runner() as runner:
        return runner.run(main)


def plain_asyncio() -> Contender:
    """Stock asyncio with every sleep made `asyncio.sleep(0)`: no timer at all (information)."""
    return Contender("plain", "asyncio sleep(0)", None, Pace(scale=0.0), _run_on_stock_loop)


def limit() -> Contender:
    """Stock asyncio resolving each step from `call_at(loop.time())`: the targets' limit."""
    return Contender(
        "limit", "limit: asyncio call_at(now)", None, Pace(0.0, True), _run_on_stock_loop
    )


def plain_asyncio_real_timers() -> Contender:
    """Stock asyncio with real microsecond sleeps: a real timer per sleep, the fair memory mark."""
    return Contender(
        "plain-timers", "asyncio, real 1e-6-scaled timers", None, Pace(1e-6), _run_on_stock_loop
    )


def _simclock() -> Contender:
    import simclock

    return Contender("simclock", "simclock", "simclock", run_asyncio=simclock.run)


def _looptime_runner(**options: Any) -> RunAsyncio:
    import looptime

    def run(main: Main) -> Outcome:
        with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(**options)) as runner:
            return runner.run(main)

    return run


def _aiotools_runner() -> RunAsyncio:
    import aiotools

    def run(main: Main) -> Outcome:
        async def on_virtual_clock() -> Outcome:
            with aiotools.VirtualClock().patch_loop():
                return await main

        return _run_on_stock_loop(on_virtual_clock())

    return run


def _async_solipsism_runner() -> RunAsyncio:
    import async_solipsism

    def run(main: Main) -> Outcome:
        with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:
            return runner.run(main)

    return run


def _sleepfake_runner() -> RunAsyncio:
    from sleepfake import SleepFake

    def run(main: Main) -> Outcome:
        async def with_sleeps_faked() -> Outcome:
            async with SleepFake():
                return await main

        return _run_on_stock_loop(with_sleeps_faked())

    return run


def _trio_runner() -> RunTrio:
    import trio
    import trio.testing

    def run(main: Callable[[], Main]) -> Outcome:
        outcome: Outcome = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        return outcome

    return run


@dataclass(frozen=True)
class _PeerColumn:
    key: str
    title: str
    distribution: str
    # Imports the peer and returns how to run a workload on it; raises if it cannot.
    load_asyncio: Callable[[], RunAsyncio] | None = None
    load_trio: Callable[[], RunTrio] | None = None

    def contender(self, install_failure: str | None) -> Contender:
        if install_failure:
            # An older release may still import, but the table promises the pinned one.
            reason = f"install failed: {install_failure}"
            return Contender(self.key, self.title, self.distribution, unavailable=reason)
        try:
            run_asyncio = self.load_asyncio() if self.load_asyncio else None
            run_trio = self.load_trio() if self.load_trio else None
        except Exception as error:  # noqa: BLE001 - a broken peer costs its own column only
            reason = f"import failed: {type(error).__name__}: {error}"
            return Contender(self.key, self.title, self.distribution, unavailable=reason)
        return Contender(
            self.key, self.title, self.distribution, run_asyncio=run_asyncio, run_trio=run_trio
        )


PEER_COLUMNS = (
    _PeerColumn("looptime", "looptime", "looptime", _looptime_runner),
    _PeerColumn(
        "looptime-noop0",
        "looptime noop_cycles=0",
        "looptime",
        lambda: _looptime_runner(noop_cycles=0),
    ),
    _PeerColumn("aiotools", "aiotools VirtualClock", "aiotools", _aiotools_runner),
    _PeerColumn("solipsism", "async-solipsism", "async-solipsism", _async_solipsism_runner),
    _PeerColumn("trio", "trio MockClock(0)", "trio", load_trio=_trio_runner),
    _PeerColumn("sleepfake", "sleepfake", "sleepfake", _sleepfake_runner),
)


def load_contenders(with_peers: bool, install_failures: dict[str, str]) -> list[Contender]:
    """The limit, plain asyncio, simclock and (unless told not to) every peer, usable or not."""
    contenders = [limit(), plain_asyncio(), _simclock()]
    if with_peers:
        for column in PEER_COLUMNS:
            failures = (
                error
                for requirement, error in install_failures.items()
                if requirement.startswith(column.distribution)
            )
            contenders.append(column.contender(next(failures, None)))
    return contenders


def load_one(key: str) -> Contender:
    """One contender by key, importing only what it needs (for a memory probe's process)."""
    builtin = {"limit": limit, "plain": plain_asyncio, "plain-timers": plain_asyncio_real_timers}
    if key in builtin:
        return builtin[key]()
    if key == "simclock":
        return _simclock()
    column = next(column for column in PEER_COLUMNS if column.key == key)
    return column.contender(None)
