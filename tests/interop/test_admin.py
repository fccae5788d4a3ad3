"""The admin UI's protocol (``@socket.io/admin-ui`` 0.5) on one socketwire server, spoken
by the official socket.io-client 4.8 as the UI speaks it (tests/interop/js/sio_client.js):
what the UI is sent, its operations, authentication, read-only and production modes."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from _sio_helpers import Connected, Running, client_args, open_socket, serve_fixture

from conftest import JS_DIR, NodeDriver, NodeFactory, wait_until
from socketwire import Server, Socket

pytestmark = pytest.mark.interop
assert serve_fixture  # the "serve" fixture, imported for pytest to find

ALL = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def bcryptjs_hash(password: str) -> str:
    """A hash made by bcryptjs, the library the JS package checks passwords with."""
    node_bin = shutil.which("node")
    if node_bin is None or not (JS_DIR / "node_modules" / "bcryptjs").is_dir():
        pytest.skip("node or tests/interop/js/node_modules is missing (run `make npm`)")
    script = "process.stdout.write(require('bcryptjs').hashSync(process.argv[1], 4))"
    done = subprocess.run(
        [node_bin, "-e", script, password], cwd=JS_DIR, capture_output=True, check=True
    )
    return done.stdout.decode()


async def ev(driver: NodeDriver, name: str, event: str) -> list[Any]:
    """The arguments of the next ``event`` socket ``name`` received."""
    return list((await driver.expect("ev", name=name, ev=event))["args"])


async def ev_starting(driver: NodeDriver, name: str, event: str, *prefix: Any) -> list[Any]:
    """The arguments of an ``event`` socket ``name`` received (consumed or not) whose
    arguments start with ``prefix`` (the rest, such as dates, vary)."""

    def found() -> list[Any] | None:
        for item in driver.seen("ev", name=name, ev=event):
            if item["args"][: len(prefix)] == list(prefix):
                return list(item["args"])
        return None

    await wait_until(lambda: found() is not None, f"{event} {prefix}")
    args = found()
    assert args is not None
    return args


async def app_server(serve: Any, **instrument: Any) -> tuple[Running, Connected]:
    """A server whose sockets join "room-a" and answer "ping", instrumented."""
    sio = Server()
    connected = Connected()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.join("room-a")
        await connected(socket)

        @socket.on("ping")
        async def ping(*args: Any) -> str:
            socket.emit("pong", *args)
            return "pong"

    instrument.setdefault("auth", False)
    instrument.setdefault("stats_interval", 0.2)
    admin = sio.instrument(**instrument)

    @admin.namespace.on("connection")
    async def marker(socket: Socket) -> None:
        # answered after every event the UI sent before it (events are handled in order)
        socket.on("marker", lambda: "done")

    return await serve(sio), connected


async def test_development_mode_shows_and_operates_everything(
    serve: Any, node: NodeFactory
) -> None:
    running, connected = await app_server(serve, server_id="py-1")
    app = await node("sio_client.js", client_args(running, "upgrade", None))
    a_id = (await open_socket(app, "a"))["id"]
    await app.expect("upgrade", transport="websocket")
    ui = await node("sio_client.js", client_args(running, "upgrade", None))
    await open_socket(ui, "ui", "/admin")

    (config,) = await ev(ui, "ui", "config")
    assert config == {"supportedFeatures": [*ALL, "AGGREGATED_EVENTS", "ALL_EVENTS"]}
    (everyone,) = await ev(ui, "ui", "all_sockets")
    by_id = {s["id"]: s for s in everyone}
    sock = by_id[a_id]
    assert sock["nsp"] == "/"
    assert sorted(sock["rooms"]) == sorted([a_id, "room-a"])
    assert sock["transport"] == "websocket"
    assert len(sock["clientId"]) == 12
    assert sock["data"] == {}  # "_admin" stays on the server
    assert sock["handshake"]["address"] == "127.0.0.1"
    assert sock["handshake"]["url"].startswith("/socket.io/?EIO=4")
    assert "auth" not in sock["handshake"]
    assert [s["nsp"] for s in everyone].count("/admin") == 1  # the UI itself, as in JS

    stats = (await ev(ui, "ui", "server_stats"))[0]
    assert stats["serverId"] == "py-1"
    assert stats["clientsCount"] == 2
    assert {"name": "/", "socketsCount": 1} in stats["namespaces"]
    assert {"name": "/admin", "socketsCount": 1} in stats["namespaces"]

    # a socket connects, talks and is talked to: the UI sees it all
    app = await node("sio_client.js", client_args(running, "websocket", None))
    b_id = (await open_socket(app, "b"))["id"]

    def connected_b() -> list[Any]:
        return [
            e for e in ui.seen("ev", name="ui", ev="socket_connected") if e["args"][0]["id"] == b_id
        ]

    await wait_until(lambda: bool(connected_b()), "socket_connected for b")
    (serialized, when) = connected_b()[0]["args"]
    assert serialized["rooms"] == sorted([b_id, "room-a"])
    assert _DATE.match(when)
    await ev_starting(ui, "ui", "room_joined", "/", "room-a", b_id)
    await app.command("emit", name="b", ev="ping", args=[1, "x"], ref=1)
    await app.expect("ack_response", name="b", ref=1, args=["pong"])
    received = await ev_starting(ui, "ui", "event_received", "/", b_id)
    assert received[2] == ["ping", 1, "x"]
    sent = await ev_starting(ui, "ui", "event_sent", "/", b_id)
    assert sent[2] == ["pong", 1, "x"]

    # the operations, each through the namespace (and so the adapter)
    await ui.command("emit", name="ui", ev="join", args=["/", "vip", b_id])
    await ev_starting(ui, "ui", "room_joined", "/", "vip", b_id)
    server_b = next(s for s in connected.sockets if s.id == b_id)
    assert "vip" in server_b.rooms
    await ui.command("emit", name="ui", ev="leave", args=["/", "vip", b_id])
    await ev_starting(ui, "ui", "room_left", "/", "vip", b_id)
    await ui.command("emit", name="ui", ev="emit", args=["/", b_id, "hello", {"n": 1}])
    assert await ev(app, "b", "hello") == [{"n": 1}]
    await ui.command("emit", name="ui", ev="_disconnect", args=["/", False, b_id])
    await app.expect("disconnect", name="b", reason="io server disconnect")
    await ev_starting(ui, "ui", "socket_disconnected", "/", b_id, "server namespace disconnect")
    assert connected.sockets[0].connected  # "a" was not targeted

    # the aggregated events: connections, packets and bytes, per second
    async def aggregated() -> set[str]:
        kinds: set[str] = set()
        while not {"rawConnection", "packetsIn", "packetsOut", "bytesIn"} <= kinds:
            (later,) = await ev(ui, "ui", "server_stats")
            kinds |= {event["type"] for event in later["aggregatedEvents"]}
        return kinds

    await asyncio.wait_for(aggregated(), 5)


async def test_operations_ignore_malformed_arguments(serve: Any, node: NodeFactory) -> None:
    running, connected = await app_server(serve)
    app = await node("sio_client.js", client_args(running, "websocket", None))
    await open_socket(app, "a")
    ui = await node("sio_client.js", client_args(running, "websocket", None))
    await open_socket(ui, "ui", "/admin")
    for args in (
        [],
        [42, "room"],
        ["no-slash", "room"],
        ["/", {"not": "a room"}],
        ["/", "room", ["not", "a filter"]],
    ):
        await ui.command("emit", name="ui", ev="join", args=args)
    await ui.command("emit", name="ui", ev="emit", args=["/", None, "connect"])  # reserved
    await ui.command("emit", name="ui", ev="marker", args=[], ref=1)
    await ui.expect("ack_response", name="ui", ref=1, args=["done"])
    assert connected.sockets[0].rooms == {connected.sockets[0].id, "room-a"}
    assert connected.sockets[0].connected


async def login(
    node: NodeFactory, running: Running, auth: dict[str, Any], expect: str = "connect"
) -> tuple[NodeDriver, dict[str, Any]]:
    """Connect to the admin namespace as the UI does (a connection of its own)."""
    ui = await node("sio_client.js", client_args(running, "websocket", None))
    return ui, await open_socket(ui, "ui", "/admin", auth=auth, expect=expect)


async def test_basic_authentication(serve: Any, node: NodeFactory) -> None:
    hashed = bcryptjs_hash("s3cret")
    long_hashed = bcryptjs_hash("x" * 72)
    running, _ = await app_server(
        serve, auth={"type": "basic", "username": "admin", "password": hashed}
    )
    for auth in (
        {},
        {"username": "admin", "password": "nope"},
        {"username": "root", "password": "s3cret"},
        {"username": "admin", "password": 1234},
        {"sessionId": "0123456789abcdef"},
    ):
        _, refused = await login(node, running, auth, expect="connect_error")
        assert refused["message"] == "invalid credentials", auth

    ui, _ = await login(node, running, {"username": "admin", "password": "s3cret"})
    (session,) = await ev(ui, "ui", "session")
    assert re.fullmatch(r"[0-9a-f]{16}", session)
    await ev(ui, "ui", "config")
    # the UI reconnects with the session id instead of the password
    await login(node, running, {"sessionId": session})

    # bcryptjs reads the first 72 bytes of a password; so do we (bcrypt 5 refuses more)
    running2, _ = await app_server(
        serve, auth={"type": "basic", "username": "admin", "password": long_hashed}
    )
    await login(node, running2, {"username": "admin", "password": "x" * 80})


def test_auth_option_checked_as_js_does() -> None:
    for auth in (
        {"type": "basic", "username": "admin", "password": "plain text"},
        {"type": "oauth", "username": "admin", "password": "$2b$04$" + "a" * 53},
        {"type": "basic", "password": "$2b$04$" + "a" * 53},
        "admin:secret",
    ):
        with pytest.raises(ValueError, match=r"bcrypt|auth|username"):
            Server().instrument(auth=auth)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        Server().instrument(auth=False, mode="staging")


async def test_auth_function(serve: Any, node: NodeFactory) -> None:
    async def check(auth: Any) -> bool:
        return auth.get("token") == "t0ken"

    running, _ = await app_server(serve, auth=check)
    _, refused = await login(node, running, {"token": "x"}, expect="connect_error")
    assert refused["message"] == "invalid credentials"
    await login(node, running, {"token": "t0ken"})


async def test_read_only_refuses_operations(serve: Any, node: NodeFactory) -> None:
    running, connected = await app_server(serve, read_only=True)
    app = await node("sio_client.js", client_args(running, "websocket", None))
    a_id = (await open_socket(app, "a"))["id"]
    ui = await node("sio_client.js", client_args(running, "websocket", None))
    await open_socket(ui, "ui", "/admin")
    (config,) = await ev(ui, "ui", "config")
    assert config == {"supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"]}
    await ui.command("emit", name="ui", ev="join", args=["/", "vip", a_id])
    await ui.command("emit", name="ui", ev="leave", args=["/", "room-a", a_id])
    await ui.command("emit", name="ui", ev="emit", args=["/", a_id, "hello"])
    await ui.command("emit", name="ui", ev="_disconnect", args=["/", True, a_id])
    await ui.command("emit", name="ui", ev="marker", args=[], ref=1)
    await ui.expect("ack_response", name="ui", ref=1, args=["done"])
    (socket,) = connected.sockets
    assert socket.connected
    assert socket.rooms == {a_id, "room-a"}
    await app.command("emit", name="a", ev="ping", args=[], ref=2)
    await app.expect("ack_response", name="a", ref=2, args=["pong"])
    assert not [e for e in app.events if e.get("ev") == "hello"]


async def test_production_mode_sends_no_socket_detail(serve: Any, node: NodeFactory) -> None:
    running, _ = await app_server(serve, mode="production")
    ui = await node("sio_client.js", client_args(running, "websocket", None))
    await open_socket(ui, "ui", "/admin")
    (config,) = await ev(ui, "ui", "config")
    assert config == {"supportedFeatures": [*ALL, "AGGREGATED_EVENTS"]}
    app = await node("sio_client.js", client_args(running, "upgrade", None))
    a_id = (await open_socket(app, "a", auth={"token": "private"}))["id"]
    await app.expect("upgrade", transport="websocket")
    await app.command("emit", name="a", ev="ping", args=["secret"], ref=1)
    await app.expect("ack_response", name="a", ref=1, args=["pong"])
    await app.command("disconnect", name="a")

    # once the statistics count the socket gone, everything it did would have been reported
    async def gone() -> None:
        while True:
            (stats,) = await ev(ui, "ui", "server_stats")
            if {"name": "/", "socketsCount": 0} in stats["namespaces"]:
                return

    await asyncio.wait_for(gone(), 5)
    await ui.expect("ev", name="ui", ev="server_stats")
    seen = [e for e in ui.events if e.get("name") == "ui" and e["event"] == "ev"]
    assert {e["ev"] for e in seen} == {"config", "server_stats"}
    text = json.dumps(seen)
    for secret in (a_id, "private", "secret", "room-a"):
        assert secret not in text
