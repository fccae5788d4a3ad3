"""``socketwire serve --workers 2`` against the official socket.io-client 4.8.

Two worker processes share one port (SO_REUSEPORT) and form one cluster through their
primary. The official client in Node polls with a new TCP connection per request (its
default: no HTTP agent), so its requests land on both workers: the one that does not own
the session hands the connection to the one that does. Each test checks that sessions
live on both workers, that handoffs happened (the workers report them when they stop), and
that broadcasts, rooms, acks, fetch_sockets, server-side emits and recovery cross workers.
"""

from __future__ import annotations

import os
import re
import signal
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_until
from integration._processes import Running, serve_process

pytestmark = [pytest.mark.interop, pytest.mark.integration]

APP = textwrap.dedent(
    """
    import os

    import socketwire

    sio = socketwire.Server(connection_state_recovery=True, ping_interval=2, ping_timeout=2)


    @sio.on("connection")
    async def on_connection(socket):
        socket.emit("hello", os.getpid())

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

        @socket.on("ids")
        async def ids():
            return sorted(s.id for s in await sio.fetch_sockets())

        @socket.on("others")
        async def others():
            return await sio.server_side_emit_with_ack("pid")


    @sio.on("pid")
    async def pid():
        return os.getpid()
    """
)

MODES: dict[str, tuple[list[str], bool]] = {
    "polling": (["polling"], False),
    "upgrade": (["polling", "websocket"], True),
    "websocket": (["websocket"], False),
}
#: Clients per test: enough that sessions land on both workers (the kernel picks).
CLIENTS = 6
#: At most this many, waiting for sessions on both workers (all on one: 2 in 2**30).
MAX_CLIENTS = 32
STATS = re.compile(
    r"worker (\d) stopped: handed (\d+) connection\(s\) to other workers, took (\d+)"
)


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[Running]:
    """``socketwire serve app:sio --workers 2`` on a free port."""
    (tmp_path / "app.py").write_text(APP)
    async with serve_process("app:sio", "--workers", "2", cwd=tmp_path) as running:
        await wait_until(
            lambda: "".join(running.stdout).count(") serving") >= 2, "both workers to serve"
        )
        yield running
        if running.proc.returncode is None:
            assert await running.stop(signal.SIGTERM) == 0


def worker_pids(running: Running) -> set[int]:
    """The pids of the workers serving now (from their "serving" lines)."""
    return {int(pid) for pid in re.findall(r"\(pid (\d+)\) serving", "".join(running.stdout))}


async def clients(
    node: Any, running: Running, mode: str, count: int = CLIENTS, **options: Any
) -> tuple[list[Any], list[int]]:
    """At least ``count`` official clients (one Engine.IO connection each) connected to "/",
    and the pid of the worker each one's session lives on. The kernel spreads connections
    at random: more are opened (up to `MAX_CLIENTS`) until both workers have some."""
    transports, upgrade = MODES[mode]
    drivers: list[Any] = []
    pids: list[int] = []
    while len(drivers) < count or (len(set(pids)) < 2 and len(drivers) < MAX_CLIENTS):
        driver = await node(
            "sio_client.js",
            {"url": running.url, "transports": transports, "upgrade": upgrade, "options": options},
        )
        await driver.command("socket", name="a", nsp="/")
        await driver.expect("connect", name="a")
        if upgrade:
            await driver.expect("upgrade")
        drivers.append(driver)
        pids.append((await driver.expect("ev", name="a", ev="hello"))["args"][0])
    assert set(pids) == worker_pids(running), "sessions should live on both workers"
    return drivers, pids


async def ack(driver: Any, ev: str, *args: Any, ref: int = 1) -> Any:
    """Emit ``ev`` with an ack and return the first value of the answer."""
    await driver.command("emit", name="a", ev=ev, args=list(args), ref=ref, timeout=8000)
    answer = await driver.expect("ack_response", name="a", ref=ref)
    assert "error" not in answer, answer
    return answer["args"][0]


async def stop_and_count_handoffs(running: Running) -> tuple[int, int]:
    """Stop the server; (connections handed over, connections taken over) by all workers."""
    assert await running.stop(signal.SIGTERM) == 0
    found = STATS.findall("".join(running.stdout))
    assert len(found) == 2, running.stdout
    return sum(int(sent) for _, sent, _ in found), sum(int(took) for *_, took in found)


@pytest.mark.parametrize("mode", list(MODES))
async def test_two_workers_one_cluster(node: Any, workers: Running, mode: str) -> None:
    drivers, pids = await clients(node, workers, mode)

    # rooms and broadcasts across workers
    for i, driver in enumerate(drivers):
        await ack(driver, "join", "even" if i % 2 == 0 else "odd", ref=10 + i)
    sender = next(i for i, pid in enumerate(pids) if pid != pids[0])
    await ack(drivers[sender], "shout", "even", "hi", ref=2)
    for i, driver in enumerate(drivers):
        if i % 2 == 0:
            event = await driver.expect("ev", name="a", ev="shout")
            assert event["args"][:2] == ["hi", pids[sender]]
    # the odd ones got nothing: a second shout to "odd" is their first "shout"
    await ack(drivers[0], "shout", "odd", "second", ref=3)
    for i, driver in enumerate(drivers):
        if i % 2 == 1:
            event = await driver.expect("ev", name="a", ev="shout")
            assert event["args"][0] == "second"

    # a broadcast with acks: every client of both workers answers
    for driver in drivers:
        await driver.command("reply", name="a", ev="question", args=["yes"])
    assert await ack(drivers[0], "ask", ref=4) == ["yes"] * len(drivers)

    # fetch_sockets and server-side emits see the other worker
    ids = await ack(drivers[1], "ids", ref=5)
    assert len(ids) == len(drivers)
    others = await ack(drivers[0], "others", ref=6)
    assert others == [pid for pid in worker_pids(workers) if pid != pids[0]]

    for driver in drivers:
        await driver.stop()
    sent, took = await stop_and_count_handoffs(workers)
    if mode == "websocket":
        assert sent == took  # a WebSocket-only session has a single request
    else:
        assert sent > 0, "polling requests should have landed on the other worker"
        assert took == sent


async def test_recovery_across_workers(node: Any, workers: Running) -> None:
    """A client that reconnects (on any worker) gets what it missed."""
    [driver, other, *_], _ = await clients(node, workers, "polling", 2)
    await ack(driver, "join", "room", ref=1)
    await driver.command("engine_close")
    await driver.expect("disconnect", name="a")
    await ack(other, "shout", "room", "while-away", ref=2)
    await driver.command("connect", name="a")
    event = await driver.expect("connect", name="a")
    assert event["recovered"] is True
    missed = await driver.expect("ev", name="a", ev="shout")
    assert missed["args"][0] == "while-away"


async def test_a_killed_worker_is_restarted_and_its_clients_reconnect(
    node: Any, workers: Running
) -> None:
    drivers, pids = await clients(
        node, workers, "polling", reconnection=True, reconnectionDelay=100, reconnectionDelayMax=500
    )
    victim = pids[0]
    before = worker_pids(workers)
    os.kill(victim, signal.SIGKILL)
    await wait_until(lambda: len(worker_pids(workers) - before) == 1, "a new worker")
    [new_pid] = worker_pids(workers) - before
    assert "exited with signal 9; starting a new one" in "".join(workers.stderr)
    # The victim's clients reconnect (a poll on the dead session gets "Session ID unknown"
    # from whichever worker receives it) and get a new session on a live worker.
    for driver, pid in zip(drivers, pids, strict=True):
        if pid == victim:
            await driver.expect("disconnect", name="a")
            event = await driver.expect("ev", name="a", ev="hello")
            assert event["args"][0] in (before - {victim}) | {new_pid}
    survivors = [d for d, pid in zip(drivers, pids, strict=True) if pid != victim]
    assert survivors, "a session should have been on the other worker"
    ids = await ack(survivors[0], "ids", ref=7)
    assert len(ids) == len(drivers)
