"""Calling an async function only makes a coroutine object; awaiting it runs it."""

import asyncio


async def fetch_data():
    return "데이터"


async def main():
    result = fetch_data()
    print(f"1 : {result}")

    result = await fetch_data()
    print(f"2 : {result}")


asyncio.run(main())
