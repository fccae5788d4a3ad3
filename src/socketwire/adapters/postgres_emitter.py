"""Publish into a PostgreSQL cluster from any Python process, as ``@socket.io/postgres-emitter``.

The emitter is not a server: it has no sockets and receives nothing. It notifies what a
server of the cluster would (the cluster adapter's messages, with the uid ``"emitter"``,
which servers never count as a server) on the namespace's channel, so PostgreSQL adapters
receive it, socketwire's and Node's (``@socket.io/postgres-adapter``) alike. A message over
the notification limit, or holding binary, goes through the attachment table, as the
adapters send theirs: a row, then a header that points at it.

```python
emitter = PostgresEmitter("postgresql://user:secret@127.0.0.1/app")
await emitter.to("room1").emit("hello", {"from": "a cron job"})
await emitter.of("/admin").server_side_emit("reload")
await emitter.in_("room1").sockets_join("room2")
await emitter.aclose()
```
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information

from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.emitter import BaseEmitter
from socketwire.adapters.postgres import notify
from socketwire.adapters.wire import EMITTER_UID, WireOptions
from socketwire.adapters.wire.cluster import (
    ClusterBroadcast,
    ClusterMessage,
    DisconnectSockets,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
)
from socketwire.adapters.wire.postgres import (
    DEFAULT_CHANNEL_PREFIX,
    DEFAULT_TABLE_NAME,
    NOTIFY_LIMIT,
    Attachment,
    PostgresCodec,
    channel_name,
    check_table_name,
)
from socketwire.socketio import Packet

__all__ = ["PostgresEmitter"]

#: What may fail while notifying: the database is unreachable or refuses the statement.
_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class _Pool:
    """The connection pool of one emitter and the emitters of its other namespaces."""

    def __init__(self, pool: Any, dsn: str | None) -> None:
        self.pool = pool
        self.dsn = dsn
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        async with self._lock:
            if self.pool is None:
                self.pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=2)
            return self.pool

    async def close(self) -> None:
        async with self._lock:
            pool, self.pool = self.pool, None
            if pool is not None:
                await pool.close()


class PostgresEmitter(BaseEmitter):
    """Publishes into the cluster of the PostgreSQL adapter, in namespace ``nsp``.

    Args:
        pool: An ``asyncpg.Pool``, or a DSN (``postgresql://user:password@host/database``):
            the emitter then connects at its first message and owns the pool
            ([`aclose()`][aclose] closes it).
        nsp: The namespace (see [`of()`][of]).
        channel_prefix: Node option ``channelPrefix``: channels are
            ``<channel_prefix>#<namespace>``, as the servers' adapters have them.
        table_name: Node option ``tableName``: the attachment table the servers read.
        payload_threshold: Node option ``payloadThreshold``: JSON payloads of this many bytes
            or more go through the table (at most 8000, PostgreSQL's limit).

    Raises:
        ValueError: An invalid table name or payload threshold.
    """

    def __init__(
        self,
        pool: Any,
        *,
        nsp: str = "/",
        channel_prefix: str = DEFAULT_CHANNEL_PREFIX,
        table_name: str = DEFAULT_TABLE_NAME,
        payload_threshold: int = NOTIFY_LIMIT,
    ) -> None:
        super().__init__(nsp)
        # A DSN: the pool is this emitter's; a _Pool: another namespace's emitter's (of()).
        self._owns = isinstance(pool, str)
        if isinstance(pool, _Pool):
            self._pool = pool
        else:
            self._pool = _Pool(None, pool) if self._owns else _Pool(pool, None)
        self.channel_prefix = channel_prefix
        self.table_name = check_table_name(table_name)
        self.codec = PostgresCodec(payload_threshold=payload_threshold)
        #: This namespace's channel.
        self.channel = channel_name(nsp, channel_prefix)

    def of(self, nsp: str) -> PostgresEmitter:
        """An emitter for namespace ``nsp`` on the same pool."""
        if not nsp.startswith("/"):
            nsp = "/" + nsp
        return PostgresEmitter(
            self._pool,
            nsp=nsp,
            channel_prefix=self.channel_prefix,
            table_name=self.table_name,
            payload_threshold=self.codec.payload_threshold,
        )

    async def publish_broadcast(self, packet: Packet, opts: WireOptions) -> None:
        """Notify a broadcast."""
        await self._notify(ClusterBroadcast(EMITTER_UID, self.nsp, packet, opts))

    async def publish_sockets_join(self, opts: WireOptions, rooms: tuple[str, ...]) -> None:
        """Notify a join request."""
        await self._notify(SocketsJoin(EMITTER_UID, self.nsp, opts, rooms))

    async def publish_sockets_leave(self, opts: WireOptions, rooms: tuple[str, ...]) -> None:
        """Notify a leave request."""
        await self._notify(SocketsLeave(EMITTER_UID, self.nsp, opts, rooms))

    async def publish_disconnect_sockets(self, opts: WireOptions, close: bool) -> None:
        """Notify a disconnect request."""
        await self._notify(DisconnectSockets(EMITTER_UID, self.nsp, opts, close))

    async def publish_server_side_emit(self, packet: list[Any]) -> None:
        """Notify a server-side emit (no acknowledgements)."""
        await self._notify(ServerSideEmit(EMITTER_UID, self.nsp, packet))

    async def _notify(self, message: ClusterMessage) -> None:
        encoded = self.codec.encode(message)
        what = encoded if isinstance(encoded, Attachment) else encoded.payload
        try:
            await notify(await self._pool.get(), self.channel, what, self.table_name)
        except _FAILURES as exc:
            raise ClusterUnavailableError(f"cannot notify on {self.channel}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the pool if the emitter created it."""
        if self._owns:
            await self._pool.close()
