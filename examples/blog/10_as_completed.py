"""as_completed hands results over in the order the work finishes."""

import asyncio
import time

start = time.time()


async def fetch_data(letter, seconds):
    await asyncio.sleep(seconds)
    print(f"{time.time() - start:4.1f}초 :: {letter}")
    return letter.lower()


async def main():
    tasks = [
        asyncio.create_task(fetch_data("A", 3)),
        asyncio.create_task(fetch_data("B", 2)),
        asyncio.create_task(fetch_data("C", 1)),
    ]
    for next_done in asyncio.as_completed(tasks):
        result = await next_done
        print(f"처리 완료 : {result}\n")


asyncio.run(main())
