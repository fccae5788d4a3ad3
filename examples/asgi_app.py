"""socketwire's ASGI app on its own, under any ASGI server.

Run it from this directory with any of::

    uvicorn asgi_app:app --port 8000 --ws-per-message-deflate false
    hypercorn asgi_app:app --bind 127.0.0.1:8000
    granian --interface asgi asgi_app:app --port 8000

Then ``GET /ping`` answers JSON, and a Socket.IO client at ``http://127.0.0.1:8000`` can
``emit("echo", data, ack)``: the acknowledgement carries ``data`` back.
"""

from __future__ import annotations

import json
from typing import Any

import socketwire
from socketwire.io.types import Receive, Scope, Send

__all__ = ["app", "sio"]

sio = socketwire.Server()


@sio.on("connection")
async def on_connection(socket: socketwire.Socket) -> None:
    """Answer every ``echo`` with its arguments."""

    @socket.on("echo")
    async def echo(data: Any) -> Any:
        return data


async def routes(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app for the other paths: ``/ping`` answers JSON, the rest 404."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        await send({"type": "websocket.close", "code": 1000})
        return
    found = scope["path"] == "/ping"
    body = json.dumps({"pong": "asgi"}).encode() if found else b"Not Found"
    headers = [
        (b"content-type", b"application/json" if found else b"text/plain"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200 if found else 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = socketwire.ASGIApp(sio, other_app=routes)
