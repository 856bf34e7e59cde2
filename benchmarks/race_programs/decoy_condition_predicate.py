"""Decoy: a condition waited on with its predicate, notified at the same instant.

Like the lost-wakeup programs, the notifier and the waiter meet at t=2; but the waiter
uses `Condition.wait_for(predicate)`, which checks the flag under the lock before
waiting, so a notify that came first is not lost. Must never fail.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.ready = asyncio.Condition()
        self.flag = False
        self.woken = False


async def waiter(state: State) -> None:
    await asyncio.sleep(2.0)
    async with state.ready:
        await state.ready.wait_for(lambda: state.flag)
        state.woken = True


async def notifier(state: State) -> None:
    await asyncio.sleep(2.0)
    async with state.ready:
        state.flag = True
        state.ready.notify_all()


def setup() -> State:
    return State()


KIND = "decoy"
WORKERS = (waiter, notifier)


def check(state: State) -> None:
    assert state.woken


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
