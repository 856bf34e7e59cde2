"""Retry a flaky call with exponential backoff: waits of 0.5, 1, 2 and 4 seconds, then success."""

import asyncio
import time

start = time.monotonic()


class FlakyService:
    """Fails the first `failures` calls, then answers."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    async def fetch(self):
        self.calls += 1
        await asyncio.sleep(0.1)  # the round trip
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls} refused")
        return "payload"


async def with_backoff(call, *, attempts=6, first_delay=0.5, factor=2.0):
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ConnectionError as error:
            if attempt == attempts:
                raise
            print(f"{time.monotonic() - start:5.1f}s  {error}; retrying in {delay:g}s")
            await asyncio.sleep(delay)
            delay *= factor
    raise AssertionError("unreachable")


async def main():
    service = FlakyService(failures=4)
    result = await asyncio.wait_for(with_backoff(service.fetch), timeout=30)
    print(f"{time.monotonic() - start:5.1f}s  got {result!r} after {service.calls} calls")


asyncio.run(main())
