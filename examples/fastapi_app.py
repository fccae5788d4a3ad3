"""FastAPI routes, with socketwire beside them in one ASGI app.

Run it from this directory::

    uvicorn fastapi_app:app --port 8000 --ws-per-message-deflate false

``GET /ping`` is a FastAPI route; ``/socket.io/`` is socketwire's. A Socket.IO client at
``http://127.0.0.1:8000`` can ``emit("echo", data, ack)``: the acknowledgement carries
``data`` back.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import socketwire

__all__ = ["api", "app", "sio"]

sio = socketwire.Server()
api = FastAPI()


@api.get("/ping")
async def ping() -> dict[str, str]:
    """A plain FastAPI route."""
    return {"pong": "fastapi"}


@sio.on("connection")
async def on_connection(socket: socketwire.Socket) -> None:
    """Answer every ``echo`` with its arguments."""

    @socket.on("echo")
    async def echo(data: Any) -> Any:
        return data


# socketwire answers its path (/socket.io/) and passes everything else, lifespan events
# included, to FastAPI.
# uvicorn runs with --ws-per-message-deflate false (see the docstring)
app = socketwire.ASGIApp(sio, other_app=api, ws_compression=False)
