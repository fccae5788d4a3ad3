"""socketwire's Python client over WebTransport, against socketwire's listener; and bad
input at the listener.

The official Node server with WebTransport needs @fails-components/webtransport, whose
native HTTP/3 part cannot be installed on this machine (see docs/topics/transports.md):
this is the closest real pair. The browser test (test_webtransport_browser.py) checks the
server against the official client, and tests/interop/test_engineio_stream_vectors.py the
framing against engine.io-parser.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _sio_peer import assert_no_leaks

from conftest import WAIT, wait_until
from socketwire import AsyncClient, Server, Socket
from socketwire.client.errors import ConnectError
from webtransport_helpers import Certificate, make_certificate

pytestmark = pytest.mark.integration
pytest.importorskip("aioquic", reason="the webtransport extra (`make install`)")

from aioquic.asyncio.client import connect  # noqa: E402
from aioquic.h3.connection import H3_ALPN  # noqa: E402
from aioquic.quic.configuration import QuicConfiguration  # noqa: E402

from socketwire.engineio.stream import encode_stream_packet  # noqa: E402
from socketwire.io.client_webtransport import _ClientProtocol  # noqa: E402
from socketwire.io.native import NativeServer  # noqa: E402
from socketwire.io.webtransport import WebTransportOptions  # noqa: E402


@dataclass
class Running:
    sio: Server
    server: NativeServer
    certificate: Certificate
    sockets: asyncio.Queue[Socket]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def trust(self) -> ssl.SSLContext:
        """A context that trusts the server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.certificate.certfile))


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    certificate = make_certificate(tmp_path, ca=True)
    sio = Server(transports=["polling", "websocket", "webtransport"], serve_client=False)
    sockets: asyncio.Queue[Socket] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("echo")
        async def echo(*args: Any) -> tuple[Any, ...]:
            return args

        await sockets.put(socket)

    options = WebTransportOptions(
        str(certificate.certfile), str(certificate.keyfile), handshake_timeout=0.5
    )
    server = NativeServer(sio, "127.0.0.1", 0, webtransport=options)
    await server.start()
    try:
        yield Running(sio, server, certificate, sockets)
        await assert_no_leaks(sio)
    finally:
        await server.close()


@pytest.mark.parametrize("transports", [["webtransport"], ["polling", "webtransport"]])
async def test_python_client_over_webtransport(running: Running, transports: list[str]) -> None:
    client = AsyncClient(transports=transports, ssl=running.trust(), reconnection=False)
    news: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @client.on("news")
    async def on_news(*args: Any) -> None:
        await news.put(args)

    @client.on("question")
    async def on_question(data: bytes) -> tuple[str, bytes]:
        return "answer", bytes(reversed(data))

    await client.connect(running.url)
    socket = await asyncio.wait_for(running.sockets.get(), WAIT)
    await wait_until(lambda: socket.conn.transport == "webtransport", "the upgrade")
    assert await client.timeout(WAIT).emit_with_ack("echo", "é😀", b"\x00\x01") == (
        "é😀",
        b"\x00\x01",
    )
    assert await socket.timeout(WAIT).emit_with_ack("question", b"\x01\x02") == (
        "answer",
        b"\x02\x01",
    )
    running.sio.emit("news", "all", b"\xff" * 70_000)  # a 64-bit stream length
    assert await asyncio.wait_for(news.get(), WAIT) == ("all", b"\xff" * 70_000)
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    socket.on("disconnect", lambda reason: gone.set_result(reason))
    await client.disconnect()
    assert await asyncio.wait_for(gone, WAIT) == "client namespace disconnect"


async def test_server_disconnect_reaches_the_client(running: Running) -> None:
    client = AsyncClient(transports=["webtransport"], ssl=running.trust(), reconnection=False)
    reasons: asyncio.Queue[str] = asyncio.Queue()
    client.on("disconnect", lambda reason: reasons.put_nowait(reason))
    await client.connect(running.url)
    socket = await asyncio.wait_for(running.sockets.get(), WAIT)
    socket.disconnect(close=True)
    assert await asyncio.wait_for(reasons.get(), WAIT) == "io server disconnect"
    await client.disconnect()


async def test_untrusted_certificate_is_a_connect_error(running: Running) -> None:
    client = AsyncClient(transports=["webtransport"], reconnection=False, timeout=2)
    with pytest.raises(ConnectError):
        await client.connect(running.url)
    await client.disconnect()


async def test_webtransport_off_refuses_the_session(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path, ca=True)
    sio = Server(serve_client=False)  # polling and websocket only
    options = WebTransportOptions(str(certificate.certfile), str(certificate.keyfile))
    server = NativeServer(sio, "127.0.0.1", 0, webtransport=options)
    await server.start()
    try:
        trust = ssl.create_default_context(cafile=str(certificate.certfile))
        client = AsyncClient(transports=["webtransport"], ssl=trust, reconnection=False, timeout=2)
        with pytest.raises(ConnectError):
            await client.connect(f"http://127.0.0.1:{server.port}")
        await client.disconnect()
        assert sio.engine.clients_count == 0
    finally:
        await server.close()


class RawSession:
    """A WebTransport session whose stream bytes the test writes itself."""

    def __init__(self, protocol: _ClientProtocol) -> None:
        self.protocol = protocol
        self.received = bytearray()

    def received_bytes(self, data: bytes) -> bool:
        self.received += data
        return True


async def raw_session(running: Running, path: str = "/socket.io/") -> AsyncIterator[RawSession]:
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536
    )
    configuration.load_verify_locations(str(running.certificate.certfile))
    async with connect(
        "127.0.0.1",
        running.server.port,
        configuration=configuration,
        create_protocol=_ClientProtocol,
    ) as protocol:
        assert isinstance(protocol, _ClientProtocol)
        session = RawSession(protocol)
        protocol.bind(session)  # type: ignore[arg-type]
        await asyncio.wait_for(
            protocol.open_session(f"127.0.0.1:{running.server.port}", path, {}), WAIT
        )
        yield session


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"\x00", "a packet of length 0"),
        (b"\x7e\xff\xff" + b"4" * 65535, "a packet over max_payload (refused on its header)"),
        (encode_stream_packet("4hello"), "a first packet that is not open"),
        (encode_stream_packet('0{"sid":"nope"}'), "an unknown sid"),
        (encode_stream_packet("0{"), "an open packet with broken JSON"),
        (encode_stream_packet(b"\x00"), "a binary first packet"),
        (b"", "no packet at all (the handshake timeout)"),
    ],
)
async def test_bad_streams_end_the_session(running: Running, wire: bytes, why: str) -> None:
    running.server.webtransport_server.options = WebTransportOptions(  # type: ignore[union-attr]
        str(running.certificate.certfile),
        str(running.certificate.keyfile),
        handshake_timeout=0.5,
        max_payload=1000,
    )
    async for session in raw_session(running):
        if wire:
            session.protocol.write(wire)
        else:
            session.protocol.write(b"")
        assert await asyncio.wait_for(session.protocol.ended, WAIT) is None, why
        assert running.sio.engine.clients_count == 0, why


async def test_unknown_path_is_refused(running: Running) -> None:
    with pytest.raises(ConnectionError):
        async for _ in raw_session(running, "/elsewhere/"):
            pass


async def test_a_full_event_queue_pauses_the_stream_and_loses_nothing(tmp_path: Path) -> None:
    # The server's bound on events waiting for a socket's handler pauses the WebTransport
    # stream as it does a WebSocket; once the handler catches up, every event arrives, in order.
    certificate = make_certificate(tmp_path, ca=True)
    sio = Server(transports=["webtransport"], serve_client=False, max_pending_events=2)
    release = asyncio.Event()
    seen: list[int] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("n")
        async def n(value: int) -> None:
            await release.wait()
            seen.append(value)

    options = WebTransportOptions(str(certificate.certfile), str(certificate.keyfile))
    server = NativeServer(sio, "127.0.0.1", 0, webtransport=options)
    await server.start()
    try:
        trust = ssl.create_default_context(cafile=str(certificate.certfile))
        client = AsyncClient(transports=["webtransport"], ssl=trust, reconnection=False)
        await client.connect(f"http://127.0.0.1:{server.port}")
        for value in range(20):
            client.emit("n", value)
        [conn] = list(sio.engine.clients.values())
        await wait_until(lambda: conn.reading_paused, "the stream to pause")
        release.set()
        await wait_until(lambda: len(seen) == 20, "every event")
        assert seen == list(range(20))
        await client.disconnect()
        await assert_no_leaks(sio)
    finally:
        await server.close()
