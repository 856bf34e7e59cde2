"""Check-then-act: a seat is checked free while another booking's payment completes.

Booking one sees seat 12A free at t=2, takes payment for 0.5 s and assigns it at t=2.5;
booking two checks the seat at t=2.5. Assignment first: the second is turned away.
Check first: both pay and the seat is sold twice.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.holder: str | None = None
        self.sold = 0


async def book(state: State, who: str) -> None:
    if state.holder is None:
        await asyncio.sleep(0.5)  # payment
        state.holder = who
        state.sold += 1


async def alice(state: State) -> None:
    await asyncio.sleep(2.0)
    await book(state, "alice")


async def bob(state: State) -> None:
    await asyncio.sleep(2.25)
    await asyncio.sleep(0.25)
    await book(state, "bob")


def setup() -> State:
    return State()


KIND = "check-act"
WORKERS = (alice, bob)


def check(state: State) -> None:
    assert state.sold == 1, f"the seat was sold {state.sold} times"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
