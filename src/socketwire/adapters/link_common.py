"""What the Redis and the AMQP links share: their state, their counters, how Redis counts
servers, and the bound on the messages that wait for an unreachable broker."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol, TypeVar

from socketwire.adapters.cluster import ClusterUnavailableError

__all__ = ["LinkState", "LinkStats", "Outbox", "PresenceKind", "Waiting"]


class LinkState(enum.Enum):
    """Whether the link can reach its broker."""

    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    CLOSED = "closed"


@dataclass
class LinkStats:
    """Counters of a link's life (read them; the link updates them).

    Attributes:
        disconnects: Times the connection to the broker was lost.
        reconnects: Times it came back (and subscribed again).
        published: Messages published.
        retries: Publish attempts that failed and were retried.
        republished: Publishes repeated because they reached fewer servers than exist
            (Redis only).
        dropped: Messages the broker refused (a Redis error reply, a negative AMQP
            confirm).
        dropped_volatile: Volatile messages dropped because the outbox was full.
        rejected: Messages refused because the outbox was full of non-volatile ones.
        queued_max: The most messages that waited in the outbox at once.
        longest_backoff: The longest wait the link chose between two attempts to reach
            the broker (seconds).
    """

    disconnects: int = 0
    reconnects: int = 0
    published: int = 0
    retries: int = 0
    republished: int = 0
    dropped: int = 0
    dropped_volatile: int = 0
    rejected: int = 0
    queued_max: int = 0
    longest_backoff: float = 0.0


class PresenceKind(enum.Enum):
    """How to count the servers subscribed to a Redis channel."""

    NUMSUB = "NUMSUB"
    SHARDNUMSUB = "SHARDNUMSUB"


class Waiting(Protocol):
    """A message in a link's outbox."""

    @property
    def what(self) -> str:
        """Named in log lines and errors."""

    @property
    def volatile(self) -> bool:
        """Whether it may be dropped when the outbox is full."""


_W = TypeVar("_W", bound=Waiting)


class Outbox(deque[_W]):
    """A link's messages waiting for the broker, oldest first, at most ``max_queued``.

    Args:
        max_queued: The bound (see `push()`).
        stats: The link's counters (``dropped_volatile``, ``rejected``, ``queued_max``).
        broker: Named in log lines and errors (``"Redis"``).
        logger: Where the drops are logged.
    """

    def __init__(
        self, *, max_queued: int, stats: LinkStats, broker: str, logger: logging.Logger
    ) -> None:
        super().__init__()
        self.max_queued = max_queued
        self.stats = stats
        self.broker = broker
        self.logger = logger
        self._wakeup = asyncio.Event()

    def push(self, item: _W) -> None:
        """Queue ``item`` last. When ``max_queued`` wait, the oldest volatile message but
        the head (which may be being sent) is dropped; failing that, a volatile ``item`` is
        dropped; both are counted in ``stats.dropped_volatile`` and logged.

        Raises:
            ClusterUnavailableError: Every waiting message and ``item`` are not volatile
                (counted in ``stats.rejected``): nothing was queued.
        """
        if len(self) >= self.max_queued:
            victim = next((old for i, old in enumerate(self) if i and old.volatile), None)
            if victim is not None:
                self.remove(victim)
                self._dropped_volatile(victim.what)
            elif item.volatile:
                self._dropped_volatile(item.what)
                return
            else:
                self.stats.rejected += 1
                raise ClusterUnavailableError(
                    f"cannot send {item.what}: {len(self)} messages already wait for {self.broker}"
                )
        self.append(item)
        self.stats.queued_max = max(self.stats.queued_max, len(self))
        self._wakeup.set()

    async def head(self) -> _W:
        """The oldest message, once there is one (it stays queued: ``popleft()`` it once
        sent)."""
        while not self:
            self._wakeup.clear()
            await self._wakeup.wait()
        return self[0]

    def _dropped_volatile(self, what: str) -> None:
        self.stats.dropped_volatile += 1
        total = self.stats.dropped_volatile
        # One warning for the first drop, then one per thousand: an outage can drop many.
        if total == 1 or total % 1000 == 0:
            self.logger.warning(
                "%d volatile message(s) dropped so far: %d messages wait for %s (the bound; "
                "last dropped: %s)",
                total,
                len(self),
                self.broker,
                what,
            )
