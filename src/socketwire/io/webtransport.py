"""The WebTransport listener: HTTP/3 over QUIC (aioquic), on UDP.

socket.io 4.7+ (engine.io 6.5+, engine.io-client 6.5+) can carry an Engine.IO session over
a WebTransport session: the client opens ``https://host:port/<path>?EIO=4&transport=
webtransport`` (an extended CONNECT, ``:protocol webtransport``), then one bidirectional
stream, and writes an open packet on it: ``0`` starts a new session, ``0{"sid":"..."}``
probes an upgrade of a polling session. Every Engine.IO packet then travels on that stream,
framed as [`socketwire.engineio.stream`][socketwire.engineio.stream] says. The server
reads that one stream only.

[`WebTransportServer`][WebTransportServer] accepts the sessions and hands each stream, as
a [`WebSocketTransport`][socketwire.io.http.WebSocketTransport], to an app with a
``handle_webtransport`` method ([`socketwire.Server`][socketwire.Server], or its
[`EngineServer`][socketwire.io.engine.EngineServer]), which drives it exactly as a
WebSocket. Usually [`NativeServer`][socketwire.io.native.NativeServer]
starts one on its own port number (``webtransport=WebTransportOptions(...)``); any app
served elsewhere (ASGI) can run one beside it.

Needs the ``webtransport`` extra (aioquic). WebTransport needs TLS: a certificate and its
key (for a self-signed one, browsers accept an ECDSA certificate valid at most 14 days
through ``serverCertificateHashes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived, WebTransportStreamDataReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection, stream_is_unidirectional
from aioquic.quic.events import ConnectionTerminated, ProtocolNegotiated, QuicEvent

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.stream import StreamDecoder, encode_stream_packet
from socketwire.io.http import WebSocketHandler, WebSocketTransport

__all__ = [
    "WebTransportApp",
    "WebTransportOptions",
    "WebTransportRequest",
    "WebTransportServer",
    "write_self_signed_certificate",
]

logger = logging.getLogger("socketwire.webtransport")

#: Close codes reported to the stream's handler (WebSocket's, which the engine reads).
_NORMAL, _ABNORMAL = 1000, 1006
#: Closing from this side: the Engine.IO stream ends first (its last packets, a close or a
#: DISCONNECT), and the session once the client has acknowledged them (a browser drops
#: what a stream still holds when its session ends), or after this many seconds.
_LINGER = 2.0
_LINGER_STEP = 0.02


class WebTransportApp(Protocol):
    """What the listener serves: [`socketwire.Server`][socketwire.Server] and
    [`EngineServer`][socketwire.io.engine.EngineServer] are such apps."""

    def owns(self, path: str) -> bool:
        """True when this app answers ``path``."""

    async def handle_webtransport(
        self, request: WebTransportRequest, first: str | bytes, stream: WebSocketTransport
    ) -> WebSocketHandler | None:
        """A session's stream sent its first packet (``first``, WebSocket form): take the
        stream (return the handler of what follows) or refuse it (None: it is closed)."""


@dataclass(frozen=True, slots=True)
class WebTransportOptions:
    """The WebTransport listener's options.

    Attributes:
        certfile: the PEM certificate chain (WebTransport runs over TLS 1.3 only).
        keyfile: its PEM private key.
        password: the key's password, if any.
        handshake_timeout: seconds a session may take to open its stream and send its open
            packet (JS uses ``upgradeTimeout``).
        max_payload: the largest packet read from a stream (the engine's
            ``max_http_buffer_size``).
    """

    certfile: str
    keyfile: str
    password: str | None = None
    handshake_timeout: float = 10.0
    max_payload: int = 1_000_000


@dataclass(frozen=True, slots=True)
class WebTransportRequest:
    """The extended CONNECT that opened a WebTransport session, as an
    [`HttpRequest`][socketwire.io.http.HttpRequest] (engine.io has no request for these sessions;
    socketwire keeps the CONNECT's headers, query and the peer's address)."""

    raw_path: str
    headers: Mapping[str, str]
    remote_addr: tuple[str, int] | None
    method: str = "CONNECT"
    secure: bool = True
    _closed: asyncio.Future[None] | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> str:
        """The URL path, percent-decoded."""
        return unquote(urlsplit(self.raw_path).path)

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, first value of each."""
        query: dict[str, str] = {}
        for key, value in parse_qsl(urlsplit(self.raw_path).query, keep_blank_values=True):
            query.setdefault(key, value)
        return query

    async def read_body(self, limit: int) -> bytes:
        """A CONNECT has no body."""
        return b""

    async def wait_disconnected(self) -> None:
        """Return when the session ends."""
        if self._closed is not None:
            await asyncio.shield(self._closed)


class WebTransportServer:
    """Accepts WebTransport sessions on UDP and hands their streams to ``app``.

    Args:
        app: what serves the sessions (``owns`` and ``handle_webtransport``).
        host: the address to bind.
        port: the UDP port; 0 picks a free one (see ``port`` after [`start()`][start]).
        options: the certificate, its key and the limits.
    """

    def __init__(
        self, app: WebTransportApp, host: str, port: int, options: WebTransportOptions
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.options = options
        self._transport: asyncio.DatagramTransport | None = None
        self._connections: set[_H3Protocol] = set()

    async def start(self) -> None:
        """Bind the UDP socket and start accepting; ``port`` then holds the port."""
        configuration = QuicConfiguration(
            alpn_protocols=H3_ALPN,
            is_client=False,
            # WebTransport over HTTP/3 requires HTTP datagrams to be announced
            max_datagram_frame_size=65536,
        )
        configuration.load_cert_chain(
            self.options.certfile, self.options.keyfile, self.options.password
        )
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()

        def create_protocol(*args: Any, **kwargs: Any) -> _H3Protocol:
            return _H3Protocol(self, *args, **kwargs)

        transport, _ = await loop.create_datagram_endpoint(
            lambda: QuicServer(configuration=configuration, create_protocol=create_protocol),
            sock=sock,
        )
        self._transport = transport
        logger.info("WebTransport listening on udp %s:%s", self.host, self.port)

    async def close(self) -> None:
        """Close every session and stop listening."""
        for connection in list(self._connections):
            connection.shutdown()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_made(self, connection: _H3Protocol) -> None:
        """A QUIC connection started (called by it)."""
        self._connections.add(connection)

    def connection_lost(self, connection: _H3Protocol) -> None:
        """A QUIC connection ended (called by it)."""
        self._connections.discard(connection)


class _H3Protocol(QuicConnectionProtocol):
    """One QUIC connection: HTTP/3, and the WebTransport sessions on it."""

    def __init__(self, listener: WebTransportServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the listener that accepted this connection
        self.listener = listener
        self._h3: H3Connection | None = None
        #: sessions by the id of their CONNECT stream
        self._sessions: dict[int, _Session] = {}
        #: the session of each Engine.IO stream
        self._streams: dict[int, _Session] = {}
        self._transmit_pending = False
        listener.connection_made(self)

    @property
    def quic(self) -> QuicConnection:
        """The QUIC connection."""
        return self._quic

    @property
    def h3(self) -> H3Connection:
        """The HTTP/3 connection (once ALPN chose h3)."""
        assert self._h3 is not None
        return self._h3

    def quic_event_received(self, event: QuicEvent) -> None:
        """Route one QUIC event (aioquic calls this)."""
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._h3 = H3Connection(self._quic, enable_webtransport=True)
        elif isinstance(event, ConnectionTerminated):
            for session in list(self._sessions.values()):
                session.ended(_ABNORMAL)
            self.listener.connection_lost(self)
            return
        if self._h3 is not None:
            for h3_event in self._h3.handle_event(event):
                self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, HeadersReceived):
            if event.stream_id not in self._sessions:
                self._connect(event)
        elif isinstance(event, WebTransportStreamDataReceived):
            session = self._sessions.get(event.session_id)
            if session is None or stream_is_unidirectional(event.stream_id):
                return
            session.stream_data(event.stream_id, event.data, event.stream_ended)
        elif isinstance(event, DataReceived):
            # capsules on the CONNECT stream (the client's close); its end ends the session
            session = self._sessions.get(event.stream_id)
            if session is not None and event.stream_ended:
                session.ended(_NORMAL)

    def _connect(self, event: HeadersReceived) -> None:
        headers: dict[str, str] = {}
        pseudo: dict[bytes, bytes] = {}
        for name, value in event.headers:
            if name.startswith(b":"):
                pseudo[name] = value
            else:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
        raw_path = pseudo.get(b":path", b"/").decode("latin-1")
        if pseudo.get(b":method") != b"CONNECT" or pseudo.get(b":protocol") != b"webtransport":
            self._answer(event.stream_id, b"400")
            return
        if b":authority" in pseudo:
            headers.setdefault("host", pseudo[b":authority"].decode("latin-1"))
        peer = self._quic.get_peer_address()
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        request = WebTransportRequest(
            raw_path, headers, (str(peer[0]), int(peer[1])) if peer else None, _closed=closed
        )
        if not self.listener.app.owns(request.path):
            self._answer(event.stream_id, b"404")
            return
        self.h3.send_headers(
            event.stream_id, [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")]
        )
        self.transmit_soon()
        self._sessions[event.stream_id] = _Session(self, event.stream_id, request, closed)

    def _answer(self, stream_id: int, status: bytes) -> None:
        self.h3.send_headers(stream_id, [(b":status", status)], end_stream=True)
        self.transmit_soon()

    def attach_stream(self, stream_id: int, session: _Session) -> None:
        """``stream_id`` is ``session``'s Engine.IO stream."""
        self._streams[stream_id] = session

    def forget(self, session: _Session) -> None:
        """``session`` ended."""
        self._sessions.pop(session.connect_id, None)
        if session.stream_id is not None:
            self._streams.pop(session.stream_id, None)

    def delivered(self, stream_id: int) -> bool:
        """True once the peer has acknowledged all of ``stream_id``, its end included."""
        stream = self._quic._streams.get(stream_id)  # noqa: SLF001 (as in sent())
        return stream is None or stream.sender.is_finished

    def sent(self, stream_id: int) -> int:
        """Bytes of ``stream_id`` that QUIC has sent (what was written beyond them waits,
        held back by the peer's flow control when it does not read)."""
        # aioquic has no public view of a stream's send buffer.
        stream = self._quic._streams.get(stream_id)  # noqa: SLF001
        return 0 if stream is None else stream.sender.highest_offset

    def transmit_soon(self) -> None:
        """Send what QUIC has to send, once per loop iteration."""
        if not self._transmit_pending:
            self._transmit_pending = True
            asyncio.get_running_loop().call_soon(self._transmit_now)

    def _transmit_now(self) -> None:
        self._transmit_pending = False
        self.transmit()

    def shutdown(self) -> None:
        """Close the sessions and the connection (the server is stopping)."""
        for session in list(self._sessions.values()):
            session.close()
        self.close()


class _Session:
    """One WebTransport session: its Engine.IO stream, read into packets."""

    def __init__(
        self,
        connection: _H3Protocol,
        connect_id: int,
        request: WebTransportRequest,
        closed: asyncio.Future[None],
    ) -> None:
        self.connection = connection
        self.connect_id = connect_id
        self.request = request
        self.stream_id: int | None = None
        self._closed_future = closed
        options = connection.listener.options
        self._decoder = StreamDecoder(options.max_payload)
        self._handler: WebSocketHandler | None = None
        self._transport: _StreamTransport | None = None
        self._opening: asyncio.Task[None] | None = None
        self._pending: list[str | bytes] = []
        #: messages read while the app paused reading, and their size (bounded: see _hold)
        self._paused = False
        self._held: list[str | bytes] = []
        self._held_bytes = 0
        self._hold_limit = max(2 * options.max_payload, 1 << 20)
        self._ended = False
        self._timer = asyncio.get_running_loop().call_later(
            options.handshake_timeout, self._handshake_timed_out
        )

    def stream_data(self, stream_id: int, data: bytes, ended: bool) -> None:
        """Bytes arrived on one of the session's bidirectional streams."""
        if self._ended:
            return
        if self.stream_id is None:
            # the first bidirectional stream carries the Engine.IO session (JS reads no other)
            self.stream_id = stream_id
            self.connection.attach_stream(stream_id, self)
            self._transport = _StreamTransport(self)
        elif stream_id != self.stream_id:
            return
        try:
            messages = self._decoder.feed(data)
        except ProtocolError as exc:
            logger.debug("WebTransport stream %s: %s", stream_id, exc)
            self.close(error=True)
            return
        for message in messages:
            self._message(message)
        if ended and not self._ended:
            self.ended(_NORMAL)

    def _message(self, message: str | bytes) -> None:
        if self._paused:
            self._hold(message)
        elif self._handler is not None:
            self._handler.on_message(message)
        elif self._opening is None:
            self._timer.cancel()
            self._opening = asyncio.ensure_future(self._open(message))
        else:
            # packets sent right after the open packet, before the app took the stream
            self._pending.append(message)

    async def _open(self, first: str | bytes) -> None:
        transport = self._transport
        assert transport is not None
        app = self.connection.listener.app
        try:
            handler = await app.handle_webtransport(self.request, first, transport)
        except Exception:
            logger.exception("handle_webtransport failed")
            handler = None
        if self._ended:
            if handler is not None:
                handler.on_close(_ABNORMAL)
            return
        if handler is None:
            self.close()
            return
        self._handler = handler
        pending, self._pending = self._pending, []
        for message in pending:
            self._message(message)

    def _hold(self, message: str | bytes) -> None:
        # QUIC keeps reading while the app has paused (aioquic opens the flow-control window
        # as it hands data over): what arrives waits here, within a bound, as on WebSocket
        # the OS buffer would.
        self._held.append(message)
        self._held_bytes += len(message)
        if self._held_bytes > self._hold_limit:
            logger.debug("WebTransport stream %s: too much read while paused", self.stream_id)
            self.close(error=True)

    def pause(self) -> None:
        """The app stops reading: messages wait until [`resume()`][resume]."""
        self._paused = True

    def resume(self) -> None:
        """Deliver what waited, in order, then read on (unless paused again meanwhile)."""
        self._paused = False
        while self._held and not self._paused and not self._ended:
            message = self._held.pop(0)
            self._held_bytes -= len(message)
            self._message(message)

    def _handshake_timed_out(self) -> None:
        if self._handler is None and self._opening is None:
            logger.debug("WebTransport session without an open packet in time: closed")
            self.close()

    def write(self, data: bytes) -> None:
        """Write framed packets to the Engine.IO stream."""
        if self._ended or self.stream_id is None:
            return
        self.connection.quic.send_stream_data(self.stream_id, data)
        self.connection.transmit_soon()

    def close(self, *, error: bool = False) -> None:
        """End the session from this side: the Engine.IO stream ends at once (the handler
        is told), the session once the stream is delivered (see ``_LINGER``)."""
        if self._ended:
            return
        connection = self.connection
        stream_id = self.stream_id
        if stream_id is not None:
            with contextlib.suppress(Exception):
                connection.quic.send_stream_data(stream_id, b"", end_stream=True)
            connection.transmit_soon()
        self.ended(1002 if error else _NORMAL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _LINGER

        def end_session() -> None:
            pending = stream_id is not None and not connection.delivered(stream_id)
            if pending and loop.time() < deadline:
                loop.call_later(_LINGER_STEP, end_session)
                return
            with contextlib.suppress(Exception):
                connection.h3.send_data(self.connect_id, b"", end_stream=True)
            connection.transmit_soon()

        end_session()

    def ended(self, code: int) -> None:
        """The session is over (either side, or the connection): tell the handler once."""
        if self._ended:
            return
        self._ended = True
        self._timer.cancel()
        self.connection.forget(self)
        if not self._closed_future.done():
            self._closed_future.set_result(None)
        handler, self._handler = self._handler, None
        if handler is not None:
            handler.on_close(code)


class _StreamTransport:
    """A session's Engine.IO stream as a
    [`WebSocketTransport`][socketwire.io.http.WebSocketTransport]: the engine drives it as a
    WebSocket, and each message is framed for the stream."""

    __slots__ = ("_session", "_written")

    supports_frames = False
    compressed = False

    def __init__(self, session: _Session) -> None:
        self._session = session
        self._written = 0

    def send_text(self, data: str) -> None:
        """Queue a text packet."""
        self._write(encode_stream_packet(data))

    def send_bytes(self, data: bytes) -> None:
        """Queue a binary message."""
        self._write(encode_stream_packet(data))

    def send_frame(self, frame: bytes) -> None:
        """Never called: [`supports_frames`][supports_frames] is False."""
        raise NotImplementedError("a WebTransport stream takes no WebSocket frames")

    def _write(self, data: bytes) -> None:
        self._written += len(data)
        self._session.write(data)

    @property
    def buffered_amount(self) -> int:
        """Bytes written and not yet sent by QUIC."""
        stream_id = self._session.stream_id
        if stream_id is None:
            return 0
        return max(0, self._written - self._session.connection.sent(stream_id))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """End the WebTransport session."""
        self._session.close()

    def pause_reading(self) -> None:
        """Stop delivering messages (the app's backpressure); they wait, bounded."""
        self._session.pause()

    def resume_reading(self) -> None:
        """Deliver what waited, then read on."""
        self._session.resume()


def write_self_signed_certificate(
    certfile: str | Path,
    keyfile: str | Path,
    *,
    hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    days: int = 10,
    ca: bool = False,
) -> bytes:
    """Write a self-signed ECDSA P-256 certificate and its key (PEM), for development.

    Browsers take such a certificate without a CA through the WebTransport option
    ``serverCertificateHashes`` when it is valid at most 14 days (hence the default of 10).

    Args:
        certfile: where to write the certificate.
        keyfile: where to write its private key (unencrypted).
        hosts: the names and IP addresses it is for.
        days: how long it is valid.
        ca: mark it as a CA, so that a Python ``ssl`` context trusts it through
            ``load_verify_locations`` (which reads only CA certificates for WebTransport).

    Returns:
        The SHA-256 of the certificate (DER): the value for ``serverCertificateHashes``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "localhost")])
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    Path(certfile).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    Path(keyfile).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
