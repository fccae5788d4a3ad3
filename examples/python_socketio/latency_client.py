"""python-socketio's "latency" client (examples/client/async/latency_client.py, MIT
License, Copyright (c) 2015 Miguel Grinberg), ported to socketwire: run latency.py first.
``main(url, pings)`` stops after ``pings`` round trips (the original runs forever).
"""

from __future__ import annotations

import asyncio
import sys
import time

import socketwire

#: Seconds between pings (the original: 1).
PAUSE = 1.0

client = socketwire.AsyncClient()  # sio = socketio.AsyncClient()
start_timer = 0.0
latencies: list[float] = []
enough: asyncio.Event | None = None  # set after main()'s `pings` round trips
wanted: int | None = None


async def send_ping() -> None:
    global start_timer
    start_timer = time.time()
    client.emit("ping_from_client")  # await sio.emit('ping_from_client'): not awaited


@client.on("connect")  # @sio.event async def connect()
async def connect() -> None:
    print("connected to server")
    await send_ping()


@client.on("pong_from_server")
async def pong_from_server() -> None:
    latency = time.time() - start_timer
    latencies.append(latency)
    print(f"latency is {latency * 1000:.2f} ms")
    if enough is not None and wanted is not None and len(latencies) >= wanted:
        enough.set()
        return
    await asyncio.sleep(PAUSE)  # await sio.sleep(1)
    if client.connected:
        await send_ping()


async def main(url: str = "http://localhost:5000", pings: int | None = None) -> None:
    global enough, wanted
    enough, wanted = asyncio.Event(), pings
    await client.connect(url)
    if pings is None:
        await client.wait()
    else:
        await enough.wait()
        await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:2]))
