"""The Socket.IO server: namespaces, sockets, rooms, broadcasts, acknowledgements."""

from __future__ import annotations

from socketwire.adapters.types import Handshake, RecoveryOptions
from socketwire.errors import (
    AckError,
    AckTimeoutError,
    ConnectionRefusedError,
    DisconnectedError,
    PayloadError,
    SocketwireError,
)
from socketwire.server.namespace import Namespace, ParentNamespace
from socketwire.server.operators import BroadcastOperator, RemoteSocket
from socketwire.server.routes import NamespaceHandlers
from socketwire.server.server import Server
from socketwire.server.socket import Socket, SocketEmitter

__all__ = [
    "AckError",
    "AckTimeoutError",
    "BroadcastOperator",
    "ConnectionRefusedError",
    "DisconnectedError",
    "Handshake",
    "Namespace",
    "NamespaceHandlers",
    "ParentNamespace",
    "PayloadError",
    "RecoveryOptions",
    "RemoteSocket",
    "Server",
    "Socket",
    "SocketEmitter",
    "SocketwireError",
]
