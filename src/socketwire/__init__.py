"""socketwire: Socket.IO for Python, wire-compatible with the official JavaScript packages.

The names below are imported on first use (as ``websockets`` does), so that importing one
part of the package (a protocol core, an adapter) loads nothing else, and no import cycle
can hide behind an eager ``__init__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socketwire.adapters.emitter import Emitter
    from socketwire.adapters.types import Handshake, RecoveryOptions
    from socketwire.cli import run
    from socketwire.client import (
        AsyncClient,
        BufferFullError,
        ConnectError,
        SimpleClient,
        SyncClient,
        SyncSimpleClient,
        TransportError,
    )
    from socketwire.errors import (
        AckAlreadySentError,
        AckError,
        AckTimeoutError,
        ConnectionRefusedError,
        DisconnectedError,
        PayloadError,
        SocketwireError,
    )
    from socketwire.handlers import Ack
    from socketwire.io.asgi import ASGIApp
    from socketwire.io.wsgi import WSGIApp
    from socketwire.server import (
        BroadcastOperator,
        Namespace,
        NamespaceHandlers,
        RemoteSocket,
        Server,
        Socket,
    )

__all__ = [
    "ASGIApp",
    "Ack",
    "AckAlreadySentError",
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
    "NamespaceHandlers",
    "PayloadError",
    "RecoveryOptions",
    "RemoteSocket",
    "Server",
    "SimpleClient",
    "Socket",
    "SocketwireError",
    "SyncClient",
    "SyncSimpleClient",
    "TransportError",
    "WSGIApp",
    "run",
]

#: Where each public name lives.
_LAZY: dict[str, str] = {
    "ASGIApp": "socketwire.io.asgi",
    "Ack": "socketwire.handlers",
    "AckAlreadySentError": "socketwire.errors",
    "AckError": "socketwire.errors",
    "AckTimeoutError": "socketwire.errors",
    "AsyncClient": "socketwire.client",
    "BroadcastOperator": "socketwire.server",
    "BufferFullError": "socketwire.client",
    "ConnectError": "socketwire.client",
    "ConnectionRefusedError": "socketwire.errors",
    "DisconnectedError": "socketwire.errors",
    # needs the optional redis package
    "Emitter": "socketwire.adapters.emitter",
    "Handshake": "socketwire.adapters.types",
    "Namespace": "socketwire.server",
    "NamespaceHandlers": "socketwire.server",
    "PayloadError": "socketwire.errors",
    "RecoveryOptions": "socketwire.adapters.types",
    "RemoteSocket": "socketwire.server",
    "Server": "socketwire.server",
    "Socket": "socketwire.server",
    "SimpleClient": "socketwire.client",
    "SocketwireError": "socketwire.errors",
    "SyncClient": "socketwire.client",
    "SyncSimpleClient": "socketwire.client",
    "TransportError": "socketwire.client",
    # needs the optional a2wsgi package (the wsgi extra)
    "WSGIApp": "socketwire.io.wsgi",
    "run": "socketwire.cli",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'socketwire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
