"""Bad input: every case gets a clear HTTP error or a clean close, and nothing else suffers.

After each case the test checks that a healthy session still works end to end and that the
session count returns to zero (a bounded wait): sessions the bad input does not end are
closed by the test, or, in the flood test, end by ping timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import (
    WAIT,
    EngineFactory,
    EngineHarness,
    RawWebSocket,
    SessionRecord,
    build_request,
    raw_connection,
    read_response,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.engine_options(max_http_buffer_size=1000),
]

LIMIT = 1000


async def assert_healthy(server: EngineHarness) -> None:
    """A new session works both ways over polling and over WebSocket, then closes."""
    server.echo = True
    sid, _, _ = await server.handshake()
    record = server.session(sid)
    assert (await server.post(sid, "4ping?")).body == b"ok"
    # A heartbeat ping ("2") may be queued along with the echo.
    assert "4ping?" in (await server.poll(sid)).text.split("\x1e")
    await end_session(server, record)
    async with connect(server.ws_url(), compression=None) as ws:
        opened = json.loads(str(await asyncio.wait_for(ws.recv(), WAIT))[1:])
        await ws.send("4ws ping?")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "4ws ping?"
    assert await server.wait_closed(server.session(opened["sid"])) == "transport close"


async def end_session(server: EngineHarness, record: SessionRecord) -> None:
    """Close a polling session that has no pending poll, as the application would."""
    record.sock.close()
    # JS buffers the close until the next poll (then answers noop, close).
    assert (await server.poll(record.sid)).text.split("\x1e")[-1] == "1"
    assert await server.wait_closed(record) == "forced close"


async def finish(server: EngineHarness) -> None:
    """The server still serves, and every session (abandoned ones included) ends."""
    await assert_healthy(server)
    await server.wait_no_clients()


@contextlib.asynccontextmanager
async def ws_session(server: EngineHarness) -> AsyncIterator[tuple[RawWebSocket, SessionRecord]]:
    """A new raw WebSocket session (open packet read); the connection is dropped on exit."""
    ws, response = await RawWebSocket.connect(server.port, server.target("websocket"))
    async with ws:
        assert response.status == 101, (response.status, response.body)
        opcode, payload = await ws.recv_frame()
        assert opcode == 0x1
        assert payload.startswith(b"0{")
        yield ws, await server.wait_session(json.loads(payload[1:])["sid"])


@contextlib.asynccontextmanager
async def probe(server: EngineHarness, sid: str) -> AsyncIterator[RawWebSocket]:
    """A raw WebSocket opened to upgrade polling session ``sid``."""
    ws, response = await RawWebSocket.connect(server.port, server.target("websocket", sid))
    async with ws:
        assert response.status == 101, (response.status, response.body)
        yield ws


# ---------------------------------------------------------------------------------------
# Polling bodies


MALFORMED_BODIES = [
    b"",
    b"4hello\x1e",  # trailing separator: an empty packet
    b"\x1e4hello",
    b"9unknown type",
    b"xyz",
    b"bAAA!",  # invalid base64
    b"b!!!!",
    b"4fine\x1e7bad",  # a bad packet after a good one
    b"4\xff\xfe",  # not UTF-8
]


async def test_malformed_post_bodies(engine_server: EngineHarness) -> None:
    # One server for all the bodies (each with its own session) keeps the suite fast.
    for body in MALFORMED_BODIES:
        sid, _, _ = await engine_server.handshake()
        record = engine_server.session(sid)
        response = await engine_server.post(sid, body)
        # JS answers "ok" and then closes with "parse error" (and decodes "bAAA!"
        # leniently); socketwire refuses the body with a bare 400. Either way it ends.
        assert (response.status, response.body) in ((200, b"ok"), (400, b"")), body
        assert await engine_server.wait_closed(record) == "parse error", body
        assert record.messages in ([], ["fine"]), body
        assert (await engine_server.poll(sid)).status == 400, body
    await finish(engine_server)


@pytest.mark.parametrize(("body", "reason"), [(b"2", "transport error"), (b"1", "transport close")])
async def test_control_packets_from_client_over_polling(
    engine_server: EngineHarness, body: bytes, reason: str
) -> None:
    # JS: a client ping is "invalid heartbeat direction" (v4); a close packet closes.
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    assert (await engine_server.post(sid, body)).status == 200
    assert await engine_server.wait_closed(record) == reason
    await finish(engine_server)


async def test_ignored_packets_from_client_over_polling(engine_server: EngineHarness) -> None:
    # JS Socket.onPacket has no case for open, upgrade and noop on the main transport.
    for body in (b"0", b"5", b"6", b"0\x1e5\x1e6"):
        sid, _, _ = await engine_server.handshake()
        record = engine_server.session(sid)
        assert (await engine_server.post(sid, body)).body == b"ok", body
        assert (await engine_server.post(sid, b"4after")).body == b"ok", body
        assert (await engine_server.poll(sid)).body == b"4after", body
        assert record.close_reason is None, body
        await end_session(engine_server, record)
    await finish(engine_server)


async def test_wrong_methods(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    engine_server.echo = False
    for method in ("PUT", "DELETE", "PATCH"):
        # Handshake: JS BAD_HANDSHAKE_METHOD.
        response = await engine_server.request(method, engine_server.target(), body=b"4x")
        assert response.status == 400, method
        assert response.json() == {"code": 2, "message": "Bad handshake method"}, method
        # Existing session: JS Polling.onRequest answers 500 and leaves the session alone.
        response = await engine_server.request(method, engine_server.target(sid=sid), body=b"4x")
        assert response.status == 500, method
    assert record.messages == []
    assert (await engine_server.post(sid, "4still")).body == b"ok"
    assert record.messages == ["still"]
    assert record.close_reason is None
    await end_session(engine_server, record)
    await finish(engine_server)


async def test_binary_content_type_refused(engine_server: EngineHarness) -> None:
    # JS (v4): "invalid content" -> 400 and a transport error.
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    response = await engine_server.post(
        sid, b"4hello", {"Content-Type": "application/octet-stream"}
    )
    assert (response.status, response.body) == (400, b"")
    assert record.messages == []
    assert await engine_server.wait_closed(record) == "transport error"
    await finish(engine_server)


async def test_other_content_types_read_as_text(engine_server: EngineHarness) -> None:
    # JS only looks for application/octet-stream; anything else is a text payload.
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    engine_server.echo = False
    for content_type in ("application/json", "text/html", "application/x-www-form-urlencoded"):
        response = await engine_server.request(
            "POST", engine_server.target(sid=sid), {"Content-Type": content_type}, b"4hello"
        )
        assert (response.status, response.body) == (200, b"ok"), content_type
    # And no Content-Type at all.
    response = await engine_server.request("POST", engine_server.target(sid=sid), {}, b"4hello")
    assert (response.status, response.body) == (200, b"ok")
    assert await engine_server.wait_message(record, 4) == ["hello"] * 4
    await end_session(engine_server, record)
    await finish(engine_server)


async def test_body_over_limit(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    engine_server.echo = False
    response = await engine_server.post(sid, "4" + "x" * LIMIT)
    assert response.status == 413
    assert record.messages == []
    # At the limit exactly: accepted.
    assert (await engine_server.post(sid, "4" + "x" * (LIMIT - 1))).body == b"ok"
    assert await engine_server.wait_message(record) == ["x" * (LIMIT - 1)]
    await end_session(engine_server, record)
    await finish(engine_server)


async def test_declared_length_over_limit_refused_before_body(
    engine_server: EngineHarness,
) -> None:
    sid, _, _ = await engine_server.handshake()
    async with raw_connection(engine_server.port) as (reader, writer):
        head = build_request(
            "POST",
            engine_server.target(sid=sid),
            engine_server.port,
            {"Content-Type": "text/plain;charset=UTF-8"},
            content_length=10 * LIMIT,
        )
        writer.write(head)  # and no body at all: the answer must not wait for it
        response = await asyncio.wait_for(read_response(reader), WAIT)
        assert response.status == 413
    await end_session(engine_server, engine_server.session(sid))
    await finish(engine_server)


async def test_chunked_body_over_limit(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    async with raw_connection(engine_server.port) as (reader, writer):
        head = (
            f"POST {engine_server.target(sid=sid)} HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        )
        chunk = b"4" + b"x" * 600
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2)) + b"0\r\n\r\n"
        writer.write(head.encode() + body)
        response = await asyncio.wait_for(read_response(reader), WAIT)
        assert response.status == 413
    await end_session(engine_server, engine_server.session(sid))
    await finish(engine_server)


async def test_post_body_never_finishes(engine_factory: EngineFactory) -> None:
    # Both plumbings take body_timeout; JS leaves this to Node's http requestTimeout.
    server = await engine_factory({"body_timeout": 0.3}, max_http_buffer_size=LIMIT)
    sid, _, _ = await server.handshake()
    record = server.session(sid)
    async with raw_connection(server.port) as (reader, writer):
        head = build_request(
            "POST",
            server.target(sid=sid),
            server.port,
            {"Content-Type": "text/plain;charset=UTF-8"},
            content_length=100,
        )
        writer.write(head + b"4" + b"x" * 9)  # 10 of the 100 bytes promised
        response = await asyncio.wait_for(read_response(reader), WAIT)
        assert response.status == 400
        # Then the connection is closed: its framing cannot be trusted any more.
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
    # JS: "data request connection closed prematurely" is a transport error.
    assert await server.wait_closed(record) == "transport error"
    assert record.messages == []
    await finish(server)


async def test_abandoned_poll_closes_session(engine_server: EngineHarness) -> None:
    # JS: "poll connection closed prematurely" -> transport error.
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    async with raw_connection(engine_server.port) as (_, writer):
        writer.write(build_request("GET", engine_server.target(sid=sid), engine_server.port))
        await engine_server.wait_poll_pending(record)
    assert await engine_server.wait_closed(record) == "transport error"
    await finish(engine_server)


@pytest.mark.engine_options(ping_interval=0.5, ping_timeout=0.5)
async def test_handshake_flood(engine_server: EngineHarness) -> None:
    count = 300
    limit = asyncio.Semaphore(25)

    async def one() -> str:
        async with limit:
            sid, _, _ = await engine_server.handshake()
            return sid

    sids = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), 60)
    assert len(set(sids)) == count
    assert len(engine_server.sessions) == count
    # Nobody polls: every session ends by ping timeout.
    await engine_server.wait_no_clients()
    assert {r.close_reason for r in engine_server.sessions} == {"ping timeout"}
    await finish(engine_server)


async def test_garbage_instead_of_http(engine_server: EngineHarness) -> None:
    async with raw_connection(engine_server.port) as (reader, writer):
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), WAIT)
        # Either a 400 before closing, or just the close.
        assert data == b"" or data.startswith(b"HTTP/1.1 400"), data[:100]
    await finish(engine_server)


# ---------------------------------------------------------------------------------------
# WebSocket


async def test_random_bytes_on_websocket(engine_server: EngineHarness) -> None:
    async with ws_session(engine_server) as (ws, record):
        # 0xff: FIN, all three RSV bits and reserved opcode 0xF: never a valid frame.
        ws.send_raw(b"\xff" * 64)
        code = await ws.recv_until_close()
        assert code in (1002, -1), code
        await ws.wait_eof()
    # JS: ws emits an error for the bad frame -> "transport error".
    assert await engine_server.wait_closed(record) == "transport error"
    await finish(engine_server)


async def test_unmasked_client_frame(engine_server: EngineHarness) -> None:
    async with ws_session(engine_server) as (ws, record):
        ws.send_raw(b"\x81\x024x")  # a text frame without the mandatory client mask
        assert await ws.recv_until_close() in (1002, -1)
        await ws.wait_eof()
    assert record.messages == []
    assert await engine_server.wait_closed(record) == "transport error"
    await finish(engine_server)


async def test_non_utf8_text_frame(engine_server: EngineHarness) -> None:
    async with ws_session(engine_server) as (ws, record):
        ws.send_frame(0x1, b"4\xff\xfe")
        assert await ws.recv_until_close() == 1007
        await ws.wait_eof()
    assert record.messages == []
    # JS: ws emits "Invalid UTF-8 sequence" as an error -> "transport error".
    assert await engine_server.wait_closed(record) == "transport error"
    await finish(engine_server)


async def test_malformed_packets_on_websocket(engine_server: EngineHarness) -> None:
    for payload in ("", "9x", "bAAA!"):
        async with ws_session(engine_server) as (ws, record):
            ws.send_frame(0x1, payload.encode())
            # The session ends and the server closes the connection.
            await ws.recv_until_close()
            await ws.wait_eof()
        assert await engine_server.wait_closed(record) == "parse error", payload
    await finish(engine_server)


async def test_multibyte_text_over_limit_on_websocket(engine_server: EngineHarness) -> None:
    # The limit counts bytes (ws maxPayload), not characters: 1 + 2 * 600 bytes > 1000.
    async with ws_session(engine_server) as (ws, record):
        ws.send_frame(0x1, ("4" + "é" * 600).encode())
        assert await ws.recv_until_close() == 1009
        await ws.wait_eof()
    assert record.messages == []
    assert await engine_server.wait_closed(record) in ("transport error", "transport close")
    await finish(engine_server)


async def test_binary_probe(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    async with probe(engine_server, sid) as ws:
        # JS _maybeUpgrade: anything but a text "2probe" or "5" closes the probe transport.
        ws.send_frame(0x2, b"2probe")
        await ws.recv_until_close()  # a close frame or EOF, within WAIT
        await ws.wait_eof()
    assert record.close_reason is None
    assert record.sock.transport == "polling"
    record.sock.send("polling still")
    assert (await engine_server.poll(sid)).body == b"4polling still"
    await end_session(engine_server, record)
    await finish(engine_server)


async def test_wrong_packet_during_upgrade(engine_server: EngineHarness) -> None:
    # JS _maybeUpgrade: anything but "2probe" then "5" closes the probe transport.
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    for first in ("4hello", "2nope", "3probe", "1", "9x"):
        async with connect(engine_server.ws_url(sid), compression=None) as ws:
            await ws.send(first)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), WAIT)
        assert record.close_reason is None, first
        assert record.sock.transport == "polling", first
    assert record.messages == []
    record.sock.send("polling still")
    assert (await engine_server.poll(sid)).body == b"4polling still"
    await end_session(engine_server, record)
    await finish(engine_server)


async def test_wrong_packet_after_probe(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    async with connect(engine_server.ws_url(sid), compression=None) as ws:
        await ws.send("2probe")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "3probe"
        await ws.send("4not an upgrade")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
    assert record.close_reason is None
    assert record.sock.transport == "polling"
    assert record.messages == []
    await end_session(engine_server, record)
    await finish(engine_server)


async def test_garbage_on_probe_websocket(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    async with probe(engine_server, sid) as ws:
        ws.send_raw(b"\xff" * 64)
        await ws.recv_until_close()
        await ws.wait_eof()
    # The polling session does not depend on its failed probe.
    assert record.close_reason is None
    record.sock.send("polling still")
    assert (await engine_server.poll(sid)).body == b"4polling still"
    await end_session(engine_server, record)
    await finish(engine_server)
