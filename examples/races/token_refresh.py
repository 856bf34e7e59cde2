"""A check-then-act race: a request and the token refresh meet at the same tick.

The token expires at t=60. The refresher sleeps until then and swaps in a new
token; a request that arrives at t=60 checks the token and uses it. Started in
this order, asyncio runs the refresher first at t=60 and every request succeeds.
But two timers due at the same instant have no order by contract: under load,
the request can run first and use the expired token.

    python examples/races/token_refresh.py           # passes, as asyncio orders it
    simclock explore: see tests/test_races.py
"""

import asyncio

EXPIRES_AT = 60.0


class Tokens:
    def __init__(self) -> None:
        self.token = "token-1"
        self.valid_until = asyncio.get_running_loop().time() + EXPIRES_AT

    async def refresher(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(EXPIRES_AT)
        self.token, self.valid_until = "token-2", loop.time() + EXPIRES_AT

    def use(self) -> str:
        loop = asyncio.get_running_loop()
        if loop.time() >= self.valid_until:
            raise AssertionError(f"a request used {self.token} after it expired")
        return self.token


async def request(tokens: Tokens, at: float) -> str:
    await asyncio.sleep(at)
    return tokens.use()


async def main() -> list[str]:
    tokens = Tokens()
    refresher = asyncio.create_task(tokens.refresher(), name="refresher")
    used = await asyncio.gather(*(request(tokens, at) for at in (30.0, 60.0, 90.0)))
    await refresher
    return used


if __name__ == "__main__":
    print(asyncio.run(main()))
