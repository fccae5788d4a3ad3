"""The PostgreSQL adapter against bad input and odd peers, on a real PostgreSQL: malformed
notifications and rows, a missing attachment table, a server that never answers, a flood,
namespace names too long for a channel.

Every operation between two socketwire servers runs in test_cluster_python.py (for
PostgreSQL too); with Node servers, in tests/interop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from integration.cluster_nodes import PyNode, eventually, start_node
from integration.postgres_fixtures import (  # noqa: F401  (fixtures)
    NotifyCapture,
    postgres_db,
    postgres_server,
)
from integration.postgres_server import PostgresServer
from socketwire import AsyncClient, ConnectError
from socketwire.adapters.cluster import ClusterError, ClusterTimeoutError
from socketwire.adapters.postgres import create_adapter
from socketwire.adapters.wire import WireError

CHANNEL = "socket.io#/"
STRANGER = "5742a46e6e7b2b2b"


@pytest.fixture
async def peer(postgres_db: str) -> AsyncIterator[NotifyCapture]:  # noqa: F811
    """A third party on the database: it hears everything on "/" and can notify anything."""
    capture = await NotifyCapture.open(postgres_db, CHANNEL)
    yield capture
    await capture.close()


async def _pair(dsn: str, **options: Any) -> tuple[PyNode, PyNode]:
    a = await start_node(create_adapter(dsn, **options))
    b = await start_node(create_adapter(dsn, **options))

    async def counted() -> bool:
        return await a.adapter().server_count() == 2 and await b.adapter().server_count() == 2

    await eventually(counted, "the two servers to count each other")
    return a, b


async def test_malformed_notifications_and_rows_are_logged_and_dropped(
    postgres_db: str,  # noqa: F811
    peer: NotifyCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = await _pair(postgres_db)
    try:
        await b.client("b1", [])
        bad_row = await peer.connection.fetchval(
            "INSERT INTO socket_io_attachments (payload) VALUES ($1) RETURNING id", b"\xc1junk"
        )
        garbage = [
            "not json",
            "[1, 2, 3]",
            '{"type": 99, "uid": "x", "nsp": "/"}',
            '{"type": 3, "uid": "x", "nsp": "/", "data": {"packet": 1}}',
            '{"uid": "x", "type": 3, "attachmentId": "1; DROP TABLE socket_io_attachments"}',
            '{"uid": "x", "type": 3, "attachmentId": "987654"}',  # no such row
            json.dumps({"uid": "x", "type": 3, "attachmentId": str(bad_row)}),
        ]
        caplog.set_level(logging.WARNING, "socketwire.adapters.postgres")
        for payload in garbage:
            await peer.notify(CHANNEL, payload)
        # A good message after the garbage still arrives: nothing crashed
        a.sio.emit("after")
        await b.inboxes["b1"].get("after")
        stats = b.adapter().client.stats
        assert stats.malformed == 6
        assert stats.missing == 1
        # The sender saw the garbage too
        await eventually(lambda: _true(a.adapter().client.stats.malformed == 6), "a's drops")
        lines = [r.getMessage() for r in caplog.records if r.name.endswith("postgres")]
        assert sum("dropping a malformed notification" in line for line in lines) == 10
        assert sum("dropping a malformed attachment" in line for line in lines) == 2
        assert sum("is gone (cleaned up?)" in line for line in lines) == 2
        assert await peer.connection.fetchval("SELECT count(*) FROM socket_io_attachments") >= 1
    finally:
        await a.close()
        await b.close()


async def test_a_missing_attachment_table_fails_loudly(
    postgres_server: PostgresServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Like Node, the adapter does not create the table: without it, what needs the table
    fails at once with the database's error; small messages still go."""
    dsn = postgres_server.dsn(postgres_server.create_database(attachments=False))
    a, b = await _pair(dsn)
    try:
        await b.client("b1", [])
        caplog.set_level(logging.ERROR, "socketwire.adapters.postgres")
        with pytest.raises(ClusterError, match="socket_io_attachments"):
            await a.sio.server_side_emit_with_ack("py-sse", b"\x00")
        a.sio.emit("binary", b"\x01")
        a.sio.emit("small")
        await b.inboxes["b1"].get("small")
        assert not b.inboxes["b1"].of("binary")
        assert a.adapter().client.stats.dropped == 2
        assert any(
            'relation "socket_io_attachments" does not exist' in r.getMessage()
            for r in caplog.records
        )
    finally:
        await a.close()
        await b.close()


async def test_a_server_that_never_answers(
    postgres_db: str,  # noqa: F811
    peer: NotifyCapture,
) -> None:
    """A stranger that heartbeats but answers nothing: counted, awaited by name until the
    timeout; forgotten at once when it says ADAPTER_CLOSE, or when it falls silent."""
    node = await start_node(
        create_adapter(
            postgres_db, requests_timeout=0.5, heartbeat_interval=0.2, heartbeat_timeout=0.6
        )
    )
    uid = node.adapter().uid
    try:
        await peer.notify(CHANNEL, json.dumps({"type": 1, "uid": STRANGER, "nsp": "/"}))

        # The node answers the stranger's INITIAL_HEARTBEAT with a HEARTBEAT, and counts it
        def answered(found: list[dict[str, Any]]) -> bool:
            after = [m for m in found if m["uid"] == uid]
            return any(m.get("type") == 2 for m in after)

        await peer.wait(answered, "a heartbeat in answer")
        assert await node.adapter().server_count() == 2
        with pytest.raises(ClusterTimeoutError) as caught:
            await node.sio.fetch_sockets()
        assert f"not answered: {STRANGER}" in str(caught.value)
        assert CHANNEL in str(caught.value)

        # ADAPTER_CLOSE while a request waits for the stranger: it completes, not times out
        await peer.notify(CHANNEL, json.dumps({"type": 2, "uid": STRANGER, "nsp": "/"}))
        pending = asyncio.ensure_future(node.sio.server_side_emit_with_ack("py-sse"))
        await peer.wait(
            lambda found: any(m.get("type") == 9 and m["uid"] == uid for m in found),
            "the server-side emit",
        )
        await peer.notify(CHANNEL, json.dumps({"type": 13, "uid": STRANGER, "nsp": "/"}))
        assert await pending == []
        assert await node.adapter().server_count() == 1

        # Heard once more, then silent: forgotten after the heartbeat timeout
        await peer.notify(CHANNEL, json.dumps({"type": 2, "uid": STRANGER, "nsp": "/"}))

        async def counted(count: int) -> bool:
            return await node.adapter().server_count() == count

        await eventually(lambda: counted(2), "the stranger to be counted again")
        await eventually(lambda: counted(1), "the silent stranger to be forgotten")
    finally:
        await node.close()


async def test_a_flood_of_notifications_is_bounded(
    postgres_db: str,  # noqa: F811
    peer: NotifyCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """More notifications at once than ``max_queued``: the excess is dropped and logged."""
    a, b = await _pair(postgres_db, max_queued=5)
    try:
        await b.client("b1", [])
        caplog.set_level(logging.ERROR, "socketwire.adapters.postgres")
        stats = b.adapter().client.stats
        before = stats.received + stats.dropped
        async with peer.connection.transaction():
            # Delivered together, at commit (distinct payloads: PostgreSQL folds duplicates)
            for index in range(200):
                heartbeat = {"type": 2, "uid": f"{index:016x}", "nsp": "/admin"}
                await peer.notify(CHANNEL, json.dumps(heartbeat))
        await eventually(
            lambda: _true(stats.received + stats.dropped >= before + 200), "the flood to arrive"
        )
        assert stats.dropped > 0
        assert any("wait to be handled; dropping" in r.getMessage() for r in caplog.records)
        a.sio.emit("after")
        await b.inboxes["b1"].get("after")
    finally:
        await a.close()
        await b.close()


async def test_namespace_names_too_long_for_a_channel(postgres_db: str) -> None:  # noqa: F811
    node = await start_node(create_adapter(postgres_db))
    node.sio.of(re.compile(r"^/dyn-"))
    client = AsyncClient(reconnection=False, transports=["websocket"])
    try:
        with pytest.raises(WireError, match="PostgreSQL allows 63"):
            node.sio.of("/" + "n" * 53)
        with pytest.raises(ConnectError, match="Invalid namespace"):
            await client.connect(node.url, namespaces=["/dyn-" + "x" * 60], wait_timeout=5)
    finally:
        await client.disconnect()
        await node.close()


async def test_invalid_options(postgres_db: str) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="invalid attachment table name"):
        create_adapter(postgres_db, table_name="x; DROP TABLE y")
    with pytest.raises(ValueError, match="payload_threshold"):
        create_adapter(postgres_db, payload_threshold=9000)


async def test_another_table_and_prefix(postgres_db: str) -> None:  # noqa: F811
    """``table_name`` and ``channel_prefix``: every server of the cluster uses the same."""
    connection = await asyncpg.connect(postgres_db)
    try:
        await connection.execute(
            "CREATE SCHEMA app; CREATE TABLE app.blobs (id bigserial UNIQUE, "
            "created_at timestamptz DEFAULT NOW(), payload bytea)"
        )
    finally:
        await connection.close()
    a, b = await _pair(postgres_db, table_name="app.blobs", channel_prefix="my-app")
    try:
        assert a.adapter().channel == "my-app#/"
        await b.client("b1", [])
        a.sio.emit("bin", b"\x01" * 10)
        assert await b.inboxes["b1"].get("bin") == [[b"\x01" * 10]]
        assert a.adapter().client.stats.attached == 1
    finally:
        await a.close()
        await b.close()


async def _true(value: bool) -> bool:
    return value


async def test_a_database_that_is_not_there_yet(
    postgres_server: PostgresServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server starts anyway; what it is asked to send meanwhile is dropped after
    ``publish_timeout``, loudly; it LISTENs (and joins the cluster) once the database is
    there, without a restart."""
    name = "late_database"
    dsn = postgres_server.dsn(name)
    caplog.set_level(logging.ERROR, "socketwire.adapters.postgres")
    node = await start_node(create_adapter(dsn, publish_timeout=0.3))
    other: PyNode | None = None
    try:
        client = node.adapter().client
        assert not client.listening
        node.sio.emit("lost")
        await eventually(lambda: _true(client.stats.dropped == 1), "the message to be dropped")
        lines = [r.getMessage() for r in caplog.records]
        assert sum("cannot LISTEN on PostgreSQL" in line for line in lines) == 1
        assert any("dropping ClusterBroadcast for socket.io#/" in line for line in lines)

        await asyncio.to_thread(postgres_server.psql, f"CREATE DATABASE {name}")
        await eventually(lambda: _true(client.listening), "the server to LISTEN")
        other = await start_node(create_adapter(dsn))

        async def counted() -> bool:
            return await node.adapter().server_count() == 2

        await eventually(counted, "the servers to count each other")
    finally:
        await node.close()
        if other is not None:
            await other.close()
