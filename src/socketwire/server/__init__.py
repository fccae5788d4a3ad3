"""The Socket.IO server: namespaces, sockets, rooms, broadcasts, acknowledgements."""

from __future__ import annotations

from socketwire.server.errors import (
    AckError,
    AckTimeoutError,
    ConnectionRefusedError,
    DisconnectedError,
    SocketwireError,
)
from socketwire.server.handshake import Handshake
from socketwire.server.namespace import Namespace, ParentNamespace
from socketwire.server.operators import BroadcastOperator, RemoteSocket
from socketwire.server.recovery import RecoveryOptions
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
    "ParentNamespace",
    "RecoveryOptions",
    "RemoteSocket",
    "Server",
    "Socket",
    "SocketEmitter",
    "SocketwireError",
]
