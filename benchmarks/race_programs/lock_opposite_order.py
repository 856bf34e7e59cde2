"""Lock cycle: two tasks take the same two locks in opposite order, meeting at t=1.5.

The first takes `a` at t=1.0 and wants `b` at t=1.5; the second takes `b` at t=1.5,
then wants `a`. If the first's timer wins the tie it gets both and finishes; if the
second takes `b` first, each holds one lock and waits for the other: a deadlock.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.a = asyncio.Lock()
        self.b = asyncio.Lock()
        self.done = 0


async def first(state: State) -> None:
    await asyncio.sleep(1.0)
    async with state.a:
        await asyncio.sleep(0.5)
        async with state.b:
            state.done += 1


async def second(state: State) -> None:
    await asyncio.sleep(1.25)
    await asyncio.sleep(0.25)
    async with state.b:
        await asyncio.sleep(0.5)
        async with state.a:
            state.done += 1


def setup() -> State:
    return State()


KIND = "lock"
WORKERS = (first, second)


def check(state: State) -> None:
    assert state.done == 2


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
