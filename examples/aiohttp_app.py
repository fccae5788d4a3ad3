"""aiohttp routes, with socketwire attached to the same application.

Run it from this directory::

    python aiohttp_app.py --port 8000

``GET /ping`` is an aiohttp route; ``/socket.io/`` is socketwire's. A Socket.IO client at
``http://127.0.0.1:8000`` can ``emit("echo", data, ack)``: the acknowledgement carries
``data`` back. The script prints ``listening on http://HOST:PORT`` once it accepts
connections (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from aiohttp import web

import socketwire
from socketwire.io.aiohttp import attach

__all__ = ["make_app", "sio"]

sio = socketwire.Server()


@sio.on("connection")
async def on_connection(socket: socketwire.Socket) -> None:
    """Answer every ``echo`` with its arguments."""

    @socket.on("echo")
    async def echo(data: Any) -> Any:
        return data


async def ping(request: web.Request) -> web.Response:
    """A plain aiohttp route."""
    return web.json_response({"pong": "aiohttp"})


def make_app() -> web.Application:
    """The aiohttp application: its routes, and socketwire on its path."""
    app = web.Application()
    app.router.add_get("/ping", ping)
    attach(sio, app)
    return app


async def serve(host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then shut down (closing the Socket.IO sessions)."""
    # handler_cancellation: a long-polling request learns at once that its client left.
    runner = web.AppRunner(make_app(), handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        print(f"listening on http://{bound_host}:{bound_port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Parse ``--host`` and ``--port`` and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
