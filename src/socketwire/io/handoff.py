"""Handing a client's TCP connection to the worker process that owns its session.

Workers of one machine share a port (``SO_REUSEPORT``), so the kernel may give any of them a
connection whose next request belongs to a session another worker owns (a polling GET or
POST, or a WebSocket upgrade, with ``sid=`` naming that worker: see
`socketwire.engineio.sids`). At a request boundary, before parsing anything, the
native server reads the request line; when it names another worker, the connection itself
moves: a duplicate of its file descriptor and the bytes already read travel over a Unix
socket (``SCM_RIGHTS``), and the owner goes on as if it had accepted the connection. No
byte is copied after that, and no process stands in the middle.

The messages are ``SOCK_SEQPACKET`` datagrams: one byte of flags (`FIRST`, which
carries the descriptor, and `MORE`, more bytes follow), then up to `CHUNK`
bytes of what was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from socketwire.engineio.sids import node_of, worker_of

__all__ = [
    "CHUNK",
    "FIRST",
    "MORE",
    "Handoff",
    "HandoffReceiver",
    "HandoffStats",
    "request_sid",
]

logger = logging.getLogger("socketwire.workers")

FIRST: Final = 1
MORE: Final = 2
#: Bytes per message (a SEQPACKET datagram must fit in the socket's send buffer).
CHUNK: Final = 60 * 1024
#: Seconds a send may block (the receiver reads its socket at once; this bounds a stuck one).
SEND_TIMEOUT: Final = 1.0
#: At most this many bytes of one connection are handed over (the request line and what
#: came with it: one read).
MAX_HANDED: Final = 1024 * 1024


def request_sid(line: bytes) -> str | None:
    """The ``sid`` query parameter of an HTTP request line (``GET /p/?EIO=4&sid=x HTTP/1.1``),
    or None."""
    start = line.find(b" ")
    end = line.rfind(b" ")
    if start < 0 or end <= start:
        return None
    target = line[start + 1 : end]
    question = target.find(b"?")
    if question < 0:
        return None
    for field in target[question + 1 :].partition(b"#")[0].split(b"&"):
        if field.startswith(b"sid="):
            return field[4:].decode("latin-1")
    return None


@dataclass
class HandoffStats:
    """Counters of one worker's handoffs.

    Attributes:
        sent: Connections handed to another worker.
        received: Connections taken over from another worker.
        failed: Handoffs that could not be sent (the owner is gone): the request was
            answered here ("Session ID unknown").
    """

    sent: int = 0
    received: int = 0
    failed: int = 0


class Handoff:
    """One worker's side of connection handoff: who owns a request, and sending it there.

    Args:
        index: This worker's index.
        paths: The Unix socket path of every worker's receiver, by index.
        node: This machine's node tag: a session of another node is not handed to a
            worker here (its request goes to the engine, which forwards it to that node
            when the cluster can: see `socketwire.io.forwarding`). None: every sid
            names a worker here.
    """

    def __init__(self, index: int, paths: Sequence[str], node: str | None = None) -> None:
        self.index = index
        self.paths = list(paths)
        self.node = node
        self.stats = HandoffStats()
        self._peers: dict[int, socket.socket] = {}

    def owner(self, request_line: bytes) -> int | None:
        """The index of the other worker that owns the session ``request_line`` names, or
        None (no session, this worker's, another node's, or no such worker)."""
        sid = request_sid(request_line)
        if sid is None:
            return None
        worker = worker_of(sid)
        if worker is None or worker == self.index or worker >= len(self.paths):
            return None
        if self.node is not None and node_of(sid) != self.node:
            return None
        return worker

    def send(self, worker: int, fd: int, data: bytes) -> bool:
        """Send a duplicate of ``fd`` and the bytes read from it (``data``) to ``worker``.

        Returns:
            Whether the worker has it; on False the caller still owns the connection.
        """
        for attempt in range(2):
            try:
                peer = self._connect(worker)
                self._send(peer, fd, data)
            except OSError as exc:
                self._drop(worker)
                if attempt == 1:
                    # The owner died (its clients reconnect) or is restarting.
                    logger.debug("could not hand a connection to worker %d: %s", worker, exc)
                    self.stats.failed += 1
                    return False
                continue
            self.stats.sent += 1
            return True
        return False  # pragma: no cover - the loop returns

    def _connect(self, worker: int) -> socket.socket:
        peer = self._peers.get(worker)
        if peer is None:
            peer = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                peer.settimeout(SEND_TIMEOUT)
                peer.connect(self.paths[worker])
            except OSError:
                peer.close()
                raise
            self._peers[worker] = peer
        return peer

    @staticmethod
    def _send(peer: socket.socket, fd: int, data: bytes) -> None:
        view = memoryview(data)
        first = view[:CHUNK]
        rest = view[CHUNK:]
        flags = FIRST | (MORE if rest else 0)
        socket.send_fds(peer, [bytes((flags,)), first], [fd])
        while rest:
            chunk, rest = rest[:CHUNK], rest[CHUNK:]
            peer.sendall(bytes((MORE if rest else 0,)) + chunk)

    def _drop(self, worker: int) -> None:
        peer = self._peers.pop(worker, None)
        if peer is not None:
            peer.close()

    def close(self) -> None:
        """Close the connections to the other workers."""
        for worker in list(self._peers):
            self._drop(worker)


class HandoffReceiver:
    """Takes connections handed over by the other workers, on a Unix socket at ``path``.

    Args:
        path: Where to listen (replaced if it exists).
        adopt: Called with each connection (a socket) and the bytes already read from it.
    """

    def __init__(self, path: str, adopt: Callable[[socket.socket, bytes], None]) -> None:
        self.path = path
        self.adopt = adopt
        self._listener: socket.socket | None = None
        self._peers: dict[int, _Incoming] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Listen (call it on the event loop that serves the connections)."""
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.path)
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._loop.add_reader(listener.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._listener is not None
        assert self._loop is not None
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        self._peers[conn.fileno()] = _Incoming(conn)
        self._loop.add_reader(conn.fileno(), self._read, conn.fileno())

    def _read(self, key: int) -> None:
        incoming = self._peers.get(key)
        if incoming is None:
            return
        try:
            message, fds, _flags, _addr = socket.recv_fds(incoming.conn, CHUNK + 1, 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message, fds = b"", []
        if not message:
            self._close_peer(key)
            for fd in fds:
                os.close(fd)
            return
        flags = message[0]
        if flags & FIRST:
            incoming.reset()
            if len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                return
            incoming.fd = fds[0]
        else:
            for fd in fds:
                os.close(fd)
        if incoming.fd is None:
            return  # a continuation without its start: ignored
        incoming.data += message[1:]
        if len(incoming.data) > MAX_HANDED:
            incoming.reset()
            return
        if flags & MORE:
            return
        fd, data = incoming.fd, bytes(incoming.data)
        incoming.fd = None
        incoming.data = bytearray()
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            return
        try:
            self.adopt(sock, data)
        except Exception:
            logger.exception("adopting a handed-over connection failed")
            sock.close()

    def _close_peer(self, key: int) -> None:
        incoming = self._peers.pop(key, None)
        if incoming is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(key)
        incoming.reset()
        incoming.conn.close()

    def close(self) -> None:
        """Stop listening and close every connection from the other workers."""
        for key in list(self._peers):
            self._close_peer(key)
        if self._listener is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class _Incoming:
    __slots__ = ("conn", "data", "fd")

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.fd: int | None = None
        self.data = bytearray()

    def reset(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.data = bytearray()
