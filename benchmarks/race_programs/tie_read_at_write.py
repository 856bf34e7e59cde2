"""Equal-deadline tie: a read-modify-write whose read lands on the instant of another's write.

Two increments each read, wait 0.5 s, then write read + 1. The second starts 0.5 s after
the first, so its read is due at t=1.0, the instant the first writes. asyncio runs the
write first; the other order reads the old value and one increment is lost.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.value = 0


async def increment(state: State) -> None:
    read = state.value
    await asyncio.sleep(0.5)
    state.value = read + 1


async def first(state: State) -> None:
    await asyncio.sleep(0.5)
    await increment(state)


async def second(state: State) -> None:
    await asyncio.sleep(0.75)
    await asyncio.sleep(0.25)
    await increment(state)


def setup() -> State:
    return State()


KIND = "tie"
WORKERS = (first, second)


def check(state: State) -> None:
    assert state.value == 2, f"an increment was lost: {state.value}"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
