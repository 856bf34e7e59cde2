"""Timeout racing a result: `wait_for` on a reply delivered at the timeout's instant.

The caller waits up to 1 s for the payment service's reply and, on TimeoutError,
charges again (it takes the first charge to have failed). The service's transport
delivers the reply in a loop callback at t=1.0. Timeout first: the reply future is
cancelled and the delivery skips the charge. Delivery first: it charges and replies, the
caller is cancelled by its timeout all the same, and charges a second time.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.reply: asyncio.Future[str] | None = None
        self.charges = 0


async def caller(state: State) -> None:
    state.reply = asyncio.get_running_loop().create_future()
    try:
        await asyncio.wait_for(state.reply, 1.0)
    except TimeoutError:
        state.charges += 1  # retry: the first charge "did not happen"


async def service(state: State) -> None:
    reply = state.reply
    assert reply is not None

    def deliver() -> None:  # the transport's callback
        if not reply.cancelled():
            state.charges += 1
            reply.set_result("charged")

    asyncio.get_running_loop().call_later(1.0, deliver)


def setup() -> State:
    return State()


KIND = "timeout"
WORKERS = (caller, service)


def check(state: State) -> None:
    assert state.charges == 1, f"charged {state.charges} times"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
