"""A fast producer and two slow consumers sharing a bounded asyncio.Queue."""

import asyncio
import time

start = time.time()


def log(message):
    print(f"{time.time() - start:4.1f}s  {message}")


async def producer(queue, items):
    for item in items:
        await queue.put(item)
        log(f"produced {item}")
        await asyncio.sleep(0.5)
    await queue.join()
    log("all work done")


async def consumer(name, queue, seconds):
    while True:
        item = await queue.get()
        await asyncio.sleep(seconds)
        log(f"{name} finished {item}")
        queue.task_done()


async def main():
    queue = asyncio.Queue(maxsize=2)
    workers = [
        asyncio.create_task(consumer("fast", queue, 1.0)),
        asyncio.create_task(consumer("slow", queue, 2.2)),
    ]
    await producer(queue, ["a", "b", "c", "d", "e"])
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)


asyncio.run(main())
