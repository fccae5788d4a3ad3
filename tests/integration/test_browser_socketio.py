"""The official browser bundle of socket.io-client, in headless Chromium, against the
native server: connect, emit with an ack (text and binary), receive a broadcast, and
upgrade from polling to WebSocket.

The page and the bundle (``socket.io-client/dist/socket.io.min.js`` from npm) are served by
the same server through its fallback hook. A screenshot is saved under ``test-output/``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _sio_peer import assert_no_leaks, serve_sio

from conftest import JS_DIR, WAIT
from integration._browser import OUTPUT, chromium, playwright_api
from socketwire import Server, Socket
from socketwire.io.http import HttpRequest, HttpResponse

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find

DIST = JS_DIR / "node_modules" / "socket.io-client" / "dist"
#: parser -> the official bundle built with it
BUNDLES = {"json": DIST / "socket.io.min.js", "msgpack": DIST / "socket.io.msgpack.min.js"}

playwright_api()

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>socketwire in Chromium</title>
<style>body{font:16px monospace;margin:2em} b{color:#06c}</style></head>
<body><h1>socketwire &times; socket.io-client (browser bundle)</h1><pre id="state"></pre>
<script src="/test/socket.io.min.js"></script>
<script>
const state = { id: null, transport: null, acks: [], news: [], upgraded: false };
window.state = state;
const show = () => {
  document.getElementById("state").textContent = JSON.stringify(state, null, 2);
};
const socket = io({ transports: ["polling", "websocket"] });
socket.on("connect", () => {
  state.id = socket.id;
  state.transport = socket.io.engine.transport.name;
  socket.emit("hello", "from the browser", (answer) => { state.acks.push(answer); show(); });
  // an ArrayBuffer: the msgpack bundle (notepack.io) would send a Uint8Array as a map
  socket.emit("bytes", new Uint8Array([1, 2, 3]).buffer, (answer) => {
    state.acks.push(Array.from(new Uint8Array(answer)));
    show();
  });
  show();
});
socket.io.engine.on("upgrade", (transport) => {
  state.transport = transport.name;
  state.upgraded = true;
  show();
});
socket.on("news", (text, data) => {
  state.news.push([text, Array.from(new Uint8Array(data)), socket.io.engine.transport.name]);
  show();
});
</script></body></html>
"""


def _static(bundle: Path) -> Any:
    body = bundle.read_bytes()

    async def serve(request: HttpRequest) -> HttpResponse:
        if request.path == "/test/":
            page = PAGE.encode()
            return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], page)
        if request.path == "/test/socket.io.min.js":
            return HttpResponse(200, [("Content-Type", "application/javascript")], body)
        return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")

    return serve


async def _state(page: Any, condition: str) -> Any:
    await page.wait_for_function(f"(() => {{ const s = window.state; return {condition}; }})()")
    return await page.evaluate("window.state")


@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_official_browser_bundle_in_chromium(serve_sio: Any, parser: str) -> None:
    bundle = BUNDLES[parser]
    assert bundle.exists(), f"run npm ci in {JS_DIR}"
    sio = Server(parser=parser)
    sio.engine.fallback = _static(bundle)
    sockets: asyncio.Queue[Socket] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("hello")
        async def hello(text: str) -> str:
            return f"hello {text}"

        @socket.on("bytes")
        async def echo_bytes(data: bytes) -> bytes:
            assert isinstance(data, bytes)
            return bytes(reversed(data))

        await sockets.put(socket)

    running = await serve_sio(sio)
    url = f"http://127.0.0.1:{running.port}/test/"
    async with chromium() as browser:
        pages = [await browser.new_page() for _ in range(2)]
        for page in pages:
            page.set_default_timeout(WAIT * 2 * 1000)
            await page.goto(url)
        server_sockets = [await asyncio.wait_for(sockets.get(), WAIT * 2) for _ in pages]
        states = [await _state(page, "s.acks.length === 2 && s.upgraded") for page in pages]
        for state in states:
            assert state["acks"] == ["hello from the browser", [3, 2, 1]]
            assert state["transport"] == "websocket"
        assert {s["id"] for s in states} == {s.id for s in server_sockets}
        for socket in server_sockets:
            assert socket.conn.transport == "websocket"

        # a broadcast (text and binary) to both pages, both on WebSocket now
        sio.emit("news", "extra", b"\x07\x08")
        for page in pages:
            state = await _state(page, "s.news.length === 1")
            assert state["news"] == [["extra", [7, 8], "websocket"]]
        OUTPUT.mkdir(exist_ok=True)
        await pages[0].screenshot(path=str(OUTPUT / f"browser_socketio_{parser}.png"))
        for page in pages:
            await page.close()
    await assert_no_leaks(sio)
