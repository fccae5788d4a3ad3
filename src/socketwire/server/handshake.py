"""The handshake details of a Socket.IO connection (JS ``socket.handshake``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from socketwire.io.http import HttpRequest

__all__ = ["Handshake", "build_handshake"]


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the server knew about a client when its socket connected.

    Attributes:
        headers: The Engine.IO handshake request's headers (lower-case names).
        time: The creation date as a JS ``Date`` string.
        address: The client's IP address, when known.
        xdomain: True when the request carried an ``Origin`` header.
        secure: True when the request came over TLS.
        issued: The creation time in milliseconds since the epoch.
        url: The handshake request's target (path and query string).
        query: The handshake request's query parameters.
        auth: The ``auth`` payload of the client's CONNECT packet.
    """

    headers: Mapping[str, str]
    time: str
    address: str | None
    xdomain: bool
    secure: bool
    issued: int
    url: str
    query: Mapping[str, str]
    auth: Mapping[str, Any] = field(default_factory=dict)


def _js_date(now: float) -> str:
    # JS `new Date() + ""` in UTC: "Thu Nov 26 2026 11:20:38 GMT+0000 (Coordinated Universal Time)"
    return time.strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(now)
    )


def build_handshake(request: HttpRequest | None, auth: Mapping[str, Any]) -> Handshake:
    """Build the handshake for a socket from its Engine.IO request and CONNECT auth payload."""
    now = time.time()
    if request is None:
        return Handshake({}, _js_date(now), None, False, True, int(now * 1000), "", {}, auth)
    headers = dict(request.headers)
    remote = request.remote_addr
    return Handshake(
        headers=headers,
        time=_js_date(now),
        address=remote[0] if remote else None,
        xdomain="origin" in headers,
        secure=request.secure,
        issued=int(now * 1000),
        url=request.raw_path,
        query=dict(request.query),
        auth=auth,
    )
