"""python-socketio 5.x (AsyncServer, ASGI) under uvicorn: the Python peer, ASGI deployment."""

from __future__ import annotations

from typing import Any

import socketio  # type: ignore[import-untyped]
from _common import parse_args, run_uvicorn

sio = socketio.AsyncServer(async_mode="asgi", max_http_buffer_size=10_000_000)


def join_cluster(url: str | None) -> None:
    """Send broadcasts through Redis (S6): python-socketio's own ``AsyncRedisManager``.

    Its wire format is not Node's; S6 compares each server family with itself.

    Args:
        url: the Redis server, or None for a single node.
    """
    if url:
        sio.manager = socketio.AsyncRedisManager(url)
        sio.manager.set_server(sio)


@sio.on("echo")  # type: ignore[untyped-decorator]
async def echo(sid: str, data: Any = None) -> Any:
    """Acknowledge with the payload: S1, S4 (text) and S5 (binary)."""
    return data


@sio.on("broadcast")  # type: ignore[untyped-decorator]
async def broadcast(sid: str, data: Any = None) -> None:
    """Send the payload to every connected client: S2 (S6: of the cluster)."""
    await sio.emit("bcast", data)


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    join_cluster(args.redis)
    run_uvicorn(socketio.ASGIApp(sio), args)
