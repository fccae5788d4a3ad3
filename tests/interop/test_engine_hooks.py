"""The Engine.IO server's hooks against the official socket.io-client 4.8.4 (Node): the engine
socket's events, the ``headers``/``initial_headers`` events and ``engine.use`` middlewares
(cookies and headers checked on the wire, and sent back by the JS client's cookie jar), and
``generate_id``; on the native server and under uvicorn."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from _sio_helpers import Connected, client_args, open_socket, serve_fixture
from starlette.middleware.sessions import SessionMiddleware

from conftest import RawWebSocket, http_request, wait_until
from socketwire import Server, Socket
from socketwire.engineio.packets import Packet, PacketType
from socketwire.io.engine import ConnectionErrorEvent, EngineSocket, ResponseHeaders
from socketwire.io.engine_middlewares import EngineRequest, MiddlewareResponse
from socketwire.io.http import HttpRequest
from socketwire.io.types import Message, Receive, Scope, Send

pytestmark = pytest.mark.interop
assert serve_fixture  # the "serve" fixture, imported for pytest to find

KINDS = ["native", "asgi"]
HANDSHAKE = "/socket.io/?EIO=4&transport=polling"
SOCKET_EVENTS = (
    "upgrading",
    "upgrade",
    "packet",
    "packet_create",
    "flush",
    "drain",
    "heartbeat",
    "close",
)


async def _handshake(port: int, **headers: str) -> tuple[str, Any]:
    """A raw polling handshake: the sid, and the response."""
    response = await http_request(port, "GET", HANDSHAKE, headers)
    assert response.status == 200, response.body
    payload = response.body.decode()
    sid = json.loads(payload[1:])["sid"]
    return sid, response


# -- the engine socket's events ------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["polling", "websocket", "upgrade"])
async def test_engine_socket_events(serve: Any, node: Any, kind: str, mode: str) -> None:
    sio = Server(ping_interval=0.2, ping_timeout=2)
    events: list[tuple[str, tuple[Any, ...]]] = []
    socks: list[EngineSocket] = []

    @sio.engine.on_connection
    def listen(sock: EngineSocket) -> None:
        socks.append(sock)
        for name in SOCKET_EVENTS:
            sock.on(name, lambda *args, name=name: events.append((name, args)))

    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio, kind)
    driver = await node("sio_client.js", client_args(running, mode, None))
    await open_socket(driver, "a")
    [socket] = await connected.wait()
    if mode == "upgrade":
        await driver.expect("upgrade", transport="websocket")
    await driver.command("emit", name="a", ev="chat", args=[1])
    socket.emit("news", "x")
    await driver.expect("ev", name="a", ev="news")
    socket.conn.write('2["raw","written"]')  # JS socket.write: an Engine.IO message
    await driver.expect("ev", name="a", ev="raw")

    def names() -> list[str]:
        return [name for name, _ in events]

    await wait_until(lambda: "heartbeat" in names(), "a heartbeat")
    await wait_until(
        lambda: ("packet", (Packet(PacketType.MESSAGE, '2["chat",1]'),)) in events,
        "the client's event as a packet",
    )
    await driver.command("engine_close")
    await wait_until(lambda: "close" in names(), "close")

    # every packet the server created was flushed, and every flush was followed by a drain
    created = [args[0] for name, args in events if name == "packet_create"]
    assert Packet(PacketType.MESSAGE, '2["news","x"]') in created
    assert Packet(PacketType.PING) in created
    flushed = [packet for name, args in events if name == "flush" for packet in args[0]]
    assert all(packet in flushed for packet in created)
    sequence = [name for name in names() if name in ("flush", "drain")]
    assert sequence == ["flush", "drain"] * (len(sequence) // 2)
    # a pong arrives as a packet, then the heartbeat
    pong = names().index("heartbeat")
    assert events[pong - 1] == ("packet", (Packet(PacketType.PONG),))
    # the CONNECT from the client arrived as a packet before its event
    received = [args[0] for name, args in events if name == "packet"]
    assert received.index(Packet(PacketType.MESSAGE, "0")) < received.index(
        Packet(PacketType.MESSAGE, '2["chat",1]')
    )
    if mode == "upgrade":
        assert ("upgrading", ("websocket",)) in events
        assert names().index("upgrading") < names().index("upgrade")
        assert ("upgrade", ("websocket",)) in events
    else:
        assert "upgrade" not in names()
    assert socks[0].upgraded is (mode == "upgrade")
    assert not socks[0].upgrading
    assert events[-1] == ("close", ("transport close",))
    # listeners can be removed
    socks[0].off("packet")
    assert socks[0].listeners("packet") == []
    assert len(socks[0].listeners("packetCreate")) == 1


async def test_engine_socket_rejects_unknown_events(serve: Any) -> None:
    sio = Server()
    errors: list[str] = []

    @sio.engine.on_connection
    def listen(sock: EngineSocket) -> None:
        try:
            sock.on("message", print)
        except ValueError as exc:
            errors.append(str(exc))

    running = await serve(sio)
    await _handshake(running.port)
    assert errors
    assert "unknown engine event 'message'" in errors[0]


@pytest.mark.parametrize("kind", KINDS)
async def test_server_flush_and_drain_events(serve: Any, node: Any, kind: str) -> None:
    sio = Server()
    flushes: list[tuple[str, list[Packet]]] = []
    drains: list[str] = []
    sio.engine.on("flush", lambda sock, packets: flushes.append((sock.sid, packets)))
    sio.engine.on("drain", lambda sock: drains.append(sock.sid))
    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio, kind)
    driver = await node("sio_client.js", client_args(running, "websocket", None))
    await open_socket(driver, "a")
    [socket] = await connected.wait()
    socket.emit("news", 1)
    await driver.expect("ev", name="a", ev="news")
    sid = socket.conn.sid
    assert (sid, [Packet(PacketType.MESSAGE, '2["news",1]')]) in flushes
    assert drains.count(sid) == len([f for f in flushes if f[0] == sid])


# -- headers and initial_headers -----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_headers_events_on_the_wire(serve: Any, kind: str) -> None:
    sio = Server(cookie={"name": "io"})
    seen: list[tuple[str, str | None]] = []

    @sio.engine.on("initial_headers")
    def initial(headers: ResponseHeaders, request: HttpRequest) -> None:
        seen.append(("initial", request.query.get("sid")))
        # the engine's own cookie is there already over polling, as in JS
        cookies = headers.get("Set-Cookie", [])
        headers["Set-Cookie"] = [*([cookies] if isinstance(cookies, str) else cookies), "a=b"]

    @sio.engine.on("headers")
    def every(headers: ResponseHeaders, request: HttpRequest) -> None:
        seen.append(("headers", request.query.get("sid")))
        headers["X-Served-By"] = "socketwire"
        headers.pop("cache-control", None)

    running = await serve(sio, kind)
    sid, response = await _handshake(running.port)
    cookies = [value for name, value in response.headers if name.lower() == "set-cookie"]
    assert cookies == [f"io={sid}; Path=/; HttpOnly; SameSite=Lax", "a=b"]
    assert response.header("x-served-by") == "socketwire"
    assert response.header("cache-control") is None
    assert response.header("content-type") == "text/plain; charset=UTF-8"
    assert seen == [("initial", None), ("headers", None)]

    # a POST and a poll get "headers", not "initial_headers"
    post = await http_request(
        running.port, "POST", f"{HANDSHAKE}&sid={sid}", {"Content-Type": "text/plain"}, "40"
    )
    assert post.status == 200
    assert post.body == b"ok"
    assert post.header("x-served-by") == "socketwire"
    assert post.header("set-cookie") is None
    poll = await http_request(running.port, "GET", f"{HANDSHAKE}&sid={sid}")
    assert poll.status == 200
    assert poll.body.startswith(b"40{")
    assert poll.header("x-served-by") == "socketwire"
    assert seen[2:] == [("headers", sid), ("headers", sid)]

    # a refusal is not an Engine.IO response of a session: no event (as JS)
    refused = await http_request(running.port, "GET", f"{HANDSHAKE}&sid=unknown")
    assert refused.status == 400
    assert refused.header("x-served-by") is None
    assert len(seen) == 4

    # WebSocket: the handshake's 101 gets both events, an upgrade's 101 "headers" only
    ws, accepted = await RawWebSocket.connect(running.port, "/socket.io/?EIO=4&transport=websocket")
    async with ws:
        assert accepted.status == 101
        assert accepted.header("x-served-by") == "socketwire"
        assert [value for name, value in accepted.headers if name.lower() == "set-cookie"] == [
            "a=b"
        ]
    assert seen[4:] == [("initial", None), ("headers", None)]
    probe, upgraded = await RawWebSocket.connect(
        running.port, f"/socket.io/?EIO=4&transport=websocket&sid={sid}"
    )
    async with probe:
        assert upgraded.status == 101
        assert upgraded.header("x-served-by") == "socketwire"
        assert upgraded.header("set-cookie") is None
    assert seen[6:] == [("headers", sid)]


@pytest.mark.parametrize("kind", KINDS)
async def test_js_client_sends_back_the_cookie_set_in_initial_headers(
    serve: Any, node: Any, kind: str
) -> None:
    sio = Server()
    cookies: list[tuple[str, str | None]] = []

    @sio.engine.on("initial_headers")
    def initial(headers: ResponseHeaders, request: HttpRequest) -> None:
        headers["Set-Cookie"] = ["team=blue; Path=/; HttpOnly"]

    def record(request: EngineRequest, response: MiddlewareResponse) -> None:
        kind = "ws" if request.upgrade else request.method
        if request.query.get("sid") is not None:
            cookies.append((kind, request.headers.get("cookie")))

    sio.engine.use(record)
    running = await serve(sio, kind)
    options = {"withCredentials": True}
    driver = await node("sio_client.js", client_args(running, "upgrade", None, options=options))
    await open_socket(driver, "a")
    await driver.expect("upgrade", transport="websocket")
    kinds = {kind for kind, _ in cookies}
    assert {"GET", "POST", "ws"} <= kinds, cookies
    assert all(cookie == "team=blue" for _, cookie in cookies), cookies


# -- engine.use ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_middlewares_headers_refusals_and_state(serve: Any, node: Any, kind: str) -> None:
    sio = Server()
    calls: list[str] = []
    errors: list[ConnectionErrorEvent] = []
    sio.engine.on("connection_error", errors.append)

    def helmet(request: EngineRequest, response: MiddlewareResponse) -> None:
        calls.append("helmet")
        response.set_header("X-Content-Type-Options", "nosniff")
        response.set_header("X-Frame-Options", "DENY")

    async def limit(request: EngineRequest, response: MiddlewareResponse) -> None:
        calls.append("limit")
        if request.query.get("blocked") == "1":
            response.end(429, b"slow down", [("Retry-After", "1")])

    def identify(request: EngineRequest, response: MiddlewareResponse) -> None:
        calls.append("identify")
        if request.query.get("broken") == "1":
            raise RuntimeError("the session store is down")
        if request.query.get("sid") is None:
            request.state["user"] = request.query.get("user", "anonymous")

    for middleware in (helmet, limit, identify):
        sio.engine.use(middleware)
    users: list[str] = []

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:
        request = socket.request
        assert isinstance(request, EngineRequest)
        users.append(request.state["user"])

    running = await serve(sio, kind)
    _sid, response = await _handshake(running.port)
    assert response.header("x-content-type-options") == "nosniff"
    assert response.header("x-frame-options") == "DENY"
    assert calls == ["helmet", "limit", "identify"]

    blocked = await http_request(running.port, "GET", f"{HANDSHAKE}&blocked=1")
    assert (blocked.status, blocked.body, blocked.header("retry-after")) == (429, b"slow down", "1")
    assert blocked.header("x-frame-options") == "DENY"  # set before the answer
    assert calls[3:] == ["helmet", "limit"]

    broken = await http_request(running.port, "GET", f"{HANDSHAKE}&broken=1")
    assert broken.status == 400
    assert json.loads(broken.body) == {"code": 3, "message": "Bad request"}
    assert broken.header("x-frame-options") == "DENY"  # as JS: set before the failure
    assert errors[-1].code == 3
    assert errors[-1].context == {"name": "MIDDLEWARE_FAILURE"}

    # every request goes through them: the WebSocket upgrade's 101 too
    ws, accepted = await RawWebSocket.connect(running.port, "/socket.io/?EIO=4&transport=websocket")
    async with ws:
        assert accepted.status == 101
        assert accepted.header("x-frame-options") == "DENY"
    refused_ws, refusal = await RawWebSocket.connect(
        running.port, "/socket.io/?EIO=4&transport=websocket&blocked=1"
    )
    async with refused_ws:
        assert refusal.status == 429

    # the JS client: refused by a middleware, then let in with its state on socket.request
    driver = await node(
        "sio_client.js", client_args(running, "upgrade", None, options={"query": {"broken": "1"}})
    )
    await open_socket(driver, "a", expect="connect_error")
    driver = await node(
        "sio_client.js", client_args(running, "upgrade", None, options={"query": {"user": "ada"}})
    )
    await open_socket(driver, "a")
    await driver.expect("upgrade", transport="websocket")
    assert users == ["ada"]


def security_headers(app: Any) -> Any:
    """A plain ASGI middleware (a factory of one argument): headers on every answer."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", []), (b"x-asgi", b"yes")]
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


@pytest.mark.parametrize("kind", KINDS)
async def test_asgi_middlewares_session_cookie_with_the_js_client(
    serve: Any, node: Any, kind: str
) -> None:
    """Starlette's SessionMiddleware, unchanged: its signed cookie goes out on the handshake,
    the JS client's cookie jar sends it back, and the session is read from it later."""
    sio = Server()
    sessions: list[dict[str, Any]] = []

    def login(request: EngineRequest, response: MiddlewareResponse) -> None:
        session = request.scope["session"]
        if request.query.get("sid") is None and not request.upgrade:
            session["user"] = request.query["user"]
        else:
            sessions.append(dict(session))

    sio.engine.use(security_headers)
    sio.engine.use(SessionMiddleware, secret_key="not so secret")
    sio.engine.use(login)
    users: list[str] = []

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:
        request = socket.request
        assert isinstance(request, EngineRequest)
        users.append(request.scope["session"]["user"])

    running = await serve(sio, kind)
    bad = await http_request(running.port, "GET", HANDSHAKE)
    assert bad.status == 400  # no user in the query: the login middleware failed

    options = {"withCredentials": True, "query": {"user": "grace"}}
    driver = await node("sio_client.js", client_args(running, "upgrade", None, options=options))
    await open_socket(driver, "a")
    await driver.expect("upgrade", transport="websocket")
    assert users == ["grace"]
    # later requests (polls, POSTs, the upgrade) came back with the session cookie
    assert sessions
    assert all(session == {"user": "grace"} for session in sessions)
    good = await http_request(running.port, "GET", f"{HANDSHAKE}&user=x")
    assert good.header("x-asgi") == "yes"
    assert "session=" in (good.header("set-cookie") or "")
    ws, accepted = await RawWebSocket.connect(
        running.port, "/socket.io/?EIO=4&transport=websocket&user=y"
    )
    async with ws:
        assert accepted.header("x-asgi") == "yes"


async def test_use_refuses_options_for_a_socketwire_middleware() -> None:
    sio = Server()

    def middleware(request: EngineRequest, response: MiddlewareResponse) -> None:
        pass

    with pytest.raises(TypeError, match="options are for ASGI middlewares"):
        sio.engine.use(middleware, secret="x")


# -- generate_id ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["polling", "websocket", "upgrade"])
async def test_generate_id_with_the_js_client(serve: Any, node: Any, kind: str, mode: str) -> None:
    sio = Server()
    counter = iter(range(1000))

    async def generate_id(request: HttpRequest) -> str:
        await asyncio.sleep(0)
        return f"{request.query.get('region', 'eu')}:{next(counter)}"

    sio.engine.generate_id = generate_id
    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio, kind)
    options = {"query": {"region": "us"}}
    driver = await node("sio_client.js", client_args(running, mode, None, options=options))
    await open_socket(driver, "a")
    [socket] = await connected.wait()
    assert socket.conn.sid == "us:0"
    if mode == "upgrade":
        await driver.expect("upgrade", transport="websocket")
    await driver.command("emit", name="a", ev="ping", args=[], ref=1)
    socket.emit("pong")
    await driver.expect("ev", name="a", ev="pong")


@pytest.mark.parametrize("kind", KINDS)
async def test_generate_id_failures_refuse_the_handshake(serve: Any, node: Any, kind: str) -> None:
    sio = Server()
    errors: list[ConnectionErrorEvent] = []
    sio.engine.on("connection_error", errors.append)
    ids = {"fails": None, "bad": "no spaces allowed", "dup": "same"}

    def generate_id(request: HttpRequest) -> str:
        value = ids[request.query["case"]]
        if value is None:
            raise LookupError("no id today")
        return value

    sio.engine.generate_id = generate_id
    running = await serve(sio, kind)
    for case in ("fails", "bad"):
        response = await http_request(running.port, "GET", f"{HANDSHAKE}&case={case}")
        assert response.status == 400
        assert json.loads(response.body) == {"code": 3, "message": "Bad request"}
        assert errors[-1].context["name"] == "ID_GENERATION_ERROR"
    assert isinstance(errors[0].context["error"], LookupError)
    first = await http_request(running.port, "GET", f"{HANDSHAKE}&case=dup")
    assert first.status == 200
    again = await http_request(running.port, "GET", f"{HANDSHAKE}&case=dup")
    assert again.status == 400  # the id is in use
    ws, refusal = await RawWebSocket.connect(
        running.port, "/socket.io/?EIO=4&transport=websocket&case=bad"
    )
    async with ws:
        assert refusal.status == 400
    driver = await node(
        "sio_client.js",
        client_args(running, "websocket", None, options={"query": {"case": "fails"}}),
    )
    await open_socket(driver, "a", expect="connect_error")
    assert sio.engine.clients_count == 1
