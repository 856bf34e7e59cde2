"""Equal-deadline tie: a liveness monitor and the heartbeat it waits for, both at t=3.

The worker beats every 3 s; the monitor checks at t=3 that a beat arrived within the
last 3 s. Run in asyncio's order the beat lands first; if the monitor's timer wins the
tie it sees the start-up beat 3 s old and declares a live worker dead.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.last_beat = 0.0
        self.declared_dead = False


async def beater(state: State) -> None:
    await asyncio.sleep(3.0)
    state.last_beat = asyncio.get_running_loop().time()


async def monitor(state: State) -> None:
    await asyncio.sleep(3.0)
    if asyncio.get_running_loop().time() - state.last_beat >= 3.0:
        state.declared_dead = True


def setup() -> State:
    return State()


KIND = "tie"
WORKERS = (beater, monitor)


def check(state: State) -> None:
    assert not state.declared_dead, "a live worker was declared dead"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
