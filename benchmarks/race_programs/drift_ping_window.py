"""Drift: a watchdog counting 20 pings of 50 ms in a window that closes 2 ms after the last.

The pinger sends a ping every 0.05 s, 20 in all, the last at t=1.0 on paper; the
watchdog counts them at t=1.002. With CPU time per step the pings slip behind their
nominal instants and the watchdog counts 19.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.pings = 0
        self.counted = 0


async def pinger(state: State) -> None:
    for _ in range(20):
        await asyncio.sleep(0.05)
        state.pings += 1


async def watchdog(state: State) -> None:
    await asyncio.sleep(1.002)
    state.counted = state.pings


def setup() -> State:
    return State()


KIND = "drift"
WORKERS = (pinger, watchdog)


def check(state: State) -> None:
    assert state.counted == 20, f"the watchdog counted {state.counted} of 20 pings"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
