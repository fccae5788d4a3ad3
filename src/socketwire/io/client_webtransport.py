"""The WebTransport transport of the Engine.IO client, on aioquic (the ``webtransport``
extra), as engine.io-client 6.6's ``WT``.

One [`WebTransportChannel`][WebTransportChannel] per session: a QUIC connection, an extended CONNECT
(``:protocol webtransport``) to the Engine.IO path, then one bidirectional stream whose
first packet is the open packet, ``0`` (a new session) or ``0{"sid":"..."}`` (an upgrade
probe); after it the stream carries the session's packets, framed as
[`socketwire.engineio.stream`][socketwire.engineio.stream] says. To the session's driver
it is a WebSocket ([`WebSocketLike`][socketwire.io.client_websocket.WebSocketLike]).

TLS: the ``ssl`` context's verification carries over: None or a default context verify
against the system's CAs; the CA certificates a context loaded (``load_verify_locations``;
Python lists only those marked as CAs) are trusted; ``verify_mode = CERT_NONE`` verifies
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp.abc import AbstractCookieJar
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamDataReceived
from yarl import URL

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.stream import StreamDecoder, encode_stream_packet
from socketwire.io.client_websocket import WebSocketListener

__all__ = ["WebTransportChannel"]


class WebTransportChannel:
    """One WebTransport session for an Engine.IO client session.

    Args:
        url: the ``https://`` URL of the Engine.IO endpoint; its ``sid`` query parameter,
            if any, makes this an upgrade probe.
        listener: receives the results.
        headers: extra headers of the CONNECT request.
        ssl: TLS verification (see the module's docstring).
        timeout: seconds to connect and open the session (None: no bound).
        max_size: the largest packet accepted from the server.
        cookie_jar: its cookies for the URL go in the CONNECT request.
        proxy: must be None: an HTTP proxy cannot carry QUIC (UDP).
        protocols: ignored (WebSocket subprotocols have no WebTransport counterpart).
    """

    def __init__(
        self,
        *,
        url: str,
        listener: WebSocketListener,
        headers: Mapping[str, str],
        ssl: ssl_module.SSLContext | None,
        timeout: float | None,
        max_size: int,
        cookie_jar: AbstractCookieJar | None = None,
        proxy: str | None = None,
        protocols: Sequence[str] = (),
    ) -> None:
        if proxy is not None:
            raise ValueError("WebTransport (QUIC, UDP) cannot go through an HTTP proxy")
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self._sid = query.pop("sid", None)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 443
        self._authority = parts.netloc
        # the query, less the sid (which the open packet carries, as engine.io-client's)
        self._path = parts.path + (f"?{urlencode(query)}" if query else "")
        self._listener = listener
        self._headers = {k.lower(): v for k, v in headers.items()}
        if cookie_jar is not None:
            cookies = cookie_jar.filter_cookies(URL(url))
            if cookies:
                self._headers["cookie"] = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
        self._ssl = ssl
        self._timeout = timeout
        self._decoder = StreamDecoder(max_size)
        self._task: asyncio.Task[None] | None = None
        self._protocol: _ClientProtocol | None = None
        self._closing = False

    def open(self) -> None:
        """Start connecting."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, messages: tuple[str | bytes, ...]) -> None:
        """Write ``messages``; ``websocket_drained`` follows once they are handed to QUIC."""
        protocol = self._protocol
        if protocol is None or self._closing:
            return
        protocol.write(b"".join(encode_stream_packet(m) for m in messages))
        asyncio.get_running_loop().call_soon(self._listener.websocket_drained)

    def close(self) -> None:
        """End the session (after what was written)."""
        if self._closing:
            return
        self._closing = True
        if self._protocol is not None:
            self._protocol.end_session()

    async def aclose(self) -> None:
        """Close and wait until the QUIC connection is released."""
        self.close()
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait([task], timeout=2 * (self._timeout or 10.0))
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        configuration = QuicConfiguration(
            is_client=True,
            alpn_protocols=H3_ALPN,
            max_datagram_frame_size=65536,
            server_name=self._host,
        )
        _verification(configuration, self._ssl)
        async with contextlib.AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(self._timeout):
                    protocol = await stack.enter_async_context(
                        connect(
                            self._host,
                            self._port,
                            configuration=configuration,
                            create_protocol=_ClientProtocol,
                        )
                    )
            except Exception as exc:
                # refused, unreachable, TLS, timeout: a transport error for the session
                self._listener.websocket_failed(f"webtransport error: {_describe(exc)}")
                return
            assert isinstance(protocol, _ClientProtocol)
            try:
                await self._session(protocol)
            finally:
                protocol.end_session()

    async def _session(self, protocol: _ClientProtocol) -> None:
        protocol.bind(self)
        try:
            async with asyncio.timeout(self._timeout):
                await protocol.open_session(self._authority, self._path, self._headers)
        except Exception as exc:
            self._listener.websocket_failed(f"webtransport error: {_describe(exc)}")
            return
        self._protocol = protocol
        # engine.io-client's first packet: "open", with the sid of the session it upgrades
        first = "0" if self._sid is None else '0{"sid":"' + self._sid + '"}'
        protocol.write(encode_stream_packet(first))
        if self._closing:
            protocol.end_session()
            return
        self._listener.websocket_opened()
        reason = await protocol.ended
        if reason is None or self._closing:
            self._listener.websocket_closed("webtransport session closed")
        else:
            self._listener.websocket_failed(f"webtransport error: {reason}")

    def received(self, data: bytes) -> bool:
        """Bytes arrived on the stream (called by the protocol); False on a framing error."""
        try:
            messages = self._decoder.feed(data)
        except ProtocolError:
            return False
        for message in messages:
            if self._closing:
                break
            self._listener.websocket_message(message)
        return True


class _ClientProtocol(QuicConnectionProtocol):
    """The QUIC connection of one WebTransport session."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._h3 = H3Connection(self._quic, enable_webtransport=True)
        self._channel: WebTransportChannel | None = None
        self._session_id: int | None = None
        self._stream_id: int | None = None
        self._accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # a connection that fails before anyone waits must not log "never retrieved"
        self._accepted.add_done_callback(lambda f: f.cancelled() or f.exception())
        #: None when the session ended cleanly, else why it failed
        self.ended: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    def bind(self, channel: WebTransportChannel) -> None:
        """Report the stream's bytes to ``channel``."""
        self._channel = channel

    async def open_session(self, authority: str, path: str, headers: Mapping[str, str]) -> None:
        """Send the extended CONNECT, wait for 200, open the stream."""
        session_id = self._quic.get_next_available_stream_id()
        self._session_id = session_id
        fields = [
            (b":method", b"CONNECT"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
            (b":protocol", b"webtransport"),
            (b"sec-webtransport-http3-draft02", b"1"),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ]
        self._h3.send_headers(session_id, fields)
        self.transmit()
        await self._accepted
        self._stream_id = self._h3.create_webtransport_stream(session_id)
        self.transmit()

    def write(self, data: bytes) -> None:
        """Write to the session's stream."""
        if self._stream_id is not None and not self.ended.done():
            self._quic.send_stream_data(self._stream_id, data)
            self.transmit()

    def end_session(self) -> None:
        """End the stream and the session (the CONNECT stream), then the connection."""
        if not self.ended.done():
            self.ended.set_result(None)
        with contextlib.suppress(Exception):
            if self._stream_id is not None:
                self._quic.send_stream_data(self._stream_id, b"", end_stream=True)
            if self._session_id is not None:
                self._h3.send_data(self._session_id, b"", end_stream=True)
            self.transmit()
        self.close()

    def quic_event_received(self, event: QuicEvent) -> None:
        """Route one QUIC event (aioquic calls this)."""
        if isinstance(event, ConnectionTerminated):
            self._fail(f"connection closed: {event.reason_phrase or event.error_code}")
            if not self.ended.done():
                self.ended.set_result(None)
            return
        if isinstance(event, StreamDataReceived) and event.stream_id == self._stream_id:
            # The server's side of our stream is raw session data: aioquic's H3Connection
            # would parse it as HTTP/3 frames (it knows the stream only as one it opened).
            if self._channel is not None:
                if event.data and not self._channel.received(event.data):
                    self._finish("invalid packet framing")
                elif event.end_stream:
                    self._finish(None)
            return
        for h3_event in self._h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived) and h3_event.stream_id == self._session_id:
                status = dict(h3_event.headers).get(b":status")
                if status == b"200":
                    if not self._accepted.done():
                        self._accepted.set_result(None)
                else:
                    self._fail(f"session refused ({(status or b'?').decode()})")
            elif (
                isinstance(h3_event, DataReceived)
                and h3_event.stream_id == self._session_id
                and h3_event.stream_ended
            ):
                # the server ended the session (the CONNECT stream)
                self._finish(None)

    def _fail(self, reason: str) -> None:
        if not self._accepted.done():
            self._accepted.set_exception(ConnectionError(reason))

    def _finish(self, reason: str | None) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)


def _verification(configuration: QuicConfiguration, context: ssl_module.SSLContext | None) -> None:
    """Carry an ``ssl`` context's verification over to aioquic."""
    if context is None:
        return
    if context.verify_mode == ssl_module.CERT_NONE:
        configuration.verify_mode = ssl_module.CERT_NONE
        return
    trusted = context.get_ca_certs(binary_form=True)
    if trusted:
        configuration.cadata = b"".join(
            ssl_module.DER_cert_to_PEM_cert(der).encode() for der in trusted
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return str(exc) or type(exc).__name__
