"""The floor: a bare WebSocket server (the ``websockets`` library), no Engine.IO/Socket.IO.

What it measures: the cost of WebSocket framing on asyncio + uvloop and nothing else. It echoes
every message verbatim (S1, S5: the load generator sends the very bytes a Socket.IO client
would), and a text message starting with ``42["broadcast"`` is sent verbatim to every
connection instead (S2). It speaks no polling (S4 does not apply).
"""

from __future__ import annotations

import argparse

from _common import raise_nofile, run_loop
from websockets.asyncio.server import ServerConnection, broadcast, serve

BROADCAST_PREFIX = '42["broadcast"'


async def main(args: argparse.Namespace) -> None:
    """Serve until terminated."""
    raise_nofile()

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            if isinstance(message, str) and message.startswith(BROADCAST_PREFIX):
                broadcast(server.connections, message)
            else:
                await ws.send(message)

    async with serve(
        handler,
        args.host,
        args.port,
        compression=None,
        max_size=10_000_000,
        ping_interval=None,
        backlog=4096,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    run_loop(main)
