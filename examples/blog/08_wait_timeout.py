"""wait(timeout=3) returns what is done by then; A, due at that instant, finishes just after."""

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
    done, pending = await asyncio.wait(tasks, timeout=3)
    finished = sorted((task.result() for task in done), reverse=True)  # C finished before B
    print("완료된 작업 : ", finished)
    print("안 끝난 작업 : ", list(pending))


asyncio.run(main())
