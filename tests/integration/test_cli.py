"""``python -m socketwire serve`` as a subprocess: the demo, an app, errors, clean stops.

Servers listen on ``--port 0`` (a free port the OS picks) and the test reads the port from
the "listening on" line; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import JS_DIR, http_request
from integration._processes import START, Running, run_process, serve_process
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire.client import AsyncClient

pytestmark = pytest.mark.integration

DIST = JS_DIR / "node_modules" / "socket.io-client" / "dist"
SCRIPTS = Path(sys.executable).parent
# the bundle from the interop packages: these tests must not depend on `make assets`
ENV = {"SOCKETWIRE_CLIENT_DIST": str(DIST)}


def serve(*args: str, cwd: Path | None = None) -> contextlib.AbstractAsyncContextManager[Running]:
    """Start ``python -m socketwire serve --port 0 *args`` and wait until it listens."""
    return serve_process(*args, cwd=cwd, env=ENV)


async def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run ``python -m socketwire *args`` to completion (bounded)."""
    return await run_process(*args, cwd=cwd, env=ENV)


# -- the embedded demo --------------------------------------------------------------------


async def test_serve_without_an_app_runs_the_chat_demo_and_stops_on_ctrl_c() -> None:
    async with serve() as server:
        page = await http_request(server.port, "GET", "/")
        bundle = await http_request(server.port, "GET", "/socket.io/socket.io.min.js")
        assert page.status == 200
        assert "<title>socketwire chat</title>" in page.text
        assert bundle.status == 200
        assert bundle.body == (DIST / "socket.io.min.js").read_bytes()

        alice, bob = AsyncClient(reconnection=False), AsyncClient(reconnection=False)
        got: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        bob.on("message", got.put_nowait)
        await alice.connect(server.url, auth={"nickname": "alice"}, wait_timeout=5)
        await bob.connect(server.url, wait_timeout=5)
        try:
            hello = await alice.timeout(5).emit_with_ack("hello", {})
            assert hello["nickname"] == "alice"
            assert hello["online"] == 2
            for client in (alice, bob):
                joined = await client.timeout(5).emit_with_ack("join", "lobby")
                assert joined["ok"] is True
            sent = await alice.timeout(5).emit_with_ack("message", {"room": "lobby", "text": "hi"})
            assert sent["ok"] is True
            message = await asyncio.wait_for(got.get(), 5)
            assert message["nickname"] == "alice"
            assert message["text"] == "hi"
            echo = AsyncClient(reconnection=False)
            await echo.connect(server.url, namespaces=["/echo"], wait_timeout=5)
            reply = await echo.socket("/echo").timeout(5).emit_with_ack("anything", 1, "two")
            assert reply == (1, "two")
            await echo.disconnect()
        finally:
            await alice.disconnect()
            await bob.disconnect()
        status = await server.stop(signal.SIGINT)
    assert status == 0
    out = "".join(server.stdout)
    assert "serving the chat demo (json parser)" in out
    assert f"serving socket.io-client 4.8.4 from {DIST}" in out
    assert "shutting down" in out
    assert "stopped" in out
    assert "Traceback" not in "".join(server.stderr)


async def test_ctrl_c_with_clients_connected_disconnects_them_and_exits_0() -> None:
    async with serve() as server:
        client = AsyncClient(reconnection=False)
        gone = asyncio.Event()
        reasons: list[str] = []

        @client.on("disconnect")
        async def on_disconnect(reason: str, *_details: object) -> None:
            reasons.append(reason)
            gone.set()

        await client.connect(server.url, transports=["websocket"], wait_timeout=5)
        status = await server.stop(signal.SIGINT)
        await asyncio.wait_for(gone.wait(), 5)
        await client.disconnect()
    assert status == 0
    assert reasons
    assert "Traceback" not in "".join(server.stderr)


async def test_sigterm_stops_cleanly_too() -> None:
    async with serve() as server:
        status = await server.stop(signal.SIGTERM)
    assert status == 0
    assert "stopped" in "".join(server.stdout)


async def test_msgpack_parser_path_and_cors_origins() -> None:
    args = ["--parser", "msgpack", "--path", "/live/"]
    args += ["--cors-origin", "https://a.example", "--cors-origin", "https://b.example"]
    async with serve(*args) as server:
        page = await http_request(server.port, "GET", "/")
        handshake = await http_request(
            server.port,
            "GET",
            "/live/?EIO=4&transport=polling",
            {"Origin": "https://b.example"},
        )
        client = AsyncClient(parser="msgpack", path="/live", reconnection=False)
        await client.connect(server.url, wait_timeout=5)
        try:
            hello = await client.timeout(5).emit_with_ack("hello", {"nickname": "mp"})
        finally:
            await client.disconnect()
        assert await server.stop() == 0
    assert '<script src="/live/socket.io.msgpack.min.js"' in page.text
    assert handshake.status == 200
    assert handshake.header("access-control-allow-origin") == "https://b.example"
    assert hello["nickname"] == "mp"
    assert "msgpack parser" in "".join(server.stdout)


async def test_a_missing_client_dist_is_reported_at_start(tmp_path: Path) -> None:
    async with serve("--client-dist", str(tmp_path)) as server:
        bundle = await http_request(server.port, "GET", "/socket.io/socket.io.js")
        page = await http_request(server.port, "GET", "/")
        assert await server.stop() == 0
    err = "".join(server.stderr)
    assert "The Socket.IO browser client is not installed" in err
    assert str(tmp_path) in err
    assert err.count("not installed") == 1
    assert bundle.status == 404
    assert "make assets" in bundle.text
    assert page.status == 200


async def test_the_console_script_is_installed() -> None:
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPTS / "socketwire"),
        "serve",
        "--help",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(START):
        out, _ = await proc.communicate()
    assert proc.returncode == 0
    for option in ("--host", "--port", "--path", "--cors-origin", "--parser", "--log-level"):
        assert option in out.decode()


# -- an app given as module:attr ----------------------------------------------------------

APP_MODULE = """
import socketwire

sio = socketwire.Server(serve_client=False)


@sio.on("connection")
async def on_connection(socket):
    @socket.on("ping")
    async def ping(text):
        return "pong: " + text
"""


async def test_serve_an_app_given_as_module_attr(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(textwrap.dedent(APP_MODULE))
    async with serve("myapp:sio", cwd=tmp_path) as server:
        client = AsyncClient(reconnection=False)
        await client.connect(server.url, wait_timeout=5)
        try:
            reply = await client.timeout(5).emit_with_ack("ping", "x")
        finally:
            await client.disconnect()
        page = await http_request(server.port, "GET", "/")
        assert await server.stop() == 0
    assert reply == "pong: x"
    assert page.status == 404  # no demo page: only the app
    assert "serving myapp:sio" in "".join(server.stdout)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch:app", "could not import module 'nosuch': no module named 'nosuch'"),
        ("socketwire:nothing", "module 'socketwire' has no attribute 'nothing'"),
        ("socketwire", "the app must be given as 'module:attribute'"),
        ("socketwire:Server", "socketwire:Server is not a socketwire app"),
        ("socketwire.cli:main", "socketwire.cli:main is not a socketwire app"),
    ],
)
async def test_a_bad_app_path_is_a_clear_error(spec: str, message: str) -> None:
    status, out, err = await run("serve", spec)
    assert status == 2
    assert f"socketwire: {message}" in err
    assert "Traceback" not in err
    assert "listening" not in out


async def test_an_app_module_that_fails_to_import_shows_why(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import socketwire\nraise RuntimeError('boom')\n")
    (tmp_path / "needs.py").write_text("import not_installed_anywhere\nsio = None\n")
    status, _, err = await run("serve", "broken:sio", cwd=tmp_path)
    assert status == 2
    assert "importing module 'broken' failed" in err
    assert "RuntimeError: boom" in err
    # a missing dependency of the module is not reported as the module missing
    status, _, err = await run("serve", "needs:sio", cwd=tmp_path)
    assert status == 2
    assert "importing module 'needs' failed" in err
    assert "No module named 'not_installed_anywhere'" in err


async def test_demo_options_with_an_app_are_refused() -> None:
    status, _, err = await run("serve", "socketwire.demo:create_app", "--parser", "msgpack")
    assert status == 2
    assert "--parser applies to the embedded demo only" in err


async def test_a_bad_demo_path_is_a_clear_error() -> None:
    status, _, err = await run("serve", "--path", "socket.io")
    assert status == 2
    assert "socketwire: path must start with '/'" in err
    assert "Traceback" not in err


async def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = await run("serve", "--port", str(port))
    assert status == 1
    assert f"socketwire: cannot listen on 127.0.0.1:{port}: the address is already in use" in err
    assert "Traceback" not in err
    assert "listening" not in out


@pytest.mark.parametrize(
    "argv",
    [["serve", "--port", "http"], ["serve", "--port", "70000"], ["nosuch-command"], []],
)
async def test_usage_errors_exit_2(argv: Sequence[str]) -> None:
    status, _, err = await run(*argv)
    assert status == 2
    assert "usage: socketwire" in err


@pytest.mark.parametrize("flag", ["--redis", "--redis-streams"])
async def test_two_demo_nodes_in_a_redis_cluster(
    redis_server: RedisServer,  # noqa: F811  (the fixture)
    flag: str,
) -> None:
    # `serve --redis URL` runs a cluster node: a chat message said on one node reaches a
    # member of the room connected to the other.
    async with (
        serve(flag, redis_server.url) as one,
        serve(flag, redis_server.url) as two,
    ):
        alice, bob = AsyncClient(reconnection=False), AsyncClient(reconnection=False)
        got: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        bob.on("message", got.put_nowait)
        await alice.connect(one.url, auth={"nickname": "alice"}, wait_timeout=5)
        await bob.connect(two.url, auth={"nickname": "bob"}, wait_timeout=5)
        try:
            for client in (alice, bob):
                joined = await client.timeout(5).emit_with_ack("join", "lobby")
                assert isinstance(joined, dict)
                assert joined["ok"] is True
            said = await alice.timeout(5).emit_with_ack("message", {"room": "lobby", "text": "hi"})
            assert isinstance(said, dict)
            assert said["ok"] is True
            message = await asyncio.wait_for(got.get(), 5)
            assert message["text"] == "hi"
            assert message["nickname"] == "alice"
        finally:
            await alice.disconnect()
            await bob.disconnect()
        assert await one.stop() == 0
        assert await two.stop() == 0


async def test_redis_that_cannot_be_reached_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe closes
    code, _out, err = await run("serve", "--port", "0", "--redis", f"redis://127.0.0.1:{port}")
    assert code == 1
    assert "cannot start the server's adapters" in err
    assert "Traceback" not in err


async def test_log_level_debug_logs_the_connections_and_their_packets() -> None:
    async with serve("--log-level", "debug") as server:
        client = AsyncClient(reconnection=False)
        await client.connect(server.url, auth={"nickname": "dbg"}, wait_timeout=5)
        try:
            await client.timeout(5).emit_with_ack("hello", {})
        finally:
            await client.disconnect()
        assert await server.stop() == 0
    err = "".join(server.stderr)
    assert re.search(r"INFO socketwire\.engine: engine \S+ opened over polling from 127", err)
    assert re.search(r"INFO socketwire\.server: socket \S+ connected to / \(engine ", err)
    assert re.search(r"DEBUG socketwire\.server: engine \S+ < EVENT / 'hello' id=0 args=1 ", err)
    assert re.search(r"DEBUG socketwire\.server: engine \S+ > ACK / id=0 args=1 ", err)
    assert re.search(r"socket \S+ disconnected from /: client namespace disconnect", err)


async def test_log_level_info_logs_the_connections_but_no_packets() -> None:
    async with serve() as server:
        client = AsyncClient(reconnection=False)
        await client.connect(server.url, wait_timeout=5)
        await client.disconnect()
        assert await server.stop() == 0
    err = "".join(server.stderr)
    assert re.search(r"INFO socketwire\.server: socket \S+ connected to /", err)
    assert "DEBUG" not in err


# -- observability --------------------------------------------------------------------------


async def test_admin_and_metrics_flags() -> None:
    bcrypt = pytest.importorskip("bcrypt", reason="the admin extra")
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    async with serve("--metrics", "--admin", "--admin-user", f"ops:{hashed}") as server:
        ui = await http_request(server.port, "GET", "/admin/")
        scraped = await http_request(server.port, "GET", "/metrics")
        client = AsyncClient(reconnection=False)
        await client.connect(
            server.url,
            namespaces=["/admin"],
            auth={"username": "ops", "password": "pw"},
            wait_timeout=5,
        )
        await client.disconnect()
        assert await server.stop() == 0
    assert ui.status == 200
    assert "Socket.IO Admin UI" in ui.text
    assert scraped.status == 200
    assert "socketwire_engine_connections" in scraped.text


async def test_admin_flag_without_login_warns() -> None:
    async with serve("--admin") as server:
        assert (await http_request(server.port, "GET", "/admin/")).status == 200
        assert await server.stop() == 0
    assert "no authentication" in "".join(server.stderr)


async def test_admin_user_must_be_a_bcrypt_hash() -> None:
    code, _out, err = await run("serve", "--admin", "--admin-user", "ops:plain")
    assert code == 2
    assert "bcrypt hash" in err


# -- asyncapi and typescript --------------------------------------------------------------

TYPED_APP = """\
import dataclasses

import socketwire


@dataclasses.dataclass
class Point:
    x: int
    y: int


sio = socketwire.Server(asyncapi_info={"title": "Points"})


@sio.event
async def move(socket, point: Point) -> Point:
    \"\"\"Move to a point.\"\"\"
    return point


@sio.emits
def moved(point: Point) -> None:
    \"\"\"Someone moved.\"\"\"


app = socketwire.ASGIApp(sio)
"""


async def test_asyncapi_and_typescript_of_an_app(tmp_path: Path) -> None:
    (tmp_path / "points.py").write_text(TYPED_APP, encoding="utf-8")
    code, out, err = await run("asyncapi", "points:sio", "--api-version", "2.1", cwd=tmp_path)
    assert code == 0, err
    document = json.loads(out)
    assert document["info"] == {"title": "Points", "version": "2.1"}
    assert set(document["operations"]) == {"root_receive_move", "root_send_moved"}
    assert document["components"]["schemas"]["Point"]["required"] == ["x", "y"]
    # an ASGIApp serving the server will do, and -o writes a file
    code, out, err = await run("typescript", "points:app", "-o", "events.ts", cwd=tmp_path)
    assert code == 0, err
    assert out == ""
    events = (tmp_path / "events.ts").read_text(encoding="utf-8")
    assert "export interface Point {\n  x: number;\n  y: number;\n}" in events
    assert (
        'move: (point: Point, callback: (response: Point | SocketwireError<"move">) => void)'
        " => void;"
    ) in events
    assert "moved: (point: Point) => void;" in events


async def test_asyncapi_of_the_demo_without_an_app() -> None:
    code, out, err = await run("asyncapi")
    assert code == 0, err
    assert json.loads(out)["info"]["title"] == "socketwire chat demo"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import socketwire\nsio = object()\n", "is not a socketwire app"),
        (
            "import socketwire, pydantic\nclass Opaque: pass\nsio = socketwire.Server()\n"
            "@sio.emits\ndef odd(value: pydantic.InstanceOf[Opaque]) -> None: ...\n",
            "cannot describe the app's events: a payload type has no JSON Schema",
        ),
    ],
)
async def test_asyncapi_of_something_else_is_a_clear_error(
    tmp_path: Path, source: str, message: str
) -> None:
    (tmp_path / "bad.py").write_text(source, encoding="utf-8")
    code, _, err = await run("typescript", "bad:sio", cwd=tmp_path)
    assert code == 2
    assert message in err
