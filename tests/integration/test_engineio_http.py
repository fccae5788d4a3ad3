"""Engine.IO over raw HTTP and raw WebSocket, under both plumbings.

Expected bytes, statuses and headers are those of the JS ``engine.io`` 6.6 server
(node_modules/engine.io/build/server.js, transports/polling.js, and the ``cors`` package it
uses).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
import zlib
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import (
    WAIT,
    EngineFactory,
    EngineHarness,
    HttpResult,
    RawWebSocket,
    build_request,
    raw_connection,
    read_response,
)
from socketwire.engineio import CorsOptions
from socketwire.io.http import HttpRequest

pytestmark = pytest.mark.integration

ORIGIN = "http://app.test"


def error_body(code: int, message: str) -> bytes:
    """JS ``abortRequest``'s body: ``JSON.stringify({code, message})``."""
    return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()


def assert_error(response: HttpResult, status: int, code: int, message: str) -> None:
    """An Engine.IO HTTP error exactly as JS writes it."""
    assert response.status == status, (response.status, response.body)
    assert response.header("content-type") == "application/json"
    assert response.body == error_body(code, message)


async def upgrade(server: EngineHarness, sid: str) -> ClientConnection:
    """Upgrade polling session ``sid`` to WebSocket the way engine.io-client does."""
    ws = await connect(server.ws_url(sid), compression=None)
    await ws.send("2probe")
    assert await asyncio.wait_for(ws.recv(), WAIT) == "3probe"
    await ws.send("5")
    await server.wait_upgraded(server.session(sid))
    return ws


async def ws_recv(ws: ClientConnection) -> str | bytes:
    """One message from ``ws`` within WAIT."""
    return await asyncio.wait_for(ws.recv(), WAIT)


# ---------------------------------------------------------------------------------------
# Handshake and polling


async def test_handshake_body(engine_server: EngineHarness) -> None:
    sid, data, response = await engine_server.handshake()
    assert response.header("content-type") == "text/plain; charset=UTF-8"
    assert response.header("cache-control") == "no-store"
    # JS: JSON.stringify({sid, upgrades, pingInterval, pingTimeout, maxPayload}), in order.
    assert response.body == (
        b'0{"sid":"' + sid.encode() + b'","upgrades":["websocket"],'
        b'"pingInterval":5000,"pingTimeout":5000,"maxPayload":1000000}'
    )
    assert list(data) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", sid), sid
    assert engine_server.engine.clients_count == 1
    assert engine_server.engine.polling_clients_count == 1


@pytest.mark.engine_options(transports=("polling",))
async def test_handshake_without_websocket_offers_no_upgrade(engine_server: EngineHarness) -> None:
    _, data, _ = await engine_server.handshake()
    assert data["upgrades"] == []


async def test_websocket_handshake(engine_server: EngineHarness) -> None:
    async with connect(engine_server.ws_url(), compression=None) as ws:
        opened = await ws_recv(ws)
        assert isinstance(opened, str)
        assert opened.startswith("0{")
        data = json.loads(opened[1:])
        assert list(data) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
        assert data["upgrades"] == []
        record = await engine_server.wait_session(data["sid"])
        assert record.sock.transport == "websocket"
        await ws.send("4hi")
        assert await ws_recv(ws) == "4hi"
        await ws.send(b"\x01\x02")
        assert await ws_recv(ws) == b"\x01\x02"
    assert await engine_server.wait_closed(record) == "transport close"


async def test_post_answers_ok(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    engine_server.echo = False
    response = await engine_server.post(sid, "4hello\x1e4world\x1ebAQID")
    assert response.status == 200
    assert response.body == b"ok"
    assert response.header("content-type") == "text/html"
    record = engine_server.session(sid)
    assert await engine_server.wait_message(record, 3) == ["hello", "world", b"\x01\x02\x03"]


async def test_queued_packets_flushed_together(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    sock = engine_server.session(sid).sock
    sock.send("a")
    sock.send("é")
    sock.send(b"\x01\x02")
    response = await engine_server.poll(sid)
    assert response.status == 200
    assert response.header("content-type") == "text/plain; charset=UTF-8"
    assert response.body == "4a\x1e4é\x1ebAQI=".encode()


async def test_keep_alive_connection_reused(engine_server: EngineHarness) -> None:
    # Browsers send the handshake, POSTs and GETs over one persistent connection.
    keep = {"Connection": "keep-alive"}
    port = engine_server.port
    async with raw_connection(port) as (reader, writer):
        writer.write(build_request("GET", engine_server.target(), port, keep))
        response = await asyncio.wait_for(read_response(reader), WAIT)
        sid = json.loads(response.body[1:])["sid"]
        writer.write(build_request("POST", engine_server.target(sid=sid), port, keep, "4one"))
        assert (await asyncio.wait_for(read_response(reader), WAIT)).body == b"ok"
        writer.write(build_request("GET", engine_server.target(sid=sid), port, keep))
        assert (await asyncio.wait_for(read_response(reader), WAIT)).body == b"4one"
        # Two pipelined requests: answered in order.
        writer.write(
            build_request("POST", engine_server.target(sid=sid), port, keep, "4two")
            + build_request("GET", engine_server.target(sid=sid), port, keep)
        )
        assert (await asyncio.wait_for(read_response(reader), WAIT)).body == b"ok"
        assert (await asyncio.wait_for(read_response(reader), WAIT)).body == b"4two"
    assert engine_server.session(sid).messages == ["one", "two"]


@pytest.mark.engine_options(initial_packet="welcome")
async def test_initial_packet(engine_server: EngineHarness) -> None:
    # JS sends it right after the open packet: both leave in the handshake response.
    _, data, response = await engine_server.handshake()
    assert (
        response.body == b"0" + json.dumps(data, separators=(",", ":")).encode() + b"\x1e4welcome"
    )


async def test_poll_waits_for_data(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    poll = asyncio.create_task(engine_server.poll(sid))
    # The poll is held open until the server has something to say.
    await engine_server.wait_poll_pending(record)
    assert not poll.done()
    record.sock.send("late")
    response = await asyncio.wait_for(poll, WAIT)
    assert response.body == b"4late"


async def test_second_concurrent_get(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    first = asyncio.create_task(engine_server.poll(sid))
    await engine_server.wait_poll_pending(record)
    second = await engine_server.poll(sid)
    # JS: the overlapping GET gets a bare 400 and fails the transport, which answers the
    # pending GET with a close packet.
    assert (second.status, second.body) == (400, b"")
    response = await asyncio.wait_for(first, WAIT)
    assert (response.status, response.body) == (200, b"1")
    assert await engine_server.wait_closed(record) == "transport error"
    assert_error(await engine_server.poll(sid), 400, 1, "Session ID unknown")
    assert_error(await engine_server.post(sid, "4x"), 400, 1, "Session ID unknown")
    await engine_server.wait_no_clients()


async def test_client_close_packet_over_polling(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    poll = asyncio.create_task(engine_server.poll(sid))
    await engine_server.wait_poll_pending(record)
    response = await engine_server.post(sid, "1")
    assert (response.status, response.body) == (200, b"ok")
    assert await engine_server.wait_closed(record) == "transport close"
    # JS Polling.onClose answers the pending poll with a noop before closing.
    assert (await asyncio.wait_for(poll, WAIT)).body == b"6"
    await engine_server.wait_no_clients()


async def test_server_close_over_polling(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    record.sock.send("bye")
    record.sock.close()
    response = await engine_server.poll(sid)
    assert response.body == b"4bye\x1e1"
    assert await engine_server.wait_closed(record) == "forced close"
    await engine_server.wait_no_clients()


# ---------------------------------------------------------------------------------------
# Error codes (JS Server.errors / errorMessages; abortRequest and abortUpgrade)


@pytest.mark.parametrize(
    ("method", "query", "code", "message"),
    [
        ("GET", "EIO=4&transport=carrier-pigeon", 0, "Transport unknown"),
        ("GET", "EIO=4", 0, "Transport unknown"),
        ("GET", "EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"),
        ("POST", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("PUT", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("OPTIONS", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("GET", "EIO=4&transport=websocket", 3, "Bad request"),
        ("GET", "EIO=3&transport=polling", 5, "Unsupported protocol version"),
        ("GET", "transport=polling", 5, "Unsupported protocol version"),
    ],
)
async def test_error_codes(
    engine_server: EngineHarness, method: str, query: str, code: int, message: str
) -> None:
    body = "4x" if method in ("POST", "PUT") else b""
    response = await engine_server.request(method, f"{engine_server.path}?{query}", body=body)
    assert_error(response, 400, code, message)
    assert engine_server.engine.clients_count == 0


async def test_error_transport_mismatch(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    response = await engine_server.request("GET", engine_server.target("websocket", sid))
    assert_error(response, 400, 3, "Bad request")
    # A refused request does not end the session.
    engine_server.session(sid).sock.send("alive")
    assert (await engine_server.poll(sid)).body == b"4alive"


async def test_error_protocol_mismatch(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    response = await engine_server.request("GET", engine_server.target(sid=sid, eio="3"))
    assert_error(response, 400, 3, "Bad request")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("EIO=4&transport=polling&sid=nope", "Session ID unknown"),
        ("EIO=4&transport=carrier-pigeon", "Transport unknown"),
        ("EIO=3&transport=websocket", "Unsupported protocol version"),
    ],
)
async def test_websocket_upgrade_errors(
    engine_server: EngineHarness, query: str, message: str
) -> None:
    # JS abortUpgrade: "HTTP/1.1 400 Bad Request", Content-type text/html, the message.
    ws, response = await RawWebSocket.connect(engine_server.port, f"{engine_server.path}?{query}")
    async with ws:
        await ws.wait_eof()  # JS destroys the socket after the refusal
    assert response.status == 400, (response.status, response.body)
    assert response.body == message.encode()
    assert engine_server.engine.clients_count == 0


async def test_websocket_with_unknown_sid_refused(engine_server: EngineHarness) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(engine_server.ws_url("nope"))
    assert info.value.response.status_code == 400


# ---------------------------------------------------------------------------------------
# allow_request


async def _allow_if_header(request: HttpRequest) -> bool | tuple[bool, str]:
    value = request.headers.get("x-let-me-in")
    if value == "yes":
        return True
    if value == "explain":
        return False, "no entry today"
    return False


@pytest.mark.engine_options(allow_request=_allow_if_header)
async def test_allow_request(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake({"X-Let-Me-In": "yes"})
    assert_error(await engine_server.request("GET", engine_server.target()), 403, 4, "Forbidden")
    response = await engine_server.request(
        "GET", engine_server.target(), {"X-Let-Me-In": "explain"}
    )
    assert_error(response, 403, 4, "no entry today")
    # Only handshakes are checked: requests of an accepted session go through.
    engine_server.session(sid).sock.send("in")
    assert (await engine_server.poll(sid)).body == b"4in"
    assert engine_server.engine.clients_count == 1
    # A refused WebSocket handshake: JS abortUpgrade (400, the message as text).
    ws, response = await RawWebSocket.connect(engine_server.port, engine_server.target("websocket"))
    async with ws:
        await ws.wait_eof()
    assert (response.status, response.body) == (400, b"Forbidden")
    async with connect(
        engine_server.ws_url(), additional_headers={"X-Let-Me-In": "yes"}, compression=None
    ) as accepted:
        assert str(await ws_recv(accepted)).startswith("0{")


# ---------------------------------------------------------------------------------------
# Upgrade


async def test_upgrade_releases_pending_poll_and_refuses_polling_after(
    engine_server: EngineHarness,
) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    poll = asyncio.create_task(engine_server.poll(sid))
    await engine_server.wait_poll_pending(record)
    async with connect(engine_server.ws_url(sid), compression=None) as ws:
        await ws.send("2probe")
        assert await ws_recv(ws) == "3probe"
        # JS forces a polling cycle with a noop so the client can pause polling.
        assert (await asyncio.wait_for(poll, WAIT)).body == b"6"
        await ws.send("5")
        await engine_server.wait_upgraded(record)
        assert record.sock.transport == "websocket"
        assert engine_server.engine.polling_clients_count == 0
        # Polling requests for an upgraded session: TRANSPORT_MISMATCH.
        assert_error(await engine_server.poll(sid), 400, 3, "Bad request")
        assert_error(await engine_server.post(sid, "4x"), 400, 3, "Bad request")
        await ws.send("4over ws")
        assert await ws_recv(ws) == "4over ws"
        assert record.messages == ["over ws"]
    assert await engine_server.wait_closed(record) == "transport close"
    await engine_server.wait_no_clients()


async def test_messages_queued_during_upgrade_arrive_on_websocket(
    engine_server: EngineHarness,
) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    async with connect(engine_server.ws_url(sid), compression=None) as ws:
        await ws.send("2probe")
        assert await ws_recv(ws) == "3probe"
        record.sock.send("queued")
        await ws.send("5")
        await engine_server.wait_upgraded(record)
        assert await ws_recv(ws) == "4queued"


async def test_second_websocket_for_upgraded_session(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    live = await upgrade(engine_server, sid)
    try:
        # JS onWebSocket: "transport had already been upgraded" -> accepted, then closed.
        intruder = await connect(engine_server.ws_url(sid), compression=None)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(intruder.recv(), WAIT)
        await live.send("4still here")
        assert await ws_recv(live) == "4still here"
        assert record.close_reason is None
        assert engine_server.engine.clients_count == 1
    finally:
        await live.close()
    assert await engine_server.wait_closed(record) == "transport close"


async def test_websocket_upgrade_with_polling_transport_closed_at_once(
    engine_server: EngineHarness,
) -> None:
    # JS onWebSocket: "transport doesn't handle upgraded requests" -> websocket.close().
    sid, _, _ = await engine_server.handshake()
    ws = await connect(
        f"ws://127.0.0.1:{engine_server.port}{engine_server.target('polling', sid)}",
        compression=None,
    )
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), WAIT)
    # The polling session is untouched.
    engine_server.session(sid).sock.send("fine")
    assert (await engine_server.poll(sid)).body == b"4fine"


@pytest.mark.engine_options(upgrade_timeout=0.3)
async def test_upgrade_timeout(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    async with connect(engine_server.ws_url(sid), compression=None) as ws:
        await ws.send("2probe")
        assert await ws_recv(ws) == "3probe"
        started = time.monotonic()
        # No "5": after upgrade_timeout the probe transport is closed, the session stays.
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
        assert time.monotonic() - started >= 0.25
    assert record.close_reason is None
    assert record.sock.transport == "polling"
    record.sock.send("still polling")
    # The noop forced during the probe may come first.
    bodies = [(await engine_server.poll(sid)).body]
    if bodies[0] == b"6":
        bodies.append((await engine_server.poll(sid)).body)
    assert bodies[-1] == b"4still polling"


# ---------------------------------------------------------------------------------------
# CORS (the `cors` npm package, as JS engine.io applies it to every request)


async def test_cors_off_by_default(engine_server: EngineHarness) -> None:
    _, _, response = await engine_server.handshake({"Origin": ORIGIN})
    assert response.header("access-control-allow-origin") is None
    assert response.header("access-control-allow-credentials") is None
    preflight = await engine_server.request(
        "OPTIONS",
        engine_server.target(),
        {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert_error(preflight, 400, 2, "Bad handshake method")
    assert preflight.header("access-control-allow-origin") is None


@pytest.mark.engine_options(cors=CorsOptions(origin="*"))
async def test_cors_any_origin(engine_server: EngineHarness) -> None:
    sid, _, response = await engine_server.handshake({"Origin": ORIGIN})
    assert response.header("access-control-allow-origin") == "*"
    assert response.header("vary") is None
    post = await engine_server.post(sid, "4x", {"Origin": ORIGIN})
    assert post.header("access-control-allow-origin") == "*"
    # Errors carry the headers too (the middleware runs before verify).
    error = await engine_server.request("GET", engine_server.target(sid="nope"), {"Origin": ORIGIN})
    assert_error(error, 400, 1, "Session ID unknown")
    assert error.header("access-control-allow-origin") == "*"
    preflight = await engine_server.request(
        "OPTIONS",
        engine_server.target(),
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status == 204
    assert preflight.body == b""
    assert preflight.header("access-control-allow-origin") == "*"
    assert preflight.header("access-control-allow-methods") == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert preflight.header("access-control-allow-headers") == "content-type"
    assert preflight.header("vary") == "Access-Control-Request-Headers"
    assert preflight.header("access-control-allow-credentials") is None
    # A preflight is not a handshake.
    assert engine_server.engine.clients_count == 1


@pytest.mark.engine_options(
    cors=CorsOptions(origin=[ORIGIN, re.compile(r"^http://[a-z]+\.other\.test$")])
)
async def test_cors_origin_list(engine_server: EngineHarness) -> None:
    for origin in (ORIGIN, "http://sub.other.test"):
        _, _, response = await engine_server.handshake({"Origin": origin})
        assert response.header("access-control-allow-origin") == origin
        assert response.header("vary") == "Origin"
    # A foreign origin gets no Allow-Origin (the browser blocks it); the request is served.
    _, _, response = await engine_server.handshake({"Origin": "http://evil.test"})
    assert response.header("access-control-allow-origin") is None
    assert response.header("vary") == "Origin"


async def _origin_ends_with_test(origin: str | None) -> bool:
    return origin is not None and origin.endswith(".test")


@pytest.mark.parametrize(
    "callback", [lambda origin: origin == ORIGIN, _origin_ends_with_test], ids=["sync", "async"]
)
async def test_cors_origin_callback(engine_factory: EngineFactory, callback: Any) -> None:
    server = await engine_factory(cors=CorsOptions(origin=callback, credentials=True))
    _, _, response = await server.handshake({"Origin": ORIGIN})
    assert response.header("access-control-allow-origin") == ORIGIN
    assert response.header("access-control-allow-credentials") == "true"
    _, _, response = await server.handshake({"Origin": "http://evil.example"})
    assert response.header("access-control-allow-origin") is None


@pytest.mark.engine_options(
    cors=CorsOptions(
        origin=ORIGIN,
        credentials=True,
        methods=("GET", "POST"),
        allowed_headers=("x-custom", "content-type"),
        exposed_headers=("x-exposed",),
        max_age=600,
    )
)
async def test_cors_credentials_and_preflight_options(engine_server: EngineHarness) -> None:
    _, _, response = await engine_server.handshake({"Origin": ORIGIN})
    assert response.header("access-control-allow-origin") == ORIGIN
    assert response.header("access-control-allow-credentials") == "true"
    assert response.header("access-control-expose-headers") == "x-exposed"
    assert response.header("vary") == "Origin"
    preflight = await engine_server.request(
        "OPTIONS",
        engine_server.target(),
        {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.header("access-control-allow-origin") == ORIGIN
    assert preflight.header("access-control-allow-credentials") == "true"
    assert preflight.header("access-control-allow-methods") == "GET,POST"
    assert preflight.header("access-control-allow-headers") == "x-custom,content-type"
    assert preflight.header("access-control-max-age") == "600"


# ---------------------------------------------------------------------------------------
# Cookie


@pytest.mark.engine_options(cookie=True)
async def test_cookie_default(engine_server: EngineHarness) -> None:
    sid, _, response = await engine_server.handshake()
    assert response.header_all("set-cookie") == [f"io={sid}; Path=/; HttpOnly; SameSite=Lax"]
    engine_server.session(sid).sock.send("x")
    # Only the handshake sets it (JS: the "headers" listener checks for an initial request).
    assert (await engine_server.poll(sid)).header("set-cookie") is None


@pytest.mark.engine_options(
    cookie={"name": "eio", "path": "/chat", "httpOnly": False, "sameSite": "strict", "maxAge": 60}
)
async def test_cookie_options(engine_server: EngineHarness) -> None:
    sid, _, response = await engine_server.handshake()
    assert response.header_all("set-cookie") == [
        f"eio={sid}; Max-Age=60; Path=/chat; SameSite=Strict"
    ]


async def test_no_cookie_by_default(engine_server: EngineHarness) -> None:
    _, _, response = await engine_server.handshake()
    assert response.header("set-cookie") is None


# ---------------------------------------------------------------------------------------
# Compression


@pytest.mark.parametrize(
    ("accept", "encoding", "decode"),
    [
        ("gzip, deflate, br", "gzip", gzip.decompress),
        ("deflate", "deflate", zlib.decompress),
    ],
)
async def test_http_compression_over_threshold(
    engine_server: EngineHarness, accept: str, encoding: str, decode: Any
) -> None:
    sid, _, _ = await engine_server.handshake()
    sock = engine_server.session(sid).sock
    big = "y" * 2000
    sock.send(big)
    response = await engine_server.request(
        "GET", engine_server.target(sid=sid), {"Accept-Encoding": accept}
    )
    assert response.header("content-encoding") == encoding
    assert decode(response.body) == b"4" + big.encode()
    # Under the threshold (1024 bytes): sent as is.
    sock.send("small")
    response = await engine_server.request(
        "GET", engine_server.target(sid=sid), {"Accept-Encoding": accept}
    )
    assert response.header("content-encoding") is None
    assert response.body == b"4small"
    # The client does not accept any encoding.
    sock.send(big)
    response = await engine_server.poll(sid)
    assert response.header("content-encoding") is None
    assert response.body == b"4" + big.encode()


@pytest.mark.engine_options(http_compression=False)
async def test_http_compression_disabled(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    engine_server.session(sid).sock.send("y" * 2000)
    response = await engine_server.request(
        "GET", engine_server.target(sid=sid), {"Accept-Encoding": "gzip"}
    )
    assert response.header("content-encoding") is None
    assert len(response.body) == 2001


async def test_per_message_deflate_off_by_default(engine_server: EngineHarness) -> None:
    # Under ASGI uvicorn decides; the harness passes it per_message_deflate (see start_asgi),
    # as docs/integrations.md tells deployments to.
    async with connect(engine_server.ws_url(), compression="deflate") as ws:
        assert ws.response is not None
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert str(await ws_recv(ws)).startswith("0{")


@pytest.mark.engine_options(per_message_deflate=True)
async def test_per_message_deflate_enabled(engine_server: EngineHarness) -> None:
    async with connect(engine_server.ws_url(), compression="deflate") as ws:
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert extensions.startswith("permessage-deflate")
        assert str(await ws_recv(ws)).startswith("0{")
        await ws.send("4" + "z" * 5000)
        assert await ws_recv(ws) == "4" + "z" * 5000


# ---------------------------------------------------------------------------------------
# Heartbeat


@pytest.mark.engine_options(ping_interval=0.3, ping_timeout=0.2)
async def test_sub_second_heartbeat_over_websocket(engine_server: EngineHarness) -> None:
    async with connect(engine_server.ws_url(), compression=None) as ws:
        opened = json.loads(str(await ws_recv(ws))[1:])
        assert (opened["pingInterval"], opened["pingTimeout"]) == (300, 200)
        record = await engine_server.wait_session(opened["sid"])
        last = time.monotonic()
        for _ in range(4):
            assert await ws_recv(ws) == "2"
            now = time.monotonic()
            # A ping every ping_interval after the pong (0.25: timer granularity;
            # the upper bound is slack for a shared machine).
            assert 0.25 <= now - last < 1.0, now - last
            await ws.send("3")
            last = time.monotonic()
        assert record.close_reason is None
        # Now stop answering: closed ping_timeout after the next ping.
        assert await ws_recv(ws) == "2"
        pinged = time.monotonic()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
        assert 0.15 <= time.monotonic() - pinged < 1.0
    assert await engine_server.wait_closed(record) == "ping timeout"
    await engine_server.wait_no_clients()


@pytest.mark.engine_options(ping_interval=0.3, ping_timeout=0.2)
async def test_sub_second_heartbeat_over_polling(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = engine_server.session(sid)
    for _ in range(3):
        assert (await engine_server.poll(sid)).body == b"2"
        assert (await engine_server.post(sid, "3")).body == b"ok"
    assert record.close_reason is None
    assert (await engine_server.poll(sid)).body == b"2"
    assert await engine_server.wait_closed(record) == "ping timeout"
    assert_error(await engine_server.poll(sid), 400, 1, "Session ID unknown")
    await engine_server.wait_no_clients()


async def test_shutdown_closes_every_session(engine_factory: EngineFactory) -> None:
    server = await engine_factory()
    sid, _, _ = await server.handshake()
    async with connect(server.ws_url(), compression=None) as ws:
        opened = json.loads(str(await ws_recv(ws))[1:])
        ws_record = await server.wait_session(opened["sid"])
        await server.engine.shutdown()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
    assert await server.wait_closed(server.session(sid)) == "server shutting down"
    assert await server.wait_closed(ws_record) == "server shutting down"
    await server.wait_no_clients()
