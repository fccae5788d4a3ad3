"""The bound on the fragments of one WebSocket message (native server).

2,000,000 empty continuation frames (12 MB on the wire) used to be kept one object each
(+20 MB and growing, the connection still open); the ``ws`` library had the same flaw
(GHSA-96hv-2xvq-fx4p). The native server now fails such a message with 1008 after 64 tiny
fragments, and its memory stays flat. Behind ASGI the ASGI server gathers fragments itself
(docs/topics/security-and-limits.md says what uvicorn does): this runs on the native server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from _bounds import MiB, traced
from _sio_peer import Running, WsPeer, assert_no_leaks, serve_sio

from conftest import wait_until
from raw_ws import flood_fragments
from socketwire import Server, Socket

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find


async def test_empty_continuation_frames_close_with_1008_and_memory_stays_flat(
    serve_sio: Any,
) -> None:
    sio = Server()
    closes: list[str] = []
    sio.engine.on_close(lambda _sock, reason: closes.append(reason))
    running: Running = await serve_sio(sio)
    with traced() as memory:
        code, sent = await asyncio.to_thread(flood_fragments, running.port, 2_000_000)
        # Unbounded: one object per fragment, 20 MB for these. Bounded: one read's frames.
        assert memory.peak < 4 * MiB, memory.peak
    assert code == 1008  # as ws past its maxFragments
    assert sent < 2_000_000  # the server closed the connection early
    await wait_until(lambda: closes == ["transport error"], "the session to close")
    await assert_no_leaks(sio)


async def test_a_fragmented_event_within_the_bounds_is_delivered(serve_sio: Any) -> None:
    sio = Server()
    got: list[Any] = []

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:
        socket.on("x", got.append)

    running: Running = await serve_sio(sio)
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    # 1,000 frames of 100 bytes: a streaming sender, well within the bounds
    text = '42["x",' + json.dumps("a" * 99_990) + "]"
    pieces = [text[i : i + 100] for i in range(0, len(text), 100)]
    await peer.ws.send(pieces)
    await wait_until(lambda: got == ["a" * 99_990], "the event")
    await peer.close()
    await assert_no_leaks(sio)
