"""A lost update across an await: two increments that asyncio happens to keep apart.

Each increment reads the counter, saves for 0.1 s, then writes read + 1. The
second caller starts at t=1.0, just after the first, and reads at t=1.1: the
very instant the first writes. asyncio fires the first's timer first (it was
scheduled first), so the read sees the write. Swapped, the read sees the old
value and one increment is lost.
"""

import asyncio


class Counter:
    def __init__(self) -> None:
        self.value = 0

    async def increment(self) -> None:
        current = self.value
        await asyncio.sleep(0.1)  # saving
        self.value = current + 1


async def first(counter: Counter) -> None:
    await asyncio.sleep(1.0)
    await counter.increment()


async def second(counter: Counter) -> None:
    await asyncio.sleep(1.0)
    await asyncio.sleep(0.1)  # arrives as the first caller's save ends
    await counter.increment()


async def main() -> int:
    counter = Counter()
    await asyncio.gather(first(counter), second(counter))
    assert counter.value == 2, f"an increment was lost: counter is {counter.value}"
    return counter.value


if __name__ == "__main__":
    print(asyncio.run(main()))
