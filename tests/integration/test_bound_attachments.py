"""A binary packet whose attachments never all come (``Server(attachment_timeout=...)``).

A packet declaring 10 attachments may pin up to 10 x ``max_http_buffer_size`` bytes while
it waits for the last one; JS waits for ever. The server closes such a connection ("parse
error") once ``attachment_timeout`` has passed since the packet began, and frees what it
held; a packet completed in time is delivered as usual.
"""

from __future__ import annotations

from typing import Any

import pytest
from _bounds import MiB, server_socket, traced
from _sio_peer import Running, WsPeer, assert_no_leaks, serve_sio

from conftest import wait_until
from socketwire import Server, Socket

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find

HEADER = '4510-["x"' + "".join(f',{{"_placeholder":true,"num":{n}}}' for n in range(10)) + "]"


@pytest.mark.parametrize("kind", ["native", "asgi"])
async def test_a_partial_binary_packet_is_dropped_after_the_timeout(
    serve_sio: Any, kind: str
) -> None:
    sio = Server(attachment_timeout=0.3)
    reasons: list[str] = []
    got: list[Any] = []

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:
        socket.on("x", lambda *args: got.append(args))
        socket.on("disconnect", reasons.append)

    running: Running = await serve_sio(sio, kind)
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    (socket,) = await server_socket(sio)
    with traced() as memory:
        # 9 of the 10 attachments, 1 MB each: 9 MB pinned until the timeout.
        await peer.send(HEADER, *(bytes([n]) * 1_000_000 for n in range(9)))
        await wait_until(lambda: not socket.connected, "the connection to close")
        await peer.closed()
        await wait_until(lambda: sio.engine.clients_count == 0, "the session to end")
        # What the partial packet held is released (the peer's copies are gone too).
        assert memory.current < 2 * MiB, memory.current
    await wait_until(lambda: reasons != [], "the disconnect handler")
    assert reasons == ["parse error"]
    assert got == []
    await assert_no_leaks(sio)


async def test_a_binary_packet_completed_in_time_is_delivered(serve_sio: Any) -> None:
    sio = Server(attachment_timeout=5.0)
    got: list[Any] = []

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:
        socket.on("x", lambda *args: got.append(args))

    running: Running = await serve_sio(sio)
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    await server_socket(sio)
    (client,) = sio._clients.values()
    await peer.send(HEADER, *(bytes([n]) * 10 for n in range(9)))
    await wait_until(lambda: client.state.attachment_deadline is not None, "the packet to wait")
    await peer.send(bytes([9]) * 10)
    await wait_until(lambda: got != [], "the event")
    assert got == [tuple(bytes([n]) * 10 for n in range(10))]
    assert client.state.attachment_deadline is None  # the packet is complete
    await peer.close()
    await assert_no_leaks(sio)
