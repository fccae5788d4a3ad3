"""Starlette routes, with socketwire beside them in one ASGI app.

Run it from this directory::

    uvicorn starlette_app:app --port 8000 --ws-per-message-deflate false

``GET /ping`` is a Starlette route; ``/socket.io/`` is socketwire's. A Socket.IO client at
``http://127.0.0.1:8000`` can ``emit("echo", data, ack)``: the acknowledgement carries
``data`` back.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import socketwire

__all__ = ["app", "sio", "web"]

sio = socketwire.Server()


async def ping(request: Request) -> JSONResponse:
    """A plain Starlette endpoint."""
    return JSONResponse({"pong": "starlette"})


web = Starlette(routes=[Route("/ping", ping)])


@sio.on("connection")
async def on_connection(socket: socketwire.Socket) -> None:
    """Answer every ``echo`` with its arguments."""

    @socket.on("echo")
    async def echo(data: Any) -> Any:
        return data


# socketwire answers its path (/socket.io/) and passes everything else, lifespan events
# included, to Starlette.
# uvicorn runs with --ws-per-message-deflate false (see the docstring)
app = socketwire.ASGIApp(sio, other_app=web, ws_compression=False)
