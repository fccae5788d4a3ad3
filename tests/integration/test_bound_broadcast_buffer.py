"""Broadcast bursts and ``max_buffered_bytes``.

Broadcasts emitted within one loop iteration used to wait in the native WebSocket's cork,
unseen by the slow-consumer check (a client that never read held 278 MB and stayed
open), and each connection joined a private copy of them (a 10 MB burst to 10 readers cost
+103 MB). Now the corked frames count in ``buffered_amount`` and are checked as they are
queued, and they reach each transport as the shared frame objects, a slice at a time while
the transport takes them: a burst costs about one copy of the frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from typing import Any

import pytest
from _bounds import MiB, open_raw_sio, server_socket, traced
from _sio_peer import Running, assert_no_leaks, serve_sio

from conftest import WAIT, wait_until
from socketwire import Server

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find

PLUMBINGS = ["native", "asgi"]
FRAME = 100_000
BURST = 100  # 100 broadcasts of 100 KB: 10 MB


class Reader:
    """A thread that reads a socket into one reused buffer (no Python allocation per read)
    until the server closes it, counting the bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buffer = bytearray(256 * 1024)
        with contextlib.suppress(OSError):
            while n := self.sock.recv_into(buffer):
                self.received += n

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(WAIT)
        self.sock.close()


async def readers(port: int, count: int) -> list[Reader]:
    """``count`` connected Socket.IO clients whose sockets are then read by threads."""
    started = []
    for _ in range(count):
        ws = await open_raw_sio(port)
        # Hand the connected socket over to a blocking reader thread.
        raw = ws.writer.get_extra_info("socket")
        sock = socket.socket(fileno=os.dup(raw.fileno()))
        sock.setblocking(True)
        ws.writer.transport.abort()
        started.append(Reader(sock))
    return started


@pytest.mark.parametrize("kind", PLUMBINGS)
async def test_a_burst_to_ten_readers_costs_about_one_copy(serve_sio: Any, kind: str) -> None:
    sio = Server()
    running: Running = await serve_sio(sio, kind)
    group = await readers(running.port, 10)
    sockets = await server_socket(sio, 10)
    payload = "x" * FRAME
    try:
        with traced() as memory:
            for _ in range(BURST):
                sio.emit("big", payload)  # one loop iteration: nothing is written yet
            if kind == "native":
                # corked, and counted as soon as queued
                assert all(s.conn.buffered_amount >= BURST * FRAME for s in sockets)
            total = BURST * (FRAME + len('42["big",""]') + 4)
            await wait_until(lambda: all(r.received >= total for r in group), "every reader")
            # About one copy of the 10 MB (shared by the ten connections), plus a slice per
            # connection; a private copy per connection was over 100 MB.
            assert memory.peak < 16 * MiB, memory.peak
        assert all(s.connected for s in sockets)
    finally:
        for reader in group:
            await asyncio.to_thread(reader.stop)
    await assert_no_leaks(sio)


@pytest.mark.parametrize("kind", PLUMBINGS)
async def test_a_burst_over_the_bound_closes_a_client_that_does_not_read(
    serve_sio: Any, kind: str
) -> None:
    sio = Server(max_buffered_bytes=4 * MiB)
    closes: list[str] = []
    sio.engine.on_close(lambda _sock, reason: closes.append(reason))
    running: Running = await serve_sio(sio, kind)
    ws = await open_raw_sio(running.port)  # never reads again
    (sock,) = await server_socket(sio)
    payload = "x" * FRAME
    with traced() as memory:
        for _ in range(BURST):
            sio.emit("big", payload)
        # Closed while the burst was queued, not after: it crossed 4 MiB on the way.
        assert closes == ["transport buffer full"]
        assert not sock.connected
        await asyncio.sleep(0)  # the batch's turn: nothing more goes to the closed session
        assert memory.peak < 8 * MiB, memory.peak
    await ws.close()
    await wait_until(lambda: sio.engine.clients_count == 0, "the session to end")
    await assert_no_leaks(sio)
