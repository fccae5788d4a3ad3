"""python-socketio's "fiddle" client (examples/client/async/fiddle_client.py, MIT License,
Copyright (c) 2015 Miguel Grinberg), ported to socketwire: run fiddle.py first.
"""

from __future__ import annotations

import asyncio
import sys

import socketwire

client = socketwire.AsyncClient()  # sio = socketio.AsyncClient()


@client.on("connect")  # @sio.event async def connect()
async def connect() -> None:
    print("connected to server")


@client.on("disconnect")
async def disconnect(reason: str) -> None:
    print("disconnected from server, reason:", reason)


@client.on("hello")  # @sio.event def hello(a, b, c)
def hello(a: int, b: int, c: dict[str, str]) -> None:
    print(a, b, c)


async def start_server(url: str = "http://localhost:5000") -> None:
    await client.connect(url, auth={"token": "my-token"})
    await client.wait()


if __name__ == "__main__":
    asyncio.run(start_server(*sys.argv[1:]))
