"""socket.io-adapter's ``ClusterAdapterWithHeartbeat``: servers counted by heartbeats.

For a transport that cannot say who listens (PostgreSQL's LISTEN/NOTIFY, for one), each
server learns the others from their messages:

- a server that starts publishes ``INITIAL_HEARTBEAT``; every server that hears one answers
  with a ``HEARTBEAT``;
- a server that has published nothing for ``heartbeat_interval`` seconds publishes a
  ``HEARTBEAT``;
- every message heard refreshes its sender's last-seen time (the emitter's excepted); a
  server silent for more than ``heartbeat_timeout`` seconds is forgotten, checked every
  second, and one that publishes ``ADAPTER_CLOSE`` at once;
- ``server_count()`` is one plus the servers heard from, and a request (``fetch_sockets``, a
  server-side emit with ack) completes once each of the servers known when it was sent
  answered or was forgotten.

[`Membership`][Membership] holds who was heard when (sans-I/O: it takes the time as an argument);
[`HeartbeatClusterAdapter`][HeartbeatClusterAdapter] adds the timers to
[`ClusterAdapter`][ClusterAdapter].
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from socketwire.adapters.cluster import ClusterError, logger
from socketwire.adapters.cluster_base import ClusterAdapter
from socketwire.adapters.wire import EMITTER_UID
from socketwire.adapters.wire.cluster import (
    AdapterClose,
    ClusterMessage,
    Heartbeat,
    InitialHeartbeat,
)

if TYPE_CHECKING:
    from socketwire.adapters.base import AdapterNamespace

__all__ = ["HeartbeatClusterAdapter", "Membership"]

#: How often silent servers are looked for (``ClusterAdapterWithHeartbeat``: every second).
CHECK_EVERY = 1.0


class Membership:
    """The other servers of a namespace and when each was last heard from.

    Args:
        timeout: Seconds of silence after which a server is considered gone.
    """

    __slots__ = ("_last_seen", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last_seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._last_seen)

    def __contains__(self, uid: object) -> bool:
        return uid in self._last_seen

    def uids(self) -> set[str]:
        """The servers known now (a copy)."""
        return set(self._last_seen)

    def seen(self, uid: str, now: float) -> None:
        """Server ``uid`` was heard from at ``now``."""
        self._last_seen[uid] = now

    def remove(self, uid: str) -> bool:
        """Forget server ``uid``; whether it was known."""
        return self._last_seen.pop(uid, None) is not None

    def expire(self, now: float) -> list[str]:
        """Forget the servers silent for more than ``timeout`` at ``now``; return them."""
        gone = [uid for uid, seen in self._last_seen.items() if now - seen > self.timeout]
        for uid in gone:
            del self._last_seen[uid]
        return gone


class HeartbeatClusterAdapter(ClusterAdapter):
    """A [`ClusterAdapter`][ClusterAdapter] whose servers are known by their heartbeats.

    A subclass sends messages ([`transmit()`][transmit], `publish_response()`),
    hands every message it receives to [`on_message()`][on_message], and calls
    [`start_heartbeats()`][start_heartbeats] once it receives the namespace's messages and
    [`stop_heartbeats()`][stop_heartbeats] when it closes.

    Attributes:
        heartbeat_interval: Seconds of silence after which this server sends a heartbeat.
        members: The other servers heard from.
    """

    def __init__(
        self,
        nsp: AdapterNamespace,
        *,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
        requests_timeout: float = 5.0,
        where: str,
    ) -> None:
        super().__init__(nsp, requests_timeout=requests_timeout, where=where)
        self.heartbeat_interval = heartbeat_interval
        self.members = Membership(heartbeat_timeout)
        self._last_published = -float("inf")
        self._ticker: asyncio.Task[None] | None = None

    # -- transport (subclasses) --------------------------------------------------------------

    @abstractmethod
    def transmit(
        self,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue ``message`` for every server (see
        [`ClusterAdapter.publish()`][ClusterAdapter.publish])."""

    def publish(
        self,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue ``message`` for every server ([`transmit()`][transmit]); the next heartbeat waits
        ``heartbeat_interval`` from now."""
        self.transmit(message, on_result, on_error)
        # Whatever this server publishes tells the others it is alive: the heartbeat waits.
        self._last_published = asyncio.get_running_loop().time()

    # -- membership --------------------------------------------------------------------------

    async def server_count(self) -> int:
        """One plus the servers heard from within ``heartbeat_timeout``."""
        return 1 + len(self.members)

    def expected_responders(self) -> set[str] | None:
        """The servers heard from: each must answer a request."""
        return self.members.uids()

    def _forget(self, uid: str) -> None:
        if self.members.remove(uid):
            logger.debug("[%s] server %s left %s", self.uid, uid, self.nsp.name)
        self.requests.forget(uid)

    def on_message(self, message: ClusterMessage, offset: str | None = None) -> None:
        """Note who spoke, answer an ``INITIAL_HEARTBEAT``, forget a server that closed, and
        act on anything else as [`ClusterAdapter`][ClusterAdapter] does."""
        uid = message.uid
        if uid == self.uid or message.nsp != self.nsp.name:
            return
        if uid != EMITTER_UID:
            self.members.seen(uid, asyncio.get_running_loop().time())
        if isinstance(message, InitialHeartbeat):
            self._heartbeat()
        elif isinstance(message, AdapterClose):
            self._forget(uid)
        elif not isinstance(message, Heartbeat):
            super().on_message(message, offset)

    # -- timers ------------------------------------------------------------------------------

    def _heartbeat(self, message: type[Heartbeat | InitialHeartbeat] = Heartbeat) -> None:
        try:
            self.publish(message(self.uid, self.nsp.name))
        except ClusterError as exc:
            logger.debug("[%s] no heartbeat: %s", self.uid, exc)

    async def start_heartbeats(self) -> None:
        """Announce this server (``INITIAL_HEARTBEAT``) and start the timers. Call it once
        this server receives the namespace's messages, so that it hears the answers."""
        self._heartbeat(InitialHeartbeat)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name=f"heartbeat:{self.nsp.name}")

    async def stop_heartbeats(self) -> None:
        """Stop the timers, fail pending requests and tell the others (``ADAPTER_CLOSE``)."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        self.close_requests()
        try:
            self.publish(AdapterClose(self.uid, self.nsp.name))
        except ClusterError as exc:
            logger.debug("[%s] no ADAPTER_CLOSE: %s", self.uid, exc)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for uid in self.members.expire(now):
                logger.debug("[%s] server %s seems down", self.uid, uid)
                self.requests.forget(uid)
            if now >= self._last_published + self.heartbeat_interval:
                self._heartbeat()
            due = self._last_published + self.heartbeat_interval
            if due <= now:  # the heartbeat could not be queued: try again later
                due = now + CHECK_EVERY
            await asyncio.sleep(min(CHECK_EVERY, due - now))
