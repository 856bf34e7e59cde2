"""Lost wakeup: an Event "pulsed" (set then cleared at once) as a waiter arrives.

At t=1 the pulser sets and clears the event; the waiter starts waiting at t=1 too.
Already waiting, it is woken (its future was resolved by `set`); arriving after the
pulse, it finds the event clear and waits forever.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.tick = asyncio.Event()
        self.woken = False


async def waiter(state: State) -> None:
    await asyncio.sleep(1.0)
    await state.tick.wait()
    state.woken = True


async def pulser(state: State) -> None:
    await asyncio.sleep(1.0)
    state.tick.set()
    state.tick.clear()


def setup() -> State:
    return State()


KIND = "wakeup"
WORKERS = (waiter, pulser)


def check(state: State) -> None:
    assert state.woken


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
