"""The logs of the server (talking to the official socket.io-client) and of the client
(talking to the official socket.io server).

INFO: Engine.IO sessions opened (transport, address), upgraded and closed (with the
reason); sockets connected and disconnected (with the reason). DEBUG: every Socket.IO
packet in (``<``) and out (``>``), with its type, namespace, event, ack id, counts, size and
arguments cut to 200 characters; broadcasts too. With DEBUG off the connection's decoder and
encoder are not wrapped at all, so the per-packet path is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from _sio_helpers import Connected, client_args, open_socket, serve_fixture
from _sio_node import sio_server

from conftest import WAIT, to_js, wait_until
from socketwire import AsyncClient, Server, Socket
from socketwire.socketio.tracing import MAX_SHOWN, TracingDecoder

pytestmark = pytest.mark.interop
assert serve_fixture  # the "serve" fixture, imported for pytest to find
assert sio_server  # the official Node server, a fixture

LOGGERS = ("socketwire.engine", "socketwire.server")


def _lines(caplog: pytest.LogCaptureFixture, name: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name and r.levelno == level]


@pytest.mark.parametrize("kind", ["native", "asgi"])
async def test_debug_logs_every_packet_and_info_logs_the_lifecycle(
    serve: Any,
    node: Any,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    sio = Server()
    connected = Connected()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        await connected(socket)

        @socket.on("chat")
        async def chat(*args: Any) -> str:
            return "ok"

    running = await serve(sio, kind)
    driver = await node("sio_client.js", client_args(running, "upgrade", None))
    await open_socket(driver, "a")
    [socket] = await connected.wait()
    await driver.expect("upgrade", transport="websocket")
    engine_id = socket.client.id
    assert isinstance(socket.client._decoder, TracingDecoder)

    long_text = "x" * 1000
    await driver.command("emit", name="a", ev="chat", args=to_js(["hi", b"\x01\x02"]), ref=1)
    await driver.expect("ack_response", name="a", ref=1)
    await driver.command("emit", name="a", ev="chat", args=[long_text], ref=2)
    await driver.expect("ack_response", name="a", ref=2)
    sio.emit("news", {"headline": "today"})
    await driver.expect("ev", name="a", ev="news")
    await driver.command("disconnect", name="a")
    await wait_until(lambda: socket.disconnected, "the socket disconnects")
    await driver.command("engine_close")
    await wait_until(
        lambda: any("closed" in m for m in _lines(caplog, "socketwire.engine", logging.INFO)),
        "the engine close is logged",
    )

    engine = _lines(caplog, "socketwire.engine", logging.INFO)
    assert re.fullmatch(rf"engine {engine_id} opened over polling from 127\.0\.0\.1:\d+", engine[0])
    assert f"engine {engine_id} upgraded to websocket" in engine
    assert f"engine {engine_id} closed: transport close" in engine

    server_info = _lines(caplog, "socketwire.server", logging.INFO)
    assert f"socket {socket.id} connected to / (engine {engine_id}, polling)" in server_info
    assert f"socket {socket.id} disconnected from /: client namespace disconnect" in server_info

    debug = _lines(caplog, "socketwire.server", logging.DEBUG)
    prefix = f"engine {engine_id}"
    assert f"{prefix} < CONNECT / 1 bytes" in debug
    assert any(line.startswith(f"{prefix} > CONNECT / ") and "'sid'" in line for line in debug)
    # the binary event: both attachments' sizes are counted
    assert any(
        line.startswith(f"{prefix} < EVENT / 'chat' id=0 args=2 binary=1 ") for line in debug
    ), debug
    assert f"{prefix} > ACK / id=0 args=1 8 bytes ['ok']" in debug
    [long_line] = [line for line in debug if line.startswith(f"{prefix} < EVENT / 'chat' id=1")]
    assert long_line.endswith("…")
    assert len(long_line) < len(long_text)
    # the arguments are cut to MAX_SHOWN characters, the last one the ellipsis
    assert len(long_line.split(" bytes ", 1)[1]) == MAX_SHOWN
    assert any(line.startswith(f"{prefix} > broadcast EVENT / 'news' args=1 ") for line in debug), (
        debug
    )
    assert f"{prefix} < DISCONNECT / 1 bytes" in debug


async def test_info_logs_no_packets_and_wraps_nothing(
    serve: Any,
    node: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.INFO, logger=name)
    sio = Server()
    connected = Connected()
    received: asyncio.Queue[Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        await connected(socket)
        socket.on("chat", received.put_nowait)

    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, "websocket", None))
    await open_socket(driver, "a")
    [socket] = await connected.wait()
    # DEBUG off when the connection opened: the parser's own decoder and encode, unwrapped
    assert type(socket.client._decoder) is type(sio.parser.decoder())
    assert socket.client._encode == sio.parser.encode
    await driver.command("emit", name="a", ev="chat", args=["hi"])
    assert await asyncio.wait_for(received.get(), 5) == "hi"
    assert not any(r.levelno < logging.INFO for r in caplog.records)
    assert any(m.startswith(f"socket {socket.id} connected") for m in caplog.messages)


async def test_the_client_logs_its_connections_and_packets_with_a_node_server(
    sio_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="socketwire.client")
    server = await sio_server()
    client = AsyncClient(reconnection=False)
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("hello", got.put_nowait)
    await client.connect(server.url, wait_timeout=WAIT)
    sid = client.id
    try:
        assert await client.timeout(WAIT).emit_with_ack("echo", "hi", b"\x01") == ("hi", b"\x01")
        await client.emit_with_ack("emit_back", "hello", "world")
        assert await asyncio.wait_for(got.get(), WAIT) == "world"
    finally:
        await client.disconnect()
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(
        re.fullmatch(rf"connected to {server.url} \(engine \S+ over polling\)", m) for m in info
    )
    assert f"socket {sid} connected to {server.url}/" in info
    name = f"client {server.url}"
    assert f"{name} > CONNECT / 1 bytes" in debug
    assert any(m.startswith(f"{name} < CONNECT / ") and "'sid'" in m for m in debug)
    assert any(m.startswith(f"{name} > EVENT / 'echo' id=0 args=2 binary=1 ") for m in debug)
    assert any(m.startswith(f"{name} < ACK / id=0 args=2 binary=1 ") for m in debug)
    assert any(m.startswith(f"{name} < EVENT / 'hello' args=1 ") for m in debug), debug
    assert f"{name} > DISCONNECT / 1 bytes" in debug
    assert f"socket of {server.url}/ disconnected: io client disconnect" in info
