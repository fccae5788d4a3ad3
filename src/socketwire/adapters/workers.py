"""The adapter that joins the worker processes of one machine into one cluster.

``socketwire serve --workers N`` runs N workers under a primary process (the role of Node's
``@socket.io/cluster-adapter`` with ``setupPrimary()``). Each worker's adapters are
`ClusterAdapter` subclasses whose transport is one
Unix socket to the primary (`HubLink`): a worker publishes a message, the primary
hands it to the other workers serving that namespace, and answers point to point. All of
ClusterAdapter's behaviour (broadcasts, rooms, acks, ``fetch_sockets``,
``server_side_emit``) comes from its public hooks; only the transport is here. The frames
are `socketwire.adapters.wire.hub`.

Connection state recovery works across workers as the Redis streams adapter does it across
nodes: the primary gives each recoverable broadcast its offset (a worker delivers it to its
own clients once it knows it), keeps the broadcasts for ``max_disconnection_duration``,
and keeps the sessions of disconnected sockets, so that a client that comes back to any
worker gets what it missed.

A worker sets this adapter as the process default (`socketwire.adapters.defaults`),
so an application needs no change to run in several workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable
from typing import Any

from socketwire.adapters.base import AdapterFactory, AdapterNamespace
from socketwire.adapters.cluster import ClusterError, ClusterUnavailableError, options_from_wire
from socketwire.adapters.cluster_base import ClusterAdapter
from socketwire.adapters.memory import reaches_rooms
from socketwire.adapters.types import Session
from socketwire.adapters.wire import StreamsCodec, WireError, WireSession
from socketwire.adapters.wire.cluster import ClusterBroadcast, ClusterMessage
from socketwire.adapters.wire.hub import (
    Count,
    Counted,
    Deliver,
    Hello,
    HubFrame,
    HubReader,
    Join,
    Leave,
    Publish,
    Published,
    Ready,
    Respond,
    Restored,
    RestoreSession,
    StoreSession,
    encode_frame,
)

__all__ = ["HubLink", "WorkersAdapter", "workers_adapter"]

logger = logging.getLogger("socketwire.workers")

_CODEC = StreamsCodec()
#: Bytes queued for a primary that does not read before publishing is refused.
MAX_BUFFERED = 64 * 1024 * 1024


class HubLink:
    """A worker's connection to its primary, shared by the worker's adapters.

    Args:
        path: The primary's Unix socket.
        worker: This worker's index.
        timeout: Seconds to wait for the primary's answer to a question.
    """

    def __init__(self, path: str, worker: int, *, timeout: float = 5.0) -> None:
        self.path = path
        self.worker = worker
        self.timeout = timeout
        #: The adapters of this worker, by namespace.
        self.adapters: dict[str, WorkersAdapter] = {}
        #: Called once when the primary goes away (the worker then stops).
        self.on_lost: list[Callable[[], None]] = []
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._tokens = itertools.count(1)
        self._answers: dict[int, asyncio.Future[HubFrame]] = {}
        self._offsets: dict[int, Callable[[str], None]] = {}
        self._lost = False

    @property
    def connected(self) -> bool:
        """Whether the link to the primary is up."""
        return self._transport is not None and not self._lost

    async def connect(self) -> None:
        """Connect and introduce this worker (once; later calls wait for the first)."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        await asyncio.shield(self._connecting)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_unix_connection(lambda: _HubProtocol(self), self.path)
        self._transport = transport
        self.send(Hello(self.worker, os.getpid()))

    def ready(self) -> None:
        """Tell the primary this worker serves (it announces the port once all do)."""
        self.send(Ready(self.worker))

    def send(self, frame: HubFrame) -> None:
        """Write ``frame`` to the primary.

        Raises:
            ClusterUnavailableError: The primary is gone.
        """
        transport = self._transport
        if transport is None or self._lost or transport.is_closing():
            raise ClusterUnavailableError("the primary process is gone")
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            raise ClusterUnavailableError("the primary process does not read what it is sent")
        try:
            data = encode_frame(frame)
        except WireError as exc:
            raise ClusterError(f"cannot send to the other workers: {exc}") from exc
        transport.write(data)

    def token(self) -> int:
        """A new token for a frame that asks for an answer."""
        return next(self._tokens)

    def on_offset(self, token: int, callback: Callable[[str], None]) -> None:
        """Call ``callback(offset)`` when the primary answers the publish ``token``."""
        self._offsets[token] = callback

    async def ask(self, frame: HubFrame, token: int) -> HubFrame:
        """Send ``frame`` (which carries ``token``) and return the primary's answer.

        Raises:
            ClusterUnavailableError: The primary is gone, or did not answer in time.
        """
        future: asyncio.Future[HubFrame] = asyncio.get_running_loop().create_future()
        self._answers[token] = future
        try:
            self.send(frame)
            async with asyncio.timeout(self.timeout):
                return await future
        except TimeoutError:
            raise ClusterUnavailableError(
                f"the primary did not answer in {self.timeout:g} s"
            ) from None
        finally:
            self._answers.pop(token, None)

    def close(self) -> None:
        """Close the link (the worker is stopping)."""
        if self._transport is not None:
            self._transport.close()

    # -- the protocol's callbacks --------------------------------------------------------------

    def frame_received(self, frame: HubFrame) -> None:
        """Act on a frame from the primary."""
        if isinstance(frame, Deliver):
            try:
                message = _CODEC.decode_pubsub(frame.message)
            except WireError as exc:
                logger.warning("ignoring a malformed message from the primary: %s", exc)
                return
            adapter = self.adapters.get(message.nsp)
            if adapter is not None:
                adapter.on_message(message, frame.offset or None)
        elif isinstance(frame, Published):
            callback = self._offsets.pop(frame.token, None)
            if callback is not None:
                callback(frame.offset)
        elif isinstance(frame, Counted | Restored):
            future = self._answers.get(frame.token)
            if future is not None and not future.done():
                future.set_result(frame)

    def connection_lost(self) -> None:
        """The primary is gone: fail what waits for it and tell the worker."""
        if self._lost:
            return
        self._lost = True
        error = ClusterUnavailableError("the primary process is gone")
        for future in self._answers.values():
            if not future.done():
                future.set_exception(error)
        self._offsets.clear()
        for callback in list(self.on_lost):
            try:
                callback()
            except Exception:
                logger.exception("a callback for the primary's loss failed")


class _HubProtocol(asyncio.Protocol):
    def __init__(self, link: HubLink) -> None:
        self.link = link
        self.reader = HubReader()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except WireError as exc:
            logger.error("the primary sent a malformed frame (%s): closing the link", exc)
            if self.transport is not None:
                self.transport.close()
            return
        for frame in frames:
            try:
                self.link.frame_received(frame)
            except Exception:
                logger.exception("handling a frame from the primary failed")

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.connection_lost()


class WorkersAdapter(ClusterAdapter):
    """One namespace's adapter in the cluster of a machine's worker processes.

    Args:
        nsp: The namespace.
        link: The worker's link to its primary.
        requests_timeout: Seconds to wait for every worker's answer to a request.
    """

    records_offsets = True

    def __init__(
        self, nsp: AdapterNamespace, link: HubLink, *, requests_timeout: float = 5.0
    ) -> None:
        super().__init__(nsp, requests_timeout=requests_timeout, where="the primary process")
        self.link = link
        self._started = False

    async def init(self) -> None:
        """Join the namespace's members on the primary."""
        if self._started:
            return
        self._started = True
        await self.link.connect()
        self.link.adapters[self.nsp.name] = self
        self.link.send(Join(self.nsp.name, self.uid))

    async def close(self) -> None:
        """Leave the namespace's members; fail what still waits for answers."""
        if not self._started:
            return
        self._started = False
        if self.link.adapters.get(self.nsp.name) is self:
            del self.link.adapters[self.nsp.name]
        with contextlib.suppress(ClusterError):
            self.link.send(Leave(self.nsp.name, self.uid))
        self.close_requests()

    async def server_count(self) -> int:
        """How many workers serve this namespace (asks the primary)."""
        token = self.link.token()
        answer = await self.link.ask(Count(token, self.nsp.name), token)
        return answer.count if isinstance(answer, Counted) else 1

    def publish(
        self,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Send ``message`` to the other workers through the primary; with ``on_result``,
        the primary numbers it (a recoverable broadcast, kept for recovery)."""
        try:
            payload = _CODEC.encode_pubsub(message)
        except WireError as exc:
            raise ClusterError(f"cannot send {type(message).__name__}: {exc}") from exc
        token = 0
        keep = 0.0
        if on_result is not None:
            token = self.link.token()
            self.link.on_offset(token, on_result)
            options = self.nsp.connection_state_recovery
            if isinstance(message, ClusterBroadcast) and options is not None:
                keep = options.max_disconnection_duration
        self.link.send(Publish(self.nsp.name, self.uid, payload, token, keep))

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Send ``message`` to the adapter ``requester`` only."""
        try:
            payload = _CODEC.encode_pubsub(message)
        except WireError as exc:
            raise ClusterError(f"cannot answer {requester}: {exc}") from exc
        self.link.send(Respond(self.nsp.name, requester, payload))

    # -- connection state recovery -------------------------------------------------------------

    async def persist_session(self, session: Session) -> None:
        """Give ``session`` to the primary for ``max_disconnection_duration`` seconds."""
        options = self.nsp.connection_state_recovery
        ttl = options.max_disconnection_duration if options is not None else 120.0
        wire = WireSession(session.sid, session.pid, tuple(session.rooms), session.data)
        try:
            encoded = _CODEC.encode_session(wire).encode()
            self.link.send(StoreSession(session.pid, encoded, ttl))
        except (WireError, ClusterError) as exc:
            # The socket is gone either way; its client will start a new session.
            logger.warning("could not store session %s: %s", session.pid, exc)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """Take session ``pid`` back from the primary, with what it missed after ``offset``
        (None when either is unknown)."""
        token = self.link.token()
        try:
            answer = await self.link.ask(RestoreSession(token, self.nsp.name, pid, offset), token)
        except ClusterError as exc:
            logger.warning("could not restore session %s: %s", pid, exc)
            return None
        if not isinstance(answer, Restored) or answer.session is None:
            return None
        try:
            wire = _CODEC.decode_session(answer.session)
        except WireError as exc:
            logger.warning("ignoring a malformed session %s: %s", pid, exc)
            return None
        missed: list[list[Any]] = []
        for entry_offset, raw in answer.missed:
            try:
                message = _CODEC.decode_pubsub(raw)
            except WireError:
                continue
            if isinstance(message, ClusterBroadcast) and reaches_rooms(
                wire.rooms, options_from_wire(message.opts)
            ):
                missed.append([*(message.packet.data or []), entry_offset])
        data = wire.data if isinstance(wire.data, dict) else {}
        return Session(wire.sid, wire.pid, list(wire.rooms), data, missed_packets=missed)


def workers_adapter(link: HubLink, *, requests_timeout: float = 5.0) -> AdapterFactory:
    """The factory for ``Server(adapter=...)`` of a worker linked to its primary by
    ``link``."""

    def factory(nsp: AdapterNamespace) -> WorkersAdapter:
        return WorkersAdapter(nsp, link, requests_timeout=requests_timeout)

    return factory
