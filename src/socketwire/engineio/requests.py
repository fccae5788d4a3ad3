"""Which requests the Engine.IO server refuses: pure functions of the request.

JS ``engine.io`` 6 checks every request in ``Server.verify`` and the handshake in
``handshake``; these functions make the same decisions in the same order, from values the
I/O layer reads off the request, and return a [`Refusal`][Refusal] (the error code, message and
context JS reports in its ``connection_error`` event) or None. The one step between them
that is not pure, the application's ``allow_request`` callback, stays in the I/O layer:

1. [`check_request()`][check_request] (every request, polling and WebSocket);
2. for a handshake (no ``sid``), ``allow_request``, its result read by
   [`allow_request_refusal()`][allow_request_refusal];
3. for a handshake, [`check_handshake_protocol()`][check_handshake_protocol].

The refusals of the I/O layer's own steps are built here too: a failed ``engine.use``
middleware (before step 1, [`middleware_refusal()`][middleware_refusal]) and a failed session
id generator (after step 3, [`id_generation_refusal()`][id_generation_refusal]).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from socketwire.engineio.http import (
    HttpAnswer,
    HttpErrorCode,
    error_answer,
    error_message,
    has_invalid_header_char,
    upgrade_error_answer,
)

__all__ = [
    "PROTOCOL",
    "Refusal",
    "allow_request_refusal",
    "check_handshake_protocol",
    "check_request",
    "id_generation_refusal",
    "middleware_refusal",
    "protocol_revision",
    "session_id_of",
]

#: The Engine.IO protocol revision this server speaks (the ``EIO`` query parameter).
PROTOCOL = "4"


def protocol_revision(query: Mapping[str, str]) -> int:
    """The protocol revision a request asks for: 4 for ``EIO=4``, else 3 (JS
    ``computeProtocolRevision``: "3rd revision by default")."""
    return 4 if query.get("EIO") == PROTOCOL else 3


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused request: what JS reports in ``connection_error`` and answers.

    Attributes:
        code: The Engine.IO error code (``0`` unknown transport ... ``5`` unsupported
            protocol version).
        message: Its message (``"Session ID unknown"``...), or the ``allow_request`` one.
        context: Details, with the JS names (``{"sid": ...}``, ``{"name":
            "TRANSPORT_MISMATCH", "transport": ..., "previousTransport": ...}``...).
    """

    code: HttpErrorCode
    message: str
    context: Mapping[str, Any] = field(default_factory=dict)

    def answer(self, *, upgrade: bool) -> HttpAnswer:
        """The response JS sends: ``abortUpgrade`` (400, the message as text) for a
        WebSocket upgrade, else ``abortRequest`` (403 for FORBIDDEN, else 400, JSON)."""
        message = self.context.get("message") if self.code is HttpErrorCode.FORBIDDEN else None
        if upgrade:
            return upgrade_error_answer(self.code, message)
        return error_answer(self.code, message)


def _refuse(code: HttpErrorCode, text: str | None = None, /, **context: Any) -> Refusal:
    return Refusal(code, text or error_message(code), context)


def check_request(
    *,
    method: str,
    query: Mapping[str, str],
    origin: str | None,
    upgrade: bool,
    transports: Sequence[str],
    session_transport: str | None,
    session_protocol: int = 4,
) -> Refusal | None:
    """JS ``Server.verify`` without ``allowRequest``: None when the request may go on.

    Args:
        method: The HTTP method.
        query: The query parameters (``transport``, ``sid``, ``EIO``).
        origin: The ``Origin`` header, if any.
        upgrade: The request asks for a WebSocket upgrade.
        transports: The transports the server accepts.
        session_transport: The transport of the session the ``sid`` parameter names; None
            when there is no ``sid``, or no such session.
        session_protocol: That session's protocol revision.
    """
    transport = query.get("transport")
    # WebTransport sessions do not start with an HTTP request (JS verify refuses them too).
    if transport not in transports or transport == "webtransport":
        return _refuse(HttpErrorCode.UNKNOWN_TRANSPORT, transport=transport)
    if has_invalid_header_char(origin):
        return _refuse(HttpErrorCode.BAD_REQUEST, name="INVALID_ORIGIN", origin=origin)
    sid = query.get("sid")
    if sid is not None:
        if session_transport is None:
            return _refuse(HttpErrorCode.UNKNOWN_SID, sid=sid)
        if not upgrade and session_transport != transport:
            return _refuse(
                HttpErrorCode.BAD_REQUEST,
                name="TRANSPORT_MISMATCH",
                transport=transport,
                previousTransport=session_transport,
            )
        protocol = protocol_revision(query)
        if protocol != session_protocol:
            return _refuse(
                HttpErrorCode.BAD_REQUEST,
                name="PROTOCOL_MISMATCH",
                protocol=protocol,
                previousProtocol=session_protocol,
            )
        return None
    if method != "GET":
        return _refuse(HttpErrorCode.BAD_HANDSHAKE_METHOD, method=method)
    if transport == "websocket" and not upgrade:
        return _refuse(HttpErrorCode.BAD_REQUEST, name="TRANSPORT_HANDSHAKE_ERROR")
    return None


def session_id_of(data: str) -> str | None:
    """The ``sid`` of a WebTransport open packet's data (``{"sid":"..."}``), or None (JS
    ``parseSessionId``)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    sid = parsed.get("sid") if isinstance(parsed, dict) else None
    return sid if isinstance(sid, str) else None


def allow_request_refusal(result: bool | tuple[bool, str]) -> Refusal | None:
    """What an ``allow_request`` result means: None (allowed), or a FORBIDDEN refusal
    carrying the callback's message (``(False, "message")``), as JS ``allowRequest``."""
    if isinstance(result, tuple):
        allowed, text = result
        message = text or None
    else:
        allowed, message = result, None
    if allowed:
        return None
    return _refuse(HttpErrorCode.FORBIDDEN, message, message=message)


def check_handshake_protocol(
    query: Mapping[str, str], *, allow_eio3: bool = False
) -> Refusal | None:
    """JS ``handshake``'s protocol check: a handshake asks for ``EIO=4``, or for v3 (any
    other ``EIO``, or none) when ``allow_eio3`` is on."""
    protocol = protocol_revision(query)
    if protocol == 3 and not allow_eio3:
        return _refuse(HttpErrorCode.UNSUPPORTED_PROTOCOL_VERSION, protocol=protocol)
    return None


def middleware_refusal() -> Refusal:
    """An ``engine.use`` middleware failed: JS ``BAD_REQUEST`` with ``MIDDLEWARE_FAILURE``."""
    return _refuse(HttpErrorCode.BAD_REQUEST, name="MIDDLEWARE_FAILURE")


def id_generation_refusal(error: BaseException) -> Refusal:
    """The session id generator failed (raised, or returned an unusable id): JS
    ``BAD_REQUEST`` with ``ID_GENERATION_ERROR`` and the error."""
    return _refuse(HttpErrorCode.BAD_REQUEST, name="ID_GENERATION_ERROR", error=error)
