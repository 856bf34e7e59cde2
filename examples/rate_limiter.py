"""A token bucket on time.monotonic(): 2 requests a second, bursts of 3."""

import asyncio
import time

start = time.monotonic()


class TokenBucket:
    def __init__(self, rate, capacity):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = time.monotonic()

    def _refill(self):
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self):
        self._refill()
        while self.tokens < 1:
            await asyncio.sleep((1 - self.tokens) / self.rate)
            self._refill()
        self.tokens -= 1


async def request(bucket, number):
    await bucket.acquire()
    print(f"{time.monotonic() - start:4.1f}s  request {number} sent")


async def main():
    bucket = TokenBucket(rate=2, capacity=3)
    for number in range(1, 9):
        await request(bucket, number)


asyncio.run(main())
