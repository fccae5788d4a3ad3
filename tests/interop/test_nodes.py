"""Two socketwire nodes on Redis behind a plain round-robin load balancer (no stickiness).

``socketwire serve app:sio`` runs twice, each node with the classic Redis adapter on one
redis-server, behind Debian's nginx in round robin with no keep-alive to the nodes: each
request of the official socket.io-client 4.8 (polling opens a new TCP connection per
request) lands on either node. A request for the other node's session is forwarded to it
through Redis (socketwire.io.forwarding); an upgrade that lands on the other node is relayed
both ways. A Node socket.io 4.8 server with @socket.io/redis-adapter 8.3 is in the same
cluster, outside the load balancer, with a client of its own. Each node reports what it
forwarded when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import NodeDriver, NodeFactory, RawWebSocket, http_request, wait_until
from integration._processes import Running, serve_process
from integration.nginx_proxy import NGINX, NginxProxy, round_robin
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer

pytestmark = [pytest.mark.interop, pytest.mark.integration]

APP = textwrap.dedent(
    """
    import os

    import socketwire
    from socketwire.adapters.redis import create_adapter

    sio = socketwire.Server(
        adapter=create_adapter(os.environ["SW_REDIS"]),
        ping_interval=2,
        ping_timeout=2,
        forward_timeout=2,
    )


    @sio.on("connection")
    async def on_connection(socket):
        socket.emit("hello", os.getpid(), socket.conn.sid)

        @socket.on("join")
        async def join(room):
            socket.join(room)
            return os.getpid()

        @socket.on("shout")
        async def shout(room, text):
            sio.to(room).emit("shout", text, os.getpid())
            return os.getpid()

        @socket.on("ask")
        async def ask():
            return sorted(await sio.timeout(5).emit_with_ack("question"))

        @socket.on("stats")
        async def stats():
            counts = sio.engine.forwarder.stats
            return [os.getpid(), counts.forwarded, counts.tunnels]
    """
)

MODES: dict[str, tuple[list[str], bool]] = {
    "polling": (["polling"], False),
    "upgrade": (["polling", "websocket"], True),
    "websocket": (["websocket"], False),
}
CLIENTS = 4
#: At most this many, waiting for sessions on both nodes (and a relayed upgrade).
MAX_CLIENTS = 24
SUMMARY = re.compile(
    r"forwarded (\d+) request\(s\) and (\d+) WebSocket\(s\) to other nodes, served (\d+) "
    r"request\(s\) and (\d+) WebSocket\(s\) for them; (\d+) request\(s\) found"
)
UNKNOWN = {"code": 1, "message": "Session ID unknown"}


@dataclass
class Cluster:
    """Two socketwire nodes behind nginx, and a Node server in the same Redis cluster."""

    nodes: list[Running]
    proxy: NginxProxy
    node_server: NodeDriver
    drivers: list[Any] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, redis: RedisServer, node: NodeFactory, workers: int = 1
) -> AsyncIterator[Cluster]:
    """The cluster; the first node with ``workers`` worker processes."""
    if NGINX is None:
        pytest.skip("nginx is not installed (run `make system-deps`)")
    (tmp_path / "app.py").write_text(APP)
    env = {"SW_REDIS": redis.url}
    node_server = await node("cluster_capture.js", {"redis": redis.url, "adapter": "classic"})
    await node_server.expect("ready")
    options = ("--workers", str(workers)) if workers > 1 else ()
    async with (
        serve_process("app:sio", *options, cwd=tmp_path, env=env) as first,
        serve_process("app:sio", cwd=tmp_path, env=env) as second,
    ):
        if workers > 1:
            await wait_until(
                lambda: "".join(first.stdout).count(") serving") >= workers, "the workers"
            )
        with round_robin([first.port, second.port], tmp_path / "nginx") as proxy:
            yield Cluster([first, second], proxy, node_server)


def pids_of(nodes: list[Running]) -> set[int]:
    """The pids of the processes serving (a node's, or its workers')."""
    pids: set[int] = set()
    for running in nodes:
        workers = re.findall(r"\(pid (\d+)\) serving", "".join(running.stdout))
        if workers:
            pids.update(int(pid) for pid in workers)
        else:
            pids.add(running.proc.pid)
    return pids


async def ack(driver: Any, ev: str, *args: Any, ref: int = 1) -> Any:
    """Emit ``ev`` with an ack and return the first value of the answer."""
    await driver.command("emit", name="a", ev=ev, args=list(args), ref=ref, timeout=8000)
    answer = await driver.expect("ack_response", name="a", ref=ref)
    assert "error" not in answer, answer
    return answer["args"][0]


async def connect_clients(
    node: NodeFactory, sw: Cluster, mode: str, **options: Any
) -> tuple[int, int]:
    """Official clients through nginx until there are at least `CLIENTS`, sessions on both
    nodes and (with upgrade) an upgrade relayed by the other node; ``(forwarded requests,
    relayed WebSockets)`` so far, by the nodes' own count."""
    async with _other_traffic(sw.proxy.port):
        return await _connect_clients(node, sw, mode, **options)


@contextlib.asynccontextmanager
async def _other_traffic(port: int) -> AsyncIterator[None]:
    """Other requests through the balancer meanwhile, as on any shared load balancer.

    Round robin is strict and the official client deterministic: without them its upgrade
    would always land a fixed number of requests after its handshake, so always on the same
    node as the handshake (or never).
    """

    async def run() -> None:
        while True:
            await http_request(port, "GET", "/elsewhere")
            await asyncio.sleep(0.002)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _connect_clients(
    node: NodeFactory, sw: Cluster, mode: str, **options: Any
) -> tuple[int, int]:
    transports, upgrade = MODES[mode]
    forwarded = tunnels = 0
    while len(sw.drivers) < MAX_CLIENTS:
        driver = await node(
            "sio_client.js",
            {"url": sw.proxy.url, "transports": transports, "upgrade": upgrade, "options": options},
        )
        await driver.command("socket", name="a", nsp="/")
        await driver.expect("connect", name="a")
        if upgrade:
            await driver.expect("upgrade")
        pid, sid = (await driver.expect("ev", name="a", ev="hello"))["args"]
        sw.drivers.append(driver)
        sw.pids.append(pid)
        sw.sids.append(sid)
        # Each node's counts, asked through one of its clients.
        counts = {}
        for i, owner in enumerate(sw.pids):
            if owner not in counts:
                counts[owner] = await ack(sw.drivers[i], "stats", ref=1000 + len(sw.drivers))
        forwarded = sum(c[1] for c in counts.values())
        tunnels = sum(c[2] for c in counts.values())
        both = set(sw.pids) == pids_of(sw.nodes)
        if len(sw.drivers) >= CLIENTS and both and (mode != "upgrade" or tunnels > 0):
            return forwarded, tunnels
    pytest.fail(f"{MAX_CLIENTS} clients: sessions on {set(sw.pids)}, {tunnels} relayed")


async def stop_and_summarise(sw: Cluster) -> list[tuple[int, ...]]:
    """Stop the nodes; what each one says it forwarded and served."""
    found = []
    for running in sw.nodes:
        if running.proc.returncode is None:
            assert await running.stop(signal.SIGTERM) == 0
            lines = SUMMARY.findall("".join(running.stdout))
            assert lines, running.stdout
            found += [tuple(int(n) for n in line) for line in lines]
    return found


@pytest.mark.parametrize("mode", list(MODES))
async def test_two_nodes_behind_a_round_robin_balancer(
    node: NodeFactory,
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    mode: str,
) -> None:
    async with cluster(tmp_path, redis_server, node) as sw:
        await sw.node_server.command("client", name="n", rooms=["even"])
        await sw.node_server.expect("client_connect", name="n")
        await connect_clients(node, sw, mode)
        drivers, pids = sw.drivers, sw.pids

        # events with acks: every request of the session reaches its owner
        for i, driver in enumerate(drivers):
            room = "even" if i % 2 == 0 else "odd"
            assert await ack(driver, "join", room, ref=10 + i) == pids[i]

        # a broadcast to a room, from a client of one node: both nodes' clients and the
        # Node server's client in that room get it
        sender = next(i for i, pid in enumerate(pids) if pid != pids[0])
        assert await ack(drivers[sender], "shout", "even", "hi", ref=2) == pids[sender]
        for i, driver in enumerate(drivers):
            if i % 2 == 0:
                event = await driver.expect("ev", name="a", ev="shout")
                assert event["args"] == ["hi", pids[sender]]
        assert (await sw.node_server.expect("client_ev", name="n", ev="shout"))["args"] == [
            "hi",
            pids[sender],
        ]

        # a broadcast from the Node server to the other room
        await sw.node_server.command(
            "emit", nsp="/", rooms=["odd"], ev="from-node", args=["hello", 1]
        )
        for i, driver in enumerate(drivers):
            if i % 2 == 1:
                event = await driver.expect("ev", name="a", ev="from-node")
                assert event["args"] == ["hello", 1]
        # the even ones got nothing: their first "from-node" is the next one, to all
        await sw.node_server.command("emit", nsp="/", rooms=[], ev="from-node", args=["all"])
        for driver in drivers:
            event = await driver.expect("ev", name="a", ev="from-node")
            assert event["args"] == ["all"]

        # a broadcast with acks: every client of the cluster answers, the Node one too
        for driver in drivers:
            await driver.command("reply", name="a", ev="question", args=["yes"])
        answers = await ack(drivers[0], "ask", ref=3)
        assert answers == sorted(["yes"] * len(drivers) + ["ack-n"])

        for driver in drivers:
            await driver.stop()
        summaries = await stop_and_summarise(sw)
    forwarded = sum(s[0] for s in summaries)
    served = sum(s[2] for s in summaries)
    relayed = sum(s[1] for s in summaries)
    if mode == "websocket":
        assert forwarded == relayed == 0  # a WebSocket-only session has a single request
    else:
        assert forwarded > 0, "requests should have landed on the other node"
        assert served > 0
    if mode == "upgrade":
        assert relayed > 0


@pytest.mark.parametrize("mode", ["polling", "upgrade"])
async def test_a_killed_nodes_sessions_are_unknown_through_the_other(
    node: NodeFactory,
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    mode: str,
) -> None:
    async with cluster(tmp_path, redis_server, node) as sw:
        await connect_clients(
            node, sw, mode, reconnection=True, reconnectionDelay=100, reconnectionDelayMax=500
        )
        victim = sw.pids[0]
        [dead] = [running for running in sw.nodes if running.proc.pid == victim]
        [alive] = [running for running in sw.nodes if running is not dead]
        dead.proc.send_signal(signal.SIGKILL)
        assert await dead.proc.wait() == -signal.SIGKILL

        # A request for a dead session, wherever nginx sends it first, is answered by the
        # live node: the owner is gone, the session unknown.
        target = f"/socket.io/?EIO=4&transport=polling&sid={sw.sids[0]}"
        for _ in range(2):
            polled = await http_request(sw.proxy.port, "GET", target)
            assert (polled.status, polled.json()) == (400, UNKNOWN)
        upgrade = target.replace("polling", "websocket")
        ws, response = await RawWebSocket.connect(sw.proxy.port, upgrade)
        await ws.close()
        assert (response.status, response.body) == (400, b"Session ID unknown")

        # The victim's clients reconnect, to the live node; nothing hangs.
        for driver, pid in zip(sw.drivers, sw.pids, strict=True):
            if pid == victim:
                await driver.expect("disconnect", name="a")
                event = await driver.expect("ev", name="a", ev="hello")
                assert event["args"][0] == alive.proc.pid
        survivors = [d for d, pid in zip(sw.drivers, sw.pids, strict=True) if pid != victim]
        for driver in survivors:
            assert await ack(driver, "join", "room", ref=77) == alive.proc.pid
            if driver.seen("disconnect", name="a"):
                # A request of this session was on its way through the killed node (which
                # relayed it): the client saw a transport error and came back.
                event = await driver.expect("ev", name="a", ev="hello")
                assert event["args"][0] == alive.proc.pid
        for driver in sw.drivers:
            await driver.stop()
        [summary] = await stop_and_summarise(sw)
    assert summary[4] >= 3  # the requests above, at least, found the owner gone


async def test_a_node_with_workers_and_a_node_without(
    node: NodeFactory,
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Several machines each running ``--workers N``: on one machine a request is handed to
    the owning worker with its connection, across machines it is forwarded to it (polling,
    then an upgrade)."""
    async with cluster(tmp_path, redis_server, node, workers=2) as sw:
        await connect_clients(node, sw, "upgrade")
        drivers, pids = sw.drivers, sw.pids
        assert len(set(pids)) == 3  # both workers of the first node, and the second node
        for i, driver in enumerate(drivers):
            assert await ack(driver, "join", "all", ref=10 + i) == pids[i]
        assert await ack(drivers[0], "shout", "all", "everyone", ref=2) == pids[0]
        for driver in drivers:
            event = await driver.expect("ev", name="a", ev="shout")
            assert event["args"] == ["everyone", pids[0]]
        for driver in drivers:
            await driver.stop()
        summaries = await stop_and_summarise(sw)
    assert len(summaries) == 3
    assert sum(s[0] for s in summaries) > 0
    assert sum(s[1] for s in summaries) > 0
