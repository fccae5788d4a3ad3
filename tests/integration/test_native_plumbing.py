"""What only the native server does, over real sockets, with a small HttpApp (see
_plumbing_helpers); what every plumbing does is in test_plumbing.py, whose scenarios this
module also runs on uvloop."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import test_plumbing as shared  # the plumbing suite's scenarios, run on uvloop below
from _plumbing_helpers import (
    FLOOD_MESSAGE,
    PlumbingApp,
    open_raw,
    read_eof,
    read_response,
    request_bytes,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from socketwire.io._native_http import HttpConnection
from socketwire.io.http import HttpRequest, HttpResponse, WebSocketAccept
from socketwire.io.native import NativeServer, frame_message, install_uvloop

pytestmark = pytest.mark.integration

WAIT = 5.0


@pytest.fixture
async def plumbing_app() -> PlumbingApp:
    return PlumbingApp()


@pytest.fixture
async def plumbing_server(plumbing_app: PlumbingApp) -> AsyncIterator[NativeServer]:
    server = NativeServer(plumbing_app, "127.0.0.1", 0, body_timeout=0.3)
    await server.start()
    try:
        yield server
    finally:
        await server.close(timeout=2.0)


# HTTP


async def test_port_zero_binds_a_free_port(plumbing_server: NativeServer) -> None:
    assert plumbing_server.port != 0
    assert plumbing_server.sockets


async def test_percent_decoded_path(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(request_bytes("GET", "/app/%69nfo"))
        response = await read_response(reader)
    assert json.loads(response.body)["path"] == "/app/info"


async def test_keep_alive_two_requests_one_connection(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(request_bytes("POST", "/app/echo", body=b"one"))
        first = await read_response(reader)
        writer.write(request_bytes("POST", "/app/echo", body=b"two"))
        second = await read_response(reader)
    assert (first.status, first.body) == (200, b"one")
    assert (second.status, second.body) == (200, b"two")
    assert first.headers["content-length"] == "3"
    assert "connection" not in first.headers


async def test_http10_closes_unless_keep_alive(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(b"GET /app/info HTTP/1.0\r\n\r\n")
        response = await read_response(reader)
        assert response.status == 200
        assert response.headers["connection"] == "close"
        assert await read_eof(reader) == b""
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(b"GET /app/info HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = await read_response(reader)
        assert response.headers["connection"] == "keep-alive"
        writer.write(b"GET /app/info HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert (await read_response(reader)).status == 200


async def test_connection_close_request(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(request_bytes("GET", "/app/info", headers={"Connection": "close"}))
        response = await read_response(reader)
        assert response.headers["connection"] == "close"
        assert await read_eof(reader) == b""


async def test_pipelined_requests_answered_in_order(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(
            request_bytes("POST", "/app/echo", body=b"first")
            + request_bytes("GET", "/app/info?n=2")
            + request_bytes("POST", "/app/echo", body=b"third")
        )
        first = await read_response(reader)
        second = await read_response(reader)
        third = await read_response(reader)
    assert first.body == b"first"
    assert json.loads(second.body)["query"] == {"n": "2"}
    assert third.body == b"third"


async def test_many_pipelined_requests_in_one_write(plumbing_server: NativeServer) -> None:
    # More than the server queues before it pauses reading: it must resume and answer all.
    count = 60
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(
            b"".join(request_bytes("POST", "/app/echo", body=b"%d" % i) for i in range(count))
        )
        bodies = [(await read_response(reader)).body for _ in range(count)]
    assert bodies == [b"%d" % i for i in range(count)]


async def test_large_body_then_keep_alive(plumbing_server: NativeServer) -> None:
    # Larger than the unread-body bound: reading pauses and resumes around read_body.
    body = bytes(range(256)) * 1200
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(request_bytes("POST", "/app/bigecho", body=body))
        response = await read_response(reader)
        assert response.body == body
        writer.write(request_bytes("GET", "/app/info"))
        assert (await read_response(reader)).status == 200


async def test_head_has_length_but_no_body(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(request_bytes("HEAD", "/app/nothing") + request_bytes("GET", "/app/nothing"))
        head = await read_response(reader, head=True)
        get = await read_response(reader)
    assert head.status == 404
    assert head.headers["content-length"] == str(len(b"no such route"))
    # Had the HEAD response carried a body, it would be read here as the next status line.
    assert (get.status, get.body) == (404, b"no such route")


async def test_expect_100_continue(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(
            b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        async with asyncio.timeout(WAIT):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        response = await read_response(reader)
    assert (response.status, response.body) == (200, b"hello")


async def test_chunked_request_body(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(
            b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
        )
        await writer.drain()
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        response = await read_response(reader)
        assert (response.status, response.body) == (200, b"hello world")
        writer.write(request_bytes("GET", "/app/info"))
        assert (await read_response(reader)).status == 200


async def test_malformed_request_line_400_and_close(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(b"THIS IS NOT HTTP\r\n\r\n")
        response = await read_response(reader)
        assert response.status == 400
        assert await read_eof(reader) == b""


async def test_malformed_after_good_request_keeps_order(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(request_bytes("POST", "/app/echo", body=b"ok") + b"GARBAGE\x01\r\n\r\n")
        first = await read_response(reader)
        second = await read_response(reader)
        assert (first.status, first.body) == (200, b"ok")
        assert second.status == 400
        assert await read_eof(reader) == b""


async def test_oversized_headers_431(plumbing_app: PlumbingApp) -> None:
    server = NativeServer(plumbing_app, "127.0.0.1", 0, max_header_size=1024)
    await server.start()
    try:
        async with open_raw(server.port) as (reader, writer):
            writer.write(request_bytes("GET", "/app/info", headers={"X-Big": "a" * 2000}))
            response = await read_response(reader)
            assert response.status == 431
            assert await read_eof(reader) == b""
        async with open_raw(server.port) as (reader, writer):
            writer.write(request_bytes("GET", "/app/info", headers={"X-Small": "a" * 500}))
            assert (await read_response(reader)).status == 200
    finally:
        await server.close(timeout=2.0)


async def test_idle_keepalive_connection_closed_after_timeout(plumbing_app: PlumbingApp) -> None:
    server = NativeServer(plumbing_app, "127.0.0.1", 0, keepalive_timeout=0.2)
    await server.start()
    try:
        async with open_raw(server.port) as (reader, writer):
            writer.write(request_bytes("GET", "/app/info"))
            assert (await read_response(reader)).status == 200
            assert await read_eof(reader) == b""
    finally:
        await server.close(timeout=2.0)


async def test_stalled_request_head_closed_after_keepalive_timeout(
    plumbing_app: PlumbingApp,
) -> None:
    server = NativeServer(plumbing_app, "127.0.0.1", 0, keepalive_timeout=0.2)
    await server.start()
    try:
        async with open_raw(server.port) as (reader, writer):
            writer.write(b"GET /app/info HTTP/1.1\r\nHost:")
            assert await read_eof(reader) == b""
    finally:
        await server.close(timeout=2.0)


def test_run_with_uvloop_until_closed() -> None:
    pytest.importorskip("uvloop")
    app = PlumbingApp()
    server = NativeServer(app, "127.0.0.1", 0, use_uvloop=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while server.port == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a condition set by another thread, bounded above
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            sock.sendall(request_bytes("GET", "/app/loop", headers={"Connection": "close"}))
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 ")
        assert received.endswith(b"\r\n\r\nuvloop")
    finally:
        assert app.loop is not None
        asyncio.run_coroutine_threadsafe(server.close(timeout=1.0), app.loop).result(WAIT)
        thread.join(WAIT)
    assert not thread.is_alive()
    assert app.shutdown_calls == 1


# WebSocket


def ws_url(server: NativeServer, path: str = "/app/ws") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def test_websocket_fragmented_message(plumbing_server: NativeServer) -> None:
    async with connect(ws_url(plumbing_server)) as ws:
        await ws.send(["frag", "mented"])
        assert await asyncio.wait_for(ws.recv(), WAIT) == "fragmented"


async def test_websocket_backpressure_buffered_amount(
    plumbing_server: NativeServer, plumbing_app: PlumbingApp
) -> None:
    count = 256  # 16 MiB: more than loopback socket buffers take at once
    async with connect(ws_url(plumbing_server), max_queue=1) as ws:
        await ws.send(f"flood:{count}")
        received = 0
        while received < count:
            message = await asyncio.wait_for(ws.recv(), WAIT)
            assert message == FLOOD_MESSAGE
            received += 1
        assert plumbing_app.flood_buffered[0] > 0
        assert plumbing_app.transports[0].buffered_amount == 0


async def test_send_frame_with_frame_message(plumbing_server: NativeServer) -> None:
    async with connect(ws_url(plumbing_server)) as ws:
        await ws.send("frame:broadcast")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "broadcast"
        assert await asyncio.wait_for(ws.recv(), WAIT) == b"broadcast"


class _KeepsRequests(PlumbingApp):
    """Keeps every upgrade request, as the engine keeps its sessions' handshake requests."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[HttpRequest] = []

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        self.requests.append(request)
        return await super().handle_websocket(request)


async def test_upgraded_request_outlives_its_http_connection() -> None:
    app = _KeepsRequests()
    server = NativeServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        async with connect(ws_url(server, "/app/ws?x=1")) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "hello"
            (request,) = app.requests
            # what the application reads of it is intact
            assert request.headers["upgrade"] == "websocket"
            assert request.query["x"] == "1"
            assert request.remote_addr is not None
            assert await request.read_body(10) == b""
            # the HTTP connection (its parser, its buffers) is not kept alive by it
            assert not any(isinstance(ref, HttpConnection) for ref in gc.get_referents(request))
            assert not server.connections
            disconnected = asyncio.ensure_future(request.wait_disconnected())
            await ws.send("still open")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "still open"
            assert not disconnected.done()
        # its disconnection is the WebSocket's
        await asyncio.wait_for(disconnected, WAIT)
    finally:
        await server.close(timeout=2.0)


def test_frame_message_bytes() -> None:
    assert frame_message("hi") == b"\x81\x02hi"
    assert frame_message(b"\x00") == b"\x82\x01\x00"
    big = frame_message(b"a" * 70000)
    assert big[:2] == b"\x82\x7f"
    assert Frame(Opcode.BINARY, b"a" * 70000).serialize(mask=False) == big


async def test_permessage_deflate_only_when_asked(plumbing_server: NativeServer) -> None:
    async with connect(ws_url(plumbing_server)) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.send("plain")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "plain"
    async with connect(ws_url(plumbing_server, "/app/ws?compress=1")) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        await ws.send("info")
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["compressed"] is True
        await ws.send("squeezed " * 100)
        assert await asyncio.wait_for(ws.recv(), WAIT) == "squeezed " * 100
        # A pre-framed (uncompressed) message is still valid on a deflate connection.
        await ws.send("frame:raw")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "raw"
    async with connect(ws_url(plumbing_server, "/app/ws?compress=1"), compression=None) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


async def test_invalid_handshake_answered_by_websockets(plumbing_server: NativeServer) -> None:
    async with open_raw(plumbing_server.port) as (reader, writer):
        writer.write(
            request_bytes(
                "GET",
                "/app/ws",
                headers={"Connection": "Upgrade", "Upgrade": "websocket"},  # no key
            )
        )
        response = await read_response(reader)
        assert response.status == 400
        assert await read_eof(reader) == b""


async def test_graceful_close_calls_shutdown_and_closes_connections(
    plumbing_app: PlumbingApp,
) -> None:
    server = NativeServer(plumbing_app, "127.0.0.1", 0)
    await server.start()
    serving = asyncio.ensure_future(server.serve_forever())
    async with connect(ws_url(server)) as ws, open_raw(server.port) as (reader, writer):
        writer.write(request_bytes("GET", "/app/info"))
        assert (await read_response(reader)).status == 200
        await asyncio.wait_for(server.close(timeout=WAIT), WAIT * 2)
        assert plumbing_app.shutdown_calls == 1
        # The idle keep-alive connection is closed...
        assert await read_eof(reader) == b""
        # ...and the WebSocket got the close the app sent during shutdown.
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1001, "server shutting down")
    await asyncio.wait_for(serving, WAIT)
    assert plumbing_app.close_codes == [1001]
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_graceful_close_lets_in_flight_request_finish(plumbing_app: PlumbingApp) -> None:
    server = NativeServer(plumbing_app, "127.0.0.1", 0)
    await server.start()
    async with open_raw(server.port) as (reader, writer):
        writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        await asyncio.wait_for(plumbing_app.reading_body.wait(), WAIT)
        closing = asyncio.ensure_future(server.close(timeout=WAIT))
        await asyncio.wait_for(plumbing_app.shutdown_started.wait(), WAIT)
        writer.write(b"cd")
        response = await read_response(reader)
        assert (response.status, response.body) == (200, b"abcd")
        assert response.headers["connection"] == "close"
        assert await read_eof(reader) == b""
    await asyncio.wait_for(closing, WAIT)


# The same scenarios on uvloop, the loop `socketwire serve` uses when it is installed.

UVLOOP_SCENARIOS = [
    test_keep_alive_two_requests_one_connection,
    test_pipelined_requests_answered_in_order,
    test_many_pipelined_requests_in_one_write,
    test_large_body_then_keep_alive,
    test_expect_100_continue,
    test_chunked_request_body,
    shared.test_content_length_over_limit_413_and_close,
    shared.test_chunked_body_over_limit_413_and_close,
    shared.test_413_reaches_a_client_still_sending_its_body,
    shared.test_body_timeout_answers_then_closes,
    test_malformed_after_good_request_keeps_order,
    test_oversized_headers_431,
    shared.test_client_disconnect_wakes_wait_disconnected,
    shared.test_websocket_echo_text_and_binary,
    test_websocket_fragmented_message,
    shared.test_websocket_message_too_big_closes_1009,
    test_websocket_backpressure_buffered_amount,
    test_send_frame_with_frame_message,
    shared.test_client_close_calls_on_close,
    test_permessage_deflate_only_when_asked,
    shared.test_upgrade_refused_with_its_response,
    test_graceful_close_calls_shutdown_and_closes_connections,
    test_graceful_close_lets_in_flight_request_finish,
]


@pytest.mark.parametrize("scenario", UVLOOP_SCENARIOS, ids=lambda f: f.__name__[5:])
def test_on_uvloop(scenario: Callable[..., Awaitable[None]]) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        app = PlumbingApp()
        server = NativeServer(app, "127.0.0.1", 0, body_timeout=0.3)
        await server.start()
        try:
            available = {
                "plumbing_app": app,
                "plumbing_server": server,
                "served": shared.Served("native", int(server.port), app),
            }
            names = inspect.signature(scenario).parameters
            await scenario(**{name: available[name] for name in names})
        finally:
            await server.close(timeout=2.0)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


@pytest.fixture
def plumbing_tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    return server_context, client_context


async def test_tls_request_is_secure_and_wss_works(
    plumbing_app: PlumbingApp, plumbing_tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = plumbing_tls
    server = NativeServer(plumbing_app, "127.0.0.1", 0, ssl=server_context)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client_context)
        try:
            writer.write(request_bytes("GET", "/app/info"))
            info = json.loads((await read_response(reader)).body)
            assert info["secure"] is True
        finally:
            writer.close()
        url = f"wss://127.0.0.1:{server.port}/app/ws"
        async with connect(url, ssl=client_context) as ws:
            await ws.send("over tls")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "over tls"
            await ws.send("frame:framed")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "framed"
    finally:
        await server.close(timeout=2.0)


def test_install_uvloop_sets_the_policy() -> None:
    uvloop = pytest.importorskip("uvloop")
    previous = asyncio.get_event_loop_policy()
    try:
        assert install_uvloop() is True
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(previous)
