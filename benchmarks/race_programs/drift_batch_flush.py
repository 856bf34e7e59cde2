"""Drift: a flush timer due 1 ms after a chain of eight 125 ms polls nominally ends.

The poller takes 8 steps of 0.125 s, one item each, done at t=1.0 on paper; the flusher
fires at t=1.001 and expects all 8 items. On a real machine each step also costs CPU
time, so the chain ends late and the flush sees a partial batch.
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
    await asyncio.sleep(1.001)
    state.flushed = len(state.items)


def setup() -> State:
    return State()


KIND = "drift"
WORKERS = (poller, flusher)


def check(state: State) -> None:
    assert state.flushed == 8, f"flushed a partial batch of {state.flushed}"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
