"""``/metrics`` read with prometheus_client's own parser while clients connect, emit, time
out and disconnect: the numbers match what happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _sio_peer import PollingPeer, WsPeer, serve_sio

from conftest import http_request, start_native, wait_until
from socketwire import AckTimeoutError, AsyncClient, Server, Socket

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find
parser = pytest.importorskip("prometheus_client.parser", reason="the metrics extra")
metrics = pytest.importorskip("socketwire.metrics", reason="the metrics extra")


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, by name and labels."""
    answer = await http_request(port, "GET", "/metrics")
    assert answer.status == 200
    assert (answer.header("content-type") or "").startswith("text/plain; version=")
    samples = {}
    for family in parser.text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Server, int]]:
    sio = Server()
    metrics.enable(sio)
    port, stop = await start_native(sio)
    yield sio, port
    await sio.shutdown()
    await stop()


async def test_metrics_match_what_happened(served: tuple[Server, int]) -> None:
    sio, port = served
    sockets: list[Socket] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        sockets.append(socket)
        socket.join("game")

        @socket.on("chat")
        async def chat(text: str) -> str:
            return text.upper()

        @socket.on("boom")
        async def boom() -> None:
            raise RuntimeError("a handler failed")

    empty = await scrape(port)
    assert value(empty, "socketwire_engine_connections", transport="websocket") == 0
    assert value(empty, "socketwire_packets_received_total", type="event") == 0

    url = f"http://127.0.0.1:{port}"
    ws = AsyncClient(transports=["websocket"], reconnection=False)
    polling = AsyncClient(transports=["polling"], reconnection=False)
    upgrading = AsyncClient(reconnection=False)
    quiet = AsyncClient(transports=["websocket"], reconnection=False)
    for client in (ws, polling, upgrading, quiet):
        await client.connect(url, wait_timeout=5)
    await wait_until(lambda: len(sockets) == 4, "four sockets")
    await wait_until(lambda: sio.counters is not None and sio.counters.upgrades == 1, "the upgrade")

    # three events with acks, one handler failure
    for text in ("a", "b", "c"):
        assert await ws.emit_with_ack("chat", text) == text.upper()
    ws.emit("boom")
    # an ack the server waits for and gets, and one that times out
    answered = next(s for s in sockets if s.id == ws.socket("/").id)
    ws.socket("/").on("question", lambda: "yes")
    assert await answered.timeout(5).emit_with_ack("question") == "yes"

    async def never(*_args: Any) -> None:
        await asyncio.sleep(3600)

    quiet.socket("/").on("question", never)
    silent = next(s for s in sockets if s.id == quiet.socket("/").id)
    with pytest.raises(AckTimeoutError):
        await silent.timeout(0.05).emit_with_ack("question")
    # a broadcast to the four, with binary
    sio.to("game").emit("news", b"\x00" * 100)

    await wait_until(lambda: sum(sio.counters.packets_out) >= 4 + 3 + 2 + 4, "packets out")  # type: ignore[union-attr]
    samples = await scrape(port)
    assert value(samples, "socketwire_engine_connections", transport="websocket") == 3
    assert value(samples, "socketwire_engine_connections", transport="polling") == 1
    assert value(samples, "socketwire_engine_connections_opened_total", transport="websocket") == 2
    assert value(samples, "socketwire_engine_connections_opened_total", transport="polling") == 2
    assert value(samples, "socketwire_engine_upgrades_total") == 1
    assert value(samples, "socketwire_sockets", namespace="/") == 4
    assert value(samples, "socketwire_rooms", namespace="/") == 1  # "game"
    assert value(samples, "socketwire_packets_received_total", type="connect") == 4
    # chat x3 + boom; the acks: one answered (question), none for the timed-out one
    assert value(samples, "socketwire_packets_received_total", type="event") == 4
    assert value(samples, "socketwire_packets_received_total", type="ack") == 1
    assert value(samples, "socketwire_acks_sent_total") == 3
    assert value(samples, "socketwire_packets_sent_total", type="connect") == 4
    # "question" to two sockets, the broadcast to four (binary events count as events)
    assert value(samples, "socketwire_packets_sent_total", type="event") == 6
    assert value(samples, "socketwire_acks_timed_out_total") == 1
    assert value(samples, "socketwire_ack_round_trip_seconds_count") == 1
    assert value(samples, "socketwire_ack_round_trip_seconds_bucket", le="+Inf") == 1
    assert 0 < value(samples, "socketwire_ack_round_trip_seconds_sum") < 5
    assert value(samples, "socketwire_handler_errors_total") == 1
    assert value(samples, "socketwire_bytes_received_total") > 4 * len('0{"sid":""}')
    assert value(samples, "socketwire_bytes_sent_total") > 4 * 100  # the binary broadcast
    assert value(samples, "socketwire_volatile_dropped_total") == 0

    for client in (ws, polling, upgrading, quiet):
        await client.disconnect()
    await wait_until(lambda: not sio.engine.clients, "the connections to close")
    samples = await scrape(port)
    assert value(samples, "socketwire_sockets", namespace="/") == 0
    assert value(samples, "socketwire_rooms", namespace="/") == 0
    assert value(samples, "socketwire_engine_disconnections_total", reason="transport close") == 4
    assert value(samples, "socketwire_slow_consumer_disconnects_total") == 0


async def test_volatile_drops_and_slow_consumers_are_counted(serve_sio: Any) -> None:
    """The numbers the happy path leaves at zero: volatile packets dropped (a polling
    client with no poll pending), bytes waiting for a client that stopped reading, and its
    connection closed past ``max_buffered_bytes``."""
    sio = Server(max_buffered_bytes=256 * 1024)
    metrics.enable(sio)
    sockets: list[Socket] = []
    sio.on("connection", sockets.append)
    running = await serve_sio(sio)

    polling = await PollingPeer.open(running)
    await polling.connect_nsp("/")
    await wait_until(lambda: len(sockets) == 1, "the polling socket")
    assert not sockets[0].conn.writable  # no GET pending: volatile packets are dropped
    sockets[0].volatile.emit("dropped", 1)
    sockets[0].volatile.emit("dropped", 2)
    sockets[0].emit("kept")
    assert await polling.get() == ['42["kept"]']

    reader = await WsPeer.open(running)
    await reader.connect_nsp("/")
    await wait_until(lambda: len(sockets) == 2, "the WebSocket socket")
    slow = sockets[1]
    # the peer reads nothing more: what the kernel does not take waits in the server...
    blob = "b" * 65536
    for count in range(2000):
        if slow.conn.buffered_amount:
            break
        slow.emit("blob", blob)
        if count % 20 == 0:
            await asyncio.sleep(0)  # let the loop write what the socket takes
    waiting = slow.conn.buffered_amount
    assert 0 < waiting <= 256 * 1024
    samples = await scrape(running.port)
    assert value(samples, "socketwire_buffered_bytes") >= waiting
    # ...and past max_buffered_bytes the server closes the connection
    for count in range(2000):
        if not slow.connected:
            break
        slow.emit("blob", blob)
        if count % 20 == 0:
            await asyncio.sleep(0)  # let the loop write what the socket takes
    await wait_until(lambda: not slow.connected, "the slow consumer to be closed")

    samples = await scrape(running.port)
    assert value(samples, "socketwire_volatile_dropped_total") == 2
    assert value(samples, "socketwire_slow_consumer_disconnects_total") == 1
    assert value(samples, "socketwire_engine_connections", transport="polling") == 1
    assert value(samples, "socketwire_engine_connections", transport="websocket") == 0
    await reader.close()


async def test_counting_is_off_until_enabled() -> None:
    sio = Server()
    assert sio.counters is None
    port, stop = await start_native(sio)
    try:
        client = AsyncClient(transports=["websocket"], reconnection=False)
        await client.connect(f"http://127.0.0.1:{port}", wait_timeout=5)
        assert sio.counters is None
        assert (await http_request(port, "GET", "/metrics")).status == 404
        await client.disconnect()
    finally:
        await sio.shutdown()
        await stop()
