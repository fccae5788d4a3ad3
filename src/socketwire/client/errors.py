"""Errors raised by the Socket.IO client API.

The acknowledgement errors are those of [`socketwire.errors`][socketwire.errors], shared with the
server, so that one ``except`` clause serves code that uses both sides.
"""

from __future__ import annotations

from typing import Any

from socketwire.errors import AckTimeoutError, DisconnectedError, SocketwireError

__all__ = [
    "AckTimeoutError",
    "BufferFullError",
    "ConnectError",
    "DisconnectedError",
    "SocketwireError",
    "TransportError",
]


class ConnectError(SocketwireError, ConnectionError):
    """A namespace could not be connected (socket.io-client's ``connect_error`` argument).

    Attributes:
        message: the server's ``message`` (a middleware's error message), or what failed
            locally (``"timeout"``, the transport error).
        data: the server's ``data`` field (``err.data`` in JS), None when absent.
    """

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class TransportError(ConnectError):
    """The connection to the server failed or broke (engine.io-client's ``TransportError``).

    It is the ``connect_error`` of a connection attempt that failed, what
    [`connect()`][socketwire.AsyncClient.connect] raises then, and the ``details`` of a
    ``disconnect`` with reason ``"transport error"``.

    Attributes:
        message: what failed, in engine.io-client's words: ``"xhr poll error"``,
            ``"xhr post error"``, ``"websocket error"``; or ``"parse error"`` (a malformed
            packet), or the limit crossed (``"send buffer full"``).
        description: the cause as the transport saw it (``"HTTP 400 ..."``,
            ``"Cannot connect to host ..."``, a TLS verification failure...).
        type: ``"TransportError"``, as ``err.type`` in JS.
    """

    type = "TransportError"

    def __init__(self, message: str, description: str = "") -> None:
        super().__init__(message)
        self.description = description

    def __str__(self) -> str:
        return f"{self.message}: {self.description}" if self.description else self.message


class BufferFullError(SocketwireError):
    """An emit found its buffer full: the send buffer of a disconnected socket, or the
    retry queue, already holds ``max_buffered_packets`` packets. The packet was not sent."""
