"""The benchmark application with typed handlers (``socketwire_native.py --validated``).

The payload is the scenarios' own: a string (S1-S4, S6) or bytes (S5), of bounded length.
``Annotated`` makes it a type socketwire enforces (a bare ``str`` keeps the plain path), so
every event pays for the wrapper, pydantic's validation and the serialisation of the
acknowledgement: the difference with the untyped server is what validation costs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

import socketwire

__all__ = ["Payload", "add_typed_handlers"]

Payload = Annotated[str | bytes, Field(max_length=10_000_000)]


def add_typed_handlers(sio: socketwire.Server) -> None:
    """``echo`` (acknowledged with its payload) and ``broadcast``, as typed handlers."""

    @sio.on("connection")
    async def connection(socket: socketwire.Socket) -> None:
        @socket.on("echo")
        async def echo(data: Payload) -> Payload:
            return data

        @socket.on("broadcast")
        async def broadcast(data: Payload) -> None:
            sio.emit("bcast", data)
