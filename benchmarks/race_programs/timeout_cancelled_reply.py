"""Timeout racing a result: a reply set on a future the timeout already cancelled.

The caller gives the server 1 s (`wait_for`); the server's transport callback answers at
t=1.0 with a bare `set_result`. Reply first: the result is set (the caller still times
out, harmlessly). Timeout first: the future is cancelled and `set_result` raises
InvalidStateError inside the transport.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.transport_crashed = False


async def server(state: State) -> None:
    def answer() -> None:  # the transport's callback
        try:
            state.reply.set_result("pong")
        except asyncio.InvalidStateError:
            state.transport_crashed = True

    asyncio.get_running_loop().call_later(1.0, answer)


async def caller(state: State) -> None:
    try:
        await asyncio.wait_for(state.reply, 1.0)
    except TimeoutError:
        pass


def setup() -> State:
    return State()


KIND = "timeout"
WORKERS = (server, caller)


def check(state: State) -> None:
    assert not state.transport_crashed, "set_result on a future the timeout cancelled"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
