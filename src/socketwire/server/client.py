"""One Engine.IO connection as the Socket.IO server sees it (JS ``Client``).

It decodes the connection's messages, routes packets to the socket of their namespace,
connects namespaces, and closes connections that break the protocol.

Limits (JS has none): a connection may be connected, or connecting, to at most
``Server(max_namespaces_per_client=...)`` namespaces at once (100 by default); a CONNECT
past that closes the connection ("forced server close"), so a client cannot make the
server build sockets without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from socketwire.adapters.types import EncodedPacket
from socketwire.engineio.packets import SharedMessage
from socketwire.handlers import spawn
from socketwire.io.http import HttpRequest
from socketwire.socketio import Packet, PacketType, ProtocolError
from socketwire.socketio.base import Decoder
from socketwire.socketio.tracing import TracingDecoder, TracingEncoder, describe

if TYPE_CHECKING:
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


class Client:
    """The Socket.IO side of one Engine.IO connection."""

    def __init__(self, server: Server, conn: EngineSocketLike) -> None:
        self.server = server
        self.conn = conn
        self.id = conn.sid
        self.sockets: dict[str, Socket] = {}
        self.nsps: dict[str, Socket] = {}
        self._connecting: set[str] = set()
        self._open = True
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
        conn.on_message = self._on_data
        conn.on_close = self._on_engine_close
        self._connect_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            server.connect_timeout, self._on_connect_timeout
        )

    @property
    def request(self) -> HttpRequest:
        """The Engine.IO handshake request."""
        return self.conn.request

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
        if packet is not None:
            self._on_decoded(packet)

    def _on_decoded(self, packet: Packet) -> None:
        socket = self.nsps.get(packet.nsp)
        kind = packet.type
        if socket is None and kind is _CONNECT:
            if packet.nsp in self._connecting:
                # socket.io-client sends a second CONNECT when connect() is called twice
                # before the first completes; JS would build a second socket, we drop it
                return
            if len(self.nsps) + len(self._connecting) >= self.server.max_namespaces_per_client:
                self.close()
                return
            auth = packet.data if isinstance(packet.data, dict) else {}
            self._connecting.add(packet.nsp)
            spawn(self._connect(packet.nsp, auth))
        elif socket is not None and kind is not _CONNECT and kind is not _CONNECT_ERROR:
            socket._on_packet(packet)
        else:
            # JS: "invalid state" (a packet for a namespace not joined, a second CONNECT...)
            self.close()

    async def _connect(self, name: str, auth: dict[str, Any]) -> None:
        try:
            nsp = self.server._nsps.get(name)
            if nsp is None:
                nsp = await self.server._check_namespace(name, auth)
            if nsp is None:
                self._write_packet(
                    Packet(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"})
                )
                return
            await nsp._add(self, auth)
        finally:
            self._connecting.discard(name)

    def _on_socket_connected(self, socket: Socket) -> None:
        self.sockets[socket.id] = socket
        self.nsps[socket.nsp.name] = socket
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def _on_connect_timeout(self) -> None:
        self._connect_timer = None
        if not self.nsps:
            self.close()

    # -- outgoing ----------------------------------------------------------------------------

    def _write_packet(
        self, packet: Packet, *, volatile: bool = False, compress: bool | None = None
    ) -> None:
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
        """:meth:`write` with a DEBUG line (it replaces it on connections opened at DEBUG)."""
        if not self._open or (volatile and not self.conn.writable):
            logger.debug("engine %s > broadcast packet dropped (volatile)", self.id)
        else:
            size = sum(len(m.data) for m in encoded.messages)
            logger.debug("engine %s > broadcast %s", self.id, describe(encoded.packet, size))
        Client.write(self, encoded, volatile, compress)

    # -- closing -----------------------------------------------------------------------------

    def _remove(self, socket: Socket) -> None:
        if self.sockets.pop(socket.id, None) is not None:
            self.nsps.pop(socket.nsp.name, None)

    def _disconnect(self) -> None:
        """Disconnect every socket, then close the connection (``socket.disconnect(True)``)."""
        for socket in list(self.sockets.values()):
            socket._disconnect(False)
        self.sockets.clear()
        self.close()

    def close(self) -> None:
        """Close the Engine.IO connection; its sockets disconnect ("forced server close")."""
        self._close_with("forced server close")

    def _close_with(self, reason: str) -> None:
        # Our reason first: the engine may report its own ("forced close") synchronously.
        if self._open:
            self._on_close(reason)
            self.conn.close()

    def _on_error(self, exc: Exception) -> None:
        for socket in list(self.sockets.values()):
            socket._on_error(exc)
        self._close_with("parse error")

    def _on_engine_close(self, reason: str) -> None:
        self._on_close(str(reason))

    def _on_close(self, reason: str) -> None:
        if not self._open:
            return
        self._open = False
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        for socket in list(self.sockets.values()):
            socket._on_close(reason)
        self.sockets.clear()
        self.nsps.clear()
        self.server._clients.pop(self.id, None)
