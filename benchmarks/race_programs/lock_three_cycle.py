"""Lock cycle of three that needs two ties to go the wrong way.

Three tasks each take lock i, then lock i+1 (mod 3) 0.5 s later, starting 0.5 s apart,
so each one's second acquire meets the next one's first at the same instant (t=1.5 and
t=2.0). Only when the later task wins both ties does every task hold one lock and wait
on the next: a deadlock.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.locks = [asyncio.Lock() for _ in range(3)]
        self.done = 0


async def dine(state: State, index: int) -> None:
    await asyncio.sleep(0.75 + 0.5 * index)
    await asyncio.sleep(0.25)
    async with state.locks[index]:
        await asyncio.sleep(0.5)
        async with state.locks[(index + 1) % 3]:
            await asyncio.sleep(2.0)
            state.done += 1


async def zero(state: State) -> None:
    await dine(state, 0)


async def one(state: State) -> None:
    await dine(state, 1)


async def two(state: State) -> None:
    await dine(state, 2)


def setup() -> State:
    return State()


KIND = "lock"
WORKERS = (zero, one, two)


def check(state: State) -> None:
    assert state.done == 3


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
