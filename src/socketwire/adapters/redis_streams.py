"""The Redis streams adapter, wire-compatible with ``@socket.io/redis-streams-adapter`` 0.3.

Durable messages (a broadcast without ack, join, leave, disconnect) are entries of a Redis
stream that every server reads with ``XREAD BLOCK``; ephemeral ones (a broadcast with ack,
a server-side emit, a fetch) and every response go over pub/sub, as msgpack. Because the
stream keeps what was broadcast, connection state recovery works across servers: a
disconnected socket's session is stored in Redis (``SET sio:session:<pid>``), the offset a
client presents is a stream entry id, and the packets it missed are read back from the
stream, whichever server it comes back to:

```python
sio = Server(connection_state_recovery=True,
             adapter=create_streams_adapter("redis://127.0.0.1:6379"))
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from socketwire.adapters.base import AdapterFactory, AdapterNamespace
from socketwire.adapters.cluster import InFlight, logger, options_from_wire
from socketwire.adapters.cluster_base import ClusterAdapter, is_volatile
from socketwire.adapters.memory import reaches_rooms
from socketwire.adapters.redis_forwarding import RedisAdapterFactory
from socketwire.adapters.redis_link import (
    BACKOFF_MAX,
    PresenceKind,
    RedisClient,
    RedisLink,
    link_for,
)
from socketwire.adapters.redis_member import RedisMember
from socketwire.adapters.types import Session
from socketwire.adapters.wire import StreamsCodec, WireError, WireSession, is_ephemeral
from socketwire.adapters.wire.cluster import ClusterBroadcast, ClusterMessage
from socketwire.adapters.wire.naming import (
    DEFAULT_PREFIX,
    DEFAULT_SESSION_PREFIX,
    is_valid_offset,
    next_offset,
    session_key,
    streams_channels,
)
from socketwire.adapters.wire.naming import stream_name as compute_stream_name

__all__ = ["RedisStreamsAdapter", "StreamReader", "create_streams_adapter"]

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
#: As Node: at most this many XRANGE calls to read back what a session missed.
_MAX_XRANGE_CALLS = 100


def create_streams_adapter(
    redis: RedisClient | str,
    *,
    stream_name: str = DEFAULT_PREFIX,
    stream_count: int = 1,
    channel_prefix: str = DEFAULT_PREFIX,
    max_len: int = 10_000,
    read_count: int = 100,
    block_time: float = 5.0,
    session_key_prefix: str = DEFAULT_SESSION_PREFIX,
    requests_timeout: float = 5.0,
    publish_timeout: float = 5.0,
    max_queued: int = 10_000,
    only_plaintext: bool = False,
) -> AdapterFactory:
    """The streams adapter for ``Server(adapter=...)`` (Node ``createAdapter`` of
    ``@socket.io/redis-streams-adapter``; the option names are Node's, in snake case, plus
    ``publish_timeout`` and ``max_queued``: see `socketwire.adapters.redis_link`)."""
    link = link_for(redis, publish_timeout=publish_timeout, max_queued=max_queued)
    codec = StreamsCodec(only_plaintext=only_plaintext)
    readers: dict[str, StreamReader] = {}

    def factory(nsp: AdapterNamespace) -> RedisStreamsAdapter:
        name = compute_stream_name(nsp.name, stream_name, stream_count)
        reader = readers.get(name)
        if reader is None or reader.closed:
            reader = readers[name] = StreamReader(link.redis, name, codec, read_count, block_time)
        return RedisStreamsAdapter(
            nsp,
            link,
            reader,
            codec=codec,
            channel_prefix=channel_prefix,
            max_len=max_len,
            session_key_prefix=session_key_prefix,
            requests_timeout=requests_timeout,
        )

    return RedisAdapterFactory(factory, link)


class StreamReader:
    """Reads one stream for every namespace written to it (``XREAD BLOCK``), from the
    entries added after it started; resumes after a failure from the last entry read."""

    def __init__(
        self, redis: RedisClient, name: str, codec: StreamsCodec, count: int, block: float
    ) -> None:
        self.redis = redis
        self.name = name
        self.codec = codec
        self.count = count
        self.block_ms = round(block * 1000)
        self.adapters: dict[str, RedisStreamsAdapter] = {}
        self.offset = "$"
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None

    async def add(self, adapter: RedisStreamsAdapter) -> None:
        """Deliver ``adapter``'s namespace's entries to it; start reading if not yet."""
        self.adapters[adapter.nsp.name] = adapter
        if self._task is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._read(), name=f"redis-stream:{self.name}")
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def remove(self, adapter: RedisStreamsAdapter) -> None:
        """Stop delivering to ``adapter``; the last one stops the reader."""
        if self.adapters.get(adapter.nsp.name) is adapter:
            del self.adapters[adapter.nsp.name]
        if not self.adapters and self._task is not None:
            self.closed = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _read(self) -> None:
        backoff = 0.05
        down = False
        while True:
            try:
                if self.offset == "$":
                    # Start from the current last entry, so nothing added from now on is
                    # missed between two XREAD calls.
                    last = _entries(await self.redis.xrevrange(self.name, count=1))
                    self.offset = last[0][0] if last else "0-0"
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                response: Any = await self.redis.xread(
                    {self.name: self.offset}, count=self.count, block=self.block_ms
                )
            except (*_TRANSIENT, RedisError) as exc:
                # RedisError too (a reply error while reconnecting): the reader never stops.
                if not down:
                    logging.getLogger("socketwire.adapters.redis").warning(
                        "reading stream %s failed (%s); retrying", self.name, exc
                    )
                down = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if down:
                logging.getLogger("socketwire.adapters.redis").warning(
                    "reading stream %s again from %s", self.name, self.offset
                )
                down = False
            backoff = 0.05
            for _stream, entries in response or ():
                for entry_id, fields in _entries(entries):
                    self.offset = entry_id
                    self._deliver(entry_id, fields)

    def _deliver(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        nsp = fields.get(b"nsp")
        adapter = self.adapters.get(nsp.decode(errors="replace")) if nsp else None
        if adapter is None:
            return
        try:
            message = self.codec.decode_entry(fields)
        except WireError as exc:
            logger.debug("ignoring a malformed entry %s of %s: %s", entry_id, self.name, exc)
            return
        try:
            adapter.on_message(message, entry_id)
        except Exception:
            logger.exception("handling entry %s of %s failed", entry_id, self.name)


class RedisStreamsAdapter(RedisMember, ClusterAdapter):
    """One namespace's adapter in a ``@socket.io/redis-streams-adapter`` cluster."""

    records_offsets = True

    def __init__(
        self,
        nsp: AdapterNamespace,
        link: RedisLink,
        reader: StreamReader,
        *,
        codec: StreamsCodec,
        channel_prefix: str = DEFAULT_PREFIX,
        max_len: int = 10_000,
        session_key_prefix: str = DEFAULT_SESSION_PREFIX,
        requests_timeout: float = 5.0,
    ) -> None:
        self.stream = reader.name
        super().__init__(nsp, requests_timeout=requests_timeout, where="")
        self.public, self.private = streams_channels(nsp.name, self.uid, channel_prefix)
        self.requests.where = self.public
        self.link = link
        self.reader = reader
        self.codec = codec
        self.max_len = max_len
        self.session_key_prefix = session_key_prefix
        self._prefix = channel_prefix
        self._ready: asyncio.Future[None] | None = None
        self._presence = (PresenceKind.NUMSUB, self.public)
        self._storing = InFlight()

    async def _subscribe(self) -> None:
        self.link.acquire()
        self.link.watch_presence(*self._presence)
        await self.link.subscribe([self.public, self.private], self._on_raw)
        await self.reader.add(self)

    async def close(self) -> None:
        """Unsubscribe, stop reading, release the link."""
        if self._ready is None:
            return
        self._ready = None
        await self._storing.drain(self.requests_timeout)
        self.close_requests()
        self.link.forget_presence(*self._presence)
        await self.reader.remove(self)
        await self.link.unsubscribe([self.public, self.private])
        await self.link.release()

    def publish(
        self,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Add a durable message to the stream (its entry id is the offset), or publish an
        ephemeral one on the namespace's public channel."""
        if is_ephemeral(message):
            self._pubsub(self.public, message, on_result, on_error, expect=True)
            return
        fields: dict[Any, Any] = dict(self.codec.encode_entry(message))
        name, max_len = self.stream, self.max_len

        async def command(redis: RedisClient) -> Any:
            return await redis.xadd(name, fields, maxlen=max_len, approximate=True)

        def done(result: Any) -> None:
            if on_result is not None:
                on_result(result.decode() if isinstance(result, bytes) else str(result))

        self.link.send(
            f"{type(message).__name__} into {name}",
            command,
            volatile=is_volatile(message),
            on_result=done,
            on_error=on_error,
        )

    def _pubsub(
        self,
        channel: str,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None,
        on_error: Callable[[BaseException], None] | None,
        *,
        expect: bool,
    ) -> None:
        payload = self.codec.encode_pubsub(message)
        self._pubsub_send(
            channel,
            message,
            lambda redis: redis.publish(channel, payload),
            expect=expect,
            on_result=on_result,
            on_error=on_error,
        )

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Publish ``message`` on the private channel of server ``requester``."""
        channel = streams_channels(self.nsp.name, requester, self._prefix)[1]
        self._pubsub(channel, message, None, None, expect=False)

    def _on_raw(self, channel: str, data: bytes) -> None:
        try:
            message = self.codec.decode_pubsub(data)
        except WireError as exc:
            logger.debug("ignoring a malformed message on %s: %s", channel, exc)
            return
        self.on_message(message)

    # -- connection state recovery -----------------------------------------------------------

    async def persist_session(self, session: Session) -> None:
        """Store ``session`` in Redis for ``max_disconnection_duration``."""
        options = self.nsp.connection_state_recovery
        duration = options.max_disconnection_duration if options is not None else 120.0
        wire = WireSession(session.sid, session.pid, tuple(session.rooms), session.data)
        key = session_key(session.pid, self.session_key_prefix)
        try:
            value = self.codec.encode_session(wire)
            with self._storing.track():
                await self.link.redis.set(key, value, px=max(1, round(duration * 1000)))
        except (RedisError, OSError, WireError) as exc:
            # The socket is gone either way; its client will start a new session.
            logger.warning("could not store session %s: %s", session.pid, exc)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session ``pid`` (taken out of Redis) with the packets it missed after
        ``offset``, read back from the stream; None when either is gone."""
        if not is_valid_offset(offset):
            return None
        redis = self.link.redis
        key = session_key(pid, self.session_key_prefix)
        raw, found = await asyncio.gather(
            redis.getdel(key), redis.xrange(self.stream, offset, offset)
        )
        if not raw or not found:
            return None
        try:
            wire = self.codec.decode_session(raw)
        except WireError as exc:
            logger.warning("ignoring a malformed session %s: %s", pid, exc)
            return None
        missed: list[list[Any]] = []
        for _ in range(_MAX_XRANGE_CALLS):
            entries = _entries(await redis.xrange(self.stream, next_offset(offset), "+"))
            if not entries:
                break
            for offset, fields in entries:
                self._collect(offset, fields, wire.rooms, missed)
        data = wire.data if isinstance(wire.data, dict) else {}
        return Session(wire.sid, wire.pid, list(wire.rooms), data, missed_packets=missed)

    def _collect(
        self,
        entry_id: str,
        fields: dict[bytes, bytes],
        rooms: tuple[str, ...],
        missed: list[list[Any]],
    ) -> None:
        if fields.get(b"nsp") != self.nsp.name.encode() or fields.get(b"type") != b"3":
            return
        try:
            message = self.codec.decode_entry(fields)
        except WireError:
            return
        if not isinstance(message, ClusterBroadcast):
            return
        if reaches_rooms(rooms, options_from_wire(message.opts)):
            missed.append([*(message.packet.data or []), entry_id])


def _entries(value: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """Stream entries as redis-py returns them (``[(id, {field: value})]``, bytes)."""
    return [(bytes(raw_id).decode(), dict(fields)) for raw_id, fields in value or ()]
