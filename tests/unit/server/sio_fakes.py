"""In-memory Engine.IO sockets for the Socket.IO server's unit tests.

A :class:`FakeEngineSocket` records what the server sends and lets a test deliver client
packets, encoded with the real parser: what crosses the (fake) wire is real Socket.IO.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from socketwire import Server
from socketwire.engineio.packets import SharedMessage
from socketwire.socketio import JsonParser, Packet, PacketType, Parser

WAIT = 5.0
_ids = itertools.count()


@dataclass
class FakeRequest:
    """The handshake request, as the plumbing would give it."""

    headers: Mapping[str, str] = field(default_factory=lambda: {"host": "127.0.0.1"})
    query: Mapping[str, str] = field(default_factory=lambda: {"EIO": "4", "transport": "polling"})
    remote_addr: tuple[str, int] | None = ("127.0.0.1", 40000)
    secure: bool = False
    raw_path: str = "/socket.io/?EIO=4&transport=polling"
    method: str = "GET"
    path: str = "/socket.io/"

    async def read_body(self, limit: int) -> bytes:
        return b""

    async def wait_disconnected(self) -> None:
        await asyncio.Event().wait()


class FakeEngineSocket:
    """An Engine.IO connection in memory: records sends, closes synchronously like JS."""

    def __init__(self, parser: Parser | None = None, request: FakeRequest | None = None) -> None:
        self.sid = f"eio{next(_ids)}"
        self.transport = "polling"
        self.protocol = 4
        self.request = request or FakeRequest()
        self.on_message: Callable[[str | bytes], None] | None = None
        self.on_close: Callable[[str], None] | None = None
        self.on_upgrade: Callable[[], None] | None = None
        self.writable = True
        self.buffered_amount = 0
        self.closed = False
        #: reading paused by the server (backpressure), and how many times it paused
        self.paused = False
        self.pauses = 0
        self.messages: list[str | bytes] = []
        #: the ``compress`` option of each message, in order
        self.compress: list[bool] = []
        #: what the broadcast path handed over, as is (to check it is shared)
        self.encoded: list[str | bytes] = []
        #: the SharedMessage objects the broadcast path handed over
        self.shared: list[SharedMessage] = []
        self.packets: list[Packet] = []
        self._parser = parser or JsonParser()
        self._decoder = self._parser.decoder()
        self._changed = asyncio.Event()

    # -- the EngineSocket side -----------------------------------------------------------

    def send(self, data: str | bytes, *, compress: bool = True) -> None:
        assert not self.closed, "write after close"
        self.messages.append(data)
        self.compress.append(compress)
        packet = self._decoder.feed(data)
        if packet is not None:
            self.packets.append(packet)
        self._changed.set()

    def send_encoded(self, message: str | bytes | SharedMessage, *, compress: bool = True) -> None:
        # a MESSAGE packet as the engine would frame it: "4" + text, or raw bytes
        if isinstance(message, SharedMessage):
            self.shared.append(message)
            message = message.data
        self.encoded.append(message)
        if isinstance(message, str):
            assert message.startswith("4"), message
            message = message[1:]
        self.send(message, compress=compress)

    def close(self) -> None:
        self.drop("forced close")

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    # -- the test side -------------------------------------------------------------------

    def drop(self, reason: str) -> None:
        """The connection ends for ``reason`` (as the engine reports it)."""
        if self.closed:
            return
        self.closed = True
        self._changed.set()
        if self.on_close is not None:
            self.on_close(reason)

    def deliver(self, packet: Packet) -> None:
        """The client sends ``packet``."""
        for message in self._parser.encode(packet):
            self.deliver_raw(message)

    def deliver_raw(self, message: str | bytes) -> None:
        """The client sends one raw Engine.IO message."""
        assert self.on_message is not None
        self.on_message(message)

    def connect(self, nsp: str = "/", auth: Any = None) -> None:
        self.deliver(Packet(PacketType.CONNECT, nsp, auth))

    def emit(self, event: str, *args: Any, nsp: str = "/", ack: int | None = None) -> None:
        self.deliver(Packet(PacketType.EVENT, nsp, [event, *args], ack))

    def events(self, nsp: str = "/") -> list[list[Any]]:
        return [p.data for p in self.packets if p.type == PacketType.EVENT and p.nsp == nsp]

    async def wait_for(
        self, predicate: Callable[[Packet], bool], what: str = "packet", start: int = 0
    ) -> Packet:
        """The first packet sent from index ``start`` matching ``predicate``."""
        async with asyncio.timeout(WAIT):
            while True:
                for packet in self.packets[start:]:
                    if predicate(packet):
                        return packet
                self._changed.clear()
                await self._changed.wait()

    async def wait_type(self, type_: PacketType, nsp: str = "/") -> Packet:
        return await self.wait_for(lambda p: p.type == type_ and p.nsp == nsp)

    async def wait_event(self, name: str, nsp: str = "/") -> Packet:
        return await self.wait_for(
            lambda p: p.type == PacketType.EVENT and p.nsp == nsp and p.data[0] == name
        )

    async def wait_closed(self) -> None:
        async with asyncio.timeout(WAIT):
            while not self.closed:
                self._changed.clear()
                await self._changed.wait()


def open_conn(sio: Server, request: FakeRequest | None = None) -> FakeEngineSocket:
    """A new Engine.IO connection to ``sio`` (call inside a running loop)."""
    sock = FakeEngineSocket(sio.parser, request)
    sio._on_engine_connection(sock)  # type: ignore[arg-type]
    return sock


async def connect(
    sio: Server, nsp: str = "/", auth: Any = None, request: FakeRequest | None = None
) -> tuple[FakeEngineSocket, str]:
    """Open a connection, connect to ``nsp``; returns the socket and the socket id."""
    sock = open_conn(sio, request)
    sock.connect(nsp, auth)
    packet = await sock.wait_for(
        lambda p: p.nsp == nsp and p.type in (PacketType.CONNECT, PacketType.CONNECT_ERROR)
    )
    assert packet.type == PacketType.CONNECT, packet
    return sock, packet.data["sid"]


class Signal:
    """Records calls and lets a test await the n-th one."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._changed = asyncio.Event()

    async def __call__(self, *args: Any) -> None:
        # async: the server awaits it on the loop (a plain callable would run in a thread)
        self.calls.append(args)
        self._changed.set()

    async def wait(self, count: int = 1) -> list[tuple[Any, ...]]:
        async with asyncio.timeout(WAIT):
            while len(self.calls) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.calls
