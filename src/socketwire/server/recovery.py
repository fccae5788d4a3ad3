"""Connection state recovery (socket.io 4.6+): options and the sessions kept for it.

When a client loses its connection for one of :data:`RECOVERABLE_REASONS`, the server keeps
its session (id, rooms, data) for ``max_disconnection_duration`` seconds. The client comes
back with ``auth = {"pid": ..., "offset": ...}``, where the offset is the id of the last
event it received (appended by the server as the last argument of every recoverable event),
and the server replays what it missed before the CONNECT packet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["RECOVERABLE_REASONS", "RecoveryOptions", "Session"]

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


@dataclass(frozen=True, slots=True)
class RecoveryOptions:
    """Options of connection state recovery (JS ``connectionStateRecovery``).

    Attributes:
        max_disconnection_duration: Seconds a session (and the packets it may miss) is kept.
        skip_middlewares: Skip the connection middlewares when a session is recovered.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True


@dataclass(slots=True)
class Session:
    """A disconnected socket's state, as an adapter persists and restores it.

    Attributes:
        sid: The socket id, reused on recovery.
        pid: The private session id the client presents to recover.
        rooms: The rooms the socket was in (its own id included).
        data: The socket's ``data`` dict.
        disconnected_at: When it was persisted (seconds, the adapter's clock).
        missed_packets: On restore: the ``[event, *args, offset]`` lists to replay.
    """

    sid: str
    pid: str
    rooms: list[str]
    data: dict[str, Any]
    disconnected_at: float = 0.0
    missed_packets: list[list[Any]] = field(default_factory=list)
