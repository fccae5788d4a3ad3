"""What is particular to the PostgreSQL adapter, in a mixed cluster with a Node server running
``@socket.io/postgres-adapter`` 0.5.0 (js/cluster_capture.js): payloads over the NOTIFY
limit and binary through the attachment table, both ways; heartbeats and servers leaving;
the LISTEN connections killed and re-established; old attachments cleaned up.

The operations every adapter has (broadcast, rooms, fetch_sockets, server-side emit with
acks, join/leave, disconnect) run in test_cluster_mixed.py, for PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from cluster_harness import b64, emitter_moves_sockets, start_mixed

from conftest import NodeFactory
from integration.cluster_nodes import eventually
from integration.postgres_fixtures import (  # noqa: F401  (fixtures)
    NotifyCapture,
    postgres_db,
    postgres_server,
)
from socketwire.adapters.postgres import create_adapter
from socketwire.adapters.postgres_emitter import PostgresEmitter
from socketwire.adapters.wire.postgres import NOTIFY_LIMIT, Notification

pytestmark = pytest.mark.interop


@pytest.fixture
async def pg(postgres_db: str) -> AsyncIterator[Any]:  # noqa: F811
    """A connection to the test's database, for the test's own queries."""
    connection = await asyncpg.connect(postgres_db)
    yield connection
    await connection.close()


async def _rows(pg: Any) -> int:
    return int(await pg.fetchval("SELECT count(*) FROM socket_io_attachments"))


async def test_big_payloads_and_binary_through_the_table_both_ways(
    postgres_db: str,  # noqa: F811
    node: NodeFactory,
    pg: Any,
) -> None:
    async with start_mixed("postgres", postgres_db, node) as mixed:
        py = mixed.py
        sid = await py.client("p1", ["r"])
        py.sio.of("/").sockets[sid].data["avatar"] = b"\x89PNG"
        nid = await mixed.node_client("n1", ["r"])
        big = "é" * 5000  # 5000 characters, 10000 bytes of UTF-8

        # Python -> Node: a broadcast over the limit, binary, a server-side emit of both
        py.sio.emit("big", big)
        assert await mixed.node_got("n1", "big") == [big]
        py.sio.to("r").emit("bin", b"\x00\x01", {"nested": b"\xff"})
        assert await mixed.node_got("n1", "bin") == [b64(b"\x00\x01"), {"nested": b64(b"\xff")}]
        await py.sio.server_side_emit("py-sse", big, b"\x07")
        event = await mixed.node.expect("server_sse", nsp="/")
        assert event["args"] == [big, b64(b"\x07")]
        assert await py.sio.server_side_emit_with_ack("py-sse", big) == ["node-pong"]
        # Node fetches Python's socket, whose data holds bytes: the response is an attachment
        found = await mixed.node_result("fetch", nsp="/", rooms=["r"])
        mine = next(s for s in found if s["id"] == py.ids["p1"])
        assert mine["data"] == {"avatar": b64(b"\x89PNG")}

        # Node -> Python
        await mixed.node.command("emit", nsp="/", ev="big", args=[big])
        await mixed.node.command("emit", nsp="/", rooms=["r"], ev="bin", args=[b64(b"\x02")])
        # (p1 got socketwire's own broadcasts first)
        assert await py.inboxes["p1"].get("big", 2) == [[big], [big]]
        assert (await py.inboxes["p1"].get("bin", 2))[1] == [b"\x02"]
        await mixed.node.command("sse", nsp="/", args=["node-sse", big, b64(b"\x03")])
        await eventually(lambda: _value(bool(py.server_events)), "Node's big server-side emit")
        assert py.server_events == [("node-sse", [big, b"\x03"])]
        assert await mixed.node_result("sse_ack", nsp="/", args=["node-sse", big]) == ["py-pong"]
        # Many sockets on Node: its fetchSockets response passes the limit
        for index in range(12):
            await mixed.node_client(f"m{index}", ["many"])
        sockets = await py.sio.in_("many").fetch_sockets()
        assert len(sockets) == 12
        assert nid not in {s.id for s in sockets}
        assert await _rows(pg) >= 8


async def test_the_notify_limit_exactly(
    postgres_db: str,  # noqa: F811
    node: NodeFactory,
) -> None:
    """A JSON payload of exactly 8000 bytes: PostgreSQL refuses it, so socketwire sends it
    through the table (Node, which switches above 8000, would lose it)."""
    capture = await NotifyCapture.open(postgres_db, "socket.io#/")
    try:
        async with start_mixed("postgres", postgres_db, node) as mixed:
            await mixed.node_client("n1", [])
            adapter = mixed.py.adapter()
            empty = adapter.client.codec.encode(_broadcast(adapter, ""))
            assert isinstance(empty, Notification)
            overhead = len(empty.payload.encode())
            for size in (NOTIFY_LIMIT - 1, NOTIFY_LIMIT, NOTIFY_LIMIT + 1):
                text = "x" * (size - overhead)
                mixed.py.sio.emit(text)
                assert await mixed.node_got("n1", text) == []
                _channel, payload = capture.payloads[-1]
                sent = capture.decoded()[-1]
                assert sent["uid"] == adapter.uid
                assert sent["type"] == 3
                if size < NOTIFY_LIMIT:
                    assert len(payload.encode()) == size
                else:
                    assert "attachmentId" in sent
    finally:
        await capture.close()


def _broadcast(adapter: Any, text: str) -> Any:
    from socketwire.adapters.wire import WireOptions
    from socketwire.adapters.wire.cluster import ClusterBroadcast
    from socketwire.socketio import Packet, PacketType

    return ClusterBroadcast(adapter.uid, "/", Packet(PacketType.EVENT, "/", [text]), WireOptions())


async def test_heartbeats_keep_both_counted_and_a_crashed_node_is_dropped(
    postgres_db: str,  # noqa: F811
    node: NodeFactory,
) -> None:
    """Both sides heartbeat every 0.2 s and forget a silent server after 1 s."""
    capture = await NotifyCapture.open(postgres_db, "socket.io#/")
    fast = create_adapter(postgres_db, heartbeat_interval=0.2, heartbeat_timeout=1.0)
    options = {"heartbeatInterval": 200, "heartbeatTimeout": 1000}
    try:
        async with start_mixed("postgres", postgres_db, node, fast, options) as mixed:
            py_uid = mixed.py.adapter().uid
            node_uid = (mixed.node.seen("ready")[0])["uids"]["/"]

            def heartbeats(uid: str) -> Any:
                return lambda found: sum(m.get("type") == 2 and m["uid"] == uid for m in found)

            # Idle for over 1.2 s (six heartbeats each): still counted, by heartbeats alone
            await capture.wait(
                lambda found: heartbeats(py_uid)(found) >= 6 and heartbeats(node_uid)(found) >= 6,
                "six heartbeats from each server",
            )
            assert await mixed.py.adapter().server_count() == 2
            assert await mixed.node_result("server_count", nsp="/") == 2

            # Node dies without a word: socketwire forgets it after the timeout
            await mixed.node.command("exit_now")

            async def alone() -> bool:
                return await mixed.py.adapter().server_count() == 1

            await eventually(alone, "the dead Node server to be forgotten")
    finally:
        await capture.close()


async def test_a_server_that_leaves_is_forgotten_at_once_both_ways(
    postgres_db: str,  # noqa: F811
    node: NodeFactory,
) -> None:
    """ADAPTER_CLOSE, well before the (default, 10 s) heartbeat timeout."""
    async with start_mixed("postgres", postgres_db, node) as mixed:
        py = mixed.py

        async def both_count_admin() -> bool:
            return (
                await mixed.node_result("server_count", nsp="/admin") == 2
                and await py.adapter("/admin").server_count() == 2
            )

        await eventually(both_count_admin, "both servers to count each other on /admin")
        # Node's "/" adapter closes
        await mixed.node.command("close_adapter", nsp="/")

        async def py_alone() -> bool:
            return await py.adapter().server_count() == 1

        await eventually(py_alone, "socketwire to forget Node's closed adapter")
        # socketwire's "/admin" adapter closes
        await py.adapter("/admin").close()

        async def node_alone() -> bool:
            return await mixed.node_result("server_count", nsp="/admin") == 1

        await eventually(node_alone, "Node to forget socketwire's closed adapter")


async def _listen_backends(pg: Any, application_name: str) -> list[int]:
    """The backends of ``application_name`` whose last statement, finished, was a LISTEN
    (each server LISTENs on "/" first, so that one is in effect)."""
    rows = await pg.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = $1 AND query LIKE 'LISTEN%' AND state = 'idle'",
        application_name,
    )
    return [row["pid"] for row in rows]


@pytest.mark.parametrize("killed", ["socketwire", "node"])
async def test_a_killed_listen_connection_comes_back(
    killed: str,
    postgres_db: str,  # noqa: F811
    node: NodeFactory,
    pg: Any,
) -> None:
    """pg_terminate_backend on one server's LISTEN connection: it reconnects, LISTENs
    again, and messages flow both ways once more."""
    async with start_mixed("postgres", postgres_db, node) as mixed:
        py = mixed.py
        await py.client("p1", [])
        await mixed.node_client("n1", [])
        name = "socketwire" if killed == "socketwire" else ""  # node-pg sets no name
        before = await _listen_backends(pg, name)
        assert len(before) == 1
        assert await pg.fetchval("SELECT pg_terminate_backend($1)", before[0])

        async def listening_again() -> bool:
            now = await _listen_backends(pg, name)
            return len(now) == 1 and now != before

        await eventually(listening_again, f"{killed} to LISTEN again")
        if killed == "socketwire":
            assert py.adapter().client.stats.lost == 1
            assert py.adapter().client.stats.listens == 2
        py.sio.emit("from-py")
        await mixed.node_got("n1", "from-py")
        await mixed.node.command("emit", nsp="/", ev="from-node", args=[])
        await py.inboxes["p1"].get("from-node")
        assert sorted(await py.sio.timeout(5).emit_with_ack("ask")) == ["ack-n1", "ack-p1"]


async def test_old_attachments_are_cleaned_up(
    postgres_db: str,  # noqa: F811
    node: NodeFactory,
    pg: Any,
) -> None:
    """socketwire deletes rows older than ``cleanup_interval``, Node's included, every
    ``cleanup_interval`` (Node's own cleanup is 30 s away)."""
    quick = create_adapter(postgres_db, cleanup_interval=1.0)
    async with start_mixed("postgres", postgres_db, node, quick) as mixed:
        await mixed.py.client("p1", [])
        await mixed.node_client("n1", [])
        mixed.py.sio.emit("bin", b"\x01")
        await mixed.node_got("n1", "bin")
        await mixed.node.command("emit", nsp="/", ev="bin", args=[b64(b"\x02")])
        await mixed.py.inboxes["p1"].get("bin")
        # Node's row, just read, is younger than a second: still there
        assert await _rows(pg) >= 1

        async def cleaned() -> bool:
            return await _rows(pg) == 0

        await eventually(cleaned, "the old attachments to be deleted")
        assert mixed.py.adapter().client.stats.cleanups >= 1


async def _value(value: Any) -> Any:
    return value


async def test_the_postgres_emitter_into_a_mixed_cluster(
    postgres_db: str,  # noqa: F811
    node: NodeFactory,
    pg: Any,
) -> None:
    """socketwire's PostgresEmitter, a process with no server, into a socketwire server and a
    Node server (@socket.io/postgres-adapter 0.5.0): small, big and binary broadcasts (the
    last two through the attachment table), rooms and exceptions, server-side emits,
    sockets_join/leave, disconnect_sockets, another namespace; the servers do not count it."""
    emitter = PostgresEmitter(postgres_db)
    async with start_mixed("postgres", postgres_db, node) as mixed:
        py = mixed.py
        pid = await py.client("p1", ["r"])
        await mixed.node_client("n1", ["r"])
        await mixed.node_client("n2", ["other"])
        try:
            rows = await _rows(pg)
            big = "é" * 5000
            await emitter.emit("small", 1)
            await emitter.to("r").emit("big", big)
            await emitter.to(["r", "other"]).except_("other").emit("bin", b"\x00\xff")
            await emitter.compress(False).emit("marker")
            for name in ("n1", "n2"):
                assert await mixed.node_got(name, "small") == [1]
                await mixed.node_got(name, "marker")
            assert await mixed.node_got("n1", "big") == [big]
            assert await mixed.node_got("n1", "bin") == [b64(b"\x00\xff")]
            assert await py.inboxes["p1"].get("small") == [[1]]
            assert await py.inboxes["p1"].get("big") == [[big]]
            assert await py.inboxes["p1"].get("bin") == [[b"\x00\xff"]]
            await py.inboxes["p1"].get("marker")
            assert not mixed.node.seen("client_ev", name="n2", ev="big")
            assert not mixed.node.seen("client_ev", name="n2", ev="bin")
            assert await _rows(pg) == rows + 2  # the big and the binary one
            # server-side emits reach both servers' handlers
            await emitter.server_side_emit("py-sse", b"\x07")
            assert (await mixed.node.expect("server_sse", nsp="/"))["args"] == [b64(b"\x07")]
            await eventually(
                lambda: _value(("py-sse", [b"\x07"]) in py.server_events), "the emitter's sse"
            )
            with pytest.raises(ValueError, match="reserved"):
                await emitter.server_side_emit("connection")
            # remote control
            await emitter_moves_sockets(emitter, py, "r", 2)
            # the emitter is no server: each server still counts two
            assert await py.sio.of("/").adapter.server_count() == 2
            # another namespace, on the same pool
            await emitter.of("admin").emit("nowhere")
            await emitter.in_(pid).disconnect_sockets()
            await py.inboxes["p1"].get("<disconnect>")
            await emitter.to("other").disconnect_sockets(close=True)
            await mixed.node.expect("client_disconnect", name="n2")
            assert not py.inboxes["p1"].of("nowhere")
        finally:
            await emitter.aclose()
