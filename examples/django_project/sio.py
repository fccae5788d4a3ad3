"""The project's Socket.IO server."""

from __future__ import annotations

from typing import Any

import socketwire

__all__ = ["sio"]

sio = socketwire.Server()


@sio.on("connection")
async def on_connection(socket: socketwire.Socket) -> None:
    """Answer every ``echo`` with its arguments."""

    @socket.on("echo")
    async def echo(data: Any) -> Any:
        return data
