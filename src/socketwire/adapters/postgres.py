"""The PostgreSQL adapter, wire-compatible with ``@socket.io/postgres-adapter`` 0.5.

Servers of one cluster share a PostgreSQL database. Each namespace's messages are notified
(``pg_notify``) on the channel ``socket.io#<namespace>``, which every server LISTENs on; a message
too big for a notification, or holding binary, goes through the attachment table (see
`socketwire.adapters.wire.postgres`). Servers know each other
by heartbeats (`socketwire.adapters.cluster_heartbeat`).
Node servers running the official adapter and socketwire servers form one cluster:

```python
sio = Server(adapter=create_adapter("postgresql://user:secret@127.0.0.1/app"))
```

The driver is asyncpg (``pip install 'socketwire[postgres]'``). The attachment table is
not created here, as in Node: create it once (docs/topics/postgres.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information

from socketwire.adapters.base import AdapterFactory, PublishHealth
from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.cluster_heartbeat import HeartbeatClusterAdapter
from socketwire.adapters.wire import WireError
from socketwire.adapters.wire.cluster import ClusterMessage
from socketwire.adapters.wire.postgres import (
    DEFAULT_CHANNEL_PREFIX,
    DEFAULT_TABLE_NAME,
    NOTIFY_LIMIT,
    Attachment,
    AttachmentHeader,
    PostgresCodec,
    channel_name,
    check_table_name,
)

if TYPE_CHECKING:
    from socketwire.adapters.base import AdapterNamespace

__all__ = ["PostgresAdapter", "PostgresClient", "PostgresStats", "create_adapter", "notify"]

logger = logging.getLogger("socketwire.adapters.postgres")

#: Errors after which the same statement may succeed on another connection.
_TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
    TimeoutError,
)
_BACKOFF_MIN = 0.05
#: The ``application_name`` of the adapter's connections (pg_stat_activity shows it).
APPLICATION_NAME = "socketwire"
_BACKOFF_MAX = 2.0


def create_adapter(
    dsn: str,
    *,
    connect_options: Mapping[str, Any] | None = None,
    pool_size: int = 4,
    channel_prefix: str = DEFAULT_CHANNEL_PREFIX,
    table_name: str = DEFAULT_TABLE_NAME,
    payload_threshold: int = NOTIFY_LIMIT,
    cleanup_interval: float = 30.0,
    heartbeat_interval: float = 5.0,
    heartbeat_timeout: float = 10.0,
    requests_timeout: float = 5.0,
    publish_timeout: float = 5.0,
    max_queued: int = 10_000,
) -> AdapterFactory:
    """The PostgreSQL adapter for ``Server(adapter=...)`` (Node ``createAdapter`` of
    ``@socket.io/postgres-adapter``; the option names are Node's in snake case, in seconds).

    Args:
        dsn: Where the database is (``postgresql://user:password@host:port/database``).
        connect_options: More arguments for ``asyncpg.connect`` (``ssl``, ``password``...);
            ``application_name`` is ``socketwire`` unless ``server_settings`` names another.
        pool_size: Connections that send and read messages, at most; one more listens.
        channel_prefix: Channels are ``<channel_prefix>#<namespace>``.
        table_name: The attachment table (``table`` or ``schema.table``).
        payload_threshold: JSON payloads of this many bytes or more go through the table.
        cleanup_interval: Every so often, rows older than this are deleted.
        heartbeat_interval: Seconds of silence after which a server sends a heartbeat.
        heartbeat_timeout: Seconds of silence after which a server is considered gone.
        requests_timeout: Seconds to wait for the other servers' answers.
        publish_timeout: Seconds a message may wait for the database before it is dropped.
        max_queued: Messages waiting to be sent, or to be handled, at most.

    Raises:
        ValueError: An invalid table name or payload threshold.
    """
    client = PostgresClient(
        dsn,
        connect_options=dict(connect_options or {}),
        pool_size=pool_size,
        codec=PostgresCodec(payload_threshold=payload_threshold),
        channel_prefix=channel_prefix,
        table_name=check_table_name(table_name),
        cleanup_interval=cleanup_interval,
        publish_timeout=publish_timeout,
        max_queued=max_queued,
    )

    def factory(nsp: AdapterNamespace) -> PostgresAdapter:
        return PostgresAdapter(
            nsp,
            client,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            requests_timeout=requests_timeout,
        )

    return factory


@dataclass
class PostgresStats:
    """Counters of a client's life (read them; the client updates them).

    Attributes:
        listens: Times the LISTEN connection was (re)established.
        lost: Times it was lost.
        notified: Messages sent as notifications.
        attached: Messages sent through the attachment table.
        received: Messages received and handed to an adapter.
        malformed: Notifications or rows dropped because they could not be decoded.
        missing: Attachment rows that were gone when read.
        dropped: Messages dropped (not sent after ``publish_timeout``, or received when
            ``max_queued`` were waiting).
        cleanups: Times old attachment rows were deleted.
    """

    listens: int = 0
    lost: int = 0
    notified: int = 0
    attached: int = 0
    received: int = 0
    malformed: int = 0
    missing: int = 0
    dropped: int = 0
    cleanups: int = 0


async def notify(pool: Any, channel: str, what: Attachment | str, table_name: str) -> bool:
    """Send one encoded message on ``channel`` through ``pool`` (an ``asyncpg.Pool``): a
    notification, or a row of ``table_name`` and the notification pointing at it. Returns
    True when it went through the table. Raises what asyncpg raises."""
    if isinstance(what, str):
        await pool.execute("SELECT pg_notify($1, $2)", channel, what)
        return False
    insert = f"INSERT INTO {table_name} (payload) VALUES ($1) RETURNING id"
    row_id = await pool.fetchval(insert, what.row)
    await pool.execute("SELECT pg_notify($1, $2)", channel, what.header(row_id))
    return True


@dataclass(eq=False)
class _Outgoing:
    channel: str
    what: Attachment | str
    name: str
    accepted_at: float
    on_result: Callable[[str], None] | None
    on_error: Callable[[BaseException], None] | None


class PostgresClient:
    """One server's link to PostgreSQL, shared by the adapters of its namespaces (Node's
    ``PubSubClient``): a LISTEN connection, an ordered outbox, and the cleanup timer.

    Messages are sent in the order they were accepted, and handled in the order they were
    notified (an attachment is read before the next message is handled).
    """

    def __init__(
        self,
        dsn: str,
        *,
        connect_options: dict[str, Any],
        pool_size: int,
        codec: PostgresCodec,
        channel_prefix: str,
        table_name: str,
        cleanup_interval: float,
        publish_timeout: float,
        max_queued: int,
    ) -> None:
        self.dsn = dsn
        # Named in pg_stat_activity, unless the application names its connections itself.
        settings = {"application_name": APPLICATION_NAME}
        settings.update(connect_options.get("server_settings") or {})
        self.connect_options = {**connect_options, "server_settings": settings}
        self.pool_size = pool_size
        #: The ``asyncpg.Pool`` that sends and reads messages (None when not running).
        self.pool: Any = None
        self.codec = codec
        self.channel_prefix = channel_prefix
        self.table_name = table_name
        self.cleanup_interval = cleanup_interval
        self.publish_timeout = publish_timeout
        self.max_queued = max_queued
        self.stats = PostgresStats()
        self.adapters: dict[str, PostgresAdapter] = {}
        self._listener: Any = None
        #: The adapters announced on the current LISTEN connection.
        self._announced: set[str] = set()
        self._outbox: deque[_Outgoing] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._inbox: asyncio.Queue[str] = asyncio.Queue(max_queued)
        self._tasks: list[asyncio.Task[None]] = []
        self._first_listen: asyncio.Future[None] | None = None
        self._start_lock = asyncio.Lock()

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is up."""
        return self._listener is not None

    @property
    def queued(self) -> int:
        """Messages accepted and not yet sent."""
        return len(self._outbox)

    # -- lifecycle ---------------------------------------------------------------------------

    async def add(self, adapter: PostgresAdapter) -> None:
        """Receive ``adapter``'s namespace's messages; start the client if not yet.

        Returns once the channel is listened to, or the first attempt to connect failed
        (then the client keeps trying, and the adapter announces itself once it listens).
        """
        async with self._start_lock:
            if not self._tasks:
                # No connection yet (min_size=0): a database that is down is retried.
                self.pool = await asyncpg.create_pool(
                    self.dsn, min_size=0, max_size=self.pool_size, **self.connect_options
                )
                loop = asyncio.get_running_loop()
                self._first_listen = loop.create_future()
                self._wakeup = asyncio.Event()
                self._idle = asyncio.Event()
                self._idle.set()
                self._inbox = asyncio.Queue(self.max_queued)
                self._tasks = [
                    asyncio.create_task(self._listen(), name="postgres:listen"),
                    asyncio.create_task(self._receive(), name="postgres:receive"),
                    asyncio.create_task(self._send(), name="postgres:send"),
                    asyncio.create_task(self._cleanup(), name="postgres:cleanup"),
                ]
        self.adapters[adapter.nsp.name] = adapter
        assert self._first_listen is not None
        await asyncio.shield(self._first_listen)
        listener = self._listener
        if listener is not None:
            try:
                await self._attach(listener, adapter)
            except _TRANSIENT as exc:
                # The connection is going away: _listen attaches every adapter again.
                logger.warning("LISTEN %s failed (%s); will retry", adapter.channel, exc)

    async def _attach(self, connection: Any, adapter: PostgresAdapter) -> None:
        """LISTEN on ``adapter``'s channel on ``connection``, then let it announce itself
        (once per connection)."""
        if adapter.channel in self._announced or connection is not self._listener:
            return
        self._announced.add(adapter.channel)
        try:
            await connection.add_listener(adapter.channel, self._on_notify)
        except BaseException:
            self._announced.discard(adapter.channel)
            raise
        await adapter.on_listening()

    async def remove(self, adapter: PostgresAdapter) -> None:
        """Stop receiving ``adapter``'s messages; the last one closes the client (after
        sending what is queued, within ``publish_timeout``)."""
        if self.adapters.get(adapter.nsp.name) is adapter:
            del self.adapters[adapter.nsp.name]
        listener = self._listener
        if self.adapters and listener is not None:
            self._announced.discard(adapter.channel)
            with contextlib.suppress(*_TRANSIENT, asyncpg.PostgresError):
                await listener.remove_listener(adapter.channel, self._on_notify)
        if self.adapters or not self._tasks:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.publish_timeout):
                await self._idle.wait()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pool, self.pool = self.pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.publish_timeout)
            except (*_TRANSIENT, asyncpg.PostgresError):
                pool.terminate()

    # -- receiving ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        backoff = _BACKOFF_MIN
        failing = False
        while True:
            lost = asyncio.Event()
            connection: Any = None
            try:
                # Its own connection, not the pool's: a pool cannot take back a connection
                # that still has (or lost with its listeners) a LISTEN.
                connection = await asyncpg.connect(
                    self.dsn, timeout=self.publish_timeout, **self.connect_options
                )
                connection.add_termination_listener(_on_termination(lost))
                self._announced.clear()
                self._listener = connection
                for adapter in list(self.adapters.values()):
                    await self._attach(connection, adapter)
                self.stats.listens += 1
                backoff = _BACKOFF_MIN
                failing = False
                if self.stats.listens > 1:
                    logger.warning("listening on PostgreSQL again")
                self._listened()
                await lost.wait()
                self.stats.lost += 1
                logger.warning("the LISTEN connection to PostgreSQL was lost; reconnecting")
            except (*_TRANSIENT, asyncpg.PostgresError) as exc:
                # Logged once per outage (a wrong password or database name too: it may be
                # fixed without restarting this server).
                if not failing:
                    logger.error("cannot LISTEN on PostgreSQL (%s); retrying", exc)
                failing = True
                self._listened()
            except Exception:
                logger.exception("the LISTEN connection failed; retrying")
                self._listened()
            finally:
                self._listener = None
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _listened(self) -> None:
        if self._first_listen is not None and not self._first_listen.done():
            self._first_listen.set_result(None)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._inbox.put_nowait(payload)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                logger.error(
                    "%d notifications wait to be handled; dropping one (%d dropped so far)",
                    self.max_queued,
                    self.stats.dropped,
                )

    async def _receive(self) -> None:
        while True:
            payload = await self._inbox.get()
            try:
                await self._handle(payload)
            except Exception:
                logger.exception("handling a notification failed")

    async def _handle(self, payload: str) -> None:
        try:
            decoded = self.codec.decode_notification(payload)
        except WireError as exc:
            self._malformed(f"notification {payload[:100]!r}", exc)
            return
        if isinstance(decoded, AttachmentHeader):
            if any(a.uid == decoded.uid for a in self.adapters.values()):
                return  # our own: no need to read it back
            message = await self._fetch(decoded.attachment_id)
            if message is None:
                return
        else:
            message = decoded
        adapter = self.adapters.get(message.nsp)
        if adapter is not None:
            self.stats.received += 1
            adapter.on_message(message)

    async def _fetch(self, attachment_id: int) -> ClusterMessage | None:
        query = f"SELECT payload FROM {self.table_name} WHERE id = $1"
        for attempt in range(3):
            try:
                row = await self.pool.fetchval(query, attachment_id)
                break
            except _TRANSIENT as exc:
                if attempt == 2:
                    logger.warning("cannot read attachment %d: %s", attachment_id, exc)
                    return None
                await asyncio.sleep(_BACKOFF_MIN * 2**attempt)
            except asyncpg.PostgresError as exc:
                logger.warning("cannot read attachment %d: %s", attachment_id, exc)
                return None
        if row is None:
            self.stats.missing += 1
            logger.warning("attachment %d is gone (cleaned up?); message lost", attachment_id)
            return None
        try:
            return self.codec.decode_attachment(bytes(row))
        except WireError as exc:
            self._malformed(f"attachment {attachment_id}", exc)
            return None

    def _malformed(self, what: str, exc: WireError) -> None:
        self.stats.malformed += 1
        logger.warning("dropping a malformed %s: %s", what, exc)

    # -- sending -----------------------------------------------------------------------------

    def publish(
        self,
        adapter: PostgresAdapter,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue ``message`` on ``adapter``'s channel; ``on_result`` gets ``""`` once sent.

        Raises:
            WireError: The message holds something that cannot be encoded.
            ClusterUnavailableError: The client is closed, or ``max_queued`` messages wait.
        """
        if not self._tasks:
            raise ClusterUnavailableError("the PostgreSQL adapter is not running")
        if len(self._outbox) >= self.max_queued:
            raise ClusterUnavailableError(
                f"{len(self._outbox)} messages are waiting for PostgreSQL; not queued"
            )
        encoded = self.codec.encode(message)
        what = encoded if isinstance(encoded, Attachment) else encoded.payload
        loop = asyncio.get_running_loop()
        self._outbox.append(
            _Outgoing(
                adapter.channel, what, type(message).__name__, loop.time(), on_result, on_error
            )
        )
        self._idle.clear()
        self._wakeup.set()

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = _BACKOFF_MIN
        while True:
            if not self._outbox:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = self._outbox[0]
            try:
                await self._send_one(item)
            except _TRANSIENT as exc:
                now = loop.time()
                if now - item.accepted_at < self.publish_timeout:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                    continue
                # Every message accepted as long ago is given up too, without an attempt.
                while self._outbox and now - self._outbox[0].accepted_at >= self.publish_timeout:
                    self._give_up(self._outbox.popleft(), exc)
                continue
            except Exception as exc:
                # The database refused it (no attachment table...): retrying will not help.
                self._give_up(item, exc)
            else:
                if item.on_result is not None:
                    item.on_result("")
            backoff = _BACKOFF_MIN
            self._outbox.popleft()

    async def _send_one(self, item: _Outgoing) -> None:
        if await notify(self.pool, item.channel, item.what, self.table_name):
            self.stats.attached += 1
        else:
            self.stats.notified += 1

    def _give_up(self, item: _Outgoing, exc: BaseException) -> None:
        self.stats.dropped += 1
        logger.error("dropping %s for %s: %s", item.name, item.channel, exc)
        if item.on_error is not None:
            item.on_error(ClusterUnavailableError(f"{item.name} not sent: {exc}"))

    async def _cleanup(self) -> None:
        query = f"DELETE FROM {self.table_name} WHERE created_at < now() - $1::interval"
        age = datetime.timedelta(seconds=self.cleanup_interval)
        while True:
            await asyncio.sleep(self.cleanup_interval)
            try:
                await self.pool.execute(query, age)
                self.stats.cleanups += 1
            except (*_TRANSIENT, asyncpg.PostgresError) as exc:
                logger.warning("cannot delete old attachments: %s", exc)


class PostgresAdapter(HeartbeatClusterAdapter):
    """One namespace's adapter in a ``@socket.io/postgres-adapter`` cluster.

    Attributes:
        client: The server's link to PostgreSQL, shared by its namespaces.
        channel: This namespace's channel.
    """

    def __init__(
        self,
        nsp: AdapterNamespace,
        client: PostgresClient,
        *,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
        requests_timeout: float = 5.0,
    ) -> None:
        channel = channel_name(nsp.name, client.channel_prefix)
        super().__init__(
            nsp,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
            requests_timeout=requests_timeout,
            where=channel,
        )
        self.client = client
        self.channel = channel
        self._ready: asyncio.Future[None] | None = None

    async def init(self) -> None:
        """LISTEN on the namespace's channel, then announce this server (once; later
        calls wait for the first)."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self.client.add(self))
        await asyncio.shield(self._ready)

    async def close(self) -> None:
        """Tell the others (``ADAPTER_CLOSE``), stop listening, release the client."""
        if self._ready is None:
            return
        self._ready = None
        await self.stop_heartbeats()
        await self.client.remove(self)

    async def on_listening(self) -> None:
        """The client LISTENs on this namespace's channel (again): announce this server, so
        that the others answer with heartbeats."""
        await self.start_heartbeats()

    def publish_health(self) -> PublishHealth:
        """The shared client's messages: dropped, and queued now."""
        return PublishHealth(self.client, self.client.stats.dropped, self.client.queued)

    def transmit(
        self,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue ``message`` on the namespace's channel."""
        self.client.publish(self, message, on_result, on_error)

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Queue ``message`` on the namespace's channel: there is no point-to-point
        channel, every server receives it and the requester keeps its own."""
        self.client.publish(self, message)


def _on_termination(lost: asyncio.Event) -> Callable[[Any], None]:
    def on_termination(_connection: Any) -> None:
        lost.set()

    return on_termination
