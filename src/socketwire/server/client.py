"""One Engine.IO connection as the Socket.IO server sees it (JS ``Client``).

It decodes the connection's messages, routes packets to the socket of their namespace,
connects namespaces, and closes connections that break the protocol.

Limits (JS has none): a connection may be connected, or connecting, to at most
``Server(max_namespaces_per_client=...)`` namespaces at once (100 by default); a CONNECT
past that closes the connection ("forced server close"), so a client cannot make the
server build sockets without bound. While one of its sockets holds
``Server(max_pending_events=...)`` events not yet handled (or the server runs
``max_concurrent_events`` handlers), the connection stops reading; paused longer than
``pending_events_timeout``, it is closed ("event queue full"). A binary packet must receive
all its attachments within ``attachment_timeout`` ("parse error" otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from socketwire.adapters.types import EncodedPacket
from socketwire.engineio.packets import SharedMessage
from socketwire.handlers import spawn
from socketwire.io.http import HttpRequest
from socketwire.server.state import Admission, ConnectionState, Expiry
from socketwire.socketio import Packet, PacketType, ProtocolError, v4
from socketwire.socketio.base import Decoder
from socketwire.socketio.tracing import TracingDecoder, TracingEncoder, describe

if TYPE_CHECKING:
    from socketwire.server.namespace import Namespace
    from socketwire.server.server import Server
    from socketwire.server.socket import Socket

__all__ = ["Client", "EngineSocketLike"]

logger = logging.getLogger("socketwire.server")

# Module constants: enum attribute lookups are slow on the per-packet path.
_CONNECT = PacketType.CONNECT
_CONNECT_ERROR = PacketType.CONNECT_ERROR


class EngineSocketLike(Protocol):
    """What the Socket.IO server needs of an Engine.IO connection."""

    on_message: Callable[[str | bytes], None] | None
    on_close: Callable[[str], None] | None
    on_upgrade: Callable[[], None] | None

    @property
    def sid(self) -> str:
        """The Engine.IO session id."""

    @property
    def request(self) -> HttpRequest:
        """The handshake request."""

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``."""

    @property
    def protocol(self) -> int:
        """The Engine.IO revision: 4, or 3 (a socket.io 2.x client, Socket.IO v4)."""

    @property
    def writable(self) -> bool:
        """True when a packet sent now goes out at once (used by volatile packets)."""

    @property
    def buffered_amount(self) -> int:
        """Bytes queued and not yet sent."""

    def send(self, data: str | bytes, *, compress: bool = True) -> None:
        """Queue one Engine.IO message (``compress=False``: ask that it not be compressed)."""

    def send_encoded(self, message: str | bytes | SharedMessage, *, compress: bool = True) -> None:
        """Queue one Engine.IO MESSAGE packet already encoded (``"4..."`` or raw bytes)."""

    def close(self) -> None:
        """Close the connection; ``on_close`` follows."""

    def pause_reading(self) -> None:
        """Stop delivering the client's messages until [`resume_reading()`][resume_reading]."""

    def resume_reading(self) -> None:
        """Deliver the client's messages again (those that waited first)."""

    def on(self, event: str, listener: Callable[..., Any]) -> Any:
        """Call ``listener`` on every ``event`` of the connection (JS engine.io socket
        events: see [`EngineSocket.on()`][socketwire.io.engine_socket.EngineSocket.on])."""

    def off(self, event: str, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` from ``event`` (every listener of ``event`` when None)."""


class Client:
    """The Socket.IO side of one Engine.IO connection: the asyncio driver of its
    [`ConnectionState`][socketwire.server.state.ConnectionState].

    Args:
        server: The server.
        conn: The Engine.IO connection.
        on_closed: Called once with this client when the connection ends.
        find_namespace: ``(name, auth)``: the namespace a CONNECT for ``name`` joins, or
            None when there is none.
    """

    def __init__(
        self,
        server: Server,
        conn: EngineSocketLike,
        *,
        on_closed: Callable[[Client], None],
        find_namespace: Callable[[str, dict[str, Any]], Awaitable[Namespace | None]],
    ) -> None:
        self.server = server
        self.conn = conn
        self.id = conn.sid
        #: The connected sockets, by socket id.
        self.sockets: dict[str, Socket] = {}
        #: The connected sockets, by namespace: where incoming packets go.
        self.nsps: dict[str, Socket] = {}
        self._open = True
        self._on_closed = on_closed
        self._find_namespace = find_namespace
        parser = server.parser
        self._decoder: Decoder
        self._encode: Callable[[Packet], list[str | bytes]]
        if logger.isEnabledFor(logging.DEBUG):
            # read once per connection: with DEBUG off the per-packet path has no check
            name = f"engine {conn.sid}"
            self._decoder = TracingDecoder(parser.decoder(), logger, name)
            self._encode = TracingEncoder(parser.encode, logger, name)
            self.write = self._write_traced  # type: ignore[method-assign]
        else:
            self._decoder = parser.decoder()
            self._encode = parser.encode
        counters = server.counters
        if counters is not None:
            # read once per connection too: with counting off the per-packet path is unchanged
            self._decoder = counters.decoder(self._decoder)
            self._encode = counters.encoder(self._encode)
            self.write = counters.writer(self.write, conn)  # type: ignore[method-assign,assignment]
            self.write_packet = counters.packet_writer(self.write_packet, conn)  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        self.state = ConnectionState(
            now=loop.time(),
            connect_timeout=server.connect_timeout,
            max_namespaces=server.max_namespaces_per_client,
        )
        self._timer: asyncio.TimerHandle | None = None
        self._rearm()
        conn.on_message = self._on_data
        conn.on_close = self._on_engine_close
        #: Socket.IO v4 (a socket.io 2.x client over Engine.IO v3; see socketio.v4).
        self.legacy = conn.protocol == v4.PROTOCOL
        if self.legacy:
            # v4: the client is in the main namespace without asking (JS onconnection)
            self._admit("/", {})

    @property
    def request(self) -> HttpRequest:
        """The Engine.IO handshake request."""
        return self.conn.request

    @property
    def is_open(self) -> bool:
        """True until the connection ends."""
        return self._open

    # -- incoming ----------------------------------------------------------------------------

    def _on_data(self, data: str | bytes) -> None:
        if not self._open:
            return
        try:
            packet = self._decoder.feed(data)
        except ProtocolError as exc:
            logger.debug("closing %s: %s", self.id, exc)
            self._on_error(exc)
            return
        state = self.state
        if packet is not None:
            if state.attachment_deadline is not None:
                state.packet_complete()
                self._rearm()
            self._on_decoded(packet)
        elif state.attachment_deadline is None:
            # a binary packet waits for its attachments: not for ever
            state.packet_waiting(asyncio.get_running_loop().time(), self.server.attachment_timeout)
            self._rearm()

    def _on_decoded(self, packet: Packet) -> None:
        socket = self.nsps.get(packet.nsp)
        kind = packet.type
        if socket is not None and kind is not _CONNECT and kind is not _CONNECT_ERROR:
            # the hot path: a packet for a connected namespace
            socket.handle_packet(packet)
        elif socket is None and kind is _CONNECT:
            if self.legacy:
                # v4: the query rides in the namespace, and is the auth
                name, query = v4.parse_namespace(packet.nsp)
                if name in self.nsps:
                    self.close()
                else:
                    self._admit(name, dict(query))
            else:
                self._admit(packet.nsp, packet.data if isinstance(packet.data, dict) else {})
        else:
            # JS: "invalid state" (a packet for a namespace not joined, a second CONNECT...)
            self.close()

    def _admit(self, name: str, auth: dict[str, Any]) -> None:
        admission = self.state.admit(name)
        if admission is Admission.CONNECT:
            spawn(self._connect(name, auth))
        elif admission is Admission.CLOSE:
            self.close()

    async def _connect(self, name: str, auth: dict[str, Any]) -> None:
        try:
            nsp = await self._find_namespace(name, auth)
            if nsp is None:
                self.write_packet(
                    Packet(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"})
                )
                return
            await nsp.handle_connect(self, auth)
        finally:
            self.state.connect_finished(name, connected=False)

    def socket_connected(self, socket: Socket) -> None:
        """``socket`` connected: packets of its namespace go to it from now on."""
        self.sockets[socket.id] = socket
        self.nsps[socket.nsp.name] = socket
        self.state.connect_finished(socket.nsp.name, connected=True)
        self._rearm()

    # -- backpressure ------------------------------------------------------------------------

    def block(self, cause: object) -> None:
        """Stop reading for ``cause`` (a full socket) until [`unblock()`][unblock] (the same
        cause)."""
        if self._open and self.state.block(
            cause, asyncio.get_running_loop().time(), self.server.pending_events_timeout
        ):
            self._rearm()
            self.conn.pause_reading()

    def unblock(self, cause: object) -> None:
        """``cause`` no longer stops reading; reading resumes when nothing else does."""
        if self.state.unblock(cause) and self._open:
            self._rearm()
            self.conn.resume_reading()  # may deliver what waited, and so block again

    def event_started(self) -> None:
        """A handler of this connection started in a task of its own (``concurrent_events``)."""
        budget = self.server.event_budget
        if budget.started(self):
            self.block(budget)

    def event_finished(self) -> None:
        """A handler started with [`event_started()`][event_started] returned."""
        budget = self.server.event_budget
        resumed = budget.finished()
        if resumed:
            for client in resumed:
                if isinstance(client, Client):
                    client.unblock(budget)

    # -- the timeouts ------------------------------------------------------------------------

    def _rearm(self) -> None:
        deadline = self.state.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        expiry = self.state.handle_timeout(asyncio.get_running_loop().time())
        if expiry is Expiry.ATTACHMENTS_MISSING:
            waiting = self._decoder.awaiting_attachments
            self._decoder.reset()  # what the packet held is freed
            error = ProtocolError(
                f"{waiting} binary attachment(s) not received within "
                f"{self.server.attachment_timeout} s"
            )
            logger.info("closing engine %s: %s", self.id, error)
            self._on_error(error)
        elif expiry is not None:
            logger.info("closing engine %s: %s", self.id, expiry.value)
            self.close_with(expiry.value)
        elif self._open:
            self._rearm()

    # -- outgoing ----------------------------------------------------------------------------

    def write_packet(
        self, packet: Packet, *, volatile: bool = False, compress: bool | None = None
    ) -> None:
        """Encode ``packet`` and write it (``volatile``: drop it if it cannot go out now)."""
        if not self._open or (volatile and not self.conn.writable):
            return
        send = self.conn.send
        flag = compress is not False
        for message in self._encode(packet):
            send(message, compress=flag)

    def write(
        self,
        encoded: EncodedPacket,
        volatile: bool = False,
        compress: bool | None = None,
    ) -> None:
        """Write a packet encoded once for all the recipients of a broadcast (what
        ``Socket.deliver`` is, for a socket without outgoing listeners)."""
        if not self._open or (volatile and not self.conn.writable):
            return
        # The engine socket bounds its own buffer and closes a client that does not read
        # ("transport buffer full").
        send = self.conn.send_encoded
        flag = compress is not False
        for message in encoded.messages:
            send(message, compress=flag)

    def _write_traced(
        self,
        encoded: EncodedPacket,
        volatile: bool = False,
        compress: bool | None = None,
    ) -> None:
        """[`write()`][write] with a DEBUG line (it replaces it on connections opened at DEBUG)."""
        if not self._open or (volatile and not self.conn.writable):
            logger.debug("engine %s > broadcast packet dropped (volatile)", self.id)
        else:
            size = sum(len(m.data) for m in encoded.messages)
            logger.debug("engine %s > broadcast %s", self.id, describe(encoded.packet, size))
        Client.write(self, encoded, volatile, compress)

    # -- closing -----------------------------------------------------------------------------

    def remove(self, socket: Socket) -> None:
        """``socket`` disconnected: forget it."""
        if self.sockets.pop(socket.id, None) is not None:
            self.nsps.pop(socket.nsp.name, None)
            self.state.left(socket.nsp.name)

    def disconnect(self) -> None:
        """Disconnect every socket, then close the connection (``socket.disconnect(True)``)."""
        for socket in list(self.sockets.values()):
            socket.disconnect(False)
        self.sockets.clear()
        self.close()

    def close(self) -> None:
        """Close the Engine.IO connection; its sockets disconnect ("forced server close")."""
        self.close_with("forced server close")

    def close_with(self, reason: str) -> None:
        """Disconnect the sockets for ``reason``, then close the Engine.IO connection."""
        # Our reason first: the engine may report its own ("forced close") synchronously.
        if self._open:
            self._on_close(reason)
            self.conn.close()

    def _on_error(self, exc: Exception) -> None:
        for socket in list(self.sockets.values()):
            socket.handle_error(exc)
        self.close_with("parse error")

    def _on_engine_close(self, reason: str) -> None:
        self._on_close(str(reason))

    def _on_close(self, reason: str) -> None:
        if not self._open:
            return
        self._open = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.state.blocked:
            self.state.blocked.clear()
            self.server.event_budget.forget(self)
            # Read again so that the connection closes cleanly; what waited is dropped
            # (this client is no longer open).
            self.conn.resume_reading()
        for socket in list(self.sockets.values()):
            socket.handle_close(reason)
        self.sockets.clear()
        self.nsps.clear()
        self._on_closed(self)
