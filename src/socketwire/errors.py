"""Errors raised by the socketwire API: the server, the client and the adapters share them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, Final

__all__ = [
    "AckAlreadySentError",
    "AckError",
    "AckTimeoutError",
    "ConnectionRefusedError",
    "DisconnectedError",
    "PayloadError",
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


class AckAlreadySentError(SocketwireError, RuntimeError):
    """An [`Ack`][socketwire.Ack] handle was called again: an event has one acknowledgement."""


class DisconnectedError(SocketwireError):
    """The socket disconnected while an acknowledgement from it was still awaited."""


class PayloadError(SocketwireError, ValueError):
    """An event's arguments, or an acknowledgement, do not match the types declared for them.

    Raised by a typed handler's wrapper before the handler runs (the peer then gets
    [`to_ack()`][to_ack] when it asked for an acknowledgement; on the server the socket's
    ``error`` handlers get the exception otherwise), by ``emit`` and ``emit_with_ack`` of a
    declared event when outgoing validation is on, and by ``emit_with_ack`` when the
    acknowledgement received does not match its declared type.

    Attributes:
        code: ``"REQUEST_VALIDATION_ERROR"``: the event's arguments are wrong (received, or
            about to be sent). ``"RESPONSE_VALIDATION_ERROR"``: the acknowledgement is wrong
            (the one a handler returned, or the one received).
        event: The event's name.
        issues: What is wrong, one dict per problem: ``path`` (the argument's index, then
            the keys and indexes into it), ``message`` and ``type`` (pydantic's error type,
            such as ``"missing"`` or ``"string_type"``).
        rejected: True when socketwire itself rejected what a peer sent (or what a handler
            returned for it) and answers the peer; False when raised to application code
            (``emit``, ``emit_with_ack``).
    """

    REQUEST: Final = "REQUEST_VALIDATION_ERROR"
    RESPONSE: Final = "RESPONSE_VALIDATION_ERROR"
    #: The most issues an error acknowledgement lists (a long list of wrong items must not
    #: make the answer many times larger than the request).
    MAX_ISSUES: Final = 20

    def __init__(
        self,
        code: str,
        event: str,
        issues: Sequence[dict[str, Any]] = (),
        *,
        rejected: bool = False,
    ) -> None:
        what = "arguments" if code == self.REQUEST else "acknowledgement"
        super().__init__(f"invalid {what} for event {event!r}: {_summary(issues)}")
        self.code = code
        self.event = event
        self.issues = list(issues)
        self.rejected = rejected

    def to_ack(self) -> dict[str, Any]:
        """The error acknowledgement a peer receives: one argument,
        ``{"error": {"code", "event", "message", "issues"}}``.

        ``issues`` is sent for ``REQUEST_VALIDATION_ERROR`` only: a wrong acknowledgement
        is the server's own fault, and its details stay in the server's log. It lists the
        first ``MAX_ISSUES``; the message says how many there were when there are more.
        """
        what = "arguments" if self.code == self.REQUEST else "acknowledgement"
        message = f"invalid {what} for event {self.event!r}"
        error: dict[str, Any] = {"code": self.code, "event": self.event, "message": message}
        if self.code == self.REQUEST:
            error["issues"] = self.issues[: self.MAX_ISSUES]
            if len(self.issues) > self.MAX_ISSUES:
                error["message"] = (
                    f"{message} ({len(self.issues)} issues, the first {self.MAX_ISSUES} listed)"
                )
        return {"error": error}


def _summary(issues: Sequence[dict[str, Any]]) -> str:
    parts = []
    for issue in issues[:3]:
        path = ".".join(str(p) for p in issue.get("path", ()))
        parts.append(f"{path or '(arguments)'}: {issue.get('message', '')}")
    if len(issues) > 3:
        parts.append(f"and {len(issues) - 3} more")
    return "; ".join(parts) or "no details"
