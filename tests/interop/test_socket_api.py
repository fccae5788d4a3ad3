"""Socket API items against the official socket.io-client 4.8.4 (Node): ``once``, ``write``,
``listeners_any``/``listeners_any_outgoing`` and ``socket.request``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _sio_helpers import Connected, client_args, open_socket, serve_fixture

from socketwire import Server

pytestmark = pytest.mark.interop
assert serve_fixture  # the "serve" fixture, imported for pytest to find


@pytest.mark.parametrize("kind", ["native", "asgi"])
@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_once_write_listeners_and_request(
    serve: Any, node: Any, kind: str, mode: str
) -> None:
    sio = Server()
    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio, kind)
    options = {"extraHeaders": {"x-team": "blue"}, "query": {"room": "7"}}
    driver = await node("sio_client.js", client_args(running, mode, None, options=options))
    await open_socket(driver, "a")
    [socket] = await connected.wait()

    # socket.request: the handshake request, as JS exposes it
    assert socket.request.headers["x-team"] == "blue"
    assert socket.request.query["room"] == "7"
    assert socket.request.query["transport"] == mode
    assert socket.request.remote_addr is not None

    # once: the first event only; an "on" handler keeps getting them
    got: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    socket.once("vote", lambda choice: got.put_nowait(("once", choice)))
    socket.on("vote", lambda choice: got.put_nowait(("on", choice)))
    seen: list[Any] = []
    socket.on_any(lambda *args: seen.append(args))
    assert len(socket.listeners_any()) == 1
    for choice in ("a", "b"):
        await driver.command("emit", name="a", ev="vote", args=[choice])
    received = [await asyncio.wait_for(got.get(), 5) for _ in range(3)]
    assert received == [("once", "a"), ("on", "a"), ("on", "b")]
    assert seen == [("vote", "a"), ("vote", "b")]

    # write: a "message" event, as send
    sent: list[Any] = []
    socket.on_any_outgoing(lambda *args: sent.append(args))
    assert socket.listeners_any_outgoing() == socket.listeners_any_outgoing()[:1]
    socket.write("hello", {"n": 1})
    event = await driver.expect("ev", name="a", ev="message")
    assert event["args"] == ["hello", {"n": 1}]
    assert sent == [("message", "hello", {"n": 1})]
