"""The Redis pub/sub adapter, wire-compatible with ``@socket.io/redis-adapter`` 8.x.

Python and Node servers can share one cluster:

```python
from socketwire import Server
from socketwire.adapters.redis import create_adapter

sio = Server(adapter=create_adapter("redis://127.0.0.1:6379"))
```

[`create_adapter()`][create_adapter] speaks the classic format (PUBLISH/PSUBSCRIBE, Node's
``createAdapter``); [`create_sharded_adapter()`][create_sharded_adapter] the sharded one
(SPUBLISH/SSUBSCRIBE, Node's ``createShardedAdapter``, Redis 7). Every namespace of a server shares
one `RedisLink` (one pub/sub connection, one ordered
outbox); see that module for what happens when Redis fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from socketwire.adapters.base import (
    AckCallback,
    AdapterFactory,
    AdapterNamespace,
    BroadcastOptions,
    ClientCountCallback,
    ServerSideAck,
    SocketDetails,
)
from socketwire.adapters.cluster import (
    AckRequests,
    ClusterError,
    InFlight,
    PendingRequests,
    details_from_wire,
    logger,
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
from socketwire.adapters.cluster_base import is_recoverable
from socketwire.adapters.memory import MemoryAdapter, reaches_rooms
from socketwire.adapters.redis_forwarding import RedisAdapterFactory
from socketwire.adapters.redis_link import PresenceKind, RedisClient, RedisLink, link_for
from socketwire.adapters.redis_member import RedisMember
from socketwire.adapters.types import Session
from socketwire.adapters.wire import ClassicCodec, StreamsCodec, WireError, WireOptions, WireSession
from socketwire.adapters.wire.classic import (
    AllRoomsRequest,
    AllRoomsResponse,
    BroadcastAckRequest,
    BroadcastAckResponse,
    BroadcastClientCountResponse,
    ClassicBroadcast,
    ClassicRequest,
    ClassicResponse,
    FetchSocketsRequest,
    FetchSocketsResponse,
    RemoteDisconnectRequest,
    RemoteJoinRequest,
    RemoteLeaveRequest,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
    SocketsRequest,
    SocketsResponse,
)
from socketwire.adapters.wire.naming import (
    DEFAULT_PREFIX,
    ClassicChannels,
    SubscriptionMode,
    classic_id,
    session_key,
)
from socketwire.socketio import Packet

__all__ = [
    "RecoveryLog",
    "RedisAdapter",
    "adapter_from_url",
    "create_adapter",
    "create_sharded_adapter",
    "link_for",
]

_CODEC = ClassicCodec()
#: Sessions are stored as the streams adapter stores them (one format in Redis).
_SESSIONS = StreamsCodec()
#: The offsets socketwire's classic adapter appends: ``<server uid>~<sequence>``.
_OFFSET = re.compile(r"[A-Za-z0-9_-]{6}~[0-9]+")


def create_adapter(
    redis: RedisClient | str,
    *,
    key: str = DEFAULT_PREFIX,
    requests_timeout: float = 5.0,
    publish_timeout: float = 5.0,
    publish_on_specific_response_channel: bool = False,
    max_queued: int = 10_000,
) -> AdapterFactory:
    """The classic Redis adapter for ``Server(adapter=...)`` (Node ``createAdapter``).

    Args:
        redis: A redis-py asyncio client (``decode_responses=False``): ``Redis``, a
            Sentinel-managed master (``Sentinel.master_for()``) or a ``RedisCluster``; or
            a URL (see [`client_from_url()`][socketwire.adapters.redis_link.client_from_url]).
        key: The channel prefix (Node option ``key``).
        requests_timeout: Seconds to wait for every server's answer to a request.
        publish_timeout: Seconds to wait, once Redis is back after an outage, for the other
            servers to resubscribe before publishing what waited.
        publish_on_specific_response_channel: Answer on the requester's own channel.
        max_queued: Messages that may wait for an unreachable Redis (then volatile ones are
            dropped first; see `socketwire.adapters.redis_link`).
    """
    link = link_for(redis, publish_timeout=publish_timeout, max_queued=max_queued)

    def factory(nsp: AdapterNamespace) -> RedisAdapter:
        return RedisAdapter(
            nsp,
            link,
            key=key,
            requests_timeout=requests_timeout,
            publish_on_specific_response_channel=publish_on_specific_response_channel,
        )

    return RedisAdapterFactory(factory, link)


def create_sharded_adapter(
    redis: RedisClient | str,
    *,
    key: str = DEFAULT_PREFIX,
    requests_timeout: float = 5.0,
    publish_timeout: float = 5.0,
    subscription_mode: SubscriptionMode = SubscriptionMode.DYNAMIC,
    max_queued: int = 10_000,
) -> AdapterFactory:
    """The sharded Redis adapter (Node ``createShardedAdapter``; Redis 7 SPUBLISH).

    Args:
        redis: As [`create_adapter()`][create_adapter].
        key: The channel prefix (Node option ``channelPrefix``).
        requests_timeout: As [`create_adapter()`][create_adapter].
        publish_timeout: As [`create_adapter()`][create_adapter].
        subscription_mode: Which rooms get a channel of their own (Node option
            ``subscriptionMode``); every server of the cluster must use the same.
        max_queued: As `create_adapter()`.
    """
    from socketwire.adapters.redis_sharded import ShardedRedisAdapter

    link = link_for(redis, publish_timeout=publish_timeout, max_queued=max_queued)

    def factory(nsp: AdapterNamespace) -> ShardedRedisAdapter:
        return ShardedRedisAdapter(
            nsp,
            link,
            key=key,
            requests_timeout=requests_timeout,
            subscription_mode=subscription_mode,
        )

    return RedisAdapterFactory(factory, link, PresenceKind.SHARDNUMSUB)


def adapter_from_url(url: str, *, streams: bool = False, sharded: bool = False) -> AdapterFactory:
    """The adapter ``socketwire serve --redis URL`` (or ``--redis-streams URL``) uses."""
    if streams:
        from socketwire.adapters.redis_streams import create_streams_adapter

        return create_streams_adapter(url)
    if sharded:
        return create_sharded_adapter(url)
    return create_adapter(url)


class RecoveryLog:
    """The recoverable broadcasts of a classic cluster, as one server saw them.

    Redis delivers every subscriber the messages in the order it received them, and every
    server subscribes to every broadcast channel of the namespace, so every server logs the
    same packets in the same order, each under the offset its sender appended. Entries are
    kept ``duration`` seconds (and at most ``max_len``).
    """

    def __init__(self, duration: float, max_len: int = 10_000) -> None:
        self.duration = duration
        self._entries: deque[tuple[str, BroadcastOptions, list[Any], float]] = deque(maxlen=max_len)
        self._index: dict[str, int] = {}
        self._base = 0  # the absolute position of _entries[0]

    def record(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Log ``packet`` if it carries a socketwire offset (the last argument)."""
        data = packet.data
        if not is_recoverable(packet, opts) or not isinstance(data, list) or not data:
            return
        offset = data[-1]
        if not isinstance(offset, str) or _OFFSET.fullmatch(offset) is None:
            return
        self._prune()
        if len(self._entries) == self._entries.maxlen:
            dropped = self._entries.popleft()
            self._index.pop(dropped[0], None)
            self._base += 1
        self._index[offset] = self._base + len(self._entries)
        self._entries.append((offset, opts, list(data), time.monotonic()))

    def knows(self, offset: str) -> bool:
        """Whether ``offset`` is still in the log."""
        self._prune()
        return offset in self._index

    def missed(self, offset: str, rooms: Sequence[str]) -> list[list[Any]] | None:
        """What a socket in ``rooms`` was sent after ``offset`` (None: offset unknown)."""
        position = self._index.get(offset)
        if position is None:
            return None
        out: list[list[Any]] = []
        for _offset, opts, data, _at in itertools.islice(
            self._entries, position - self._base + 1, None
        ):
            if reaches_rooms(rooms, opts):
                out.append(data)
        return out

    def _prune(self) -> None:
        threshold = time.monotonic() - self.duration
        while self._entries and self._entries[0][3] < threshold:
            self._index.pop(self._entries.popleft()[0], None)
            self._base += 1


class RedisAdapter(RedisMember, MemoryAdapter):
    """One namespace's adapter in a classic ``@socket.io/redis-adapter`` cluster.

    Attributes:
        uid: This server's id in the cluster (6 characters, as Node's).
        channels: The namespace's channels.
        link: The shared Redis connection (its ``stats`` count failures).
    """

    def __init__(
        self,
        nsp: AdapterNamespace,
        link: RedisLink,
        *,
        key: str = DEFAULT_PREFIX,
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
    ) -> None:
        super().__init__(nsp)
        self.link = link
        self.uid = classic_id()
        self.channels = ClassicChannels.of(nsp.name, key)
        self.requests_timeout = requests_timeout
        self.specific_responses = publish_on_specific_response_channel
        self._requests = PendingRequests(self.channels.request)
        self._acks = AckRequests()
        self._started = False
        self._ready: asyncio.Future[None] | None = None
        self._presence = (PresenceKind.NUMSUB, self.channels.request)
        self.recovery = (
            RecoveryLog(nsp.connection_state_recovery.max_disconnection_duration)
            if nsp.connection_state_recovery is not None
            else None
        )
        self._offsets = itertools.count()
        self._storing = InFlight()

    # -- lifecycle ---------------------------------------------------------------------------

    async def init(self) -> None:
        """Subscribe to the namespace's channels (once; later calls wait for the first)."""
        if self._ready is None:
            self._started = True
        await super().init()

    async def _subscribe(self) -> None:
        ch = self.channels
        self.link.acquire()
        self.link.watch_presence(*self._presence)
        await self.link.psubscribe(ch.pattern, self._on_broadcast)
        await self.link.subscribe(
            [ch.request, ch.response, ch.specific_response(self.uid)], self._on_request
        )

    async def close(self) -> None:
        """Unsubscribe, fail pending requests, and release the link."""
        if not self._started:
            return
        self._started = False
        ch = self.channels
        await self._storing.drain(self.requests_timeout)
        self._requests.close()
        self._acks.close()
        self.link.forget_presence(*self._presence)
        await self.link.unsubscribe(
            [ch.request, ch.response, ch.specific_response(self.uid)], [ch.pattern]
        )
        await self.link.release()

    def _publish(
        self,
        channel: str,
        payload: bytes,
        what: str,
        request_id: str = "",
        *,
        every: bool = True,
        volatile: bool = False,
    ) -> None:
        """Queue a PUBLISH; ``every``: every server listens on ``channel`` (so a publish
        reaching fewer right after an outage is repeated once they are back)."""

        def on_error(error: BaseException) -> None:
            if request_id:
                self._requests.fail(request_id, error)

        self.link.send(
            f"{what} on {channel}",
            lambda redis: redis.publish(channel, payload),
            volatile=volatile,
            expect=self._servers if every else None,
            on_error=on_error,
        )

    # -- broadcasting ------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish ``packet`` to the other servers, then send it to the local targets (even
        while Redis is unreachable: the publish waits in the link's outbox).

        Raises:
            ClusterUnavailableError: The other servers could not be told (too much already
                waits for Redis); the local targets were sent the packet all the same.
        """
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        if self.recovery is not None and is_recoverable(packet, opts):
            # Every server logs it under this offset when it comes back from Redis.
            offset = f"{self.uid}~{next(self._offsets)}"
            packet = dataclasses.replace(packet, data=[*(packet.data or []), offset])
        try:
            if not opts.flags.local:
                wire = options_to_wire(opts)
                payload = _CODEC.encode(ClassicBroadcast(self.uid, packet, wire))
                channel = self.channels.broadcast_channel(wire.rooms)
                self._publish(channel, payload, "broadcast", volatile=opts.flags.volatile)
        finally:
            super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: ClientCountCallback,
        ack: AckCallback,
    ) -> None:
        """Publish a BROADCAST request (every server answers with its client count, then
        each client's ack), then send to the local targets."""
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        if not opts.flags.local:
            request_id = classic_id()
            request = BroadcastAckRequest(self.uid, request_id, packet, options_to_wire(opts))
            payload = _CODEC.encode(request)
            # Queued, not sent yet: registering after cannot miss an answer, and nothing is
            # registered when the publish is refused.
            self._publish(self.channels.request, payload, "broadcast with ack")
            self._acks.open(request_id, client_count_callback, ack, opts.flags.timeout)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

    # -- requests ----------------------------------------------------------------------------

    async def _ask(self, operation: str, request: ClassicRequest, request_id: str) -> list[Any]:
        expected = await self.server_count() - 1
        if expected <= 0:
            return []
        return await self._requests.ask(
            request_id,
            operation,
            expected,
            self.requests_timeout,
            lambda: self._publish(
                self.channels.request, _CODEC.encode(request), operation, request_id
            ),
        )

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """The targeted sockets of every server (each must answer in ``requests_timeout``).

        Raises:
            ClusterTimeoutError: Some server did not answer; the message says how many.
        """
        local = await super().fetch_sockets(opts)
        if opts.flags.local:
            return local
        request_id = classic_id()
        request = FetchSocketsRequest(self.uid, request_id, _no_flags(opts))
        remote = await self._ask("fetch_sockets", request, request_id)
        return local + remote

    async def all_rooms(self) -> set[str]:
        """Every room of every server.

        Raises:
            ClusterTimeoutError: Some server did not answer.
        """
        rooms = set(self.rooms)
        request_id = classic_id()
        remote = await self._ask("all_rooms", AllRoomsRequest(self.uid, request_id), request_id)
        return rooms | set(remote)

    async def add_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Make the targeted sockets of every server join ``rooms`` (applied by every server,
        this one included, when the request comes back from Redis, as in Node)."""
        if opts.flags.local:
            await super().add_sockets(opts, rooms)
            return
        request = RemoteJoinRequest(self.uid, _no_flags(opts), tuple(rooms))
        self._publish(self.channels.request, _CODEC.encode(request), "sockets_join")

    async def del_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Make the targeted sockets of every server leave ``rooms``."""
        if opts.flags.local:
            await super().del_sockets(opts, rooms)
            return
        request = RemoteLeaveRequest(self.uid, _no_flags(opts), tuple(rooms))
        self._publish(self.channels.request, _CODEC.encode(request), "sockets_leave")

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the targeted sockets of every server."""
        if opts.flags.local:
            await super().disconnect_sockets(opts, close)
            return
        request = RemoteDisconnectRequest(self.uid, _no_flags(opts), close)
        self._publish(self.channels.request, _CODEC.encode(request), "disconnect_sockets")

    async def server_side_emit(self, packet: list[Any], ack: ServerSideAck | None = None) -> None:
        """Send ``[event, *args]`` to the other servers; with ``ack``, collect one answer
        from each (``ack(error, responses)``; the error names how many were missing)."""
        if ack is None:
            request = ServerSideEmitRequest(self.uid, packet)
            self._publish(self.channels.request, _CODEC.encode(request), "server_side_emit")
            return
        request_id = classic_id()
        request = ServerSideEmitRequest(self.uid, packet, request_id)
        await settle_server_side_ack(ack, self._ask("server_side_emit", request, request_id))

    # -- receiving ---------------------------------------------------------------------------

    def _on_broadcast(self, channel: str, data: bytes) -> None:
        room = self.channels.room_of(channel)
        if room is None:
            return  # another namespace's channel
        if room and room not in self.rooms and self.recovery is None:
            return  # a room we do not have (as Node); but recovery logs everything
        try:
            message = _CODEC.decode_broadcast(data)
        except WireError as exc:
            logger.debug("ignoring a malformed broadcast on %s: %s", channel, exc)
            return
        if message.packet.nsp != self.nsp.name:
            return
        opts = options_from_wire(message.opts)
        if self.recovery is not None:
            self.recovery.record(message.packet, opts)
        if message.uid == self.uid or (room and room not in self.rooms):
            return
        super().broadcast(message.packet, opts)

    # -- connection state recovery (socketwire servers only) ---------------------------------

    async def persist_session(self, session: Session) -> None:
        """Store ``session`` in Redis (as the streams adapter does), for any server to
        restore it."""
        if self.recovery is None:
            return
        wire = WireSession(session.sid, session.pid, tuple(session.rooms), session.data)
        key = session_key(session.pid)
        ttl = max(1, round(self.recovery.duration * 1000))
        try:
            with self._storing.track():
                await self.link.redis.set(key, _SESSIONS.encode_session(wire), px=ttl)
        except (RedisError, OSError, WireError) as exc:
            # The socket is gone either way; its client will start a new session.
            logger.warning("could not store session %s: %s", session.pid, exc)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session ``pid`` (taken out of Redis) with the packets it missed after
        ``offset``, from this server's log of the cluster's broadcasts; None when either is
        unknown."""
        if self.recovery is None or not self.recovery.knows(offset):
            return None
        raw = await self.link.redis.getdel(session_key(pid))
        if not raw:
            return None
        try:
            wire = _SESSIONS.decode_session(raw)
        except WireError as exc:
            logger.warning("ignoring a malformed session %s: %s", pid, exc)
            return None
        missed = self.recovery.missed(offset, wire.rooms)
        if missed is None:
            return None
        data = wire.data if isinstance(wire.data, dict) else {}
        return Session(wire.sid, wire.pid, list(wire.rooms), data, missed_packets=missed)

    def _on_request(self, channel: str, data: bytes) -> None:
        ch = self.channels
        if channel in (ch.response, ch.specific_response(self.uid)):
            try:
                response = _CODEC.decode_response(data)
            except WireError as exc:
                logger.debug("ignoring a malformed response on %s: %s", channel, exc)
                return
            self._on_response(response)
            return
        try:
            request = _CODEC.decode_request(data)
        except WireError as exc:
            logger.debug("ignoring a malformed request on %s: %s", channel, exc)
            return
        self._on_remote_request(request)

    def _respond(self, requester: str | None, response: ClassicResponse) -> None:
        ch = self.channels
        channel = (
            ch.specific_response(requester)
            if self.specific_responses and requester
            else ch.response
        )
        try:
            every = channel == ch.response
            self._publish(channel, _CODEC.encode(response), "response", every=every)
        except ClusterError as exc:
            logger.warning("could not answer a request: %s", exc)

    def _on_remote_request(self, request: ClassicRequest) -> None:
        if isinstance(request, SocketsRequest):
            if request.request_id not in self._requests:
                opts = BroadcastOptions(frozenset(request.rooms))
                sids = tuple(s.id for s in self.targets(opts))
                self._respond(request.uid, SocketsResponse(request.request_id, sids))
        elif isinstance(request, AllRoomsRequest):
            if request.request_id not in self._requests:
                rooms = tuple(self.rooms)
                self._respond(request.uid, AllRoomsResponse(request.request_id, rooms))
        elif isinstance(request, RemoteJoinRequest):
            join_rooms(self.targets(options_from_wire(request.opts)), request.rooms)
        elif isinstance(request, RemoteLeaveRequest):
            leave_rooms(self.targets(options_from_wire(request.opts)), request.rooms)
        elif isinstance(request, RemoteDisconnectRequest):
            disconnect_all(self.targets(options_from_wire(request.opts)), request.close)
        elif isinstance(request, FetchSocketsRequest):
            if request.request_id not in self._requests:
                sockets = sockets_to_wire(self.targets(options_from_wire(request.opts)))
                self._respond(request.uid, FetchSocketsResponse(request.request_id, sockets))
        elif isinstance(request, ServerSideEmitRequest):
            self._on_server_side_emit(request)
        elif isinstance(request, BroadcastAckRequest):
            self._on_broadcast_with_ack(request)

    def _on_server_side_emit(self, request: ServerSideEmitRequest) -> None:
        if request.uid == self.uid:
            return
        request_id = request.request_id
        if request_id is None:
            self.nsp.handle_server_side_emit(list(request.data))
            return

        def send(value: Any) -> None:
            self._respond(request.uid, ServerSideEmitResponse(request_id, value))

        self.nsp.handle_server_side_emit(list(request.data), reply_once(send))

    def _on_broadcast_with_ack(self, request: BroadcastAckRequest) -> None:
        if request.request_id in self._acks:
            return  # our own request, back from Redis
        request_id = request.request_id
        # Each server numbers its own acks (as Node's in-memory adapter does).
        packet = dataclasses.replace(request.packet, nsp=self.nsp.name, id=self.nsp.next_ack_id())

        def on_count(count: int, sids: Sequence[str]) -> None:
            self._respond(request.uid, BroadcastClientCountResponse(request_id, count))

        def send_ack(value: Any) -> None:
            self._respond(request.uid, BroadcastAckResponse(request_id, value))

        opts = options_from_wire(request.opts)
        super().broadcast_with_ack(packet, opts, on_count, forward_acks(send_ack))

    def _on_response(self, response: ClassicResponse) -> None:
        request_id = response.request_id
        if isinstance(response, BroadcastClientCountResponse):
            self._acks.client_count(request_id, response.client_count)
        elif isinstance(response, BroadcastAckResponse):
            self._acks.ack(request_id, response.packet)
        elif isinstance(response, FetchSocketsResponse):
            self._requests.answer(request_id, [details_from_wire(s) for s in response.sockets])
        elif isinstance(response, SocketsResponse):
            self._requests.answer(request_id, list(response.sockets))
        elif isinstance(response, AllRoomsResponse):
            self._requests.answer(request_id, list(response.rooms))
        elif isinstance(response, ServerSideEmitResponse):
            self._requests.answer(request_id, [response.data])


def _no_flags(opts: BroadcastOptions) -> WireOptions:
    wire = options_to_wire(opts)
    return WireOptions(wire.rooms, wire.except_)
