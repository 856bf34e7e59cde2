"""gather returns results in argument order, whatever order the work finishes in."""

import asyncio
import time

start = time.time()


async def fetch_data(letter):
    await asyncio.sleep(68 - ord(letter))  # A: 3 s, B: 2 s, C: 1 s
    print(f"{time.time() - start:4.1f}초 :: {letter}")
    return letter.lower()


async def main():
    results = await asyncio.gather(fetch_data("A"), fetch_data("B"), fetch_data("C"))
    print(f"\nresults :: {results}")


asyncio.run(main())
