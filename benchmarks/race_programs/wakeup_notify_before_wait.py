"""Lost wakeup: `Condition.wait()` with no predicate, and the notify at the same instant.

At t=2 the waiter takes the condition and waits; the notifier takes it and notifies.
Waiter first: it is woken. Notifier first: the notify finds nobody waiting, nothing
records it, and the waiter waits forever (a deadlock).
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.ready = asyncio.Condition()
        self.woken = False


async def waiter(state: State) -> None:
    await asyncio.sleep(2.0)
    async with state.ready:
        await state.ready.wait()
        state.woken = True


async def notifier(state: State) -> None:
    await asyncio.sleep(2.0)
    async with state.ready:
        state.ready.notify_all()


def setup() -> State:
    return State()


KIND = "wakeup"
WORKERS = (waiter, notifier)


def check(state: State) -> None:
    assert state.woken


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
