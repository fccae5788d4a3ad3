"""The official browser client (socket.io-client 4.8, served by socketwire itself) in
headless Chromium, over WebTransport (HTTP/3, QUIC) to socketwire's listener.

One page opens on WebTransport alone, another on polling and upgrades to WebTransport
(the client favours it over WebSocket). They exchange events, binary and acks both ways,
get one broadcast, and each session ends: one from the server, one from the client.

The certificate is self-signed (ECDSA P-256, valid 10 days), let through by the client's
``serverCertificateHashes`` (``transportOptions.webtransport``). Chromium runs with QUIC
on, and the page comes from http://127.0.0.1 on the same port number (a page from
elsewhere is refused by Chromium's Local Network Access checks).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _sio_peer import assert_no_leaks

from conftest import WAIT
from integration._browser import OUTPUT, chromium, playwright_api
from socketwire import Server, Socket
from socketwire.io.http import HttpRequest, HttpResponse
from webtransport_helpers import make_certificate

pytestmark = pytest.mark.integration

playwright_api()
pytest.importorskip("aioquic", reason="the webtransport extra (`make install`)")

from socketwire.io.native import NativeServer  # noqa: E402
from socketwire.io.webtransport import WebTransportOptions  # noqa: E402

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>socketwire over WebTransport</title></head>
<body><h1>socketwire &times; socket.io-client over WebTransport</h1><pre id="state"></pre>
<script src="/socket.io/socket.io.min.js"></script>
<script>
const params = new URLSearchParams(location.search);
const hash = new Uint8Array(params.get("hash").match(/../g).map((x) => parseInt(x, 16)));
const state = { id: null, transports: [], acks: [], events: [], closed: null };
window.state = state;
const show = () => {
  document.getElementById("state").textContent = JSON.stringify(state, null, 2);
};
const socket = io({
  transports: params.get("transports").split(","),
  transportOptions: {
    webtransport: { serverCertificateHashes: [{ algorithm: "sha-256", value: hash }] },
  },
});
window.socket = socket;
// the transport the session opened on, then each upgrade (the Socket.IO connect may come
// after the upgrade)
socket.io.on("open", () => state.transports.push(socket.io.engine.transport.name));
socket.on("connect", () => {
  state.id = socket.id;
  socket.emit("echo", "héllo 😀", new Uint8Array([1, 2, 3]).buffer, (text, data) => {
    state.acks.push([text, Array.from(new Uint8Array(data))]);
    show();
  });
  show();
});
socket.io.engine.on("upgrade", (transport) => {
  state.transports.push(transport.name);
  show();
});
socket.onAny((event, ...args) => {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  state.events.push([event, ...args.map((a) =>
    a instanceof ArrayBuffer ? Array.from(new Uint8Array(a)) : a)]);
  if (ack) ack("pong", new Uint8Array([9]).buffer);
  show();
});
socket.on("disconnect", (reason) => { state.closed = reason; show(); });
</script></body></html>
"""


async def page_app(request: HttpRequest) -> HttpResponse:
    """The test page at /."""
    if request.path == "/":
        return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], PAGE.encode())
    return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")


async def state(page: Any, condition: str) -> Any:
    await page.wait_for_function(f"(() => {{ const s = window.state; return {condition}; }})()")
    return await page.evaluate("window.state")


async def test_official_browser_client_over_webtransport(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    sio = Server(transports=["polling", "websocket", "webtransport"])
    sio.engine.fallback = page_app
    sockets: asyncio.Queue[Socket] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("echo")
        async def echo(text: str, data: bytes) -> tuple[str, bytes]:
            return text.upper(), bytes(reversed(data))

        await sockets.put(socket)

    server = NativeServer(
        sio,
        "127.0.0.1",
        0,
        webtransport=WebTransportOptions(str(certificate.certfile), str(certificate.keyfile)),
    )
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.port}/?hash={certificate.sha256.hex()}&transports="
        async with chromium(quic=True) as browser:
            direct, upgraded = await browser.new_page(), await browser.new_page()
            for page in (direct, upgraded):
                page.set_default_timeout(WAIT * 3 * 1000)
            await direct.goto(base + "webtransport")
            first = await asyncio.wait_for(sockets.get(), WAIT * 2)
            await upgraded.goto(base + "polling,webtransport")
            second = await asyncio.wait_for(sockets.get(), WAIT * 2)

            one = await state(direct, "s.acks.length === 1")
            assert one["transports"] == ["webtransport"]
            assert one["acks"] == [["HÉLLO 😀", [3, 2, 1]]]
            assert first.conn.transport == "webtransport"
            # the client's WebTransport URL has no query (engine.io-client's createUri("https"))
            assert (first.handshake.url, first.handshake.query) == ("/socket.io/", {})
            assert first.handshake.secure
            two = await state(upgraded, "s.acks.length === 1 && s.transports.length === 2")
            assert two["transports"] == ["polling", "webtransport"]
            assert second.conn.transport == "webtransport"
            assert {one["id"], two["id"]} == {first.id, second.id}

            # the server asks each page for an ack, with binary both ways
            for socket in (first, second):
                reply = await socket.timeout(WAIT).emit_with_ack("ping", b"\x00\xff")
                assert reply == ("pong", b"\x09")
            # one broadcast, text and binary, to both
            sio.emit("news", "extra", b"\x07\x08")
            for page in (direct, upgraded):
                got = await state(page, "s.events.length === 2")
                assert got["events"] == [["ping", [0, 255]], ["news", "extra", [7, 8]]]
            OUTPUT.mkdir(exist_ok=True)
            await direct.screenshot(path=str(OUTPUT / "browser_webtransport.png"))

            # the server disconnects one; the other closes its session
            first.disconnect(close=True)
            assert (await state(direct, "s.closed !== null"))["closed"] == "io server disconnect"
            gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            second.on("disconnect", lambda reason: gone.set_result(reason))
            await upgraded.evaluate("window.socket.io.engine.close()")
            assert await asyncio.wait_for(gone, WAIT * 2) == "transport close"
            for page in (direct, upgraded):
                await page.close()
        await assert_no_leaks(sio)
    finally:
        await server.close()
