"""A lock-order deadlock that needs one interleaving.

`transfer` takes the source account's lock, then the target's. One transfer
goes a -> b, the other b -> a, each with an await between the two acquires.
As asyncio orders them, the first finishes before the second starts; if the
second wins the tie at t=1.5, each holds one lock and waits for the other
forever (on a virtual clock: `simclock.Deadlock`, at once).
"""

import asyncio


async def transfer(locks: dict[str, asyncio.Lock], source: str, target: str) -> None:
    async with locks[source]:
        await asyncio.sleep(0.5)  # reading the balance
        async with locks[target]:
            await asyncio.sleep(0)


async def a_to_b(locks: dict[str, asyncio.Lock]) -> None:
    await asyncio.sleep(1.0)
    await transfer(locks, "a", "b")


async def b_to_a(locks: dict[str, asyncio.Lock]) -> None:
    await asyncio.sleep(1.0)
    await asyncio.sleep(0.5)
    await transfer(locks, "b", "a")


async def main() -> str:
    locks = {"a": asyncio.Lock(), "b": asyncio.Lock()}
    await asyncio.gather(a_to_b(locks), b_to_a(locks))
    return "both transfers done"


if __name__ == "__main__":
    print(asyncio.run(main()))
