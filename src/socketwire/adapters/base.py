"""The adapter interface: where rooms live and how a packet reaches the sockets it targets.

The semantics are those of the JS ``socket.io-adapter`` ``Adapter`` class, so that remote
adapters (Redis and others) can speak the official Node wire formats. Methods a remote
adapter answers from the network are coroutines; the ones JS calls synchronously on the hot
path (joining, leaving, broadcasting) are plain methods, and a remote adapter publishes from
them without waiting.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from socketwire.adapters.types import Handshake, Session
from socketwire.socketio import Packet

if TYPE_CHECKING:
    from socketwire.server.namespace import Namespace

__all__ = [
    "AckCallback",
    "Adapter",
    "AdapterFactory",
    "BroadcastFlags",
    "BroadcastOptions",
    "ClientCountCallback",
    "RoomListener",
    "ServerSideAck",
    "SocketDetails",
]

logger = logging.getLogger(__name__)

#: ``(count, sids)``: how many clients a server sent an acked broadcast to, and which (sids
#: may be empty when a remote server does not report them).
ClientCountCallback = Callable[[int, Sequence[str]], None]
#: ``(sid, args)``: one client's acknowledgement; ``args`` is None when it disconnected first.
AckCallback = Callable[[str | None, list[Any] | None], None]
#: ``(error, responses)`` for a server-side emit with acknowledgement.
ServerSideAck = Callable[[Exception | None, list[Any]], None]
RoomListener = Callable[..., None]


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    """Modifiers of a broadcast (JS ``BroadcastFlags``).

    Attributes:
        volatile: Drop the packet for a connection that cannot take it right now.
        compress: Ask for compression (None: the transport's default).
        local: Only this server's clients (ignored by the in-memory adapter).
        timeout: Seconds to wait for acknowledgements.
        expect_single_response: Resolve with one response rather than a list
            (``RemoteSocket.emit_with_ack``).
    """

    volatile: bool = False
    compress: bool | None = None
    local: bool = False
    timeout: float | None = None
    expect_single_response: bool = False


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Which sockets a broadcast targets: in any of ``rooms`` (all when empty), in none of
    ``except_rooms``."""

    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    flags: BroadcastFlags = field(default_factory=BroadcastFlags)


@dataclass(slots=True)
class SocketDetails:
    """What ``fetch_sockets`` reports about one socket, local or on another server.

    For a local socket, ``data`` is the socket's own ``data`` dict, not a copy.
    """

    id: str
    handshake: Handshake
    rooms: set[str]
    data: dict[str, Any]


class Adapter(ABC):
    """The interface every adapter implements; see the JS ``socket.io-adapter``.

    An adapter serves one namespace. Room events (``create-room``, ``delete-room``,
    ``join-room``, ``leave-room``) are reported to listeners registered with :meth:`on`.
    """

    def __init__(self, nsp: Namespace) -> None:
        self.nsp = nsp
        self._listeners: dict[str, list[RoomListener]] = {}

    # -- room events -------------------------------------------------------------------------

    def on(self, event: str, listener: RoomListener) -> None:
        """Call ``listener`` on ``event``: ``create-room(room)``, ``delete-room(room)``,
        ``join-room(room, sid)``, ``leave-room(room, sid)``."""
        self._listeners.setdefault(event, []).append(listener)

    def off(self, event: str, listener: RoomListener) -> None:
        """Stop calling ``listener`` on ``event``."""
        listeners = self._listeners.get(event, [])
        if listener in listeners:
            listeners.remove(listener)

    def emit(self, event: str, *args: Any) -> None:
        """Call the listeners of ``event``; a listener that raises is logged and skipped."""
        for listener in list(self._listeners.get(event, ())):
            try:
                listener(*args)
            except Exception:
                logger.exception("adapter %r listener failed", event)

    # -- lifecycle ---------------------------------------------------------------------------

    async def init(self) -> None:  # noqa: B027 - optional hook
        """Start the adapter (subscribe to channels...)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop the adapter; the namespace is going away."""

    async def server_count(self) -> int:
        """How many servers share this namespace (1 on a single node)."""
        return 1

    # -- the room index ----------------------------------------------------------------------

    @abstractmethod
    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms``."""

    @abstractmethod
    def delete(self, sid: str, room: str) -> None:
        """Remove socket ``sid`` from ``room`` (JS ``del``)."""

    @abstractmethod
    def del_all(self, sid: str) -> None:
        """Remove socket ``sid`` from every room."""

    @abstractmethod
    def socket_rooms(self, sid: str) -> set[str] | None:
        """The rooms of local socket ``sid`` (None when unknown). Do not mutate."""

    @abstractmethod
    async def sockets(self, rooms: frozenset[str]) -> set[str]:
        """The ids of the sockets in any of ``rooms`` (all sockets when empty)."""

    # -- packets -----------------------------------------------------------------------------

    @abstractmethod
    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to every targeted socket, encoding it once."""

    @abstractmethod
    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: ClientCountCallback,
        ack: AckCallback,
    ) -> None:
        """Send ``packet`` (which carries an ack id) and report each acknowledgement.

        ``client_count_callback`` is called once per server with the number of clients it
        sent to; ``ack`` once per client response.
        """

    # -- remote control ----------------------------------------------------------------------

    @abstractmethod
    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """The targeted sockets, on every server."""

    @abstractmethod
    async def add_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Make the targeted sockets join ``rooms``."""

    @abstractmethod
    async def del_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Make the targeted sockets leave ``rooms``."""

    @abstractmethod
    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the targeted sockets (``close``: close their whole connection)."""

    async def server_side_emit(self, packet: list[Any], ack: ServerSideAck | None = None) -> None:
        """Send ``[event, *args]`` to the other servers of the cluster.

        A single server has no one to tell: nothing happens, and ``ack`` (if any) is called
        at once with no responses.
        """
        if ack is not None:
            ack(None, [])

    # -- connection state recovery -----------------------------------------------------------

    async def persist_session(self, session: Session) -> None:  # noqa: B027 - optional hook
        """Keep ``session`` so that its client can recover it (nothing by default)."""

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session ``pid`` with the packets emitted after ``offset``, or None."""
        return None


#: What ``Server(adapter=...)`` takes: a class or function building an adapter for a
#: namespace.
AdapterFactory = Callable[["Namespace"], Adapter]
