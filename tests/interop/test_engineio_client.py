"""The official engine.io-client (6.6.8) against our Engine.IO server, under both plumbings.

Each test runs tests/interop/js/eio_client.js and drives it through stdin; the expected
client-side events (close reasons and their descriptions) are those the same client shows
against the JS ``engine.io`` server.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from conftest import EngineFactory, EngineHarness, NodeDriver, NodeFactory

pytestmark = pytest.mark.interop

#: Small enough that the size tests stay cheap.
MAX_SIZE = 1000
BINARY = bytes(range(256)) * 2


async def start_client(
    node: NodeFactory,
    server: EngineHarness,
    transports: list[str],
    *,
    upgrade: bool = True,
    scenario: str = "default",
) -> NodeDriver:
    """Start a client and wait for its open event."""
    args: dict[str, Any] = {
        "url": server.url,
        "path": server.path,
        "transports": transports,
        "upgrade": upgrade,
        "scenario": scenario,
    }
    return await node("eio_client.js", args)


async def exchange(server: EngineHarness, client: NodeDriver, sid: str) -> None:
    """Text and binary both ways; the harness echoes what it receives."""
    record = server.session(sid)
    before = len(record.messages)
    await client.send_text("hello é 🎉")
    await client.expect("message", binary=False, data="hello é 🎉")
    await client.send_binary(BINARY)
    await client.expect("message", binary=True, data=base64.b64encode(BINARY).decode())
    assert record.messages[before:] == ["hello é 🎉", BINARY]
    # Server-initiated messages, not echoes.
    record.sock.send("from server")
    record.sock.send(b"\x00\xff")
    await client.expect("message", binary=False, data="from server")
    await client.expect("message", binary=True, data=base64.b64encode(b"\x00\xff").decode())


@pytest.mark.engine_options(max_http_buffer_size=MAX_SIZE)
async def test_polling_only(engine_server: EngineHarness, node: NodeFactory) -> None:
    client = await start_client(node, engine_server, ["polling"])
    handshake = await client.expect("handshake")
    assert handshake["data"] == {
        "sid": handshake["data"]["sid"],
        "upgrades": ["websocket"],
        "pingInterval": 5000,
        "pingTimeout": 5000,
        "maxPayload": MAX_SIZE,
    }
    opened = await client.expect("open", transport="polling")
    record = await engine_server.wait_session(opened["sid"])
    assert record.sock.transport == "polling"
    await exchange(engine_server, client, opened["sid"])
    assert engine_server.engine.polling_clients_count == 1
    assert not client.seen("upgrade")
    assert record.sock.transport == "polling"


async def test_websocket_only(engine_server: EngineHarness, node: NodeFactory) -> None:
    client = await start_client(node, engine_server, ["websocket"])
    handshake = await client.expect("handshake")
    assert handshake["data"]["upgrades"] == []
    opened = await client.expect("open", transport="websocket")
    record = await engine_server.wait_session(opened["sid"])
    assert record.sock.transport == "websocket"
    await exchange(engine_server, client, opened["sid"])
    assert engine_server.engine.clients_count == 1
    assert engine_server.engine.polling_clients_count == 0


async def test_polling_upgraded_to_websocket(
    engine_server: EngineHarness, node: NodeFactory
) -> None:
    client = await start_client(node, engine_server, ["polling", "websocket"])
    opened = await client.expect("open", transport="polling")
    record = await engine_server.wait_session(opened["sid"])
    # Sent while the session is still on polling: must arrive exactly once, in order.
    record.sock.send("before upgrade")
    await client.expect("upgrade", transport="websocket")
    await engine_server.wait_upgraded(record)
    assert record.sock.transport == "websocket"
    await client.expect("message", data="before upgrade")
    await exchange(engine_server, client, opened["sid"])
    assert len(client.seen("message", data="before upgrade")) == 1
    assert engine_server.engine.polling_clients_count == 0
    assert engine_server.engine.clients_count == 1


async def test_messages_in_order_across_upgrade(
    engine_server: EngineHarness, node: NodeFactory
) -> None:
    count = 30
    engine_server.echo = False
    client = await start_client(node, engine_server, ["polling", "websocket"])
    # Queued by the client before and during the upgrade: none lost, none duplicated.
    for i in range(count):
        await client.send_text(f"c{i}")
    opened = await client.expect("open", transport="polling")
    record = await engine_server.wait_session(opened["sid"])
    for i in range(count):
        record.sock.send(f"s{i}")
    await client.expect("upgrade", transport="websocket")
    await engine_server.wait_upgraded(record)
    for i in range(count, 2 * count):
        record.sock.send(f"s{i}")
        await client.send_text(f"c{i}")
    messages = await engine_server.wait_message(record, 2 * count)
    assert messages == [f"c{i}" for i in range(2 * count)]
    await client.expect("message", data=f"s{2 * count - 1}")
    received = [e["data"] for e in client.seen("message")]
    assert received == [f"s{i}" for i in range(2 * count)]


@pytest.mark.engine_options(path="/custom")
async def test_custom_path(engine_server: EngineHarness, node: NodeFactory) -> None:
    assert engine_server.path == "/custom/"
    client = await start_client(node, engine_server, ["polling", "websocket"])
    opened = await client.expect("open", transport="polling")
    await client.expect("upgrade", transport="websocket")
    await exchange(engine_server, client, opened["sid"])


@pytest.mark.engine_options(transports=("polling", "websocket"), allow_upgrades=False)
async def test_upgrades_disabled(engine_server: EngineHarness, node: NodeFactory) -> None:
    client = await start_client(node, engine_server, ["polling", "websocket"])
    handshake = await client.expect("handshake")
    assert handshake["data"]["upgrades"] == []
    opened = await client.expect("open", transport="polling")
    await exchange(engine_server, client, opened["sid"])
    assert not client.seen("upgrading")


@pytest.mark.engine_options(max_http_buffer_size=MAX_SIZE)
@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_message_at_size_limit_accepted(
    engine_server: EngineHarness, node: NodeFactory, transport: str
) -> None:
    # The limit counts encoded bytes: "4" + data for polling bodies and WebSocket frames.
    client = await start_client(node, engine_server, [transport])
    opened = await client.expect("open", transport=transport)
    record = await engine_server.wait_session(opened["sid"])
    engine_server.echo = False
    text = "x" * (MAX_SIZE - 1)
    await client.send_text(text)
    messages = await engine_server.wait_message(record)
    assert messages == [text]
    assert record.close_reason is None
    await client.send_text("still open")
    assert await engine_server.wait_message(record, 2) == [text, "still open"]


@pytest.mark.engine_options(max_http_buffer_size=MAX_SIZE)
async def test_polling_message_past_size_limit_refused(
    engine_server: EngineHarness, node: NodeFactory
) -> None:
    client = await start_client(node, engine_server, ["polling"])
    opened = await client.expect("open", transport="polling")
    record = await engine_server.wait_session(opened["sid"])
    await client.send_text("x" * MAX_SIZE)
    # JS: the POST gets 413; the client reports an "xhr post error" and closes.
    error = await client.expect("error", message="xhr post error")
    assert error["description"] == 413
    close = await client.expect("close", reason="transport error")
    assert close["description"]["description"] == 413
    assert record.messages == []
    # The client's close packet (or the abandoned poll) ends the session.
    await engine_server.wait_closed(record)
    await engine_server.wait_no_clients()


@pytest.mark.engine_options(max_http_buffer_size=MAX_SIZE)
async def test_websocket_message_past_size_limit_refused(
    engine_server: EngineHarness, node: NodeFactory
) -> None:
    client = await start_client(node, engine_server, ["websocket"])
    opened = await client.expect("open", transport="websocket")
    record = await engine_server.wait_session(opened["sid"])
    await client.send_text("x" * MAX_SIZE)
    close = await client.expect("close", reason="transport close")
    # engine.io-client's own test: "Message Too Big", with ws's empty reason
    assert close["description"]["context"]["code"] == 1009
    assert close["description"]["context"]["reason"] == ""
    assert record.messages == []
    # JS engine.io: ws emits "Max payload size exceeded", the session closes on the error.
    assert await engine_server.wait_closed(record) == "transport error"
    await engine_server.wait_no_clients()


@pytest.mark.engine_options(ping_interval=0.3, ping_timeout=0.2)
@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_client_that_stops_answering_pings_is_closed(
    engine_server: EngineHarness, node: NodeFactory, transport: str
) -> None:
    client = await start_client(node, engine_server, [transport], upgrade=False)
    opened = await client.expect("open", transport=transport)
    record = await engine_server.wait_session(opened["sid"])
    # Heartbeats work while the client answers.
    await client.expect("ping")
    await client.expect("ping")
    assert record.close_reason is None
    await client.command("ignore_pings")
    muted_at = time.monotonic()
    assert await engine_server.wait_closed(record) == "ping timeout"
    assert record.closed_at is not None
    elapsed = record.closed_at - muted_at
    # The next ping goes out at most ping_interval after muting, then ping_timeout runs;
    # the 0.5 s on top is scheduling slack on a shared machine.
    assert elapsed < 0.3 + 0.2 + 0.5, elapsed
    close = await client.expect("close")
    assert close["reason"] in ("transport close", "ping timeout")
    await engine_server.wait_no_clients()


@pytest.mark.parametrize(
    ("transport", "description"),
    [
        ("polling", {"description": "transport closed by the server"}),
        ("websocket", {"description": "websocket connection closed"}),
    ],
)
async def test_server_close_seen_by_client(
    engine_server: EngineHarness, node: NodeFactory, transport: str, description: dict[str, str]
) -> None:
    client = await start_client(node, engine_server, [transport], upgrade=False)
    opened = await client.expect("open", transport=transport)
    record = await engine_server.wait_session(opened["sid"])
    record.sock.send("last words")
    record.sock.close()
    # Packets queued before close() are delivered first (JS flushes, then closes).
    await client.expect("message", data="last words")
    close = await client.expect("close", reason="transport close")
    for key, value in description.items():
        assert close["description"][key] == value
    assert await engine_server.wait_closed(record) == "forced close"
    await engine_server.wait_no_clients()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_client_close_seen_by_server(
    engine_server: EngineHarness, node: NodeFactory, transports: list[str]
) -> None:
    client = await start_client(node, engine_server, transports)
    opened = await client.expect("open")
    record = await engine_server.wait_session(opened["sid"])
    if len(transports) == 2:
        await client.expect("upgrade", transport="websocket")
        await engine_server.wait_upgraded(record)
    await client.send_text("bye")
    await engine_server.wait_message(record)
    await client.command("close")
    assert (await client.expect("close"))["reason"] == "forced close"
    # JS: polling gets a close packet in a POST, WebSocket a closing handshake; both are
    # "transport close" on the server.
    assert await engine_server.wait_closed(record) == "transport close"
    await engine_server.wait_no_clients()


async def test_many_clients_at_once(engine_factory: EngineFactory, node: NodeFactory) -> None:
    server = await engine_factory()
    clients = [
        await start_client(node, server, transports)
        for transports in (["polling"], ["websocket"], ["polling", "websocket"])
    ]
    sids = [(await client.expect("open"))["sid"] for client in clients]
    assert len(set(sids)) == 3
    for client, sid in zip(clients, sids, strict=True):
        await client.send_text(f"to {sid}")
        await client.expect("message", data=f"to {sid}")
    for client in clients:
        await client.command("close")
    await server.wait_no_clients()
