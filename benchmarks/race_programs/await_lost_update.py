"""Await point: read-modify-write across two I/O awaits, the other writer two steps behind.

The first worker reads a counter, does two I/O steps, writes read + 1; the second does
two I/O steps first, then the same. In asyncio's round-robin the second reads just after
the first writes. If the first's I/O is slower, the second reads the old value too.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.value = 0


async def increment(state: State) -> None:
    read = state.value
    await asyncio.sleep(0)  # I/O
    await asyncio.sleep(0)  # I/O
    state.value = read + 1


async def first(state: State) -> None:
    await increment(state)


async def second(state: State) -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await increment(state)


def setup() -> State:
    return State()


KIND = "await"
WORKERS = (first, second)


def check(state: State) -> None:
    assert state.value == 2, f"an increment was lost: {state.value}"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
