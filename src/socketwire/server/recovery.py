"""Connection state recovery (socket.io 4.6+): the reasons after which a session is kept.

When a client loses its connection for one of [`RECOVERABLE_REASONS`][RECOVERABLE_REASONS], the
server keeps its session (id, rooms, data) for ``max_disconnection_duration`` seconds. The client
comes back with ``auth = {"pid": ..., "offset": ...}``, where the offset is the id of the last event
it received (appended by the server as the last argument of every recoverable event), and the server
replays what it missed before the CONNECT packet.

[`RecoveryOptions`][RecoveryOptions] and [`Session`][Session] live with the adapters, which store
sessions.
"""

from __future__ import annotations

from typing import Final

__all__ = ["RECOVERABLE_REASONS"]

#: The disconnect reasons after which a session is kept (socket.io's socket.js).
RECOVERABLE_REASONS: Final = frozenset(
    {
        "transport error",
        "transport close",
        "forced close",
        "ping timeout",
        "server shutting down",
        "forced server close",
    }
)
