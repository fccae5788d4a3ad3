"""The Socket.IO client: ``AsyncClient`` (asyncio) and ``SyncClient`` (blocking facade).

Layers: [`state`][socketwire.client.state] and [`backoff`][socketwire.client.backoff] are pure
(sans-I/O); [`socket`][socketwire.client.socket] and [`manager`][socketwire.client.manager]
drive them
on asyncio over [`EngineClient`][socketwire.io.client_transports.EngineClient];
[`client`][socketwire.client.client] is the application's entry point and
[`sync`][socketwire.client.sync] its blocking facade; [`simple`][socketwire.client.simple] is the
pull-style client for scripts and tests.
"""

from __future__ import annotations

from socketwire.client.backoff import Backoff
from socketwire.client.client import MANAGER_EVENTS, AsyncClient
from socketwire.client.errors import (
    AckTimeoutError,
    BufferFullError,
    ConnectError,
    DisconnectedError,
    TransportError,
)
from socketwire.client.manager import Manager, ManagerOptions, ReadyState
from socketwire.client.simple import ReceivedEvent, SimpleClient, SyncSimpleClient
from socketwire.client.socket import ClientSocket, SocketEmitter
from socketwire.client.state import DisconnectDescription
from socketwire.client.sync import SyncClient, SyncEmitter, SyncSocket

__all__ = [
    "MANAGER_EVENTS",
    "AckTimeoutError",
    "AsyncClient",
    "Backoff",
    "BufferFullError",
    "ClientSocket",
    "ConnectError",
    "DisconnectDescription",
    "DisconnectedError",
    "Manager",
    "ManagerOptions",
    "ReadyState",
    "ReceivedEvent",
    "SimpleClient",
    "SocketEmitter",
    "SyncClient",
    "SyncEmitter",
    "SyncSimpleClient",
    "SyncSocket",
    "TransportError",
]
