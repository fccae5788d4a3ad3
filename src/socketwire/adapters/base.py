"""The adapter interface: where rooms live and how a packet reaches the sockets it targets.

Two halves, each the only way across:

* [`Adapter`][Adapter] is what a namespace asks of its adapter. The semantics are those of the
  JS ``socket.io-adapter`` ``Adapter`` class (``addAll``, ``del``, ``delAll``,
  ``broadcast``, ``broadcastWithAck``, ``sockets``, ``socketRooms``, ``fetchSockets``,
  ``addSockets``, ``delSockets``, ``disconnectSockets``, ``serverSideEmit``,
  ``persistSession``, ``restoreSession``, ``serverCount``), in snake case, so that remote
  adapters can speak the official Node wire formats. Methods a remote adapter answers from
  the network are coroutines; the ones JS calls synchronously on the hot path (joining,
  leaving, broadcasting) are plain methods, and a remote adapter publishes from them
  without waiting.
* [`AdapterNamespace`][AdapterNamespace] and [`LocalSocket`][LocalSocket] are what an adapter may
  use of its namespace and of the namespace's sockets on this server: encode a packet once, deliver
  it to a local socket, register an acknowledgement, number acks, and hand a server-side event from
  another server to the application. ``socketwire.Namespace`` and ``socketwire.Socket`` implement
  them; an adapter needs nothing else from the server (it imports nothing from
  `socketwire.server`).

See the how-to "Writing an adapter" for a walk through the in-memory adapter.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from socketwire.adapters.types import EncodedPacket, Handshake, RecoveryOptions, Session
from socketwire.socketio import Packet

__all__ = [
    "RESERVED_NAMESPACE_EVENTS",
    "AckCallback",
    "AckHandler",
    "Adapter",
    "AdapterFactory",
    "AdapterNamespace",
    "BroadcastFlags",
    "BroadcastOptions",
    "ClientCountCallback",
    "LocalSocket",
    "PublishHealth",
    "RoomListener",
    "ServerSideAck",
    "ServerSideReply",
    "SocketDetails",
    "room_set",
]

logger = logging.getLogger(__name__)

#: ``(count, sids)``: how many clients a server sent an acked broadcast to, and which (sids
#: may be empty when a remote server does not report them).
ClientCountCallback = Callable[[int, Sequence[str]], None]
#: ``(sid, args)``: one client's acknowledgement; ``args`` is None when it disconnected first.
AckCallback = Callable[[str | None, list[Any] | None], None]
#: ``(args)``: what a local socket calls when the ack it waits for arrives (None: the socket
#: disconnected first). See [`LocalSocket.acks`][LocalSocket.acks].
AckHandler = Callable[[list[Any] | None], None]
#: ``(error, responses)`` for a server-side emit with acknowledgement.
ServerSideAck = Callable[[Exception | None, list[Any]], None]
#: ``(value)``: the answer to a server-side emit from another server (its requester waits).
ServerSideReply = Callable[[Any], None]
RoomListener = Callable[..., None]

#: Event names of a namespace that are not server-side events (JS ``RESERVED_EVENTS`` of the
#: namespace and of the emitter): neither sent to nor accepted from other servers.
RESERVED_NAMESPACE_EVENTS: Final = frozenset({"connect", "connection", "new_namespace"})


def room_set(rooms: str | Iterable[str]) -> frozenset[str]:
    """One room name or an iterable of them, as a set (a ``str`` is one room, not letters)."""
    if isinstance(rooms, str):
        return frozenset((rooms,))
    return frozenset(rooms)


class LocalSocket(Protocol):
    """A socket of this server, as its adapter sees it (a ``socketwire.Socket`` is one).

    Get them from [`AdapterNamespace.sockets`][AdapterNamespace.sockets]. Besides reading them, an
    adapter may deliver an encoded packet to one ([`deliver()`][deliver]), register the
    acknowledgement it expects ([`acks`][acks]), and make it join, leave or disconnect.
    """

    @property
    def id(self) -> str:
        """The socket id."""
        ...

    @property
    def handshake(self) -> Handshake:
        """The socket's handshake."""
        ...

    @property
    def data(self) -> dict[str, Any]:
        """The socket's ``data`` dict (the live one)."""
        ...

    @property
    def rooms(self) -> set[str]:
        """The socket's rooms (a copy)."""
        ...

    @property
    def acks(self) -> MutableMapping[int, AckHandler]:
        """The acknowledgements the socket waits for, by ack id.

        To broadcast with acknowledgement, set ``acks[packet.id] = handler`` before
        delivering the packet: the socket calls ``handler(args)`` with the client's answer,
        or ``handler(None)`` if it disconnects first, and forgets it.
        """
        ...

    def deliver(self, encoded: EncodedPacket, volatile: bool, compress: bool | None) -> None:
        """Write a packet encoded once for many recipients to this socket's connection.

        It notifies the socket's catch-all outgoing listeners, then writes; a volatile
        packet is dropped when the connection cannot take it now. The socket's connection
        bounds its own buffer (a client that does not read is closed), so this never
        blocks and never raises.
        """
        ...

    def join(self, rooms: str | Iterable[str]) -> None:
        """Join one room or several."""
        ...

    def leave(self, room: str) -> None:
        """Leave ``room``."""
        ...

    def disconnect(self, close: bool = False) -> None:
        """Disconnect the socket (``close``: close its whole connection)."""
        ...


class AdapterNamespace(Protocol):
    """What an adapter may use of the namespace it serves (``socketwire.Namespace``)."""

    @property
    def name(self) -> str:
        """The namespace name (``"/"``, ``"/chat"``...)."""
        ...

    @property
    def sockets(self) -> Mapping[str, LocalSocket]:
        """The sockets of this namespace connected to this server, by id. Do not mutate."""
        ...

    @property
    def connection_state_recovery(self) -> RecoveryOptions | None:
        """The server's connection state recovery options (None: recovery is off)."""
        ...

    def encode(self, packet: Packet) -> EncodedPacket:
        """Encode ``packet`` once, with the server's parser, for
        [`LocalSocket.deliver()`][LocalSocket.deliver]."""
        ...

    def next_ack_id(self) -> int:
        """A new ack id of this namespace (shared by its sockets' emits and its broadcasts,
        as JS ``nsp._ids``): the id of a broadcast with acknowledgement from another
        server, renumbered here."""
        ...

    def handle_server_side_emit(
        self, packet: list[Any], reply: ServerSideReply | None = None
    ) -> None:
        """Hand ``[event, *args]`` from another server to the application's listeners.

        With ``reply``, the other server waits for an answer: the first listener's return
        value is passed to ``reply`` (once).
        """
        ...


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


@dataclass(frozen=True, slots=True)
class PublishHealth:
    """How a cluster adapter's publications fare (read by ``socketwire.metrics``).

    Attributes:
        link: The connection that publishes: the adapters of several namespaces sharing
            one report the same object, and are counted once.
        errors: Messages given up or refused since the link started (never decreases).
        queued: Messages accepted and waiting to be published now.
    """

    link: object
    errors: int
    queued: int


class Adapter(ABC):
    """The interface every adapter implements; see the JS ``socket.io-adapter``.

    An adapter serves one namespace. Room events (``create-room``, ``delete-room``,
    ``join-room``, ``leave-room``) are reported to listeners registered with [`on()`][on].
    """

    def __init__(self, nsp: AdapterNamespace) -> None:
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

    def publish_health(self) -> PublishHealth | None:
        """How publications to the other servers fare (None: this adapter publishes
        nothing, as the in-memory one). Read at each metrics scrape: keep it cheap."""
        return None

    # -- the room index ----------------------------------------------------------------------

    @abstractmethod
    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms``."""

    @abstractmethod
    def del_(self, sid: str, room: str) -> None:
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
AdapterFactory = Callable[[AdapterNamespace], Adapter]
