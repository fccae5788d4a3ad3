"""Every example under examples/ runs as a real server process and answers a client.

Each server starts once per module, in a process group of its own, and is stopped by that
group at teardown. Against each: its JSON route answers, and socketwire's AsyncClient
connects over polling, over WebSocket and by upgrade, and gets its ``echo`` acknowledged.
A subset of the Engine.IO HTTP behaviour (tests/integration/test_engineio_http.py) runs
against the same processes, to show that the ASGI app behaves the same under uvicorn,
hypercorn and granian, and that the aiohttp integration does too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from _examples_helpers import EXAMPLES, ExampleServer, start_example
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import (
    WAIT,
    HttpResult,
    build_request,
    http_request,
    raw_connection,
    read_response,
    wait_until,
)
from socketwire import AsyncClient
from socketwire.engineio.client_events import TransportName

pytestmark = pytest.mark.integration

#: (transports, upgrade) by client mode
MODES: dict[str, tuple[list[str], bool]] = {
    "polling": (["polling"], False),
    "websocket": (["websocket"], False),
    "upgrade": (["polling", "websocket"], True),
}

#: Where the Engine.IO subset runs: every ASGI server, and the aiohttp integration.
ENGINE_SERVERS = ["asgi-uvicorn", "asgi-hypercorn", "asgi-granian", "aiohttp"]

EIO = "/socket.io/?EIO=4"


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def example(request: pytest.FixtureRequest) -> Iterator[ExampleServer]:
    """Each example, running (one process per module and example)."""
    with start_example(EXAMPLES[request.param]) as server:
        yield server


@pytest.fixture(scope="module", params=ENGINE_SERVERS)
def engine_example(request: pytest.FixtureRequest) -> Iterator[ExampleServer]:
    """The examples the Engine.IO subset runs against."""
    with start_example(EXAMPLES[request.param]) as server:
        yield server


# ---------------------------------------------------------------------------------------
# Each example: its route and a Socket.IO client


async def test_json_route(example: ExampleServer) -> None:
    response = await http_request(example.port, "GET", "/ping")
    assert response.status == 200, (response.status, response.body, example.output())
    assert (response.header("content-type") or "").startswith("application/json")
    assert response.json() == {"pong": example.spec.pong}


async def test_unknown_path_is_the_framework_s_404(example: ExampleServer) -> None:
    response = await http_request(example.port, "GET", "/no-such-page")
    assert response.status == 404, (response.status, response.body)


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_client_echo_with_ack(example: ExampleServer, mode: str) -> None:
    transports, upgrade = MODES[mode]
    client = AsyncClient(
        transports=transports, upgrade=upgrade, reconnection=False, force_new=True, timeout=WAIT
    )
    try:
        await asyncio.wait_for(client.connect(example.url), WAIT)
        assert client.connected
        if mode == "upgrade":
            await wait_until(
                lambda: (
                    client.io is not None
                    and client.io.engine is not None
                    and client.io.engine.transport is TransportName.WEBSOCKET
                ),
                f"the upgrade to WebSocket on {example.spec.name}",
            )
        payload = {"text": "héllo", "n": [1, 2.5, None], "blob": b"\x00\xff"}
        assert await client.timeout(WAIT).emit_with_ack("echo", payload) == payload
        assert await client.timeout(WAIT).emit_with_ack("echo", "again") == "again"
        engine = client.io.engine if client.io is not None else None
        expected = TransportName.POLLING if mode == "polling" else TransportName.WEBSOCKET
        assert engine is not None
        assert engine.transport is expected
    finally:
        await asyncio.wait_for(client.disconnect(), WAIT)


# ---------------------------------------------------------------------------------------
# The same Engine.IO behaviour under every ASGI server and under aiohttp


def assert_error(response: HttpResult, code: int, message: str) -> None:
    """An Engine.IO HTTP error as JS writes it (``abortRequest``)."""
    assert response.status == 400, (response.status, response.body)
    assert response.header("content-type") == "application/json"
    assert response.json() == {"code": code, "message": message}


async def handshake(port: int) -> tuple[str, dict[str, Any]]:
    """A polling handshake: ``(sid, open packet data)``."""
    response = await http_request(port, "GET", f"{EIO}&transport=polling")
    assert response.status == 200, (response.status, response.body)
    assert response.body[:1] == b"0", response.body
    data: dict[str, Any] = json.loads(response.body[1:])
    return data["sid"], data


async def test_engine_handshake(engine_example: ExampleServer) -> None:
    sid, data = await handshake(engine_example.port)
    assert len(sid) == 20
    assert data["upgrades"] == ["websocket"]
    assert (data["pingInterval"], data["pingTimeout"], data["maxPayload"]) == (
        25000,
        20000,
        1000000,
    )


async def test_engine_error_codes(engine_example: ExampleServer) -> None:
    port = engine_example.port
    assert_error(
        await http_request(port, "GET", f"{EIO}&transport=carrier-pigeon"), 0, "Transport unknown"
    )
    assert_error(
        await http_request(port, "GET", f"{EIO}&transport=polling&sid=nope"),
        1,
        "Session ID unknown",
    )
    assert_error(
        await http_request(port, "GET", "/socket.io/?EIO=3&transport=polling"),
        5,
        "Unsupported protocol version",
    )


async def test_engine_websocket_with_unknown_sid_refused(engine_example: ExampleServer) -> None:
    # Every ASGI server here offers the websocket.http.response extension, so the refusal
    # is the same plain 400 as under the native server (JS abortUpgrade).
    url = f"ws://127.0.0.1:{engine_example.port}{EIO}&transport=websocket&sid=nope"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, compression=None, open_timeout=WAIT):
            pass
    assert refused.value.response.status_code == 400
    assert refused.value.response.body == b"Session ID unknown"


async def test_engine_post_then_upgrade(engine_example: ExampleServer) -> None:
    port = engine_example.port
    sid, _ = await handshake(port)
    target = f"{EIO}&transport=polling&sid={sid}"
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    # A Socket.IO CONNECT to "/", posted; the server answers on the next poll.
    post = await http_request(port, "POST", target, headers, "40")
    assert (post.status, post.body) == (200, b"ok")
    poll = await http_request(port, "GET", target)
    assert poll.status == 200
    assert poll.body.startswith(b'40{"sid":'), poll.body
    url = f"ws://127.0.0.1:{port}{EIO}&transport=websocket&sid={sid}"
    async with connect(url, compression=None, open_timeout=WAIT) as ws:
        await ws.send("2probe")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "3probe"
        await ws.send("5")
        await ws.send('421["echo","over ws"]')
        reply = await asyncio.wait_for(ws.recv(), WAIT)
        # The noop that releases a poll may come first when a poll was pending.
        while reply == "6":
            reply = await asyncio.wait_for(ws.recv(), WAIT)
        assert reply == '431["over ws"]'
        # Polling for an upgraded session: TRANSPORT_MISMATCH.
        assert_error(await http_request(port, "GET", target), 3, "Bad request")


async def test_engine_post_too_large(engine_example: ExampleServer) -> None:
    port = engine_example.port
    sid, _ = await handshake(port)
    target = f"{EIO}&transport=polling&sid={sid}"
    # Refused on its Content-Length, before the body is sent.
    request = build_request("POST", target, port, {}, b"", content_length=1_000_001)
    async with raw_connection(port) as (reader, writer):
        writer.write(request)
        async with asyncio.timeout(WAIT):
            response = await read_response(reader)
    assert response.status == 413, (response.status, response.body[:100])


async def test_engine_websocket_message_too_big(engine_example: ExampleServer) -> None:
    url = f"ws://127.0.0.1:{engine_example.port}{EIO}&transport=websocket"
    async with connect(
        url, compression=None, open_timeout=WAIT, max_size=None, close_timeout=WAIT
    ) as ws:
        opening = await asyncio.wait_for(ws.recv(), WAIT)
        assert str(opening).startswith("0{")
        await ws.send("4" + "x" * 1_000_001)
        # Nothing else is sent to this session: the close is what arrives.
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
