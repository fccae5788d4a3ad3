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


class BufferFullError(SocketwireError):
    """An emit found its buffer full: the send buffer of a disconnected socket, or the
    retry queue, already holds ``max_buffered_packets`` packets. The packet was not sent."""
