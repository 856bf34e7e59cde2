"""Await point: lazy initialisation that awaits between "is it made?" and "made it".

Two users of a shared connection create it on first use; connecting is I/O
(`sleep(0)`). The second user arrives one step later and, in asyncio's order, finds the
connection made. If the first connect takes longer, both connect.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.connection: object | None = None
        self.connects = 0


async def connection(state: State) -> object:
    if state.connection is None:
        state.connects += 1
        await asyncio.sleep(0)  # I/O: the handshake
        state.connection = object()
    return state.connection


async def first(state: State) -> None:
    await connection(state)


async def second(state: State) -> None:
    await asyncio.sleep(0)  # I/O: reading a request
    await connection(state)


def setup() -> State:
    return State()


KIND = "await"
WORKERS = (first, second)


def check(state: State) -> None:
    assert state.connects == 1, f"connected {state.connects} times"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
