"""The primary's half of the workers' cluster: it relays the adapters' messages.

Each worker connects to the primary's Unix socket (`HubServer`) and says which of
its adapters serve which namespace. A message one worker publishes goes to the other
workers serving that namespace; an answer goes to the one adapter it is for. The primary
also answers how many workers serve a namespace, numbers the recoverable broadcasts (their
offsets) and keeps them, and keeps the sessions of disconnected sockets, for connection
state recovery across workers. See `socketwire.adapters.wire.hub` for the frames.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from socketwire.adapters.wire import WireError
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

__all__ = ["MAX_BUFFERED", "HubServer", "RecoveryStore"]

logger = logging.getLogger("socketwire.workers")

#: Bytes queued for one worker that does not read before the primary gives up on it (its
#: connection is closed: the worker stops and a new one starts).
MAX_BUFFERED = 64 * 1024 * 1024


@dataclass(eq=False)
class _Entry:
    offset: str
    message: bytes
    expires: float


@dataclass
class RecoveryStore:
    """The recoverable broadcasts of every namespace and the disconnected sessions.

    Broadcasts are kept as long as their publisher asked (``max_disconnection_duration``)
    and at most ``max_len`` per namespace; sessions until their ``ttl``.
    """

    max_len: int = 10_000
    clock: Callable[[], float] = time.monotonic
    logs: dict[str, deque[_Entry]] = field(default_factory=dict)
    sessions: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def record(self, nsp: str, offset: str, message: bytes, keep: float) -> None:
        """Keep ``message`` of ``nsp`` under ``offset`` for ``keep`` seconds."""
        now = self.clock()
        log = self.logs.get(nsp)
        if log is None:
            log = self.logs[nsp] = deque(maxlen=self.max_len)
        while log and log[0].expires < now:
            log.popleft()
        log.append(_Entry(offset, message, now + keep))

    def store(self, pid: str, session: bytes, ttl: float) -> None:
        """Keep a session for ``ttl`` seconds."""
        now = self.clock()
        for key in [k for k, (_, expires) in self.sessions.items() if expires < now]:
            del self.sessions[key]
        self.sessions[pid] = (session, now + ttl)

    def restore(
        self, nsp: str, pid: str, offset: str
    ) -> tuple[bytes | None, tuple[tuple[str, bytes], ...]]:
        """Take session ``pid`` out, with ``nsp``'s broadcasts after ``offset``; (None, ())
        when the session or the offset is unknown."""
        now = self.clock()
        stored = self.sessions.pop(pid, None)
        if stored is None or stored[1] < now:
            return None, ()
        log = self.logs.get(nsp, deque())
        for index, entry in enumerate(log):
            if entry.offset == offset:
                missed = tuple(
                    (e.offset, e.message)
                    for e in itertools.islice(log, index + 1, None)
                    if e.expires >= now
                )
                return stored[0], missed
        return None, ()


class HubServer:
    """Relays the workers' cluster messages (see the module docstring).

    Args:
        path: The Unix socket to listen on.
        on_ready: Called with a worker's index when it serves.
    """

    def __init__(self, path: str, on_ready: Callable[[int], None]) -> None:
        self.path = path
        self.on_ready = on_ready
        self.recovery = RecoveryStore()
        self.members: dict[str, dict[str, _WorkerConnection]] = {}
        self.workers: dict[int, _WorkerConnection] = {}
        self._offsets = itertools.count(1)
        self._prefix = format(int(time.time() * 1000), "x")
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _WorkerConnection(self), self.path)

    async def close(self) -> None:
        """Stop listening and close every worker's connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.workers.values()):
            conn.close()

    def frame_received(self, conn: _WorkerConnection, frame: HubFrame) -> None:
        """Act on a worker's frame."""
        if isinstance(frame, Publish):
            self._publish(conn, frame)
        elif isinstance(frame, Respond):
            target = self.members.get(frame.nsp, {}).get(frame.to)
            if target is not None:
                target.send_bytes(encode_frame(Deliver(frame.message)))
        elif isinstance(frame, Count):
            conn.send(Counted(frame.token, len(self.members.get(frame.nsp, ()))))
        elif isinstance(frame, Join):
            self.members.setdefault(frame.nsp, {})[frame.uid] = conn
            conn.joined.add((frame.nsp, frame.uid))
        elif isinstance(frame, Leave):
            self._leave(conn, frame.nsp, frame.uid)
        elif isinstance(frame, StoreSession):
            self.recovery.store(frame.pid, frame.session, frame.ttl)
        elif isinstance(frame, RestoreSession):
            session, missed = self.recovery.restore(frame.nsp, frame.pid, frame.offset)
            conn.send(Restored(frame.token, session, missed))
        elif isinstance(frame, Hello):
            conn.worker = frame.worker
            conn.pid = frame.pid
            self.workers[frame.worker] = conn
        elif isinstance(frame, Ready):
            self.on_ready(frame.worker)
        else:
            logger.warning("a worker sent a frame only the primary sends: %r", type(frame))

    def _publish(self, conn: _WorkerConnection, frame: Publish) -> None:
        offset = ""
        if frame.token or frame.keep:
            offset = f"{self._prefix}-{next(self._offsets)}"
            if frame.keep > 0:
                self.recovery.record(frame.nsp, offset, frame.message, frame.keep)
        data = encode_frame(Deliver(frame.message, offset))
        for member in self.members.get(frame.nsp, {}).values():
            if member is not conn:
                member.send_bytes(data)
        if frame.token:
            conn.send(Published(frame.token, offset))

    def _leave(self, conn: _WorkerConnection, nsp: str, uid: str) -> None:
        members = self.members.get(nsp)
        if members is not None and members.get(uid) is conn:
            del members[uid]
            if not members:
                del self.members[nsp]
        conn.joined.discard((nsp, uid))

    def connection_lost(self, conn: _WorkerConnection) -> None:
        """A worker's connection ended (it stopped or died): forget its adapters."""
        for nsp, uid in list(conn.joined):
            self._leave(conn, nsp, uid)
        if conn.worker is not None and self.workers.get(conn.worker) is conn:
            del self.workers[conn.worker]


class _WorkerConnection(asyncio.Protocol):
    def __init__(self, hub: HubServer) -> None:
        self.hub = hub
        self.reader = HubReader()
        self.transport: asyncio.Transport | None = None
        self.worker: int | None = None
        self.pid: int | None = None
        self.joined: set[tuple[str, str]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except WireError as exc:
            logger.error("worker %s sent a malformed frame (%s): closing", self.worker, exc)
            self.close()
            return
        for frame in frames:
            try:
                self.hub.frame_received(self, frame)
            except WireError as exc:
                logger.error("could not relay a frame of worker %s: %s", self.worker, exc)
            except Exception:
                logger.exception("relaying a frame of worker %s failed", self.worker)

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.connection_lost(self)

    def send(self, frame: HubFrame) -> None:
        self.send_bytes(encode_frame(frame))

    def send_bytes(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            logger.error(
                "worker %s does not read what the other workers send (%d bytes queued): "
                "closing its link",
                self.worker,
                transport.get_write_buffer_size(),
            )
            transport.abort()
            return
        transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
