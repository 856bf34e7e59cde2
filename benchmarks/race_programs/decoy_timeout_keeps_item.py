"""Decoy: a `wait_for(queue.get())` that times out at the instant an item is put.

The getter gives up at t=1.0; the producer puts at t=1.0. Whichever runs first, the
item is either returned or left in the queue (asyncio's Queue and wait_for handle the
cancellation), never lost. Must never fail.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.received: list[str] = []


async def getter(state: State) -> None:
    try:
        state.received.append(await asyncio.wait_for(state.queue.get(), 1.0))
    except TimeoutError:
        pass


async def producer(state: State) -> None:
    await asyncio.sleep(1.0)
    state.queue.put_nowait("job-1")


def setup() -> State:
    return State()


KIND = "decoy"
WORKERS = (getter, producer)


def check(state: State) -> None:
    assert len(state.received) + state.queue.qsize() == 1, "the item was lost"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
