"""Lost wakeup: a consumer clears the "data ready" event after the producer set it.

The consumer finds no data at t=1, prepares for 0.5 s, then clears the event and waits
on it. The producer appends data and sets the event at t=1.5. Consumer first: it clears,
waits, and is woken. Producer first: the consumer clears the producer's signal and
waits forever.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.data: list[str] = []
        self.ready = asyncio.Event()
        self.consumed: list[str] = []


async def consumer(state: State) -> None:
    await asyncio.sleep(1.0)
    if not state.data:
        await asyncio.sleep(0.5)  # preparing a buffer
        state.ready.clear()
        await state.ready.wait()
    state.consumed.extend(state.data)


async def producer(state: State) -> None:
    await asyncio.sleep(1.25)
    await asyncio.sleep(0.25)
    state.data.append("payload")
    state.ready.set()


def setup() -> State:
    return State()


KIND = "wakeup"
WORKERS = (consumer, producer)


def check(state: State) -> None:
    assert state.consumed == ["payload"]


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
