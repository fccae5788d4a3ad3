"""The bound on the events waiting per socket (``Server(max_pending_events=...)``).

A client floods events at a handler that does not keep up: the server stops reading from
that connection at the bound (a WebSocket stops reading, a polling POST waits), resumes
below half of it, loses nothing, and its memory stays flat; a connection that stays paused
is closed ("event queue full"), its queued events are dropped and its ``disconnect``
handlers run once. Over the native server and the ASGI app under uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _bounds import MiB, masked, open_raw_sio, server_socket, traced, wait_long
from _sio_peer import PollingPeer, Running, assert_no_leaks, serve_sio

from conftest import WAIT, wait_until
from socketwire import Server, Socket

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find

PLUMBINGS = ["native", "asgi"]
#: The Python memory a flood may cost. Under uvicorn, its own WebSocket reader parses a
#: whole read of small frames at once (thousands of messages queued before the app reads
#: any): a few MB more, bounded by uvicorn's read size.
FLOOD_BOUND = {"native": 6 * MiB, "asgi": 10 * MiB}


class GatedApp:
    """``e(n)`` records ``n`` once ``gate`` is open; ``disconnect`` reasons are recorded."""

    def __init__(self, **options: Any) -> None:
        self.sio = Server(**options)
        self.gate = asyncio.Event()
        #: events handled, and those handled out of order (a counter: no memory per event)
        self.handled = 0
        self.out_of_order = 0
        self.first: int | None = None
        self.disconnects: list[str] = []
        #: the most events seen waiting behind the one being handled
        self.most_waiting = 0
        #: the most handlers seen running at once (concurrent_events)
        self.running = 0
        self.most_running = 0

        @self.sio.on("connection")
        def on_connection(socket: Socket) -> None:
            @socket.on("e")
            async def on_event(n: int) -> None:
                self.most_waiting = max(self.most_waiting, socket.pending_events)
                self.running += 1
                self.most_running = max(self.most_running, self.running)
                try:
                    await self.gate.wait()
                    if self.first is None:
                        self.first = n
                    elif n != self.first + self.handled:
                        self.out_of_order += 1
                    self.handled += 1
                finally:
                    self.running -= 1

            @socket.on("disconnect")
            def on_disconnect(reason: str) -> None:
                self.disconnects.append(reason)


def events(start: int, stop: int) -> bytes:
    """The WebSocket frames of ``42["e",n]`` for ``n`` in ``range(start, stop)``."""
    return b"".join(masked(0x1, b'42["e",%d]' % n) for n in range(start, stop))


@pytest.mark.parametrize("kind", PLUMBINGS)
async def test_websocket_flood_pauses_reading_and_memory_stays_flat(
    serve_sio: Any, kind: str
) -> None:
    # 60,000 events at a handler that does not return: unbounded, the queue held about
    # 560 bytes an event (34 MB here, 112 MB for the 200,000 of the attack run); bounded,
    # the server holds 100 of them and leaves the rest unread in the kernel's buffers.
    count = 60_000
    app = GatedApp(max_pending_events=100)
    running: Running = await serve_sio(app.sio, kind)
    ws = await open_raw_sio(running.port)
    (socket,) = await server_socket(app.sio)
    flood = events(0, count)
    with traced() as memory:
        ws.send_raw(flood)
        del flood  # the client's copy now sits in its transport (counted, 1 MB)
        await wait_until(lambda: socket.conn.reading_paused, "the server to stop reading")
        assert socket.pending_events <= 100
        # Bounded: the events queued, the rest of one read, the client's own buffer (the
        # flood minus what the kernel took). Unbounded: over 30 MB.
        assert memory.peak < FLOOD_BOUND[kind], memory.peak
        app.gate.set()
        await wait_long(lambda: app.handled == count, f"{count} events handled")
        assert memory.peak < FLOOD_BOUND[kind], memory.peak
    assert (app.first, app.out_of_order) == (0, 0)  # in order, none lost
    assert app.most_waiting <= 100
    assert not socket.conn.reading_paused
    await ws.close()
    await assert_no_leaks(app.sio)


@pytest.mark.parametrize("kind", PLUMBINGS)
async def test_polling_post_waits_while_the_socket_is_full(serve_sio: Any, kind: str) -> None:
    app = GatedApp(max_pending_events=10)
    running: Running = await serve_sio(app.sio, kind)
    peer = await PollingPeer.open(running)
    await peer.connect_nsp("/")
    await server_socket(app.sio)
    # One payload of 500 events: the socket takes 10, the rest of the payload waits.
    assert await peer.post(*(f'42["e",{n}]' for n in range(500))) == 200
    (socket,) = app.sio.sockets.sockets.values()
    await wait_until(lambda: socket.conn.reading_paused, "the server to stop reading")
    assert socket.pending_events <= 10
    # The next POST is not read until the socket drains: answered only after the gate.
    answered_with_gate_open: list[bool] = []

    async def second_post() -> None:
        status = await peer.post(*(f'42["e",{n}]' for n in range(500, 600)))
        answered_with_gate_open.append(app.gate.is_set())
        assert status == 200

    post = asyncio.create_task(second_post())
    await wait_until(lambda: app.running == 1, "the first event to wait")
    app.gate.set()
    await asyncio.wait_for(post, WAIT)
    assert answered_with_gate_open == [True]
    await wait_long(lambda: app.handled == 600, "600 events handled")
    assert (app.first, app.out_of_order) == (0, 0)
    assert app.most_waiting <= 10
    await peer.post("1")  # the client's close packet
    await assert_no_leaks(app.sio)


@pytest.mark.parametrize("kind", PLUMBINGS)
async def test_a_connection_that_stays_full_is_closed_and_its_queue_dropped(
    serve_sio: Any, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="socketwire")
    app = GatedApp(max_pending_events=20, pending_events_timeout=0.3)
    running: Running = await serve_sio(app.sio, kind)
    ws = await open_raw_sio(running.port)
    (socket,) = await server_socket(app.sio)
    ws.send_raw(events(0, 5000))
    await wait_until(lambda: not socket.connected, "the full connection to close")
    # The queued events were dropped; the disconnect handlers wait for the running one.
    assert socket.pending_events == 0
    assert await ws.recv_until_close() in (1000, -1)
    app.gate.set()
    await wait_until(lambda: app.disconnects != [], "the disconnect handler")
    await wait_until(lambda: app.running == 0, "the running handler to return")
    assert (app.handled, app.first) == (1, 0)  # nothing queued ran after the disconnect
    assert app.disconnects == ["event queue full"]  # once
    await ws.close()
    await assert_no_leaks(app.sio)


async def test_a_namespace_disconnect_drops_the_events_still_queued(serve_sio: Any) -> None:
    app = GatedApp()
    running: Running = await serve_sio(app.sio)
    ws = await open_raw_sio(running.port)
    (socket,) = await server_socket(app.sio)
    ws.send_raw(events(0, 50))
    await wait_until(lambda: app.running == 1 and socket.pending_events == 49, "49 events to wait")
    ws.send_raw(masked(0x1, b"41"))
    await wait_until(lambda: not socket.connected, "the disconnect")
    assert socket.pending_events == 0
    app.gate.set()
    await wait_until(lambda: app.disconnects != [], "the disconnect handler")
    await wait_until(lambda: app.running == 0, "the running handler to return")
    assert (app.handled, app.first) == (1, 0)
    assert app.disconnects == ["client namespace disconnect"]
    await ws.close()
    await assert_no_leaks(app.sio)


async def test_concurrent_events_are_bounded_per_socket_and_per_server(serve_sio: Any) -> None:
    app = GatedApp(concurrent_events=True, max_pending_events=10, max_concurrent_events=15)
    running: Running = await serve_sio(app.sio)
    first = await open_raw_sio(running.port)
    second = await open_raw_sio(running.port)
    sockets = await server_socket(app.sio, 2)
    await wait_until(lambda: all(s._ready for s in sockets), "the connection handlers")
    first.send_raw(events(0, 1000))
    second.send_raw(events(1000, 2000))
    await wait_until(
        lambda: all(s.conn.reading_paused for s in sockets), "both connections to pause"
    )
    # 10 on one socket, then the server's 15: one event past the bound per connection
    # that crossed it at most.
    assert app.running <= 16
    assert all(s.pending_events <= 10 for s in sockets)
    app.gate.set()
    await wait_long(lambda: app.handled == 2000, "2000 events handled")
    assert app.most_running <= 16
    assert app.sio.event_budget.running == 0
    await first.close()
    await second.close()
    await assert_no_leaks(app.sio)
