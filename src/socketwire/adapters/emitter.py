"""Publish into a Socket.IO cluster from any Python process, as ``@socket.io/redis-emitter``.

The emitter is not a server: it has no sockets and receives nothing. It publishes what the
Node emitter publishes (the classic adapter's format, uid ``"emitter"``), so classic
adapters receive it, socketwire's and Node's alike:

```python
emitter = Emitter("redis://127.0.0.1:6379")
await emitter.to("room1").emit("hello", {"from": "a cron job"})
await emitter.of("/admin").server_side_emit("reload")
await emitter.in_("room1").sockets_join("room2")
await emitter.aclose()
```
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from redis.exceptions import RedisError

from socketwire.adapters.base import RESERVED_NAMESPACE_EVENTS, room_set
from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.redis_link import RedisClient, client_from_url, close_client
from socketwire.adapters.wire import EMITTER_UID, EmitterCodec, WireFlags, WireOptions
from socketwire.adapters.wire.classic import (
    ClassicBroadcast,
    RemoteDisconnectRequest,
    RemoteJoinRequest,
    RemoteLeaveRequest,
    ServerSideEmitRequest,
)
from socketwire.adapters.wire.emitter import EmitterMessage
from socketwire.adapters.wire.naming import DEFAULT_PREFIX, ClassicChannels
from socketwire.socketio import Packet, PacketType
from socketwire.socketio.packets import check_event_name

__all__ = ["BaseEmitter", "Emitter", "EmitterOperator"]

_CODEC = EmitterCodec()


@dataclass(frozen=True, slots=True)
class _Target:
    rooms: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    volatile: bool = False
    compress: bool | None = None

    def options(self, *, flags: bool) -> WireOptions:
        wire_flags = WireFlags(volatile=True if self.volatile else None, compress=self.compress)
        return WireOptions(self.rooms, self.except_, wire_flags if flags else WireFlags())


class EmitterOperator:
    """A set of sockets to act on: in some rooms (all when none), minus excluded rooms.

    Immutable: ``to()``, ``except_()``, ``volatile``... return new operators.
    """

    def __init__(self, emitter: BaseEmitter, target: _Target = _Target()) -> None:
        self._emitter = emitter
        self._target = target

    def to(self, room: str | Iterable[str]) -> EmitterOperator:
        """Also target the sockets in ``room`` (one name or several)."""
        rooms = dict.fromkeys([*self._target.rooms, *sorted(room_set(room))])
        return EmitterOperator(self._emitter, replace(self._target, rooms=tuple(rooms)))

    def in_(self, room: str | Iterable[str]) -> EmitterOperator:
        """Alias of [`to()`][to]."""
        return self.to(room)

    def except_(self, room: str | Iterable[str]) -> EmitterOperator:
        """Exclude the sockets in ``room`` (one name or several)."""
        rooms = dict.fromkeys([*self._target.except_, *sorted(room_set(room))])
        return EmitterOperator(self._emitter, replace(self._target, except_=tuple(rooms)))

    @property
    def volatile(self) -> EmitterOperator:
        """The packet may be dropped for clients that cannot take it now."""
        return EmitterOperator(self._emitter, replace(self._target, volatile=True))

    def compress(self, compress: bool) -> EmitterOperator:
        """Ask for (or against) compression."""
        return EmitterOperator(self._emitter, replace(self._target, compress=compress))

    async def emit(self, event: str, *args: Any) -> None:
        """Broadcast ``event`` with ``args`` to the targeted sockets of every server.

        Raises:
            ValueError: ``event`` is reserved.
            ClusterUnavailableError: the broker could not be reached; nothing was sent.
        """
        check_event_name(event)
        emitter = self._emitter
        packet = Packet(PacketType.EVENT, emitter.nsp, [event, *args])
        await emitter.publish_broadcast(packet, self._target.options(flags=True))

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make the targeted sockets join ``room``."""
        await self._emitter.publish_sockets_join(self._target.options(flags=False), _rooms(room))

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make the targeted sockets leave ``room``."""
        await self._emitter.publish_sockets_leave(self._target.options(flags=False), _rooms(room))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets (``close``: their whole connection)."""
        await self._emitter.publish_disconnect_sockets(self._target.options(flags=False), close)


class BaseEmitter(EmitterOperator, ABC):
    """What every emitter does, whatever its broker: the operators above, on namespace
    ``nsp``, and server-side emits. A broker's emitter says how each message is published
    (the ``publish_*`` methods, called by the operators)."""

    nsp: str

    def __init__(self, nsp: str) -> None:
        super().__init__(self)
        self.nsp = nsp

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every server's namespace handlers (no acknowledgements).

        Raises:
            ValueError: ``event`` is reserved.
            ClusterUnavailableError: the broker could not be reached; nothing was sent.
        """
        if event in RESERVED_NAMESPACE_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        await self.publish_server_side_emit([event, *args])

    @abstractmethod
    async def publish_broadcast(self, packet: Packet, opts: WireOptions) -> None:
        """Publish a broadcast of ``packet`` to the sockets ``opts`` targets."""

    @abstractmethod
    async def publish_sockets_join(self, opts: WireOptions, rooms: tuple[str, ...]) -> None:
        """Publish a request: the sockets ``opts`` targets join ``rooms``."""

    @abstractmethod
    async def publish_sockets_leave(self, opts: WireOptions, rooms: tuple[str, ...]) -> None:
        """Publish a request: the sockets ``opts`` targets leave ``rooms``."""

    @abstractmethod
    async def publish_disconnect_sockets(self, opts: WireOptions, close: bool) -> None:
        """Publish a request: the sockets ``opts`` targets disconnect."""

    @abstractmethod
    async def publish_server_side_emit(self, packet: list[Any]) -> None:
        """Publish a server-side event (``[event, *args]``) without acknowledgements."""


class Emitter(BaseEmitter):
    """Publishes into the cluster of the classic Redis adapter, in namespace ``nsp``.

    Args:
        redis: A redis-py asyncio client (``Redis``, a Sentinel-managed master, or a
            ``RedisCluster``), or a URL (see
            [`client_from_url()`][socketwire.adapters.redis_link.client_from_url]; the
            emitter then owns the client: [`aclose()`][aclose] closes it).
        key: The channel prefix (Node option ``key``).
        nsp: The namespace (see [`of()`][of]).
    """

    def __init__(
        self, redis: RedisClient | str, *, key: str = DEFAULT_PREFIX, nsp: str = "/"
    ) -> None:
        super().__init__(nsp)
        self._owns = isinstance(redis, str)
        self.redis: RedisClient = client_from_url(redis) if isinstance(redis, str) else redis
        self.key = key
        self.channels = ClassicChannels.of(nsp, key)

    def of(self, nsp: str) -> Emitter:
        """An emitter for namespace ``nsp`` on the same connection."""
        if not nsp.startswith("/"):
            nsp = "/" + nsp
        emitter = Emitter(self.redis, key=self.key, nsp=nsp)
        return emitter

    async def publish_broadcast(self, packet: Packet, opts: WireOptions) -> None:
        """Publish a classic broadcast on the rooms' channel."""
        payload = _CODEC.encode(ClassicBroadcast(EMITTER_UID, packet, opts))
        await _publish(self.redis, self.channels.broadcast_channel(opts.rooms), payload)

    async def publish_sockets_join(self, opts: WireOptions, rooms: tuple[str, ...]) -> None:
        """Publish a classic join request."""
        await self._request(RemoteJoinRequest(None, opts, rooms))

    async def publish_sockets_leave(self, opts: WireOptions, rooms: tuple[str, ...]) -> None:
        """Publish a classic leave request."""
        await self._request(RemoteLeaveRequest(None, opts, rooms))

    async def publish_disconnect_sockets(self, opts: WireOptions, close: bool) -> None:
        """Publish a classic disconnect request."""
        await self._request(RemoteDisconnectRequest(None, opts, close))

    async def publish_server_side_emit(self, packet: list[Any]) -> None:
        """Publish a classic server-side emit request."""
        await self._request(ServerSideEmitRequest(EMITTER_UID, packet))

    async def _request(self, message: EmitterMessage) -> None:
        await _publish(self.redis, self.channels.request, _CODEC.encode(message))

    async def aclose(self) -> None:
        """Close the Redis client if the emitter created it."""
        if self._owns:
            await close_client(self.redis)


async def _publish(redis: RedisClient, channel: str, payload: bytes) -> None:
    try:
        await redis.publish(channel, payload)
    except (RedisError, OSError) as exc:
        raise ClusterUnavailableError(f"cannot publish on {channel}: {exc}") from exc


def _rooms(room: str | Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(room_set(room)))
