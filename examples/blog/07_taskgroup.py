"""A TaskGroup block ends only when every task created in it has finished."""

import asyncio
import time

start = time.time()


async def fetch_data(letter):
    await asyncio.sleep(68 - ord(letter))  # A: 3 s, B: 2 s, C: 1 s
    print(f"{time.time() - start:4.1f}초 :: {letter}")
    return letter.lower()


async def main():
    async with asyncio.TaskGroup() as group:
        task_a = group.create_task(fetch_data("A"))
        task_b = group.create_task(fetch_data("B"))
        c_result = await fetch_data("C")

    print("out of tg block")
    print(task_a.result(), task_b.result(), c_result)


asyncio.run(main())
