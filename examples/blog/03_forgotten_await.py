"""asyncio.sleep without await does nothing: 0.0 s, and a "never awaited" warning."""

import asyncio
import time


async def timer_async():
    start = time.time()
    asyncio.sleep(2)
    print(f"{time.time() - start:3.1f}초 :: wakeup!")


asyncio.run(timer_async())
