"""The machines run as background tasks while main showers and studies: 4 seconds in all."""

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
    washing_task = asyncio.create_task(chore("세탁기", 4), name="washing_task")
    vacuum_task = asyncio.create_task(chore("로봇청소기", 3), name="vacuum_task")

    await chore("샤워", 2)
    await chore("공부", 2)

    await washing_task
    await vacuum_task
    print(f"\n[최종 종료 시각] {time.time() - start:4.1f}초")


asyncio.run(main())
