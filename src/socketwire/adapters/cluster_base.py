"""The behaviour of socket.io-adapter's ``ClusterAdapter``, for the adapters that carry its
messages: the sharded Redis adapter, the Redis streams adapter, and any new one.

A subclass says how a message travels ([`ClusterAdapter.publish()`][ClusterAdapter.publish],
[`ClusterAdapter.publish_response()`][ClusterAdapter.publish_response]) and how servers are counted
([`ClusterAdapter.server_count()`][ClusterAdapter.server_count]), hands every message it receives to
[`ClusterAdapter.on_message()`][ClusterAdapter.on_message], and calls
[`ClusterAdapter.close_requests()`][ClusterAdapter.close_requests] when it closes. Everything else
(who answers what, request bookkeeping, acknowledgement counting) is here, once. The messages are
the typed dataclasses of [`socketwire.adapters.wire.cluster`][socketwire.adapters.wire.cluster]; a
subclass encodes them in its own wire format.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from socketwire.adapters.base import (
    AckCallback,
    AdapterNamespace,
    BroadcastOptions,
    ClientCountCallback,
    ServerSideAck,
    SocketDetails,
)
from socketwire.adapters.cluster import (
    AckRequests,
    ClusterError,
    PendingRequests,
    details_from_wire,
    options_from_wire,
    options_to_wire,
    settle_server_side_ack,
)
from socketwire.adapters.cluster_answers import (
    disconnect_all,
    forward_acks,
    join_rooms,
    leave_rooms,
    reply_once,
    sockets_to_wire,
)
from socketwire.adapters.memory import MemoryAdapter
from socketwire.adapters.wire import WireOptions
from socketwire.adapters.wire.cluster import (
    BroadcastAck,
    BroadcastClientCount,
    ClusterBroadcast,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketsJoin,
    SocketsLeave,
)
from socketwire.adapters.wire.naming import node_id
from socketwire.socketio import Packet, PacketType

__all__ = ["ClusterAdapter", "is_recoverable", "is_volatile"]


def is_recoverable(packet: Packet, opts: BroadcastOptions) -> bool:
    """Whether a broadcast gets an offset for connection state recovery (JS
    ``addOffsetIfNecessary``): an event, without ack, not volatile."""
    return packet.type == PacketType.EVENT and packet.id is None and not opts.flags.volatile


def is_volatile(message: ClusterMessage) -> bool:
    """Whether ``message`` is a volatile broadcast (a transport may drop it when its queue
    for an unreachable broker is full)."""
    return isinstance(message, ClusterBroadcast) and bool(message.opts.flags.volatile)


class ClusterAdapter(MemoryAdapter):
    """One namespace's adapter speaking ClusterAdapter messages.

    Args:
        nsp: The namespace.
        requests_timeout: Seconds to wait for every server's answer to a request.
        where: Where requests travel (a channel name), named in timeout errors; settable
            later through ``requests.where``.

    Attributes:
        uid: This server's id (16 hex characters, as Node's ``randomId()``).
        requests_timeout: Seconds to wait for every server's answer.
        requests: The requests waiting for other servers' answers.
    """

    #: Broadcasts carry the offset their publication returned (streams with recovery).
    records_offsets = False

    def __init__(self, nsp: AdapterNamespace, *, requests_timeout: float = 5.0, where: str) -> None:
        super().__init__(nsp)
        self.uid = node_id()
        self.requests_timeout = requests_timeout
        self.requests = PendingRequests(where)
        self._acks = AckRequests()

    # -- transport (subclasses) --------------------------------------------------------------

    @abstractmethod
    def publish(
        self,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue ``message`` for every other server; never block.

        ``on_result`` gets its offset once published ("" when the transport has none);
        ``on_error`` the error if the publication fails later.

        Raises:
            ClusterUnavailableError: The message cannot be queued for the other servers
                (the broker is gone for good, or too much already waits for it).
        """

    @abstractmethod
    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Queue ``message`` for server ``requester`` only (a transport without
        point-to-point addressing may publish it to every server: the others ignore it)."""

    def _respond(self, requester: str, message: ClusterMessage) -> None:
        try:
            self.publish_response(requester, message)
        except ClusterError as exc:
            from socketwire.adapters.cluster import logger

            logger.warning("could not answer %s: %s", requester, exc)

    def close_requests(self) -> None:
        """Fail every request still waiting for answers, and forget the broadcasts waiting
        for acknowledgements: call it when the adapter closes."""
        self.requests.close()
        self._acks.close()

    # -- broadcasting ------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish ``packet``, then send it to the local targets (even when the broker is
        unreachable: the local clients never wait for it).

        Raises:
            ClusterUnavailableError: The other servers could not be told (the local targets
                were sent the packet all the same).
        """
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        if opts.flags.local:
            super().broadcast(packet, opts)
            return
        message = ClusterBroadcast(self.uid, self.nsp.name, packet, options_to_wire(opts))
        if self._wants_offset(packet, opts):
            # The offset is the stream entry id: deliver locally once it is known (as JS,
            # which awaits the publication).
            def deliver(offset: str) -> None:
                data = [*(packet.data or []), offset]
                MemoryAdapter.broadcast(self, dataclasses.replace(packet, data=data), opts)

            self.publish(message, on_result=deliver)
            return
        try:
            self.publish(message)
        finally:
            super().broadcast(packet, opts)

    def _wants_offset(self, packet: Packet, opts: BroadcastOptions) -> bool:
        return (
            self.records_offsets
            and self.nsp.connection_state_recovery is not None
            and is_recoverable(packet, opts)
        )

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: ClientCountCallback,
        ack: AckCallback,
    ) -> None:
        """Publish the broadcast with a request id (each server reports its client count,
        then every ack), then send it to the local targets."""
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        if not opts.flags.local:
            request_id = node_id()
            wire = options_to_wire(opts)
            # Queued, not sent yet: registering after cannot miss an answer.
            self.publish(ClusterBroadcast(self.uid, self.nsp.name, packet, wire, request_id))
            self._acks.open(request_id, client_count_callback, ack, opts.flags.timeout)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

    # -- remote control ----------------------------------------------------------------------

    async def add_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Tell the other servers, then make the local targets join ``rooms``."""
        if not opts.flags.local:
            self.publish(SocketsJoin(self.uid, self.nsp.name, _wire(opts), tuple(rooms)))
        await super().add_sockets(opts, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Tell the other servers, then make the local targets leave ``rooms``."""
        if not opts.flags.local:
            self.publish(SocketsLeave(self.uid, self.nsp.name, _wire(opts), tuple(rooms)))
        await super().del_sockets(opts, rooms)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Tell the other servers, then disconnect the local targets."""
        if not opts.flags.local:
            self.publish(DisconnectSockets(self.uid, self.nsp.name, _wire(opts), close))
        await super().disconnect_sockets(opts, close)

    async def _ask(
        self, operation: str, build: Callable[[str], ClusterMessage], expected: int
    ) -> list[Any]:
        request_id = node_id()

        def on_error(error: BaseException) -> None:
            self.requests.fail(request_id, error)

        return await self.requests.ask(
            request_id,
            operation,
            expected,
            self.requests_timeout,
            lambda: self.publish(build(request_id), on_error=on_error),
            self.expected_responders(),
        )

    def expected_responders(self) -> set[str] | None:
        """The uids of the servers that must answer a request, when the adapter knows them
        (by heartbeats); None (this default) to count ``server_count() - 1`` answers."""
        return None

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """The targeted sockets of every server.

        Raises:
            ClusterTimeoutError: Some server did not answer; the message names who did.
        """
        local = await super().fetch_sockets(opts)
        if opts.flags.local:
            return local
        expected = await self.server_count() - 1
        if expected <= 0:
            return local
        wire = options_to_wire(opts)
        remote = await self._ask(
            "fetch_sockets", lambda rid: FetchSockets(self.uid, self.nsp.name, wire, rid), expected
        )
        return local + remote

    async def all_rooms(self) -> set[str]:
        """Every room of every server: the ClusterAdapter format has no request for it
        (Node's does not support ``allRooms``), but every room has a socket in it, so this
        is the union of the rooms of every socket ``fetch_sockets`` finds."""
        rooms = set(self.rooms)
        for details in await self.fetch_sockets(BroadcastOptions()):
            rooms.update(details.rooms)
        return rooms

    async def server_side_emit(self, packet: list[Any], ack: ServerSideAck | None = None) -> None:
        """Send ``[event, *args]`` to the other servers; with ``ack``, one answer from each."""
        if ack is None:
            self.publish(ServerSideEmit(self.uid, self.nsp.name, packet))
            return
        expected = await self.server_count() - 1
        if expected <= 0:
            ack(None, [])
            return
        await settle_server_side_ack(
            ack,
            self._ask(
                "server_side_emit",
                lambda rid: ServerSideEmit(self.uid, self.nsp.name, packet, rid),
                expected,
            ),
        )

    # -- receiving ---------------------------------------------------------------------------

    def on_message(self, message: ClusterMessage, offset: str | None = None) -> None:
        """Act on a message from another server (``offset``: its stream entry id)."""
        if message.uid == self.uid or message.nsp != self.nsp.name:
            return
        if isinstance(message, ClusterBroadcast):
            self._on_broadcast(message, offset)
        elif isinstance(message, SocketsJoin):
            join_rooms(self.targets(options_from_wire(message.opts)), message.rooms)
        elif isinstance(message, SocketsLeave):
            leave_rooms(self.targets(options_from_wire(message.opts)), message.rooms)
        elif isinstance(message, DisconnectSockets):
            disconnect_all(self.targets(options_from_wire(message.opts)), message.close)
        elif isinstance(message, FetchSockets):
            sockets = sockets_to_wire(self.targets(options_from_wire(message.opts)))
            self._respond(
                message.uid,
                FetchSocketsResponse(self.uid, self.nsp.name, message.request_id, sockets),
            )
        elif isinstance(message, ServerSideEmit):
            self._on_server_side_emit(message)
        elif isinstance(message, BroadcastClientCount):
            self._acks.client_count(message.request_id, message.client_count)
        elif isinstance(message, BroadcastAck):
            self._acks.ack(message.request_id, message.packet)
        elif isinstance(message, FetchSocketsResponse):
            details = [details_from_wire(s) for s in message.sockets]
            self.requests.answer(message.request_id, details, message.uid)
        elif isinstance(message, ServerSideEmitResponse):
            self.requests.answer(message.request_id, [message.packet], message.uid)
        # heartbeats and ADAPTER_CLOSE: these adapters count servers with NUMSUB instead

    def _on_broadcast(self, message: ClusterBroadcast, offset: str | None) -> None:
        opts = options_from_wire(message.opts)
        request_id = message.request_id
        if request_id is None:
            packet = message.packet
            if (
                offset
                and self.nsp.connection_state_recovery is not None
                and is_recoverable(packet, opts)
                and message.opts.flags.volatile is None
            ):
                packet = dataclasses.replace(packet, data=[*(packet.data or []), offset])
            super().broadcast(packet, opts)
            return
        requester = message.uid
        # Each server numbers its own acks (as Node's in-memory adapter does).
        packet = dataclasses.replace(message.packet, id=self.nsp.next_ack_id())

        def on_count(count: int, sids: Sequence[str]) -> None:
            self._respond(
                requester, BroadcastClientCount(self.uid, self.nsp.name, request_id, count)
            )

        def send_ack(value: Any) -> None:
            self._respond(requester, BroadcastAck(self.uid, self.nsp.name, request_id, value))

        super().broadcast_with_ack(packet, opts, on_count, forward_acks(send_ack))

    def _on_server_side_emit(self, message: ServerSideEmit) -> None:
        request_id = message.request_id
        if request_id is None:
            self.nsp.handle_server_side_emit(list(message.packet))
            return

        def send(value: Any) -> None:
            self._respond(
                message.uid, ServerSideEmitResponse(self.uid, self.nsp.name, request_id, value)
            )

        self.nsp.handle_server_side_emit(list(message.packet), reply_once(send))


def _wire(opts: BroadcastOptions) -> WireOptions:
    return options_to_wire(opts)
