"""Check-then-act: two requests fill a cache; the second checks as the first stores.

Request one misses at t=1 and fetches for 0.5 s; request two arrives at t=1.5, the
instant the first stores. Store first: a hit. Check first: a second fetch of the same key.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.cache: dict[str, str] = {}
        self.fetches = 0


async def get(state: State, key: str) -> str:
    if key not in state.cache:
        state.fetches += 1
        await asyncio.sleep(0.5)  # the backend call
        state.cache[key] = key.upper()
    return state.cache[key]


async def request_one(state: State) -> None:
    await asyncio.sleep(1.0)
    await get(state, "user")


async def request_two(state: State) -> None:
    await asyncio.sleep(1.25)
    await asyncio.sleep(0.25)
    await get(state, "user")


def setup() -> State:
    return State()


KIND = "check-act"
WORKERS = (request_one, request_two)


def check(state: State) -> None:
    assert state.fetches == 1, f"fetched {state.fetches} times"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
