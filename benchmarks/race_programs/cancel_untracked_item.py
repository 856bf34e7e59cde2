"""Cancellation losing an item: a consumer cancelled after taking it, before tracking it.

The consumer takes the one queued item at t=0, decodes it for 0.5 s, records it as
in-flight, then handles it; cancelled, it puts an in-flight item back. The supervisor
cancels it at t=0.5. If the consumer's timer runs first the item is in flight and goes
back; if the cancel comes first the item is still only a local variable, and is lost.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queue.put_nowait("job-1")
        self.in_flight: str | None = None
        self.done: list[str] = []
        self.task: asyncio.Task[None] | None = None


async def consumer(state: State) -> None:
    state.task = asyncio.current_task()
    try:
        item = await state.queue.get()
        await asyncio.sleep(0.5)  # decoding
        state.in_flight = item
        await asyncio.sleep(0.5)  # handling
        state.done.append(item)
        state.in_flight = None
    except asyncio.CancelledError:  # shutting down: put back what is in flight
        if state.in_flight is not None:
            state.queue.put_nowait(state.in_flight)


async def supervisor(state: State) -> None:
    await asyncio.sleep(0.5)
    assert state.task is not None
    state.task.cancel()


def setup() -> State:
    return State()


KIND = "cancel"
WORKERS = (consumer, supervisor)


def check(state: State) -> None:
    assert len(state.done) + state.queue.qsize() == 1, "an item was lost on cancellation"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
