"""Decoy: two transfers take the same two locks, always in one global order.

Like a lock-order deadlock, two transfers meet at t=1 over accounts `a` and `b` in
opposite directions, with a wait between the two acquires; but each takes the locks
sorted by name, so no interleaving can form a cycle. Must never fail.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.locks = {"a": asyncio.Lock(), "b": asyncio.Lock()}
        self.balance = {"a": 100, "b": 100}


async def transfer(state: State, source: str, target: str, amount: int) -> None:
    first, second = sorted((source, target))
    async with state.locks[first]:
        await asyncio.sleep(0.5)
        async with state.locks[second]:
            state.balance[source] -= amount
            await asyncio.sleep(0)
            state.balance[target] += amount


async def a_to_b(state: State) -> None:
    await asyncio.sleep(1.0)
    await transfer(state, "a", "b", 30)


async def b_to_a(state: State) -> None:
    await asyncio.sleep(1.0)
    await transfer(state, "b", "a", 50)


def setup() -> State:
    return State()


KIND = "decoy"
WORKERS = (a_to_b, b_to_a)


def check(state: State) -> None:
    assert state.balance == {"a": 120, "b": 80}, state.balance


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
