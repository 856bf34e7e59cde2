"""wait(return_when=FIRST_COMPLETED) returns as soon as the first task is done."""

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
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    print("완료된 작업 : ", [task.result() for task in done])
    print("안 끝난 작업 : ", sorted(pending, key=lambda task: task.get_name()))


asyncio.run(main())
