"""The Socket.IO server's write paths through the engine, on real sockets.

- A broadcast is encoded once and, to recipients on the native WebSocket plumbing without
  permessage-deflate, framed once: the very same frame bytes go to every transport.
- ``compress(False)`` skips HTTP compression of a polling response, and goes out as an
  uncompressed message on a permessage-deflate WebSocket (RSV1 clear).
- Volatile packets are dropped for a connection that is not writable (no pending poll; a
  WebSocket whose buffer holds unsent bytes).
- Engine-level facts reachable from the Server: client counts, connection and close events
  with reasons, refused requests (``connection_error``).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import zlib
from typing import Any

import pytest
from _sio_peer import HOST, PATH, PollingPeer, Running, WsPeer, assert_no_leaks, serve_sio

from conftest import WAIT, RawWebSocket, http_request, read_response, wait_until
from raw_ws import read_frame
from socketwire import Server, Socket
from socketwire.io import engine_socket as engine_module
from socketwire.io.engine import ConnectionErrorEvent, EngineSocket
from socketwire.io.native import NativeWebSocket

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find


class Connected:
    """Collects server-side sockets as they connect."""

    def __init__(self, sio: Server) -> None:
        self.queue: asyncio.Queue[Socket] = asyncio.Queue()
        sio.on("connection", self.queue.put)

    async def next(self) -> Socket:
        return await asyncio.wait_for(self.queue.get(), WAIT)


class FrameSpy:
    """Counts frame building in the engine and records every ``send_frame`` of the plumbing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.built: list[bytes] = []
        self.sent: list[tuple[NativeWebSocket, bytes]] = []
        real_frame = engine_module.frame_message
        real_send = NativeWebSocket.send_frame

        def frame_message(data: str | bytes) -> bytes:
            frame = real_frame(data)
            self.built.append(frame)
            return frame

        def send_frame(ws: NativeWebSocket, frame: bytes) -> None:
            self.sent.append((ws, frame))
            real_send(ws, frame)

        monkeypatch.setattr(engine_module, "frame_message", frame_message)
        monkeypatch.setattr(NativeWebSocket, "send_frame", send_frame)


async def connect_ws(running: Running, connected: Connected, n: int) -> list[WsPeer]:
    peers = []
    for _ in range(n):
        peer = await WsPeer.open(running)
        await peer.connect_nsp("/")
        await connected.next()
        peers.append(peer)
    return peers


# ---------------------------------------------------------------------------------------
# Framed once


async def test_broadcast_is_framed_once_for_native_websockets(
    serve_sio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sio = Server()
    connected = Connected(sio)
    running = await serve_sio(sio)
    peers = await connect_ws(running, connected, 3)
    poller = await PollingPeer.open(running)
    await poller.connect_nsp("/")
    await connected.next()
    spy = FrameSpy(monkeypatch)

    sio.emit("news", "hello")
    for peer in peers:
        assert await peer.recv() == '42["news","hello"]'
    assert await poller.get() == ['42["news","hello"]']
    [frame] = spy.built
    assert frame == b"\x81\x12" + b'42["news","hello"]'
    assert len(spy.sent) == 3
    assert all(sent is frame for _, sent in spy.sent)
    assert len({id(ws) for ws, _ in spy.sent}) == 3

    # binary: two messages (the header and one attachment), each framed once
    spy.built.clear()
    spy.sent.clear()
    sio.emit("bin", b"\x01\x02")
    for peer in peers:
        assert await peer.recv() == '451-["bin",{"_placeholder":true,"num":0}]'
        assert await peer.recv() == b"\x01\x02"
    assert await poller.get() == ['451-["bin",{"_placeholder":true,"num":0}]', "bAQI="]
    assert len(spy.built) == 2
    for index, frame in enumerate(spy.built):
        assert [sent for _, sent in spy.sent[index::2]] == [frame] * 3
        assert all(sent is frame for _, sent in spy.sent[index::2])

    # a single recipient (socket.emit) is not a broadcast: nothing is pre-framed
    spy.built.clear()
    spy.sent.clear()
    sio.sockets.sockets[next(iter(sio.sockets.sockets))].emit("solo")
    assert spy.built == []
    assert spy.sent == []
    for peer in peers:
        await peer.close()


async def test_shared_frames_keep_each_connection_in_order(
    serve_sio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-socket packets and shared frames interleave in the order they were sent."""
    sio = Server()
    connected = Connected(sio)
    running = await serve_sio(sio)
    [peer] = await connect_ws(running, connected, 1)
    socket = next(iter(sio.sockets.sockets.values()))
    spy = FrameSpy(monkeypatch)
    for i in range(20):
        socket.emit("own", i)
        sio.emit("all", i)
        sio.to(socket.id).emit("room", i)
    expected = []
    for i in range(20):
        expected += [f'42["own",{i}]', f'42["all",{i}]', f'42["room",{i}]']
    assert [await peer.recv() for _ in expected] == expected
    assert len(spy.built) == 40
    await peer.close()


async def test_asgi_recipients_take_the_per_socket_path(
    serve_sio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sio = Server()
    connected = Connected(sio)
    running = await serve_sio(sio, "asgi")
    peers = await connect_ws(running, connected, 2)
    spy = FrameSpy(monkeypatch)
    sio.emit("news", b"\x07")
    for peer in peers:
        assert await peer.recv() == '451-["news",{"_placeholder":true,"num":0}]'
        assert await peer.recv() == b"\x07"
        await peer.close()
    assert spy.built == []
    assert spy.sent == []


# ---------------------------------------------------------------------------------------
# Compression


class DeflatePeer:
    """A raw WebSocket client that negotiates permessage-deflate without context takeover,
    so each compressed message decompresses alone, and that reports RSV1 of every frame."""

    def __init__(self, raw: RawWebSocket) -> None:
        self.raw = raw

    @classmethod
    async def open(cls, running: Running) -> DeflatePeer:
        reader, writer = await asyncio.open_connection(HOST, running.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {PATH}?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {HOST}:{running.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                "client_no_context_takeover\r\n\r\n"
            ).encode()
        )
        async with asyncio.timeout(WAIT):
            response = await read_response(reader)
        assert response.status == 101, response
        assert "permessage-deflate" in (response.header("sec-websocket-extensions") or "")
        return cls(RawWebSocket(reader, writer))

    async def recv(self) -> tuple[bool, str | bytes]:
        """The next data message: ``(compressed, message)``; pings are answered."""
        reader = self.raw.reader
        async with asyncio.timeout(WAIT):
            while True:
                first, payload = await read_frame(reader)
                assert first & 0x80, "fragmented messages are not expected here"
                compressed = bool(first & 0x40)
                if compressed:
                    payload = zlib.decompressobj(wbits=-15).decompress(
                        payload + b"\x00\x00\xff\xff"
                    )
                opcode = first & 0x0F
                if opcode == 0x1:
                    text = payload.decode()
                    if text == "2":
                        self.raw.send_frame(0x1, b"3")
                        continue
                    return compressed, text
                if opcode == 0x2:
                    return compressed, payload
                raise AssertionError(f"unexpected opcode {opcode}")

    def send(self, text: str) -> None:
        self.raw.send_frame(0x1, text.encode())


async def test_compress_flag_on_a_deflate_websocket(
    serve_sio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sio = Server(per_message_deflate=True)
    connected = Connected(sio)
    running = await serve_sio(sio)
    peers = [await DeflatePeer.open(running) for _ in range(2)]
    for peer in peers:
        compressed, opening = await peer.recv()
        assert compressed
        assert isinstance(opening, str)
        assert opening.startswith("0{")
        peer.send("40")
        _, answer = await peer.recv()
        assert isinstance(answer, str)
        assert answer.startswith("40{")
        await connected.next()
    sockets = list(sio.sockets.sockets.values())
    spy = FrameSpy(monkeypatch)
    big = "a" * 3000

    sockets[0].emit("z", big)
    assert await peers[0].recv() == (True, f'42["z","{big}"]')
    sockets[0].compress(False).emit("z", big)
    assert await peers[0].recv() == (False, f'42["z","{big}"]')
    sockets[0].compress(True).emit("z", b"\x01" * 3000)
    assert (await peers[0].recv())[0] is True
    assert await peers[0].recv() == (True, b"\x01" * 3000)

    # a broadcast to deflate connections is compressed per connection: no shared frame
    spy.built.clear()
    spy.sent.clear()
    sio.emit("all", big)
    for peer in peers:
        assert await peer.recv() == (True, f'42["all","{big}"]')
    assert spy.built == []
    assert spy.sent == []
    # ...unless compression is not wanted: then one uncompressed frame is shared
    sio.compress(False).emit("all", big)
    for peer in peers:
        assert await peer.recv() == (False, f'42["all","{big}"]')
    assert len(spy.built) == 1
    assert [frame for _, frame in spy.sent] == spy.built * 2
    for peer in peers:
        await peer.raw.close()
    await assert_no_leaks(sio)


async def _poll_raw(peer: PollingPeer) -> Any:
    return await http_request(
        peer.running.port, "GET", peer.target, {"Accept-Encoding": "gzip, deflate"}
    )


async def test_compress_flag_on_polling(serve_sio: Any) -> None:
    sio = Server()  # http_compression on, threshold 1024 bytes
    connected = Connected(sio)
    running = await serve_sio(sio)
    peer = await PollingPeer.open(running)
    await peer.connect_nsp("/")
    socket = await connected.next()
    big = "x" * 5000

    socket.emit("big", big)
    result = await _poll_raw(peer)
    assert result.header("content-encoding") == "gzip"
    assert gzip.decompress(result.body).decode() == f'42["big","{big}"]'

    socket.compress(False).emit("big", big)
    result = await _poll_raw(peer)
    assert result.header("content-encoding") is None
    assert result.text == f'42["big","{big}"]'

    sio.compress(False).emit("big", big)
    result = await _poll_raw(peer)
    assert result.header("content-encoding") is None

    # JS: a payload is compressed when any of its packets may be
    socket.compress(False).emit("big", big)
    socket.emit("small")
    result = await _poll_raw(peer)
    assert result.header("content-encoding") == "gzip"
    assert gzip.decompress(result.body).decode().split("\x1e") == [
        f'42["big","{big}"]',
        '42["small"]',
    ]


# ---------------------------------------------------------------------------------------
# Volatile


async def test_volatile_dropped_over_polling_without_a_pending_poll(serve_sio: Any) -> None:
    sio = Server()
    connected = Connected(sio)
    running = await serve_sio(sio)
    peer = await PollingPeer.open(running)
    await peer.connect_nsp("/")
    socket = await connected.next()
    assert not socket.conn.writable
    sio.volatile.emit("dropped", 1)
    socket.volatile.emit("dropped", 2)
    sio.emit("kept")
    assert await peer.get() == ['42["kept"]']

    # with a poll pending the connection is writable: the volatile packet goes out
    poll = asyncio.create_task(peer.get())
    await wait_until(lambda: socket.conn.writable, "the poll to be pending")
    sio.volatile.emit("sent", 3)
    assert await asyncio.wait_for(poll, WAIT) == ['42["sent",3]']


async def test_volatile_dropped_for_a_websocket_with_a_full_buffer(serve_sio: Any) -> None:
    sio = Server(max_buffered_bytes=256 * 1024 * 1024)
    connected = Connected(sio)
    running = await serve_sio(sio)
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    socket = await connected.next()
    assert socket.conn.writable
    sio.volatile.emit("sent-while-writable")
    assert await peer.recv() == '42["sent-while-writable"]'

    # the client stops reading (websockets pauses at max_queue): the server's buffer fills
    blob = "b" * 65536
    count = 0
    while socket.conn.buffered_amount == 0:
        assert count < 2000, "the buffer never filled"
        socket.emit("blob", blob)
        count += 1
        if count % 50 == 0:
            await asyncio.sleep(0)  # let the loop write to the socket
    assert not socket.conn.writable
    socket.volatile.emit("dropped", 1)
    sio.volatile.emit("dropped", 2)
    socket.emit("marker")
    seen = [await peer.recv() for _ in range(count + 1)]
    assert seen[-1] == '42["marker"]'
    assert not any(isinstance(m, str) and "dropped" in m for m in seen)
    await wait_until(lambda: socket.conn.writable, "the buffer to drain")
    sio.volatile.emit("sent-again")
    assert await peer.recv() == '42["sent-again"]'
    await peer.close()


# ---------------------------------------------------------------------------------------
# Engine-level facts


async def test_engine_counts_events_and_close_reasons(serve_sio: Any) -> None:
    async def allow(request: Any) -> tuple[bool, str]:
        return request.query.get("deny") is None, "go away"

    sio = Server(allow_request=allow)
    connected = Connected(sio)
    engine = sio.engine
    opened: list[EngineSocket] = []
    closed: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    errors: list[ConnectionErrorEvent] = []
    engine.on_connection(opened.append)
    engine.on_close(lambda sock, reason: closed.put_nowait((sock.sid, reason)))
    engine.on_connection_error(errors.append)
    running = await serve_sio(sio)

    ws = await WsPeer.open(running)
    assert (engine.clients_count, engine.polling_clients_count, sio.clients_count) == (1, 0, 1)
    poller = await PollingPeer.open(running)
    assert (engine.clients_count, engine.polling_clients_count) == (2, 1)
    assert [sock.sid for sock in opened] == [ws.sid, poller.sid]
    await poller.connect_nsp("/")
    socket = await connected.next()
    assert socket.conn.transport == "polling"

    # upgrade the polling session by hand: the polling count follows
    probe = await WsPeer.open_probe(running, poller.sid)
    await probe.send("2probe")
    assert await probe.recv() == "3probe"
    await probe.send("5")
    await wait_until(lambda: engine.polling_clients_count == 0, "the upgrade")
    assert socket.conn.transport == "websocket"
    assert engine.clients_count == 2

    # refused requests: code, message and context as JS connection_error
    base = f"{PATH}?EIO=4&transport=polling"
    await http_request(running.port, "GET", f"{base}&sid=nope")
    await http_request(running.port, "GET", f"{PATH}?EIO=4&transport=carrier-pigeon")
    await http_request(running.port, "POST", base, body="x")
    await http_request(running.port, "GET", f"{PATH}?EIO=3&transport=polling")
    await http_request(running.port, "GET", f"{base}&deny=1")
    await http_request(running.port, "GET", f"{base}&sid={ws.sid}")
    assert [(e.code, e.message, dict(e.context)) for e in errors] == [
        (1, "Session ID unknown", {"sid": "nope"}),
        (0, "Transport unknown", {"transport": "carrier-pigeon"}),
        (2, "Bad handshake method", {"method": "POST"}),
        (5, "Unsupported protocol version", {"protocol": 3}),
        (4, "go away", {"message": "go away"}),
        (
            3,
            "Bad request",
            {
                "name": "TRANSPORT_MISMATCH",
                "transport": "polling",
                "previousTransport": "websocket",
            },
        ),
    ]
    assert all(e.request.path == PATH for e in errors)
    assert engine.clients_count == 2  # refusals create no session

    # close reasons
    await ws.close()
    assert await asyncio.wait_for(closed.get(), WAIT) == (ws.sid, "transport close")
    socket.disconnect(close=True)
    assert await asyncio.wait_for(closed.get(), WAIT) == (poller.sid, "forced close")
    await probe.closed()
    await assert_no_leaks(sio)
    assert (engine.clients_count, engine.polling_clients_count, sio.clients_count) == (0, 0, 0)


async def test_refused_websocket_upgrade_is_a_connection_error(serve_sio: Any) -> None:
    sio = Server()
    errors: list[ConnectionErrorEvent] = []
    sio.engine.on_connection_error(errors.append)
    running = await serve_sio(sio)
    raw, response = await RawWebSocket.connect(
        running.port, f"{PATH}?EIO=4&transport=websocket&sid=unknown"
    )
    await raw.close()
    assert response.status == 400
    assert [(e.code, dict(e.context)) for e in errors] == [(1, {"sid": "unknown"})]
    assert json.dumps(errors[0].message) == '"Session ID unknown"'
