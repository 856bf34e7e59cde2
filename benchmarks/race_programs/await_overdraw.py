"""Await point: a balance check and the debit it guards, with I/O in between.

Two withdrawals of 80 from 100; each checks the balance, does I/O (`sleep(0)`) and
debits. The second starts two steps later, so in asyncio's round-robin it checks after
the first has debited and refuses. If the first one's I/O takes longer, both checks
pass and the account is overdrawn.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.balance = 100


async def withdraw(state: State, amount: int) -> None:
    if state.balance >= amount:
        await asyncio.sleep(0)  # I/O: the ledger write
        state.balance -= amount


async def first(state: State) -> None:
    await withdraw(state, 80)


async def second(state: State) -> None:
    await asyncio.sleep(0)  # I/O: authentication
    await asyncio.sleep(0)
    await withdraw(state, 80)


def setup() -> State:
    return State()


KIND = "await"
WORKERS = (first, second)


def check(state: State) -> None:
    assert state.balance >= 0, f"overdrawn: balance {state.balance}"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
