"""EngineServer driven through in-memory fakes of io/http.py's request and WebSocket."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from socketwire.engineio import CorsOptions, EngineOptions
from socketwire.io.engine import EngineServer, EngineSocket
from socketwire.io.http import (
    BodyTooLargeError,
    ClientDisconnectedError,
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
    WebSocketHandler,
)

WAIT = 5.0


@dataclass
class FakeRequest:
    """An in-memory HttpRequest."""

    method: str = "GET"
    path: str = "/engine.io/"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_error: Exception | None = None
    remote_addr: tuple[str, int] | None = ("127.0.0.1", 5000)
    secure: bool = False
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when the engine starts waiting on this request as the pending poll.
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def raw_path(self) -> str:
        return self.path + "?" + "&".join(f"{k}={v}" for k, v in self.query.items())

    async def read_body(self, limit: int) -> bytes:
        if self.body_error is not None:
            raise self.body_error
        if len(self.body) > limit:
            raise BodyTooLargeError
        return self.body

    async def wait_disconnected(self) -> None:
        self.waiting.set()
        await self.gone.wait()


class FakeWebSocket:
    """An in-memory WebSocketTransport; close() reports on_close soon, as a plumbing does."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.closed = False
        self.buffered_amount = 0
        self.supports_frames = False
        self.handler: WebSocketHandler | None = None
        self.got = asyncio.Event()
        self.close_reported = asyncio.Event()

    def send_text(self, data: str) -> None:
        self.sent.append(data)
        self.got.set()

    def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)
        self.got.set()

    def send_frame(self, frame: bytes) -> None:
        raise AssertionError("not used")

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self._report_close)

    def _report_close(self) -> None:
        self.close_reported.set()
        if self.handler is not None:
            self.handler.on_close(1006)

    def receive(self, data: str | bytes) -> None:
        assert self.handler is not None
        self.handler.on_message(data)

    async def next_sent(self) -> str | bytes:
        while not self.sent:
            self.got.clear()
            await asyncio.wait_for(self.got.wait(), WAIT)
        return self.sent.pop(0)


def q(**kwargs: str) -> dict[str, str]:
    return {"EIO": "4", **kwargs}


async def get(engine: EngineServer, **kwargs: Any) -> HttpResponse:
    return await engine.handle_http(FakeRequest("GET", query=q(transport="polling", **kwargs)))


async def post(engine: EngineServer, sid: str, body: bytes, **kwargs: Any) -> HttpResponse:
    request = FakeRequest("POST", query=q(transport="polling", sid=sid), body=body, **kwargs)
    return await engine.handle_http(request)


def header(response: HttpResponse, name: str) -> str | None:
    values = [v for k, v in response.headers if k.lower() == name.lower()]
    assert len(values) <= 1, values
    return values[0] if values else None


def error(response: HttpResponse) -> tuple[int, str | None, Any]:
    return response.status, header(response, "content-type"), json.loads(response.body)


class Recorder:
    """Collects what an engine's sessions report."""

    def __init__(self, engine: EngineServer, echo: bool = True) -> None:
        self.sockets: list[EngineSocket] = []
        self.messages: list[str | bytes] = []
        self.reasons: list[str] = []
        self.upgrades = 0
        self.closed = asyncio.Event()
        self.echo = echo
        engine.on_connection(self.connect)

    def connect(self, sock: EngineSocket) -> None:
        self.sockets.append(sock)

        def on_message(data: str | bytes) -> None:
            self.messages.append(data)
            if self.echo:
                sock.send(data)

        def on_close(reason: str) -> None:
            self.reasons.append(reason)
            self.closed.set()

        def on_upgrade() -> None:
            self.upgrades += 1

        sock.on_message = on_message
        sock.on_close = on_close
        sock.on_upgrade = on_upgrade


async def handshake(engine: EngineServer, **kwargs: Any) -> tuple[str, HttpResponse]:
    response = await get(engine, **kwargs)
    assert response.status == 200, response.body
    body = response.body.decode()
    assert body.startswith("0")
    return json.loads(body[1:].split("\x1e")[0])["sid"], response


async def open_ws(
    engine: EngineServer, request: HttpRequest | None = None, **query: str
) -> tuple[FakeWebSocket, WebSocketAccept]:
    request = request or FakeRequest("GET", query=q(transport="websocket", **query))
    accept = await engine.handle_websocket(request)
    assert isinstance(accept, WebSocketAccept), accept
    ws = FakeWebSocket()
    ws.handler = accept.attach(ws)
    return ws, accept


# -- HTTP errors ------------------------------------------------------------------------

ERRORS: list[tuple[str, dict[str, str], dict[str, str], int, int, str]] = [
    ("GET", {"EIO": "4"}, {}, 400, 0, "Transport unknown"),
    ("GET", q(transport="xhr"), {}, 400, 0, "Transport unknown"),
    ("GET", q(transport="polling", sid="nope"), {}, 400, 1, "Session ID unknown"),
    ("POST", q(transport="polling"), {}, 400, 2, "Bad handshake method"),
    ("PUT", q(transport="polling"), {}, 400, 2, "Bad handshake method"),
    ("GET", q(transport="websocket"), {}, 400, 3, "Bad request"),
    ("GET", q(transport="polling"), {"origin": "http://a\nb"}, 400, 3, "Bad request"),
    ("GET", {"transport": "polling", "EIO": "3"}, {}, 400, 5, "Unsupported protocol version"),
    ("GET", {"transport": "polling"}, {}, 400, 5, "Unsupported protocol version"),
]


@pytest.mark.parametrize(("method", "query", "headers", "status", "code", "message"), ERRORS)
async def test_http_errors(
    method: str,
    query: dict[str, str],
    headers: dict[str, str],
    status: int,
    code: int,
    message: str,
) -> None:
    engine = EngineServer()
    response = await engine.handle_http(FakeRequest(method, query=query, headers=headers))
    assert error(response) == (status, "application/json", {"code": code, "message": message})
    assert engine.clients_count == 0


async def test_unknown_transport_when_not_configured() -> None:
    engine = EngineServer(transports=("websocket",))
    assert error(await get(engine))[2]["code"] == 0
    polling_only = EngineServer(transports=("polling",))
    response = await polling_only.handle_websocket(
        FakeRequest(query=q(transport="websocket"), headers={"upgrade": "websocket"})
    )
    assert isinstance(response, HttpResponse)
    assert (response.status, response.body) == (400, b"Transport unknown")


@pytest.mark.parametrize(
    ("result", "message"), [(False, "Forbidden"), ((False, "go away"), "go away")]
)
async def test_allow_request_refuses(result: Any, message: str) -> None:
    seen: list[HttpRequest] = []

    async def allow(request: HttpRequest) -> Any:
        seen.append(request)
        return result

    engine = EngineServer(allow_request=allow)
    response = await get(engine)
    assert error(response) == (403, "application/json", {"code": 4, "message": message})
    ws = await engine.handle_websocket(FakeRequest(query=q(transport="websocket")))
    assert isinstance(ws, HttpResponse)
    assert (ws.status, ws.body) == (400, message.encode())
    assert len(seen) == 2


async def test_allow_request_accepts() -> None:
    async def allow(request: HttpRequest) -> bool:
        return request.headers.get("x-token") == "t"

    engine = EngineServer(allow_request=allow)
    request = FakeRequest(query=q(transport="polling"), headers={"x-token": "t"})
    assert (await engine.handle_http(request)).status == 200


async def test_sid_errors_over_websocket_and_other_methods() -> None:
    engine = EngineServer()
    response = await engine.handle_websocket(FakeRequest(query=q(transport="websocket", sid="x")))
    assert isinstance(response, HttpResponse)
    assert (response.status, header(response, "content-type"), response.body) == (
        400,
        "text/html",
        b"Session ID unknown",
    )
    sid, _ = await handshake(engine)
    put = await engine.handle_http(FakeRequest("PUT", query=q(transport="polling", sid=sid)))
    assert put.status == 500
    mismatch = await engine.handle_http(FakeRequest(query={"transport": "polling", "sid": sid}))
    assert error(mismatch)[2]["code"] == 3


async def test_paths_and_fallback() -> None:
    engine = EngineServer(path="/socket.io")
    assert engine.owns("/socket.io/")
    assert not engine.owns("/socket.io")
    assert not engine.owns("/other/")
    assert (await engine.handle_http(FakeRequest(path="/x"))).status == 404

    async def fallback(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [], b"static " + request.path.encode())

    served = EngineServer(fallback=fallback)
    assert (await served.handle_http(FakeRequest(path="/index.html"))).body == b"static /index.html"


# -- polling ----------------------------------------------------------------------------


async def test_polling_session_round_trip() -> None:
    engine = EngineServer(EngineOptions(ping_interval=0.3, ping_timeout=0.2))
    rec = Recorder(engine)
    sid, response = await handshake(engine)
    assert header(response, "content-type") == "text/plain; charset=UTF-8"
    assert header(response, "cache-control") == "no-store"
    assert header(response, "set-cookie") is None
    assert json.loads(response.body[1:]) == {
        "sid": sid,
        "upgrades": ["websocket"],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 1_000_000,
    }
    sock = rec.sockets[0]
    assert (sock.sid, sock.transport, sock.protocol, sock.ready_state) == (
        sid,
        "polling",
        4,
        "open",
    )
    assert engine.clients_count == engine.polling_clients_count == 1
    answer = await post(engine, sid, b"4hello\x1ebAQID")
    assert (answer.status, answer.body, header(answer, "content-type")) == (
        200,
        b"ok",
        "text/html",
    )
    assert rec.messages == ["hello", b"\x01\x02\x03"]
    assert sock.buffered_amount > 0
    poll = await get(engine, sid=sid)
    assert poll.body == b"4hello\x1ebAQID"


async def test_pending_poll_is_answered_by_send() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    pending, _ = await start_poll(engine, sid)
    rec.sockets[0].send("late")
    assert (await asyncio.wait_for(pending, WAIT)).body == b"4late"


async def start_poll(
    engine: EngineServer, sid: str
) -> tuple[asyncio.Future[HttpResponse], FakeRequest]:
    """Send a GET that stays pending; return once the engine waits on it."""
    request = FakeRequest(query=q(transport="polling", sid=sid))
    pending = asyncio.ensure_future(engine.handle_http(request))
    await asyncio.wait_for(request.waiting.wait(), WAIT)
    return pending, request


async def test_413_keeps_the_session() -> None:
    engine = EngineServer(max_http_buffer_size=100)
    Recorder(engine)
    sid, _ = await handshake(engine)
    assert (await post(engine, sid, b"4" + b"x" * 100)).status == 413
    assert (await post(engine, sid, b"4ok")).status == 200
    assert engine.clients_count == 1


async def test_invalid_post_is_a_parse_error() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    response = await post(engine, sid, b"4a\x1ebAQ")
    assert response.status == 400
    assert rec.reasons == ["parse error"]
    assert rec.messages == []
    assert error(await get(engine, sid=sid))[2] == {"code": 1, "message": "Session ID unknown"}


async def test_binary_post_and_post_disconnect_are_transport_errors() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    binary = await post(engine, sid, b"\x01", headers={"content-type": "application/octet-stream"})
    assert binary.status == 400
    sid2, _ = await handshake(engine)
    await post(engine, sid2, b"", body_error=ClientDisconnectedError())
    assert rec.reasons == ["transport error", "transport error"]


async def test_overlapping_gets() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    first, _ = await start_poll(engine, sid)
    second = await get(engine, sid=sid)
    assert (second.status, second.body) == (400, b"")
    assert (await asyncio.wait_for(first, WAIT)).body == b"1"
    assert rec.reasons == ["transport error"]
    assert error(await get(engine, sid=sid))[2]["code"] == 1


async def test_overlapping_posts() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    release = asyncio.Event()
    reading = asyncio.Event()

    class SlowRequest(FakeRequest):
        async def read_body(self, limit: int) -> bytes:
            reading.set()
            await release.wait()
            return b"4late"

    slow = SlowRequest("POST", query=q(transport="polling", sid=sid))
    first = asyncio.ensure_future(engine.handle_http(slow))
    await asyncio.wait_for(reading.wait(), WAIT)
    assert (await post(engine, sid, b"4b")).status == 400
    assert rec.reasons == ["transport error"]
    release.set()
    assert (await asyncio.wait_for(first, WAIT)).status == 400
    assert rec.messages == []


async def test_client_leaving_a_pending_poll() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    pending, request = await start_poll(engine, sid)
    assert rec.sockets[0].writable
    request.gone.set()
    await asyncio.wait_for(pending, WAIT)
    assert rec.reasons == ["transport error"]
    assert engine.clients_count == 0


async def test_close_over_polling() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    rec.sockets[0].close()
    assert rec.sockets[0].ready_state == "closing"
    assert (await get(engine, sid=sid)).body == b"6\x1e1"
    assert rec.reasons == ["forced close"]


async def test_messages_sent_on_connection_wait_for_the_next_poll() -> None:
    engine = EngineServer(initial_packet="welcome")

    @engine.on_connection
    def hello(sock: EngineSocket) -> None:
        sock.send("hi")

    sid, response = await handshake(engine)
    assert response.body.endswith(b"\x1e4welcome")
    assert (await get(engine, sid=sid)).body == b"4hi"


# -- CORS, compression, cookie ----------------------------------------------------------


async def test_cors_preflight_and_headers() -> None:
    engine = EngineServer(cors=CorsOptions(origin=["http://a.example"], credentials=True))
    preflight = await engine.handle_http(
        FakeRequest(
            "OPTIONS",
            query=q(transport="polling"),
            headers={"origin": "http://a.example", "access-control-request-headers": "x-a"},
        )
    )
    assert preflight.status == 204
    assert header(preflight, "access-control-allow-origin") == "http://a.example"
    assert header(preflight, "access-control-allow-credentials") == "true"
    assert header(preflight, "access-control-allow-methods") == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert header(preflight, "access-control-allow-headers") == "x-a"
    assert engine.clients_count == 0
    origin = {"origin": "http://a.example"}
    ok = await engine.handle_http(FakeRequest(query=q(transport="polling"), headers=origin))
    assert header(ok, "access-control-allow-origin") == "http://a.example"
    bad = await engine.handle_http(FakeRequest(query={"EIO": "4"}, headers=origin))
    assert bad.status == 400
    assert header(bad, "access-control-allow-origin") == "http://a.example"
    other = await engine.handle_http(
        FakeRequest(query=q(transport="polling"), headers={"origin": "http://evil.example"})
    )
    assert header(other, "access-control-allow-origin") is None
    assert header(other, "vary") == "Origin"


async def test_cors_async_origin_callback_and_no_cors() -> None:
    async def check(origin: str | None) -> bool:
        return origin == "http://ok.example"

    engine = EngineServer(cors=CorsOptions(origin=check))
    ok = await engine.handle_http(
        FakeRequest(query=q(transport="polling"), headers={"origin": "http://ok.example"})
    )
    assert header(ok, "access-control-allow-origin") == "http://ok.example"
    no = await engine.handle_http(
        FakeRequest(query=q(transport="polling"), headers={"origin": "http://no.example"})
    )
    assert header(no, "access-control-allow-origin") is None
    plain = EngineServer()
    options = await plain.handle_http(FakeRequest("OPTIONS", query=q(transport="polling")))
    assert error(options)[2]["code"] == 2  # no CORS: OPTIONS is a bad handshake method


@pytest.mark.parametrize(
    ("kwargs", "accept", "size", "encoding"),
    [
        ({}, "gzip, deflate", 2000, "gzip"),
        ({}, "deflate", 2000, "deflate"),
        ({}, None, 2000, None),
        ({}, "gzip", 500, None),
        ({"http_compression": False}, "gzip", 2000, None),
        ({"compression_threshold": 10}, "gzip", 500, "gzip"),
    ],
)
async def test_compression(
    kwargs: dict[str, Any], accept: str | None, size: int, encoding: str | None
) -> None:
    engine = EngineServer(**kwargs)
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    rec.sockets[0].send("x" * size)
    headers = {"accept-encoding": accept} if accept else {}
    response = await engine.handle_http(
        FakeRequest(query=q(transport="polling", sid=sid), headers=headers)
    )
    assert header(response, "content-encoding") == encoding
    body = response.body
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        import zlib

        body = zlib.decompress(body)
    assert body == b"4" + b"x" * size


async def test_cookie_on_the_handshake_only() -> None:
    engine = EngineServer(cookie=True)
    sid, response = await handshake(engine)
    assert header(response, "set-cookie") == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
    engine_2 = EngineServer(cookie={"name": "c", "path": "/x", "httpOnly": False})
    Recorder(engine)
    sid_2, response_2 = await handshake(engine_2)
    assert header(response_2, "set-cookie") == f"c={sid_2}; Path=/x; SameSite=Lax"
    assert header(await post(engine, sid, b"4a"), "set-cookie") is None


# -- WebSocket and upgrade --------------------------------------------------------------


async def test_websocket_session() -> None:
    engine = EngineServer(per_message_deflate=True, max_http_buffer_size=1234)
    rec = Recorder(engine)
    ws, accept = await open_ws(engine)
    assert (accept.compression, accept.max_message_size) == (True, 1234)
    opening = await ws.next_sent()
    assert isinstance(opening, str)
    assert json.loads(opening[1:])["upgrades"] == []
    sock = rec.sockets[0]
    assert (sock.transport, engine.polling_clients_count, engine.clients_count) == (
        "websocket",
        0,
        1,
    )
    ws.receive("4echo")
    ws.receive(b"\x00\x01")
    assert [await ws.next_sent(), await ws.next_sent()] == ["4echo", b"\x00\x01"]
    ws.receive("1")  # ignored on WebSocket, as JS
    assert sock.ready_state == "open"
    ws.handler.on_close(1000)  # type: ignore[union-attr]
    assert rec.reasons == ["transport close"]
    assert engine.clients_count == 0


async def test_websocket_with_polling_transport_is_closed_at_once() -> None:
    engine = EngineServer()
    ws, _ = await open_ws(engine, FakeRequest(query=q(transport="polling")))
    assert ws.closed
    assert engine.clients_count == 0


async def test_upgrade() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    sock = rec.sockets[0]
    pending, _ = await start_poll(engine, sid)
    probe, _ = await open_ws(engine, sid=sid)
    # A second WebSocket while probing is accepted, then closed, and changes nothing.
    intruder, _ = await open_ws(engine, sid=sid)
    assert intruder.closed
    probe.receive("2probe")
    assert await probe.next_sent() == "3probe"
    assert (await asyncio.wait_for(pending, WAIT)).body == b"6"
    assert (await get(engine, sid=sid)).body == b"6"
    sock.send("buffered")
    probe.receive("5")
    assert rec.upgrades == 1
    assert sock.transport == "websocket"
    assert await probe.next_sent() == "4buffered"
    probe.receive("4over ws")
    assert await probe.next_sent() == "4over ws"
    assert error(await get(engine, sid=sid))[2] == {"code": 3, "message": "Bad request"}
    assert error(await post(engine, sid, b"4x"))[2]["code"] == 3
    late, _ = await open_ws(engine, sid=sid)
    assert late.closed
    for refused in (intruder, late):
        await asyncio.wait_for(refused.close_reported.wait(), WAIT)
    assert sock.ready_state == "open"
    assert rec.reasons == []
    assert engine.polling_clients_count == 0


async def test_upgrade_timeout() -> None:
    engine = EngineServer(upgrade_timeout=0.05)
    rec = Recorder(engine)
    sid, _ = await handshake(engine)
    probe, _ = await open_ws(engine, sid=sid)
    await asyncio.wait_for(probe.close_reported.wait(), WAIT)
    assert rec.sockets[0].transport == "polling"
    assert (await post(engine, sid, b"4still")).status == 200


async def test_heartbeat_timers() -> None:
    engine = EngineServer(ping_interval=0.05, ping_timeout=0.05)
    rec = Recorder(engine)
    ws, _ = await open_ws(engine)
    await ws.next_sent()  # open
    assert await ws.next_sent() == "2"
    ws.receive("3")
    assert await ws.next_sent() == "2"
    await asyncio.wait_for(rec.closed.wait(), WAIT)
    assert rec.reasons == ["ping timeout"]
    assert ws.closed


async def test_buffer_bound_on_websocket() -> None:
    engine = EngineServer(max_buffered_bytes=10)
    rec = Recorder(engine)
    ws, _ = await open_ws(engine)
    ws.buffered_amount = 11
    rec.sockets[0].send("x")
    assert rec.reasons == ["transport buffer full"]


async def test_shutdown() -> None:
    engine = EngineServer()
    rec = Recorder(engine)
    reasons: list[str] = []
    engine.on_close(lambda sock, reason: reasons.append(reason))
    sid, _ = await handshake(engine)
    pending, _ = await start_poll(engine, sid)
    ws, _ = await open_ws(engine)
    await engine.shutdown()
    assert (await asyncio.wait_for(pending, WAIT)).body == b"1"
    assert ws.closed
    assert reasons == rec.reasons == ["server shutting down", "server shutting down"]
    assert engine.clients_count == 0


async def test_callback_errors_do_not_break_the_session(caplog: pytest.LogCaptureFixture) -> None:
    engine = EngineServer()

    @engine.on_connection
    def broken(sock: EngineSocket) -> None:
        def boom(data: str | bytes) -> None:
            raise RuntimeError("app bug")

        sock.on_message = boom

    ws, _ = await open_ws(engine)
    ws.receive("4a")
    ws.receive("4b")
    assert engine.clients_count == 1
    assert "app bug" in caplog.text
