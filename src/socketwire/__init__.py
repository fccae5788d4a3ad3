"""socketwire: Socket.IO for Python, wire-compatible with the official JavaScript packages."""

from __future__ import annotations

from socketwire.client import AsyncClient, BufferFullError, ConnectError, SyncClient
from socketwire.io.asgi import ASGIApp
from socketwire.server import (
    AckError,
    AckTimeoutError,
    BroadcastOperator,
    ConnectionRefusedError,
    DisconnectedError,
    Handshake,
    Namespace,
    RecoveryOptions,
    RemoteSocket,
    Server,
    Socket,
    SocketwireError,
)

__all__ = [
    "ASGIApp",
    "AckError",
    "AckTimeoutError",
    "AsyncClient",
    "BroadcastOperator",
    "BufferFullError",
    "ConnectError",
    "ConnectionRefusedError",
    "DisconnectedError",
    "Emitter",
    "Handshake",
    "Namespace",
    "RecoveryOptions",
    "RemoteSocket",
    "Server",
    "Socket",
    "SocketwireError",
    "SyncClient",
]


def __getattr__(name: str) -> object:
    # Emitter needs the optional redis package: import it only when asked for.
    if name == "Emitter":
        from socketwire.adapters.emitter import Emitter

        return Emitter
    raise AttributeError(f"module 'socketwire' has no attribute {name!r}")
