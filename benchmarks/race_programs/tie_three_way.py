"""Equal-deadline tie among three: the last of three timers at t=2 must not run first.

A loader, a migrator and a server all wake at t=2. The server asserts that config
is loaded; the migrator only reads it. asyncio runs them as created (loader first);
the bug needs the server's timer ahead of the loader's, with a bystander in between.
"""

import asyncio


class State:
    def __init__(self) -> None:
        self.config: dict[str, int] | None = None
        self.served_unconfigured = False
        self.migrated = 0


async def loader(state: State) -> None:
    await asyncio.sleep(2.0)
    state.config = {"port": 8080}


async def migrator(state: State) -> None:
    await asyncio.sleep(2.0)
    state.migrated += 1


async def server(state: State) -> None:
    await asyncio.sleep(2.0)
    if state.config is None:
        state.served_unconfigured = True


def setup() -> State:
    return State()


KIND = "tie"
WORKERS = (loader, migrator, server)


def check(state: State) -> None:
    assert not state.served_unconfigured, "the server started before its config loaded"


async def main() -> None:
    state = setup()
    await asyncio.gather(*(worker(state) for worker in WORKERS))
    check(state)
