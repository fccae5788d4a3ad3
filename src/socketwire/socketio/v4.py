"""The Socket.IO v4 protocol (socket.io 2.x clients, over Engine.IO v3), as socket.io 4.8
serves it with ``allowEIO3``: the few rules that differ from v5, as pure functions.

What differs (socket.io-protocol, "Difference between v5 and v4"):

- The client is connected to the main namespace implicitly, as soon as its Engine.IO
  session opens: it sends no CONNECT for ``/`` (the server connects it itself).
- A CONNECT carries no payload; the client puts its query in the namespace instead
  (``0/chat?token=abc,``), which the server reads as the auth
  ([`parse_namespace()`][parse_namespace]).
- The server's CONNECT has no payload either (``40/chat,``), and a socket's id is the
  Engine.IO id (``#``-prefixed with the namespace outside ``/``), which the client computes
  on its side ([`socket_id()`][socket_id]).
- A CONNECT_ERROR (v4's ERROR) from a middleware carries its ``data``, or else its message,
  not an object ([`connect_error_payload()`][connect_error_payload]).

Packets are otherwise encoded alike, so both revisions share one parser and one encoded
broadcast; only Engine.IO framing differs (see [`socketwire.engineio.v3`][socketwire.engineio.v3]).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["PROTOCOL", "connect_error_payload", "parse_namespace", "socket_id"]

#: The Engine.IO revision of the sessions that speak Socket.IO v4.
PROTOCOL = 3


def parse_namespace(nsp: str) -> tuple[str, dict[str, str]]:
    """The namespace and the auth of a v4 CONNECT's namespace field, as JS reads it with
    ``new URL(nsp, "https://socket.io")``: the path, and the query as a dict (the last of
    repeated keys wins, as ``Object.fromEntries``)."""
    parts = urlsplit(nsp)
    return parts.path or "/", dict(parse_qsl(parts.query, keep_blank_values=True))


def socket_id(nsp: str, engine_id: str) -> str:
    """The id of a v4 client's socket: its Engine.IO id, after ``<nsp>#`` outside ``/``."""
    return engine_id if nsp == "/" else f"{nsp}#{engine_id}"


def connect_error_payload(error: Mapping[str, Any]) -> Any:
    """The payload of a v4 CONNECT_ERROR for a refusal given in v5 form
    (``{"message": ..., "data": ...}``): JS ``err.data || err.message``."""
    data = error.get("data")
    return data if _truthy(data) else error.get("message")


def _truthy(value: Any) -> bool:
    # JavaScript truthiness: an empty list or object is true there.
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True
