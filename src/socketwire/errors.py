"""Errors raised by the socketwire API: the server, the client and the adapters share them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

__all__ = [
    "AckError",
    "AckTimeoutError",
    "ConnectionRefusedError",
    "DisconnectedError",
    "SocketwireError",
]


class SocketwireError(Exception):
    """The base of every error raised by the socketwire server API."""


class ConnectionRefusedError(SocketwireError):
    """Raise in a connection middleware to refuse a client.

    The client receives a ``CONNECT_ERROR`` packet ``{"message": message, "data": data}``
    (``data`` omitted when None), exactly as a JS middleware calling ``next(err)`` with
    ``err.data`` set. It shadows the builtin of the same name on purpose (python-socketio
    uses the same name) but is not an ``OSError``: a middleware's own ``except OSError``
    does not swallow it.

    Args:
        message: The ``message`` field sent to the client.
        data: Any JSON-able value sent as the ``data`` field.
    """

    def __init__(self, message: str = "Connection refused", *, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class AckError(SocketwireError):
    """An acknowledgement did not arrive from every client it was expected from.

    Attributes:
        responses: The responses that did arrive (broadcasts), in arrival order.
        missing: The ids of the sockets that did not answer, when known (a remote server in
            a cluster only reports how many clients it reached, not which).
    """

    def __init__(
        self, message: str, *, responses: Sequence[Any] = (), missing: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.responses = list(responses)
        self.missing = list(missing)


class AckTimeoutError(AckError, builtins.TimeoutError):
    """``timeout(seconds).emit_with_ack(...)`` elapsed before every acknowledgement arrived.

    JS passes ``new Error("operation has timed out")`` with ``err.responses`` set to the
    callback; this error carries the same (`responses`) and the ids that timed out.
    """


class DisconnectedError(SocketwireError):
    """The socket disconnected while an acknowledgement from it was still awaited."""
