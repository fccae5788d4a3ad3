"""Why an Engine.IO session ended, with the names the JS ``engine.io`` package uses."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CloseReason"]


class CloseReason(StrEnum):
    """The reason passed to ``on_close``; values are the JS strings, compared as ``str``."""

    #: The transport closed: the WebSocket ended, or the client sent a close packet.
    TRANSPORT_CLOSE = "transport close"
    #: The transport failed: overlapping polls, a poll abandoned by the client, a ping
    #: sent by the client (v4 heartbeats go server to client), a binary POST body.
    TRANSPORT_ERROR = "transport error"
    #: The server application called ``close()``.
    FORCED_CLOSE = "forced close"
    #: No pong within ``ping_timeout`` after a ping.
    PING_TIMEOUT = "ping timeout"
    #: The client sent something that is not Engine.IO v4.
    PARSE_ERROR = "parse error"
    #: The server is stopping.
    SERVER_SHUTTING_DOWN = "server shutting down"
    #: The outgoing buffer went over its bound (a client that does not read).
    #: Not a JS reason: JS buffers without limit.
    BUFFER_FULL = "transport buffer full"
