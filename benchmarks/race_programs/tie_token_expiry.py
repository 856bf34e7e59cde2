"""Equal-deadline tie: a request checks a token at the very instant it is renewed.

The token is valid for [0, 10). The renewer sleeps 10 s and swaps in a fresh one; a
request also sleeps 10 s and uses the token. asyncio happens to run the renewer's timer
first; if the request's timer runs first at t=10 it uses the expired token.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.valid_until = 10.0
        self.stale_uses = 0


async def renewer(state: State) -> None:
    await asyncio.sleep(10.0)
    state.valid_until = asyncio.get_running_loop().time() + 10.0


async def request(state: State) -> None:
    await asyncio.sleep(10.0)
    if asyncio.get_running_loop().time() >= state.valid_until:
        state.stale_uses += 1


def setup() -> State:
    return State()


KIND = "tie"
WORKERS = (renewer, request)


def check(state: State) -> None:
    assert state.stale_uses == 0, "a request used an expired token"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
