"""A blocking time.sleep inside an async def still takes its full 2 seconds."""

import asyncio
import time


async def timer_sync():
    start = time.time()
    time.sleep(2)
    print(f"{time.time() - start:3.1f} :: wakeup!")


asyncio.run(timer_sync())
