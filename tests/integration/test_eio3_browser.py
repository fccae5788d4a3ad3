"""socket.io-client 2.x's own browser bundle (npm socket.io-client@2.5.0, installed as
socket.io-client-v2) in headless Chromium against socketwire with ``allow_eio3``: JSONP
polling for real (``forceJSONP``: script tags for the polls, a hidden form for the POSTs),
then XHR polling upgraded to WebSocket, with events, binary and acks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _sio_peer import assert_no_leaks, serve_sio

from conftest import JS_DIR, WAIT, wait_until
from integration._browser import chromium, playwright_api
from socketwire import Server, Socket
from socketwire.io.http import HttpRequest, HttpResponse

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find

BUNDLE = JS_DIR / "node_modules" / "socket.io-client-v2" / "dist" / "socket.io.js"

playwright_api()

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>socket.io-client 2.x</title></head>
<body><pre id="state"></pre>
<script src="/old/socket.io.js"></script>
<script>
const params = new URLSearchParams(location.search);
const options = JSON.parse(params.get("options"));
const state = { id: null, acks: [], news: [], transport: null };
window.state = state;
const socket = io(options);
socket.on("connect", () => {
  state.id = socket.id;
  socket.emit("hello", "from 2.x", (answer) => state.acks.push(answer));
  socket.emit("bytes", new Uint8Array([1, 2, 3]).buffer, (answer) => {
    state.acks.push(Array.from(new Uint8Array(answer)));
  });
});
socket.on("news", (text, data) => {
  state.news.push([text, Array.from(new Uint8Array(data))]);
  state.transport = socket.io.engine.transport.name;
});
</script></body></html>
"""


async def static(request: HttpRequest) -> HttpResponse:
    """The page and socket.io-client 2.x's bundle."""
    if request.path == "/old/":
        return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], PAGE.encode())
    if request.path == "/old/socket.io.js":
        return HttpResponse(200, [("Content-Type", "application/javascript")], BUNDLE.read_bytes())
    return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")


async def state(page: Any, condition: str) -> Any:
    await page.wait_for_function(f"(() => {{ const s = window.state; return {condition}; }})()")
    return await page.evaluate("window.state")


@pytest.mark.parametrize(
    ("options", "transport"),
    [
        ('{"forceJSONP":true,"transports":["polling"]}', "polling"),
        ('{"transports":["polling","websocket"]}', "websocket"),
    ],
    ids=["jsonp", "xhr-then-websocket"],
)
async def test_socket_io_client_2_browser_bundle(
    serve_sio: Any, options: str, transport: str
) -> None:
    assert BUNDLE.exists(), f"run npm ci in {JS_DIR}"
    sio = Server(allow_eio3=True, serve_client=False)
    sio.engine.fallback = static
    sockets: asyncio.Queue[Socket] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("hello")
        async def hello(text: str) -> str:
            return f"hello {text}"

        @socket.on("bytes")
        async def echo_bytes(data: bytes) -> bytes:
            return bytes(reversed(data))

        await sockets.put(socket)

    running = await serve_sio(sio)
    async with chromium() as browser:
        page = await browser.new_page()
        page.set_default_timeout(WAIT * 2 * 1000)
        # a pending JSONP poll is a script still loading: the page's load event waits for it
        await page.goto(
            f"http://127.0.0.1:{running.port}/old/?options={options}", wait_until="commit"
        )
        socket = await asyncio.wait_for(sockets.get(), WAIT * 2)
        assert socket.conn.protocol == 3
        got = await state(page, "s.acks.length === 2")
        assert sorted(map(str, got["acks"])) == sorted(map(str, ["hello from 2.x", [3, 2, 1]]))
        assert got["id"] == socket.id == socket.conn.sid  # v4: the engine id
        if transport == "polling":
            assert "j" in socket.handshake.query  # JSONP for real
        else:
            await wait_until(lambda: socket.conn.transport == "websocket", "the upgrade")
        sio.emit("news", "extra", b"\x07\x08")
        got = await state(page, "s.news.length === 1")
        assert got["news"] == [["extra", [7, 8]]]
        assert got["transport"] == transport
        await page.close()
    await assert_no_leaks(sio)
