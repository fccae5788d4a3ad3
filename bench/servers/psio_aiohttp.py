"""python-socketio 5.x (AsyncServer) on aiohttp: the Python peer, its native deployment."""

from __future__ import annotations

from typing import Any

import socketio  # type: ignore[import-untyped]
import uvloop
from _common import parse_args, raise_nofile
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=10_000_000)


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


def main() -> None:
    """Serve on aiohttp with uvloop."""
    args = parse_args(__doc__ or "")
    join_cluster(args.redis)
    raise_nofile()
    app = web.Application()
    sio.attach(app)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        backlog=4096,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
