"""Helpers for the tests that cross the server's bounds over real sockets.

Memory is measured with ``tracemalloc`` (what Python allocates, the server's buffers and
queues included, to the byte) or as the process's resident set from ``/proc`` where the
kernel's and the allocator's share matters. The clients here write frames by hand, so that
they add almost nothing to what is measured: the server runs in the test's own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from conftest import RawWebSocket, wait_until
from raw_ws import masked
from socketwire import Server, Socket

__all__ = [
    "MiB",
    "Traced",
    "masked",
    "open_raw_sio",
    "rss_bytes",
    "server_socket",
    "traced",
    "wait_long",
]

MiB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident set size, from ``/proc/self/status``."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@dataclass
class Traced:
    """Python allocations since ``traced()`` started: the peak above the baseline."""

    baseline: int = 0

    @property
    def peak(self) -> int:
        """The highest traced total so far, minus the baseline."""
        return tracemalloc.get_traced_memory()[1] - self.baseline

    @property
    def current(self) -> int:
        """The traced total now, minus the baseline."""
        return tracemalloc.get_traced_memory()[0] - self.baseline


@contextlib.contextmanager
def traced() -> Iterator[Traced]:
    """Trace Python allocations for the block (stopped after it)."""
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield Traced(tracemalloc.get_traced_memory()[0])
    finally:
        if not already:
            tracemalloc.stop()


async def open_raw_sio(port: int, path: str = "/socket.io/") -> RawWebSocket:
    """A hand-written Engine.IO WebSocket client, connected to the main namespace."""
    ws, response = await RawWebSocket.connect(port, f"{path}?EIO=4&transport=websocket")
    assert response.status == 101, response
    opcode, payload = await ws.recv_frame()
    assert opcode == 0x1, opcode
    assert payload.startswith(b"0"), payload
    ws.send_raw(masked(0x1, b"40"))
    while True:
        opcode, payload = await ws.recv_frame()
        if payload.startswith(b"40"):
            assert json.loads(payload[2:])["sid"]
            return ws


async def server_socket(sio: Server, count: int = 1) -> list[Socket]:
    """The sockets of the main namespace, once there are ``count`` of them."""
    await wait_until(lambda: len(sio.sockets.sockets) >= count, f"{count} socket(s)")
    return list(sio.sockets.sockets.values())


async def wait_long(predicate: Callable[[], bool], what: str, bound: float = 60.0) -> None:
    """Wait for a condition that takes many events to reach (a generous bound, not a timing)."""
    deadline = time.monotonic() + bound
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {bound} s waiting for {what}")
        await asyncio.sleep(0.02)
