"""Fixtures and helpers for the Socket.IO server interop tests (socket.io-client in Node)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import start_asgi, start_native
from socketwire import Server, Socket

HOST = "127.0.0.1"

#: (transports, upgrade) by mode
MODES: dict[str, tuple[list[str], bool]] = {
    "polling": (["polling"], False),
    "websocket": (["websocket"], False),
    "upgrade": (["polling", "websocket"], True),
}


@dataclass
class Running:
    """A Server being served on 127.0.0.1."""

    sio: Server
    port: int
    kind: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


ServeFactory = Callable[..., Awaitable[Running]]


@pytest.fixture(name="serve")
async def serve_fixture() -> AsyncIterator[ServeFactory]:
    """``await serve(sio, kind="native"|"asgi") -> Running``; stopped at teardown."""
    stops: list[tuple[Server, Callable[[], Awaitable[None]]]] = []

    async def start(sio: Server, kind: str = "native") -> Running:
        port, stop = await (start_native(sio) if kind == "native" else start_asgi(sio))
        stops.append((sio, stop))
        return Running(sio, port, kind)

    yield start

    for sio, stop in reversed(stops):
        await sio.shutdown()
        await asyncio.wait_for(stop(), 20)


def client_args(running: Running, mode: str, parser: str | None, **extra: Any) -> dict[str, Any]:
    """Arguments for tests/interop/js/sio_client.js."""
    transports, upgrade = MODES[mode]
    return {
        "url": running.url,
        "path": "/socket.io/",
        "transports": transports,
        "upgrade": upgrade,
        "parser": parser or "json",
        **extra,
    }


async def open_socket(
    driver: Any, name: str, nsp: str = "/", auth: Any = None, expect: str = "connect", **fields: Any
) -> dict[str, Any]:
    """Create socket ``name`` on ``nsp``; wait for its ``expect`` event (connect by default)."""
    command: dict[str, Any] = {"name": name, "nsp": nsp, **fields}
    if auth is not None:
        command["auth"] = auth
    await driver.command("socket", **command)
    result: dict[str, Any] = await driver.expect(expect, name=name)
    return result


class Connected:
    """Collects server-side sockets as they connect."""

    def __init__(self) -> None:
        self.sockets: list[Socket] = []
        self._changed = asyncio.Event()

    async def __call__(self, socket: Socket) -> None:
        self.sockets.append(socket)
        self._changed.set()

    async def wait(self, count: int = 1) -> list[Socket]:
        async with asyncio.timeout(5):
            while len(self.sockets) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.sockets
