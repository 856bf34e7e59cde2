"""Decoy: check-then-act with no await in between, under ties and I/O awaits.

Three bookings of one seat meet at t=2, each after I/O (`sleep(0)`), but each checks
and takes the seat in one synchronous step, which asyncio never interleaves. Must
never fail.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.holder: str | None = None
        self.sold = 0


async def book(state: State, who: str) -> None:
    await asyncio.sleep(2.0)
    await asyncio.sleep(0)  # I/O: loading the seat map
    if state.holder is None:
        state.holder = who
        state.sold += 1
    await asyncio.sleep(0)  # I/O: the confirmation


async def alice(state: State) -> None:
    await book(state, "alice")


async def bob(state: State) -> None:
    await book(state, "bob")


async def carol(state: State) -> None:
    await book(state, "carol")


def setup() -> State:
    return State()


KIND = "decoy"
WORKERS = (alice, bob, carol)


def check(state: State) -> None:
    assert state.sold == 1, f"the seat was sold {state.sold} times"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
