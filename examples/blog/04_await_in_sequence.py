"""Four chores awaited one after another: 4 + 3 + 2 + 2 = 11 seconds."""

import asyncio
import time

start = time.time()


def log(message):
    print(f"{time.time() - start:4.1f}초 :: {message}")


async def chore(name, seconds):
    log(f"{name} 시작")
    await asyncio.sleep(seconds)
    log(f"{name} 종료")


async def main():
    await chore("세탁기", 4)
    await chore("로봇청소기", 3)
    await chore("샤워", 2)
    await chore("공부", 2)
    print(f"\n[최종 종료 시각] {time.time() - start:4.1f}초")


asyncio.run(main())
