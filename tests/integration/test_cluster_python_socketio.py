"""A socketwire server in a python-socketio 5.x cluster: a real python-socketio server
(``AsyncServer`` on uvicorn, in a subprocess) and a socketwire server with
``socketwire.adapters.python_socketio``, clients on each, every operation both ways; pickled
messages refused, never unpickled. Each test runs on both brokers: one redis-server
(``AsyncRedisManager``) and one RabbitMQ node (``AsyncAioPikaManager``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from conftest import NodeDriver, from_js, to_js
from integration.cluster_nodes import (
    WAIT,
    Inbox,
    PyNode,
    connect_client,
    eventually,
    start_node,
)
from integration.rabbitmq_server import (
    RabbitServer,
    rabbitmq_server,  # noqa: F401  (fixture)
)
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from socketwire import AckTimeoutError, AsyncClient
from socketwire.adapters.python_socketio import FormatLimitError, create_adapter

pytestmark = pytest.mark.integration

NODE_SCRIPT = Path(__file__).with_name("pysio_node.py")
#: Bound on the python-socketio node starting (a new interpreter on a loaded machine).
STARTUP = 30.0


class PysioNode:
    """The python-socketio server subprocess (driven as the Node drivers are) and its
    clients."""

    def __init__(self, driver: NodeDriver) -> None:
        self.driver = driver
        self.port = 0
        self.clients: dict[str, AsyncClient] = {}
        self.inboxes: dict[str, Inbox] = {}
        self.ids: dict[str, str] = {}

    @classmethod
    async def start(cls, broker: Broker) -> PysioNode:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(NODE_SCRIPT),
            json.dumps({broker.kind: broker.url}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        node = cls(NodeDriver(proc, "python-socketio"))
        # a fresh interpreter imports python-socketio, uvicorn and redis first
        node.port = (await node.expect("listening", within=STARTUP))["port"]
        return node

    async def expect(self, event: str, within: float = WAIT, **fields: Any) -> dict[str, Any]:
        """Wait for, and consume, the node's first ``event`` whose fields match."""
        return await self.driver.expect(event, within, **fields)

    async def command(self, cmd: str, **fields: Any) -> None:
        """Run a command on the node and wait until it has."""
        await self.driver.command(cmd, **fields)

    async def client(self, name: str, rooms: list[str] | None = None) -> str:
        client, inbox, sid = await connect_client(f"http://127.0.0.1:{self.port}", name, rooms)
        await self.expect("connect", sid=sid, name=name)
        self.clients[name], self.inboxes[name], self.ids[name] = client, inbox, sid
        return sid

    async def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.disconnect()
        await self.driver.stop()  # its stdin closed: the node exits


Mixed = tuple[PyNode, PysioNode]


@dataclass(frozen=True)
class Broker:
    """Where the cluster meets: ``kind`` is ``redis`` or ``amqp``."""

    kind: str
    url: str

    async def publish_raw(self, *payloads: bytes) -> None:
        """Publish ``payloads`` as they are on python-socketio's default channel (a Redis
        channel, or a fanout exchange), as a foreign server would."""
        if self.kind == "redis":
            redis = Redis.from_url(self.url)
            try:
                for payload in payloads:
                    await redis.publish("socketio", payload)
            finally:
                await redis.aclose()
            return
        import aio_pika

        connection = await aio_pika.connect(self.url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange("socketio", aio_pika.ExchangeType.FANOUT)
            for payload in payloads:
                await exchange.publish(aio_pika.Message(payload), routing_key="*")


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest) -> Broker:
    """A redis-server of the test's own, or the session's RabbitMQ node."""
    if request.param == "redis":
        return Broker("redis", request.getfixturevalue("redis_server").url)
    return Broker("amqp", request.getfixturevalue("rabbitmq_server").url)


@pytest.fixture
async def mixed(broker: Broker) -> AsyncIterator[Mixed]:
    """A socketwire server and a python-socketio server, each hearing the other."""
    async with mixed_cluster(broker) as nodes:
        yield nodes


@contextlib.asynccontextmanager
async def mixed_cluster(broker: Broker) -> AsyncIterator[Mixed]:
    """A socketwire server and a python-socketio server on ``broker``, each hearing the
    other."""
    py = await start_node(create_adapter(broker.url))
    ps = await PysioNode.start(broker)
    try:
        if broker.kind == "redis":

            async def counted() -> bool:
                return bool(await py.adapter().server_count() == 2)

            await eventually(counted, "both servers on the channel")
        else:
            # AMQP cannot count the queues an exchange feeds: this server alone.
            assert await py.adapter().server_count() == 1
            # python-socketio binds its queue in the background: wait until it hears us.
            client, inbox, _sid = await connect_client(f"http://127.0.0.1:{ps.port}", "probe")

            async def heard() -> bool:
                if not inbox.of("probe"):
                    py.sio.emit("probe")  # again: the ones before found no queue
                return bool(inbox.of("probe"))

            try:
                await eventually(heard, "python-socketio's queue on the exchange")
            finally:
                await client.disconnect()
        yield py, ps
    finally:
        await ps.close()
        await py.close()


async def test_broadcasts_both_ways(mixed: Mixed) -> None:
    py, ps = mixed
    await py.client("w1", ["red"])
    await py.client("w2", ["blue"])
    await ps.client("p1", ["red"])
    await ps.client("p2", ["blue"])

    # python-socketio -> everyone, a room, rooms, everyone but a socket (binary included)
    await ps.command("emit", ev="all", args=to_js(["from-ps", b"\x00\xff", {"n": [1, b"\x01"]}]))
    await ps.command("emit", ev="red", args=["r"], to="red")
    await ps.command("emit", ev="both", args=[], to=["red", "blue"])
    await ps.command("emit", ev="not-w1", args=[1], skip_sid=py.ids["w1"])
    for inbox in (*py.inboxes.values(), *ps.inboxes.values()):
        assert (await inbox.get("all"))[0] == ["from-ps", b"\x00\xff", {"n": [1, b"\x01"]}]
        assert (await inbox.get("both"))[0] == []
    assert await py.inboxes["w1"].get("red") == [["r"]]
    assert await ps.inboxes["p1"].get("red") == [["r"]]
    for name in ("w2",):
        await py.inboxes[name].get("not-w1")
    for name in ("p1", "p2"):
        await ps.inboxes[name].get("not-w1")

    # socketwire -> everyone, a room, everyone but a socket
    py.sio.emit("from-sw", b"\x07", {"a": 1})
    py.sio.to("blue").emit("blue", "b")
    py.sio.except_(ps.ids["p1"]).emit("not-p1")
    for inbox in (*py.inboxes.values(), *ps.inboxes.values()):
        assert (await inbox.get("from-sw"))[0] == [b"\x07", {"a": 1}]
    assert await ps.inboxes["p2"].get("blue") == [["b"]]
    assert await py.inboxes["w2"].get("blue") == [["b"]]
    await ps.inboxes["p2"].get("not-p1")
    await py.inboxes["w1"].get("not-p1")
    # a marker last: nothing else is in flight
    py.sio.emit("marker")
    await ps.command("emit", ev="marker2", args=[])
    for inbox in (*py.inboxes.values(), *ps.inboxes.values()):
        await inbox.get("marker")
        await inbox.get("marker2")
    assert not py.inboxes["w1"].of("not-w1")
    assert not ps.inboxes["p1"].of("not-p1")
    assert not ps.inboxes["p1"].of("blue")
    assert not py.inboxes["w2"].of("red")
    assert py.adapter().stats.refused_pickled == 0
    assert py.adapter().stats.received >= 5


async def test_rooms_from_the_other_side(mixed: Mixed) -> None:
    py, ps = mixed
    w1 = await py.client("w1")
    p1 = await ps.client("p1")

    # python-socketio makes a socketwire socket join and leave a room
    await ps.command("enter_room", sid=w1, room="vip")

    async def joined() -> bool:
        return "vip" in py.sio.of("/").sockets[w1].rooms

    await eventually(joined, "enter_room from python-socketio")
    await ps.command("emit", ev="vip", args=[1], to="vip")
    assert await py.inboxes["w1"].get("vip") == [[1]]
    await ps.command("leave_room", sid=w1, room="vip")

    async def left() -> bool:
        return "vip" not in py.sio.of("/").sockets[w1].rooms

    await eventually(left, "leave_room from python-socketio")

    # socketwire makes a python-socketio socket join, then leave, a room
    await py.sio.in_(p1).sockets_join("team")
    # One channel, handled in order by python-socketio: once p1 has this, it applied the join.
    py.sio.to("team").emit("team-sw", 3)
    assert await ps.inboxes["p1"].get("team-sw") == [[3]]
    await ps.command("emit", ev="team", args=[2], to="team")
    assert await ps.inboxes["p1"].get("team") == [[2]]
    await py.sio.in_(p1).sockets_leave("team")
    py.sio.emit("barrier")
    await ps.inboxes["p1"].get("barrier", 1)
    py.sio.to("team").emit("team-sw", 4)
    py.sio.emit("marker")
    await ps.inboxes["p1"].get("marker")
    assert ps.inboxes["p1"].of("team-sw") == [[3]]

    # close_room both ways
    await ps.command("enter_room", sid=w1, room="c")
    await eventually(_has_room(py, w1, "c"), "w1 in c")
    await ps.command("close_room", room="c")
    await eventually(_not(_has_room(py, w1, "c")), "close_room from python-socketio")
    await py.sio.in_(p1).sockets_join("d")
    py.sio.to("d").emit("d-sw")
    await ps.inboxes["p1"].get("d-sw")
    await py.sio.in_("d").sockets_leave("d")  # close_room
    # Once this arrives, python-socketio applied the close_room published before it.
    py.sio.emit("barrier")
    await ps.inboxes["p1"].get("barrier", 2)
    await ps.command("emit", ev="d-after", args=[], to="d")
    await ps.command("emit", ev="marker", args=[])
    await ps.inboxes["p1"].get("marker")
    assert not ps.inboxes["p1"].of("d-after")


def _has_room(py: PyNode, sid: str, room: str) -> Any:
    async def check() -> bool:
        return room in py.sio.of("/").sockets[sid].rooms

    return check


def _not(check: Any) -> Any:
    async def negated() -> bool:
        return not await check()

    return negated


async def test_disconnect_both_ways(mixed: Mixed) -> None:
    py, ps = mixed
    w1 = await py.client("w1")
    p1 = await ps.client("p1")
    await ps.command("disconnect", sid=w1)
    await py.inboxes["w1"].get("<disconnect>")
    assert py.inboxes["w1"].disconnects == ["io server disconnect"]
    await py.sio.in_(p1).disconnect_sockets()
    await ps.inboxes["p1"].get("<disconnect>")
    assert ps.inboxes["p1"].disconnects == ["io server disconnect"]
    await ps.expect("disconnect", sid=p1)


async def test_callbacks_both_ways(mixed: Mixed) -> None:
    py, ps = mixed
    w1 = await py.client("w1")
    p1 = await ps.client("p1")
    # python-socketio asks a socketwire client
    await ps.command("emit", ev="ask", args=to_js(["q", b"\x01"]), to=w1, ref=7)
    reply = await ps.expect("callback", ref=7)
    assert from_js(reply["args"]) == ["ack-w1"]
    assert (await py.inboxes["w1"].get("ask"))[0] == ["q", b"\x01"]
    # socketwire asks a python-socketio client
    assert await py.sio.to(p1).timeout(5).emit_with_ack("ask", 1) == ["ack-p1"]
    # and its own, alongside
    assert await py.sio.to(w1).timeout(5).emit_with_ack("ask") == ["ack-w1"]
    # a client that never answers: the timeout, with nothing
    ps.clients["p1"].socket("/").off("ask")
    with pytest.raises(AckTimeoutError):
        await py.sio.to(p1).timeout(0.5).emit_with_ack("ask")
    # the unanswered callback is forgotten a second after its timeout
    pending = py.adapter()._callbacks

    async def forgotten() -> bool:
        return not pending

    await eventually(forgotten, "the unanswered callback to be forgotten")


async def test_what_the_format_cannot_carry(mixed: Mixed) -> None:
    py, _ps = mixed
    with pytest.raises(FormatLimitError):
        await py.sio.server_side_emit("hello")
    await py.client("w1")
    assert [s.id for s in await py.sio.fetch_sockets()] == [py.ids["w1"]]


_unpickled: list[str] = []


def _record(value: str) -> None:
    _unpickled.append(value)


class _Exploit:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_record, ("unpickled!",))


async def test_pickled_and_malformed_messages_are_refused(mixed: Mixed, broker: Broker) -> None:
    py, ps = mixed
    await py.client("w1")
    # what python-socketio before 5.14 published, with a payload that acts if unpickled
    message = {"method": "emit", "event": "x", "data": [_Exploit()], "host_id": "old"}
    await broker.publish_raw(
        pickle.dumps(message),
        b"{not json",
        json.dumps({"method": "emit", "host_id": "h"}).encode(),
    )
    stats = py.adapter().stats

    async def counted() -> bool:
        return stats.refused_pickled == 1 and stats.malformed == 2

    await eventually(counted, "the refusals")
    assert _unpickled == []
    # the cluster goes on
    await ps.command("emit", ev="still", args=[])
    await py.inboxes["w1"].get("still")
    assert not py.inboxes["w1"].of("x")


async def _within(seconds: float, check: Any, what: str) -> None:
    """Poll ``check()`` until true, failing after ``seconds`` (a bound longer than WAIT,
    for python-socketio's own reconnection delays)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.05)


#: python-socketio's publisher reconnects after aio-pika's 5 s interval, its reader after 1 s.
PYSIO_RECONNECT = 30.0


async def test_amqp_link_reconnects(rabbitmq_server: RabbitServer) -> None:  # noqa: F811
    """The broker closes every connection: socketwire's link reconnects with a fresh queue,
    and the cluster works both ways again."""
    async with mixed_cluster(Broker("amqp", rabbitmq_server.url)) as (py, ps):
        await py.client("w1")
        await ps.client("p1")
        link = py.adapter().link
        await asyncio.to_thread(rabbitmq_server.close_connections)

        async def reconnected() -> bool:
            return link.stats.disconnects >= 1 and link.stats.reconnects >= 1

        await _within(PYSIO_RECONNECT, reconnected, "socketwire's link to reconnect")

        async def sw_to_ps() -> bool:
            if not ps.inboxes["p1"].of("again-sw"):
                py.sio.emit("again-sw")
            return bool(ps.inboxes["p1"].of("again-sw"))

        async def ps_to_sw() -> bool:
            if not py.inboxes["w1"].of("again-ps"):
                await ps.command("emit", ev="again-ps", args=[])
            return bool(py.inboxes["w1"].of("again-ps"))

        await _within(PYSIO_RECONNECT, sw_to_ps, "a broadcast from socketwire after it")
        await _within(PYSIO_RECONNECT, ps_to_sw, "a broadcast from python-socketio after it")
        assert py.adapter().stats.refused_pickled == 0
