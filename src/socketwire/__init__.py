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
    "Handshake",
    "Namespace",
    "RecoveryOptions",
    "RemoteSocket",
    "Server",
    "Socket",
    "SocketwireError",
    "SyncClient",
]
