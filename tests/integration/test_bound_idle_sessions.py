"""How long an unused polling session lives: a handshake flood.

A client that handshakes over polling and never polls again used to be closed by the
connect timeout with an orderly close that stopped the heartbeat and waited 30 s for a GET
(78 s in all with the defaults; JS: 47 s), so a handshake flood held 1.7 times as many
sessions as on Node. The heartbeat now goes on while the session closes, as in JS: such a
session ends with "ping timeout" at ``ping_interval + ping_timeout`` (45 s by default),
whatever the connect timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _sio_peer import PollingPeer, Running, assert_no_leaks, serve_sio

from conftest import wait_until
from socketwire import Server

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find

FLOOD = 200


@pytest.mark.parametrize("kind", ["native", "asgi"])
async def test_a_handshake_flood_is_gone_after_the_heartbeat(serve_sio: Any, kind: str) -> None:
    # The heartbeat ends these sessions after 0.5 s; the orderly close alone would keep
    # them for 30 s (CLOSE_TIMEOUT), far longer than the 5 s this test waits.
    sio = Server(connect_timeout=0.2, ping_interval=0.3, ping_timeout=0.2)
    reasons: list[str] = []
    sio.engine.on_close(lambda _sock, reason: reasons.append(reason))
    running: Running = await serve_sio(sio, kind)
    await asyncio.gather(*(PollingPeer.open(running) for _ in range(FLOOD)))
    assert sio.engine.clients_count == FLOOD
    await wait_until(lambda: sio.engine.clients_count == 0, "the sessions to end")
    assert len(reasons) == FLOOD
    assert set(reasons) == {"ping timeout"}
    await assert_no_leaks(sio)
