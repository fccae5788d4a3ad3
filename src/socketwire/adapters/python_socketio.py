"""Join a python-socketio 5.x cluster, over Redis or AMQP (RabbitMQ): its pub/sub managers'
format, for a migration one node at a time.

```python
from socketwire.adapters.python_socketio import create_adapter

sio = socketwire.Server(adapter=create_adapter("redis://127.0.0.1:6379/0"))
# or, beside python-socketio servers on AsyncAioPikaManager:
sio = socketwire.Server(adapter=create_adapter("amqp://guest:guest@127.0.0.1:5672//"))
```

A socketwire server with this adapter joins python-socketio servers through their broker and
speaks their JSON messages
([`socketwire.adapters.wire.pysocketio`][socketwire.adapters.wire.pysocketio]), the same over
every broker:

- Redis: python-socketio's ``AsyncRedisManager`` (or ``RedisManager``): a Redis channel
  (``socketio``, python-socketio's default, or ``channel=``), through the shared
  [`RedisLink`][socketwire.adapters.redis_link.RedisLink];
- AMQP (an ``amqp://`` or ``amqps://`` URL; the ``amqp`` extra, aio-pika):
  python-socketio's ``AsyncAioPikaManager`` (RabbitMQ): a fanout exchange named after the
  channel, through an
  [`AmqpLink`][socketwire.adapters.amqp_link.AmqpLink]. AMQP cannot say how many queues an
  exchange feeds: ``server_count()`` is 1 there (this server).

A pickled message (python-socketio before 5.14) is refused, counted in
``stats.refused_pickled`` and logged, never unpickled.

What crosses the mixed cluster, both ways:

- broadcasts: ``emit`` to everyone, to a room, to several rooms, except some socket ids
  (binary arguments included); ``volatile`` and ``compress`` do not travel;
- acknowledgements from one client (python-socketio's callbacks): socketwire's
  ``sio.to(sid).timeout(5).emit_with_ack(...)`` for a client of a python-socketio server, and
  python-socketio's ``emit(..., to=sid, callback=...)`` for a socketwire client;
- ``enter_room``, ``leave_room`` and ``disconnect`` of a socket held by another server
  (socketwire: ``sio.in_(sid).sockets_join(room)``, ``sockets_leave``,
  ``disconnect_sockets()``), and ``close_room`` (socketwire:
  ``sio.in_(room).sockets_leave(room)``);
- the server count (the channel's subscribers; over Redis only).

What the format cannot carry, and what this adapter does instead (the Node-format adapters
do all of it: switch to one once every python-socketio server is replaced):

- ``except_`` rooms that are not socket ids: python-socketio servers skip only socket ids
  (socketwire servers on this adapter skip whole rooms);
- acknowledgements from several clients: only this server's clients are asked;
- ``sockets_join``, ``sockets_leave`` and ``disconnect_sockets`` for a room (rather than one
  socket id), ``fetch_sockets``: this server's sockets only (with one warning);
- ``server_side_emit``: refused (`FormatLimitError`); connection state recovery across
  servers: none (python-socketio has none).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from socketwire.adapters.base import (
    AckCallback,
    AdapterFactory,
    AdapterNamespace,
    BroadcastOptions,
    ClientCountCallback,
    PublishHealth,
    ServerSideAck,
    SocketDetails,
)
from socketwire.adapters.link_common import PresenceKind
from socketwire.adapters.memory import MemoryAdapter
from socketwire.adapters.wire import WireError
from socketwire.adapters.wire.pysocketio import (
    DEFAULT_CHANNEL,
    PickledMessageError,
    PsCallback,
    PsCloseRoom,
    PsDisconnect,
    PsEmit,
    PsEnterRoom,
    PsLeaveRoom,
    PsMessage,
    PythonSocketioCodec,
)
from socketwire.handlers import spawn
from socketwire.socketio import Packet, PacketType

if TYPE_CHECKING:
    # Imported when used: a Redis-only server needs no aio-pika, an AMQP-only one no redis.
    from socketwire.adapters.amqp_link import AmqpLink
    from socketwire.adapters.redis_link import RedisClient, RedisLink

__all__ = ["FormatLimitError", "MixedStats", "PythonSocketioAdapter", "create_adapter"]

logger = logging.getLogger("socketwire.adapters.python_socketio")

_CODEC = PythonSocketioCodec()
#: The most acknowledgements from other servers one server waits for at once.
MAX_PENDING_CALLBACKS = 10_000
#: How long an acknowledgement from another server is waited for without a timeout (s).
CALLBACK_LIFETIME = 300.0


class FormatLimitError(RuntimeError):
    """The operation cannot cross a python-socketio cluster: its format has no message for
    it."""


@dataclass
class MixedStats:
    """What one server's adapters received on the channel (read them).

    Attributes:
        received: Messages from other servers, decoded.
        refused_pickled: Pickled messages refused (never unpickled).
        malformed: Messages that were not python-socketio's JSON.
        published: Messages handed to the broker's link.
    """

    received: int = 0
    refused_pickled: int = 0
    malformed: int = 0
    published: int = 0


#: ``(channel, data)`` of one message from the broker.
_Handler = Callable[[str, bytes], None]


class _Transport(Protocol):
    """The broker under the adapter: how its messages leave and arrive (Redis, AMQP)."""

    @property
    def link(self) -> RedisLink | AmqpLink:
        """The shared connection (one object for every namespace of a server)."""

    async def start(self, handler: _Handler) -> None:
        """Subscribe: every message from now on goes to ``handler``."""

    async def stop(self) -> None:
        """Unsubscribe and let the connection go."""

    def send(self, what: str, payload: bytes, *, volatile: bool) -> None:
        """Queue ``payload`` for every server (raises ``ClusterUnavailableError``)."""

    async def count(self) -> int | None:
        """The servers listening, or None when the broker cannot tell."""


class _RedisTransport:
    """python-socketio's ``AsyncRedisManager``: PUBLISH and SUBSCRIBE on one channel."""

    def __init__(self, link: RedisLink, channel: str) -> None:
        self.link = link
        self.channel = channel

    async def start(self, handler: _Handler) -> None:
        self.link.acquire()
        self.link.watch_presence(PresenceKind.NUMSUB, self.channel)
        await self.link.subscribe([self.channel], handler)

    async def stop(self) -> None:
        self.link.forget_presence(PresenceKind.NUMSUB, self.channel)
        await self.link.unsubscribe([self.channel])
        await self.link.release()

    def send(self, what: str, payload: bytes, *, volatile: bool) -> None:
        channel = self.channel
        self.link.send(
            f"{what} on {channel}", lambda redis: redis.publish(channel, payload), volatile=volatile
        )

    async def count(self) -> int | None:
        return await self.link.count(PresenceKind.NUMSUB, self.channel)


class _AmqpTransport:
    """python-socketio's ``AsyncAioPikaManager``: a fanout exchange, a queue per server."""

    def __init__(self, link: AmqpLink) -> None:
        self.link = link

    async def start(self, handler: _Handler) -> None:
        await self.link.start(handler)

    async def stop(self) -> None:
        await self.link.close()

    def send(self, what: str, payload: bytes, *, volatile: bool) -> None:
        self.link.send(f"{what} on exchange {self.link.exchange}", payload, volatile=volatile)

    async def count(self) -> int | None:
        return None  # AMQP cannot say how many queues an exchange feeds


class _Hub:
    """One server's subscription to the broker, shared by its namespaces' adapters."""

    def __init__(self, transport: _Transport) -> None:
        self.transport = transport
        #: This server's id in the cluster, as python-socketio's (a uuid4 in hex).
        self.host_id = uuid.uuid4().hex
        self.stats = MixedStats()
        self.adapters: dict[str, PythonSocketioAdapter] = {}
        self._ready: asyncio.Future[None] | None = None
        self._warned: set[str] = set()

    async def join(self, adapter: PythonSocketioAdapter) -> None:
        self.adapters[adapter.nsp.name] = adapter
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._subscribe())
        await asyncio.shield(self._ready)

    async def _subscribe(self) -> None:
        await self.transport.start(self._on_raw)

    async def leave(self, adapter: PythonSocketioAdapter) -> None:
        if self.adapters.get(adapter.nsp.name) is adapter:
            del self.adapters[adapter.nsp.name]
        if self.adapters or self._ready is None:
            return
        self._ready = None
        await self.transport.stop()

    def publish(self, message: PsMessage, *, volatile: bool = False) -> None:
        payload = _CODEC.encode(message)
        self.stats.published += 1
        self.transport.send(type(message).__name__, payload, volatile=volatile)

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    def _on_raw(self, channel: str, data: bytes) -> None:
        try:
            message = _CODEC.decode(data)
        except PickledMessageError:
            self.stats.refused_pickled += 1
            total = self.stats.refused_pickled
            if total == 1 or total % 1000 == 0:
                logger.warning(
                    "refused %d pickled message(s) on %s (python-socketio before 5.14 pickles; "
                    "upgrade it: socketwire never unpickles)",
                    total,
                    channel,
                )
            return
        except WireError as exc:
            self.stats.malformed += 1
            logger.debug("ignoring a malformed message on %s: %s", channel, exc)
            return
        if isinstance(message, PsCallback):
            # Addressed to the server that asked for it, whoever sent it.
            if message.host_id == self.host_id:
                self.stats.received += 1
                adapter = self.adapters.get(message.namespace)
                if adapter is not None:
                    adapter.handle_callback(message)
            return
        if message.host_id == self.host_id:
            return  # our own, back from Redis
        self.stats.received += 1
        adapter = self.adapters.get(message.namespace)
        if adapter is not None:
            adapter.handle(message)


def create_adapter(
    broker: RedisClient | str,
    *,
    channel: str = DEFAULT_CHANNEL,
    publish_timeout: float = 5.0,
    max_queued: int = 10_000,
) -> AdapterFactory:
    """The adapter for ``Server(adapter=...)`` that joins a python-socketio cluster.

    Args:
        broker: Redis: a redis-py asyncio client (one server, a Sentinel-managed master or
            a Redis Cluster) or a URL (see
            [`client_from_url()`][socketwire.adapters.redis_link.client_from_url]; the
            ``redis+sentinel://`` form is python-socketio's). AMQP: an ``amqp://`` or
            ``amqps://`` URL, as python-socketio's ``AsyncAioPikaManager`` takes
            (``amqp://guest:guest@host:5672//``).
        channel: python-socketio's ``channel`` (``socketio`` by default): the same on every
            server (over AMQP, the exchange's name).
        publish_timeout: Redis only: as the Node-format adapters (see
            [`socketwire.adapters.redis_link`][socketwire.adapters.redis_link]).
        max_queued: Messages that may wait for an unreachable broker.
    """
    transport: _Transport
    if isinstance(broker, str) and urlparse(broker).scheme.lower() in ("amqp", "amqps"):
        from socketwire.adapters.amqp_link import AmqpLink  # the amqp extra

        transport = _AmqpTransport(AmqpLink(broker, channel, max_queued=max_queued))
    else:
        from socketwire.adapters.redis_link import link_for  # the redis extra

        link = link_for(broker, publish_timeout=publish_timeout, max_queued=max_queued)
        transport = _RedisTransport(link, channel)
    hub = _Hub(transport)

    def factory(nsp: AdapterNamespace) -> PythonSocketioAdapter:
        return PythonSocketioAdapter(nsp, hub)

    return factory


class PythonSocketioAdapter(MemoryAdapter):
    """One namespace's adapter in a python-socketio cluster (see the module docstring).

    Attributes:
        link: The shared connection to the broker: a
            [`RedisLink`][socketwire.adapters.redis_link.RedisLink] or an
            [`AmqpLink`][socketwire.adapters.amqp_link.AmqpLink].
    """

    def __init__(self, nsp: AdapterNamespace, hub: _Hub) -> None:
        super().__init__(nsp)
        self._hub = hub
        self.link: RedisLink | AmqpLink = hub.transport.link
        #: our ack id -> the acknowledgement a client of another server owes us
        self._callbacks: dict[int, tuple[str, AckCallback, asyncio.TimerHandle]] = {}
        self._joined = False

    @property
    def host_id(self) -> str:
        """This server's ``host_id`` in the cluster."""
        return self._hub.host_id

    @property
    def stats(self) -> MixedStats:
        """What this server received and refused on the channel."""
        return self._hub.stats

    # -- lifecycle ---------------------------------------------------------------------------

    async def init(self) -> None:
        """Subscribe to the channel (once per server)."""
        if not self._joined:
            self._joined = True
            await self._hub.join(self)

    async def close(self) -> None:
        """Forget the pending acknowledgements; the last namespace unsubscribes."""
        for _sid, _ack, timer in self._callbacks.values():
            timer.cancel()
        self._callbacks.clear()
        if self._joined:
            self._joined = False
            await self._hub.leave(self)

    async def server_count(self) -> int:
        """The servers subscribed to the channel (python-socketio's and socketwire's); 1
        over AMQP, which cannot count them."""
        count = await self._hub.transport.count()
        return 1 if count is None else count

    def publish_health(self) -> PublishHealth:
        """The shared link's publications."""
        stats = self.link.stats
        errors = stats.dropped + stats.dropped_volatile + stats.rejected
        return PublishHealth(self.link, errors, self.link.queued)

    # -- broadcasting ------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish an ``emit``, then send ``packet`` to the local targets."""
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        try:
            if not opts.flags.local:
                self._hub.publish(self._emit(packet, opts, None), volatile=opts.flags.volatile)
        finally:
            super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: ClientCountCallback,
        ack: AckCallback,
    ) -> None:
        """Send to the local targets with acks; a single target held by another server gets
        python-socketio's callback (one answer expected), several get the event only."""
        ack_id = packet.id
        if ack_id is None:
            raise ValueError("broadcast_with_ack needs a packet with an ack id")
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        local = self.targets(opts)
        single = _single_room(opts)
        remote_one = not opts.flags.local and single is not None and not local
        if not opts.flags.local:
            callback = (single, self.nsp.name, ack_id) if remote_one and single else None
            if callback is not None and len(self._callbacks) >= MAX_PENDING_CALLBACKS:
                raise FormatLimitError(
                    f"{len(self._callbacks)} acknowledgements from other servers are "
                    "already awaited"
                )
            self._hub.publish(self._emit(packet, opts, callback))
            if callback is not None:
                self._expect_callback(ack_id, callback[0], ack, opts.flags.timeout)
            else:
                self._hub.warn_once(
                    "acks",
                    "emit_with_ack to several clients: python-socketio's format carries no "
                    "client counts, so only this server's clients are asked",
                )

        def with_remote(count: int, sids: Sequence[str]) -> None:
            # The one answer a client of another server owes is counted with this server's
            # (none): the total is right whether the broker can count servers or not.
            client_count_callback(count + 1, sids)

        report = with_remote if remote_one else client_count_callback
        super().broadcast_with_ack(packet, opts, report, ack)
        spawn(self._report_others(client_count_callback))

    async def _report_others(self, client_count_callback: ClientCountCallback) -> None:
        """Report no client for every other server (their answers, if any, are counted with
        this server's)."""
        try:
            others = await self.server_count() - 1
        except Exception:
            logger.debug("cannot count the servers", exc_info=True)
            return
        for _ in range(max(others, 0)):
            client_count_callback(0, [])

    def _expect_callback(
        self, ack_id: int, sid: str, ack: AckCallback, timeout: float | None
    ) -> None:
        lifetime = CALLBACK_LIFETIME if timeout is None else timeout + 1.0
        timer = asyncio.get_running_loop().call_later(lifetime, self._callbacks.pop, ack_id, None)
        self._callbacks[ack_id] = (sid, ack, timer)

    def _emit(
        self, packet: Packet, opts: BroadcastOptions, callback: tuple[str, str, int] | None
    ) -> PsEmit:
        data = list(packet.data or [])
        if not data or not isinstance(data[0], str):
            raise ValueError("only events cross a python-socketio cluster")
        return PsEmit(
            self._hub.host_id,
            data[0],
            data[1:],
            self.nsp.name,
            _room_field(opts.rooms),
            _room_field(opts.except_rooms),
            callback,
        )

    # -- remote control ----------------------------------------------------------------------

    async def add_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Local targets join ``rooms``; a socket id held by another server gets an
        ``enter_room`` per room."""
        sid = self._remote_socket(opts, "sockets_join")
        if sid is not None:
            for room in rooms:
                self._hub.publish(PsEnterRoom(self.host_id, sid, room, self.nsp.name))
        await super().add_sockets(opts, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Local targets leave ``rooms``; ``sio.in_(room).sockets_leave(room)`` is a
        ``close_room``, a socket id held by another server gets a ``leave_room`` per room."""
        if (
            not opts.flags.local
            and not opts.except_rooms
            and len(rooms) == 1
            and opts.rooms == frozenset(rooms)
        ):
            self._hub.publish(PsCloseRoom(self.host_id, rooms[0], self.nsp.name))
            await super().del_sockets(opts, rooms)
            return
        sid = self._remote_socket(opts, "sockets_leave")
        if sid is not None:
            for room in rooms:
                self._hub.publish(PsLeaveRoom(self.host_id, sid, room, self.nsp.name))
        await super().del_sockets(opts, rooms)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Local targets disconnect; a socket id held by another server gets a
        ``disconnect`` (from the namespace: the format has no ``close``)."""
        sid = self._remote_socket(opts, "disconnect_sockets")
        if sid is not None:
            self._hub.publish(PsDisconnect(self.host_id, sid, self.nsp.name))
        await super().disconnect_sockets(opts, close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """This server's targeted sockets (python-socketio's format cannot ask the others)."""
        if not opts.flags.local:
            self._hub.warn_once(
                "fetch",
                "fetch_sockets in a python-socketio cluster returns this server's sockets only",
            )
        return await super().fetch_sockets(opts)

    async def server_side_emit(self, packet: list[Any], ack: ServerSideAck | None = None) -> None:
        """Refused: python-socketio servers have no server-side events.

        Raises:
            FormatLimitError: always.
        """
        raise FormatLimitError("server_side_emit cannot cross a python-socketio cluster")

    def _remote_socket(self, opts: BroadcastOptions, operation: str) -> str | None:
        """The socket id ``opts`` targets when it is one socket held by another server."""
        if opts.flags.local:
            return None
        single = _single_room(opts)
        if single is not None and single not in self.rooms:
            return single
        if single is None or opts.except_rooms:
            self._hub.warn_once(
                operation,
                f"{operation} for rooms in a python-socketio cluster acts on this server's "
                "sockets only (the format addresses one socket id)",
            )
        return None

    # -- what other servers send -------------------------------------------------------------

    def handle(self, message: PsMessage) -> None:
        """Act on a message of another server for this namespace."""
        if isinstance(message, PsEmit):
            self._on_emit(message)
            return
        if isinstance(message, PsCloseRoom):
            for sid in list(self.rooms.get(message.room, ())):
                socket = self.nsp.sockets.get(sid)
                if socket is not None:
                    socket.leave(message.room)
            return
        socket = self.nsp.sockets.get(message.sid)
        if socket is None:
            return  # not ours
        if isinstance(message, PsDisconnect):
            socket.disconnect(False)
        elif isinstance(message, PsEnterRoom):
            socket.join(message.room)
        elif isinstance(message, PsLeaveRoom):
            socket.leave(message.room)

    def handle_callback(self, message: PsCallback) -> None:
        """A client of another server answered one of our callbacks."""
        entry = self._callbacks.pop(message.id, None)
        if entry is None:
            return  # late, repeated or made up
        sid, ack, timer = entry
        timer.cancel()
        ack(message.sid or sid, list(message.args))

    def _on_emit(self, message: PsEmit) -> None:
        rooms = _room_set(message.room)
        opts = BroadcastOptions(rooms, _room_set(message.skip_sid))
        packet = Packet(PacketType.EVENT, self.nsp.name, [message.event, *message.args])
        callback = message.callback
        if callback is None:
            MemoryAdapter.broadcast(self, packet, opts)
            return
        ack_id = self.nsp.next_ack_id()
        encoded = self.nsp.encode(dataclasses.replace(packet, id=ack_id))
        room, namespace, remote_id = callback
        host = message.host_id

        def answer(args: list[Any] | None) -> None:
            # None: the client disconnected first (python-socketio then never calls back)
            if args is not None:
                self._hub.publish(PsCallback(host, room, namespace, remote_id, args))

        for socket in self.targets(opts):
            socket.acks[ack_id] = answer
            socket.deliver(encoded, False, None)


def _single_room(opts: BroadcastOptions) -> str | None:
    """The one room ``opts`` targets (no excepts), or None."""
    if len(opts.rooms) == 1 and not opts.except_rooms:
        (room,) = opts.rooms
        return room
    return None


def _room_field(rooms: frozenset[str]) -> str | list[str] | None:
    if not rooms:
        return None
    if len(rooms) == 1:
        (room,) = rooms
        return room
    return sorted(rooms)


def _room_set(value: str | list[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(value)
