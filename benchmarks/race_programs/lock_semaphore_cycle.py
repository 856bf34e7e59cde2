"""Lock cycle across kinds: a one-slot semaphore and a lock taken in opposite order.

The pool task holds the connection slot (a `Semaphore(1)`) from t=2.0 and wants the
cache lock at t=2.25; the cache task takes the cache lock at t=2.25 and then wants a
connection. The tie at t=2.25 decides: the other order deadlocks.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.slot = asyncio.Semaphore(1)
        self.cache = asyncio.Lock()
        self.done = 0


async def pool_task(state: State) -> None:
    await asyncio.sleep(2.0)
    async with state.slot:
        await asyncio.sleep(0.25)
        async with state.cache:
            state.done += 1


async def cache_task(state: State) -> None:
    await asyncio.sleep(2.125)
    await asyncio.sleep(0.125)
    async with state.cache:
        await asyncio.sleep(0.25)
        async with state.slot:
            state.done += 1


def setup() -> State:
    return State()


KIND = "lock"
WORKERS = (pool_task, cache_task)


def check(state: State) -> None:
    assert state.done == 2


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
