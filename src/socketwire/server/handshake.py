"""Building the handshake details of a Socket.IO connection (JS ``socket.handshake``).

The [`Handshake`][socketwire.adapters.types.Handshake] type itself lives with the adapters, which
carry it between servers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from socketwire.adapters.types import Handshake
from socketwire.io.http import HttpRequest

__all__ = ["build_handshake"]


def _js_date(now: float) -> str:
    # JS `new Date() + ""` in UTC: "Thu Nov 26 2026 11:20:38 GMT+0000 (Coordinated Universal Time)"
    return time.strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(now)
    )


def _shared(mapping: Mapping[str, str]) -> Mapping[str, str]:
    # The request's own dict, as JS shares ``request.headers`` (a socket per connection keeps
    # it); a copy of any other mapping, which may be a view of the plumbing's state.
    return mapping if type(mapping) is dict else dict(mapping)


def build_handshake(request: HttpRequest | None, auth: Mapping[str, Any]) -> Handshake:
    """Build the handshake for a socket from its Engine.IO request and CONNECT auth payload."""
    now = time.time()
    if request is None:
        return Handshake({}, _js_date(now), None, False, True, int(now * 1000), "", {}, auth)
    headers = _shared(request.headers)
    remote = request.remote_addr
    return Handshake(
        headers=headers,
        time=_js_date(now),
        address=remote[0] if remote else None,
        xdomain="origin" in headers,
        secure=request.secure,
        issued=int(now * 1000),
        url=request.raw_path,
        query=_shared(request.query),
        auth=auth,
    )
