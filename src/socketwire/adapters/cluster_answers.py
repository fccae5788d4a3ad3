"""How a cluster adapter acts on another server's request: the local half of it.

Both wire families (the classic Redis adapter's requests and the ClusterAdapter messages)
ask the same things of the servers that receive them; the answering logic lives here once.
For join, leave and disconnect, ``sockets`` are the adapter's local targets for the
request's options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from socketwire.adapters.base import AckCallback, LocalSocket, SocketDetails
from socketwire.adapters.cluster import details_to_wire
from socketwire.adapters.wire import WireSocket

__all__ = [
    "disconnect_all",
    "forward_acks",
    "join_rooms",
    "leave_rooms",
    "reply_once",
    "sockets_to_wire",
]


def join_rooms(sockets: Iterable[LocalSocket], rooms: Sequence[str]) -> None:
    """Make ``sockets`` join ``rooms``."""
    for socket in sockets:
        socket.join(list(rooms))


def leave_rooms(sockets: Iterable[LocalSocket], rooms: Sequence[str]) -> None:
    """Make ``sockets`` leave ``rooms``."""
    for socket in sockets:
        for room in rooms:
            socket.leave(room)


def disconnect_all(sockets: Iterable[LocalSocket], close: bool) -> None:
    """Disconnect ``sockets`` (``close``: close their underlying connections too)."""
    for socket in sockets:
        socket.disconnect(close)


def sockets_to_wire(sockets: Iterable[LocalSocket]) -> tuple[WireSocket, ...]:
    """Local sockets as a ``fetchSockets`` response carries them."""
    return tuple(
        details_to_wire(SocketDetails(s.id, s.handshake, s.rooms, s.data)) for s in sockets
    )


def reply_once(send: Callable[[Any], None]) -> Callable[[Any], None]:
    """The reply callback of a remote server-side emit: only its first call sends ``value``
    (a handler calling its ack twice still gives the requester one answer)."""
    answered = False

    def reply(value: Any) -> None:
        nonlocal answered
        if not answered:
            answered = True
            send(value)

    return reply


def forward_acks(send: Callable[[Any], None]) -> AckCallback:
    """The ack callback of a remote broadcast with ack: ``send`` each client's first ack
    argument to the requester (nothing for a client that disconnected first, as Node)."""

    def on_ack(sid: str | None, args: list[Any] | None) -> None:
        if args is not None:
            send(args[0] if args else None)

    return on_ack
