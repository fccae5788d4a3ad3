"""One server's connection to an AMQP 0-9-1 broker (RabbitMQ) for a fanout exchange, through
aio-pika: what python-socketio's ``AsyncAioPikaManager`` does, with socketwire's failure
rules.

The exchange is declared as python-socketio declares it (its ``channel`` name, type
``fanout``, not durable, not auto-deleted: a different declaration would be refused by the
broker). Each server reads its own queue bound to the exchange: a server-named queue,
exclusive and auto-deleted, so it disappears with the connection (python-socketio's own
queues expire five minutes after their server is gone). Messages are published with routing
key ``*`` and read in order.

Failures, and what the link promises:

- A lost connection (the broker restarted, the connection closed) is retried with a short
  back-off, capped at `BACKOFF_MAX`; the exchange and a fresh queue are declared again. The
  link logs one warning when it goes down and one when it is back, and counts both
  (`AmqpLink.stats`). Messages published while this server had no queue are not delivered
  to it (as with Redis pub/sub).
- While the broker is unreachable, local delivery goes on and the messages for the other
  servers wait in an outbox, in order, up to ``max_queued``: over it the oldest *volatile*
  message is dropped (``stats.dropped_volatile``), and when none is volatile `send()`
  refuses the new one with `ClusterUnavailableError` (``stats.rejected``).
- A message the broker refuses (a negative publisher confirm) is dropped, logged as an error
  and counted (``stats.dropped``).
- A broker cannot say how many queues a fanout exchange feeds (not over AMQP): the link does
  not count servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue
from aio_pika.exceptions import DeliveryError

from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.link_common import LinkState, LinkStats, Outbox

__all__ = ["BACKOFF_MAX", "AmqpLink", "BodyHandler"]

logger = logging.getLogger("socketwire.adapters.amqp")

#: ``(exchange, body)`` of one message.
BodyHandler = Callable[[str, bytes], None]

_BACKOFF_MIN = 0.05
#: The longest wait between two attempts to reach the broker (seconds).
BACKOFF_MAX = 1.0


@dataclass(frozen=True, slots=True)
class _Outgoing:
    what: str
    body: bytes
    volatile: bool


@dataclass(eq=False)
class _Session:
    """One connection's channel, exchange and queue."""

    connection: AbstractConnection
    channel: AbstractChannel
    exchange: AbstractExchange
    queue: AbstractQueue


class AmqpLink:
    """A shared connection to the broker: one queue in, an ordered outbox out.

    Args:
        url: The broker's URL (``amqp://user:password@host:port/vhost``, ``amqps://``).
        exchange: The fanout exchange's name (python-socketio's ``channel``).
        max_queued: Messages that may wait for the broker (see the module docstring).
        connect_timeout: Seconds one attempt to connect may take.
    """

    def __init__(
        self,
        url: str,
        exchange: str,
        *,
        max_queued: int = 10_000,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.exchange = exchange
        self.connect_timeout = connect_timeout
        self.state = LinkState.CONNECTING
        self.stats = LinkStats()
        self._handler: BodyHandler | None = None
        self._outbox: Outbox[_Outgoing] = Outbox(
            max_queued=max_queued, stats=self.stats, broker="the AMQP broker", logger=logger
        )
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, handler: BodyHandler) -> None:
        """Connect, declare the exchange and this server's queue, and deliver each message's
        body to ``handler`` from now on (reconnecting when the connection is lost).

        Raises:
            ClusterUnavailableError: The first connection failed.
        """
        if self._task is not None or self.state is LinkState.CLOSED:
            raise RuntimeError("the AMQP link is already started, or closed")
        self._handler = handler
        try:
            session = await self._open()
        except Exception as exc:
            raise ClusterUnavailableError(f"cannot reach the AMQP broker: {exc}") from exc
        self.state = LinkState.UP
        self._task = asyncio.create_task(self._run(session), name="amqp-link")

    async def close(self) -> None:
        """Stop, fail what is still queued, and close the connection."""
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Whatever the task ended with, the link is closed.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._outbox.clear()

    @property
    def queued(self) -> int:
        """Messages accepted and not yet published."""
        return len(self._outbox)

    # -- publishing --------------------------------------------------------------------------

    def send(self, what: str, body: bytes, *, volatile: bool = False) -> None:
        """Queue ``body`` for the exchange; it is published after every message queued
        before, however long the broker is away.

        Args:
            what: Named in log lines and errors.
            body: The message.
            volatile: The message may be dropped when the outbox is full.

        Raises:
            ClusterUnavailableError: The link is closed, or the outbox is full of messages
                that are not volatile: nothing was queued.
        """
        if self.state is LinkState.CLOSED:
            raise ClusterUnavailableError(f"cannot send {what}: the AMQP link is closed")
        self._outbox.push(_Outgoing(what, body, volatile))

    # -- the connection ----------------------------------------------------------------------

    async def _open(self) -> _Session:
        # Not connect_robust: the link reconnects itself, and declares a fresh queue (an
        # exclusive queue is gone with its connection).
        connection = await aio_pika.connect(self.url, timeout=self.connect_timeout)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.FANOUT)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange)
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        return _Session(connection, channel, exchange, queue)

    async def _run(self, session: _Session | None) -> None:
        backoff = _BACKOFF_MIN
        while True:
            if session is None:
                try:
                    session = await self._open()
                except Exception as exc:
                    self._went_down(exc)
                    await asyncio.sleep(backoff)
                    self.stats.longest_backoff = max(self.stats.longest_backoff, backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                backoff = _BACKOFF_MIN
                self._back_up()
            try:
                await self._serve(session)
            except Exception as exc:
                self._went_down(exc)
            else:
                self._went_down(ConnectionError("the broker closed the channel"))
            finally:
                with contextlib.suppress(Exception):
                    await session.connection.close()
            session = None

    async def _serve(self, session: _Session) -> None:
        """Read and publish on ``session`` until one of the two stops."""
        tasks = [
            asyncio.create_task(self._read(session.queue), name="amqp-link:read"),
            asyncio.create_task(self._write(session.exchange), name="amqp-link:write"),
        ]
        try:
            done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            task.result()  # a task's failure is the session's

    async def _read(self, queue: AbstractQueue) -> None:
        handler = self._handler
        # The iterator hands messages over in the order the broker delivered them.
        async with queue.iterator(no_ack=True) as messages:
            async for message in messages:
                if handler is None:
                    continue
                try:
                    handler(self.exchange, message.body)
                except Exception:
                    logger.exception("handling a message from %s failed", self.exchange)

    async def _write(self, exchange: AbstractExchange) -> None:
        while True:
            item = await self._outbox.head()
            try:
                # python-socketio's routing key and delivery mode (a fanout ignores both).
                await exchange.publish(
                    aio_pika.Message(item.body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key="*",
                )
            except DeliveryError as exc:
                # A negative confirm: the broker will not take this message.
                self._outbox.popleft()
                self.stats.dropped += 1
                logger.error("the AMQP broker refused %s: %s", item.what, exc)
                continue
            except Exception:
                self.stats.retries += 1
                raise
            self._outbox.popleft()
            self.stats.published += 1

    # -- state -------------------------------------------------------------------------------

    def _went_down(self, exc: BaseException) -> None:
        if self.state is LinkState.UP:
            self.state = LinkState.DOWN
            self.stats.disconnects += 1
            logger.warning("lost the connection to the AMQP broker (%s); reconnecting", exc)

    def _back_up(self) -> None:
        if self.state is LinkState.DOWN:
            self.state = LinkState.UP
            self.stats.reconnects += 1
            logger.warning(
                "reconnected to the AMQP broker (%d reconnection(s) so far)",
                self.stats.reconnects,
            )
