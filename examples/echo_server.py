"""An echo server and a client in one process, with virtual delays and a timeout that fires."""

import asyncio
import time

start = time.monotonic()


def log(message):
    print(f"{time.monotonic() - start:4.1f}s  {message}")


async def handle(reader, writer):
    try:
        while line := await reader.readline():
            word = line.decode().strip()
            delay = 0.5 if word == "slow" else 0.1
            await asyncio.sleep(delay)
            writer.write(f"echo {word}\n".encode())
            await writer.drain()
    finally:
        writer.close()  # also when the run ends first and cancels this handler


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for word in ["hello", "slow", "world"]:
        writer.write(f"{word}\n".encode())
        try:
            reply = await asyncio.wait_for(reader.readline(), timeout=0.3)
            log(f"sent {word!r}, got {reply.decode().strip()!r}")
        except TimeoutError:
            log(f"sent {word!r}, no reply within 0.3 s")
            log(f"late reply: {(await reader.readline()).decode().strip()!r}")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    log("done")


asyncio.run(main())
