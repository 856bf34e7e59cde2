"""Decoy: a flush one whole second after a chain of eight 125 ms polls ends.

Shaped like the drift programs, but the flusher fires at t=2.0 and the chain ends at
t=1.0 on paper: only a machine spending 125 ms of CPU time per tiny step could make the
flush come first. Timers fire in deadline order, so it must never fail.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.items: list[int] = []
        self.flushed = 0


async def poller(state: State) -> None:
    for item in range(8):
        await asyncio.sleep(0.125)
        state.items.append(item)


async def flusher(state: State) -> None:
    await asyncio.sleep(2.0)
    state.flushed = len(state.items)


def setup() -> State:
    return State()


KIND = "decoy"
WORKERS = (poller, flusher)


def check(state: State) -> None:
    assert state.flushed == 8, f"flushed a partial batch of {state.flushed}"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
