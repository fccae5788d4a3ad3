"""Helpers for the Socket.IO server integration tests: serving a Server, raw Engine.IO peers
speaking engine.io frames by hand (WebSocket and long-polling), and leak accounting.

The peers send exactly the bytes a test gives them: no Socket.IO library stands between a
malformed packet and the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conftest import WAIT, http_request, start_asgi, start_native
from socketwire import Server

__all__ = [
    "HOST",
    "PATH",
    "PollingPeer",
    "Running",
    "WsPeer",
    "assert_no_leaks",
    "leaks",
    "serve_sio",
]

HOST = "127.0.0.1"
PATH = "/socket.io/"


@dataclass
class Running:
    """A Server served on 127.0.0.1 by the native server or the ASGI app under uvicorn."""

    sio: Server
    port: int
    kind: str

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def ws_url(self, sid: str | None = None) -> str:
        url = f"ws://{HOST}:{self.port}{PATH}?EIO=4&transport=websocket"
        return url if sid is None else f"{url}&sid={sid}"


ServeSio = Callable[..., Awaitable[Running]]


@pytest.fixture(name="serve_sio")
async def serve_sio() -> AsyncIterator[ServeSio]:
    """``await serve_sio(sio, kind="native"|"asgi") -> Running``; stopped at teardown."""
    stops: list[tuple[Server, Callable[[], Awaitable[None]]]] = []

    async def start(sio: Server, kind: str = "native") -> Running:
        port, stop = await (start_native(sio) if kind == "native" else start_asgi(sio))
        stops.append((sio, stop))
        return Running(sio, port, kind)

    yield start

    for sio, stop in reversed(stops):
        await sio.shutdown()
        await asyncio.wait_for(stop(), 20)


# ---------------------------------------------------------------------------------------
# Raw Engine.IO peers


class WsPeer:
    """An Engine.IO v4 client on WebSocket, written by hand over the ``websockets`` client.

    Every message is an Engine.IO packet as sent on the wire (``"40"``, ``'42["x"]'``, or
    raw bytes for a binary attachment).
    """

    def __init__(self, ws: ClientConnection, handshake: dict[str, Any]) -> None:
        self.ws = ws
        self.handshake = handshake
        self.sid: str = handshake["sid"]

    @classmethod
    async def open(cls, running: Running, *, compression: str | None = None) -> WsPeer:
        """Connect and read the open packet."""
        ws = await connect(
            running.ws_url(), compression=compression, proxy=None, max_size=None, ping_interval=None
        )
        first = await asyncio.wait_for(ws.recv(), WAIT)
        assert isinstance(first, str), first
        assert first.startswith("0"), first
        return cls(ws, json.loads(first[1:]))

    @classmethod
    async def open_probe(cls, running: Running, sid: str) -> WsPeer:
        """Open the WebSocket that probes the upgrade of polling session ``sid``."""
        ws = await connect(
            running.ws_url(sid), compression=None, proxy=None, max_size=None, ping_interval=None
        )
        return cls(ws, {"sid": sid})

    async def send(self, *messages: str | bytes) -> None:
        """Send Engine.IO packets; a peer the server already closed ignores the failure."""
        for message in messages:
            try:
                await self.ws.send(message)
            except ConnectionClosed:
                return

    async def recv(self) -> str | bytes:
        """The next message other than a ping (answered with a pong), within WAIT."""
        async with asyncio.timeout(WAIT):
            while True:
                message = await self.ws.recv()
                if message == "2":
                    await self.ws.send("3")
                    continue
                return message

    async def connect_nsp(self, nsp: str = "/") -> dict[str, Any]:
        """Send CONNECT for ``nsp``; returns the CONNECT answer's data (``{"sid": ...}``)."""
        prefix = "40" if nsp == "/" else f"40{nsp},"
        await self.send(prefix)
        answer = await self.recv()
        assert isinstance(answer, str), answer
        assert answer.startswith(prefix), answer
        data: dict[str, Any] = json.loads(answer[len(prefix) :])
        return data

    async def closed(self) -> list[str | bytes]:
        """Wait until the server closes the connection; returns what arrived before."""
        seen: list[str | bytes] = []
        async with asyncio.timeout(WAIT):
            try:
                while True:
                    seen.append(await self.ws.recv())
            except ConnectionClosed:
                return seen

    async def close(self) -> None:
        """Close from the client side."""
        await self.ws.close()


class PollingPeer:
    """An Engine.IO v4 client on long-polling, with one HTTP connection per request."""

    def __init__(self, running: Running, sid: str) -> None:
        self.running = running
        self.sid = sid

    @property
    def target(self) -> str:
        return f"{PATH}?EIO=4&transport=polling&sid={self.sid}"

    @classmethod
    async def open(cls, running: Running) -> PollingPeer:
        """Handshake."""
        result = await http_request(running.port, "GET", f"{PATH}?EIO=4&transport=polling")
        assert result.status == 200, result
        assert result.text.startswith("0"), result.text
        return cls(running, json.loads(result.text[1:])["sid"])

    async def post(self, *messages: str | bytes) -> int:
        """POST one payload of Engine.IO packets (bytes as ``b`` + base64); the status."""
        parts = [m if isinstance(m, str) else "b" + base64.b64encode(m).decode() for m in messages]
        result = await http_request(
            self.running.port,
            "POST",
            self.target,
            {"Content-Type": "text/plain;charset=UTF-8"},
            "\x1e".join(parts),
        )
        return result.status

    async def get(self, headers: dict[str, str] | None = None) -> list[str]:
        """One poll: the packets of the payload (binary ones still ``b`` + base64)."""
        result = await http_request(self.running.port, "GET", self.target, headers)
        assert result.status == 200, (result.status, result.body)
        return result.text.split("\x1e")

    async def connect_nsp(self, nsp: str = "/") -> dict[str, Any]:
        """CONNECT to ``nsp`` and poll for the answer."""
        prefix = "40" if nsp == "/" else f"40{nsp},"
        assert await self.post(prefix) == 200
        packets = await self.get()
        assert packets[0].startswith(prefix), packets
        data: dict[str, Any] = json.loads(packets[0][len(prefix) :])
        return data


# ---------------------------------------------------------------------------------------
# Leaks


def leaks(sio: Server) -> dict[str, int]:
    """Every non-zero count of what a closed connection must not leave behind."""
    counts = {
        "engine clients": sio.engine.clients_count,
        "server clients": len(sio._clients),
    }
    for name, nsp in sio.namespaces.items():
        counts[f"{name} sockets"] = len(nsp.sockets)
        counts[f"{name} connecting sockets"] = len(nsp._pre_connect)
        counts[f"{name} pending acks"] = sum(len(s.acks) for s in nsp.sockets.values())
        adapter: Any = nsp.adapter
        counts[f"{name} adapter rooms"] = len(adapter.rooms)
        counts[f"{name} adapter sids"] = len(adapter.sids)
    return {key: value for key, value in counts.items() if value}


async def assert_no_leaks(sio: Server) -> None:
    """Wait (at most WAIT seconds) until every count of :func:`leaks` is zero."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while found := leaks(sio):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"leaked after {WAIT} s: {found}")
        await asyncio.sleep(0.01)  # nothing signals a count reaching zero: poll it
