"""Drift: four 250 ms retries against a deadline with a 3 ms margin.

The client retries 4 times, 0.25 s apart, and succeeds on the last (t=1.0 on paper);
the caller's deadline is t=1.003. Only if the four steps together take more than 3 ms
of CPU time does the deadline fire first and report a failure that did not happen.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.succeeded = False
        self.gave_up = False


async def client(state: State) -> None:
    for _ in range(4):
        await asyncio.sleep(0.25)
    state.succeeded = True


async def deadline(state: State) -> None:
    await asyncio.sleep(1.003)
    if not state.succeeded:
        state.gave_up = True


def setup() -> State:
    return State()


KIND = "drift"
WORKERS = (client, deadline)


def check(state: State) -> None:
    assert not state.gave_up, "the deadline fired before the last retry succeeded"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
