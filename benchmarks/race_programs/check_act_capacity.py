"""Check-then-act over three joiners: a room of two, the third checks as the second joins.

Joiners check `len(members) < 2`, spend 0.25 s on a handshake, then join. They start at
t=0, t=0.25 and t=0.5, so each check lands on the instant the one before joins. asyncio
runs the join first; the room overfills when the third's check wins its tie at t=0.5
with the second's join (the tie at t=0.25 does not matter: the room has space then).
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.members: list[str] = []


async def join(state: State, who: str, at: float) -> None:
    if at:
        await asyncio.sleep(at - 0.125)
        await asyncio.sleep(0.125)
    if len(state.members) < 2:
        await asyncio.sleep(0.25)  # handshake
        state.members.append(who)


async def first(state: State) -> None:
    await join(state, "first", 0.0)


async def second(state: State) -> None:
    await join(state, "second", 0.25)


async def third(state: State) -> None:
    await join(state, "third", 0.5)


def setup() -> State:
    return State()


KIND = "check-act"
WORKERS = (first, second, third)


def check(state: State) -> None:
    assert len(state.members) <= 2, f"the room holds {len(state.members)}"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
