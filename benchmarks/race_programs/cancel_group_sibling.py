"""Cancellation losing an item: a TaskGroup sibling fails while a reader holds a taken item.

In one TaskGroup a reader takes an item (put at t=1.0) and stores it 0.25 s later; a
validator rejects the batch at t=1.25, which cancels the reader. Store first: the item
is kept. Validator first: the reader is cancelled between taking the item and storing
it, and the item is in neither the queue nor the store.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.stored: list[str] = []


async def producer(state: State) -> None:
    await asyncio.sleep(1.0)
    state.queue.put_nowait("job-1")


async def reader(state: State) -> None:
    item = await state.queue.get()
    await asyncio.sleep(0.25)  # the store write
    state.stored.append(item)


async def validator(state: State) -> None:
    await asyncio.sleep(1.125)
    await asyncio.sleep(0.125)
    raise ValueError("batch rejected")


async def group(state: State) -> None:
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(reader(state))
            tasks.create_task(validator(state))
    except* ValueError:
        pass  # a rejected batch is retried later; what is queued or stored is safe


def setup() -> State:
    return State()


KIND = "cancel"
WORKERS = (producer, group)


def check(state: State) -> None:
    assert len(state.stored) + state.queue.qsize() == 1, "an item was lost on cancellation"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
