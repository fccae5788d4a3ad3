"""socketwire cluster nodes for tests: a Server with a cluster adapter (Redis or PostgreSQL)
on a free port, and clients that record what they receive.

Every client joins the rooms in its auth (``rooms``), its ``socket.data`` is the auth's
``data``, and it answers the acknowledged event ``ask`` with ``"ack-<name>"``. The servers
answer the server-side events ``py-sse`` and ``node-sse`` with ``"py-pong"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from socketwire import AsyncClient, Server, Socket
from socketwire.adapters.base import AdapterFactory
from socketwire.io.native import NativeServer

__all__ = [
    "KINDS",
    "WAIT",
    "Inbox",
    "PyNode",
    "Ticker",
    "adapter_factory",
    "broker_url",
    "connect_client",
    "drop_transport",
    "eventually",
    "room_channels_ready",
    "session_of",
    "start_node",
]

WAIT = 5.0
#: socketwire's cluster adapters: Redis classic, sharded and streams, and PostgreSQL.
KINDS = ["classic", "sharded", "streams", "postgres"]


def adapter_factory(kind: str, url: str, **options: Any) -> AdapterFactory:
    """socketwire's adapter of ``kind`` on ``url`` (a PostgreSQL DSN for ``postgres``)."""
    if kind == "classic":
        from socketwire.adapters.redis import create_adapter

        return create_adapter(url, **options)
    if kind == "sharded":
        from socketwire.adapters.redis import create_sharded_adapter

        return create_sharded_adapter(url, **options)
    if kind == "streams":
        from socketwire.adapters.redis_streams import create_streams_adapter

        return create_streams_adapter(url, **options)
    from socketwire.adapters.postgres import create_adapter as create_postgres_adapter

    return create_postgres_adapter(url, **options)


def broker_url(request: pytest.FixtureRequest, kind: str) -> str:
    """A fresh broker for ``kind``: a redis-server (the ``redis_server`` fixture), or a
    PostgreSQL database (``postgres_db``); the test module must import that fixture."""
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_db"))
    return str(request.getfixturevalue("redis_server").url)


class Inbox:
    """What one client received, in order, with a way to wait for an event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, list[Any]]] = []
        self.disconnects: list[str] = []
        self._changed = asyncio.Event()

    def add(self, event: str, args: list[Any]) -> None:
        """Record one event."""
        self.events.append((event, args))
        self._changed.set()

    def of(self, event: str) -> list[list[Any]]:
        """The argument lists of every ``event`` received."""
        return [args for name, args in self.events if name == event]

    async def wait(self, check: Callable[[], bool], what: str) -> None:
        """Wait (at most WAIT) until ``check()``; fail the test otherwise."""
        deadline = time.monotonic() + WAIT
        while not check():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out waiting for {what}; got {self.events}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def get(self, event: str, count: int = 1) -> list[list[Any]]:
        """Wait until ``event`` arrived ``count`` times; return its argument lists."""
        await self.wait(lambda: len(self.of(event)) >= count, f"{count} x {event!r}")
        return self.of(event)


async def eventually(check: Callable[[], Any], what: str) -> None:
    """Poll the awaitable ``check()`` until true (bounded by WAIT), for states nothing signals
    (rooms on another server)."""
    deadline = time.monotonic() + WAIT
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class PyNode:
    """One socketwire server in the cluster and its clients."""

    sio: Server
    http: NativeServer
    clients: dict[str, AsyncClient] = field(default_factory=dict)
    inboxes: dict[str, Inbox] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    server_events: list[tuple[str, list[Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.http.port}"

    def adapter(self, nsp: str = "/") -> Any:
        """The namespace's adapter."""
        return self.sio.of(nsp).adapter

    async def client(
        self,
        name: str,
        rooms: list[str] | None = None,
        data: dict[str, Any] | None = None,
        nsp: str = "/",
        auth: dict[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """Connect a client that joins ``rooms``; return its socket id. ``auth`` adds to
        the CONNECT payload (``pid`` and ``offset``, to recover a session)."""
        client, inbox, sid = await connect_client(self.url, name, rooms, data, nsp, auth, **options)
        self.clients[name] = client
        self.inboxes[name] = inbox
        self.ids[name] = sid
        return sid

    async def close(self) -> None:
        """Disconnect the clients, shut the server down (each step bounded, and named when
        it does not finish)."""
        for name, client in self.clients.items():
            async with _bounded(f"client {name} to disconnect"):
                with contextlib.suppress(Exception):
                    await client.disconnect()
        async with _bounded("the server to shut down"):
            await self.sio.shutdown()
        async with _bounded("the HTTP server to close"):
            await self.http.close()


async def connect_client(
    url: str,
    name: str,
    rooms: list[str] | None = None,
    data: dict[str, Any] | None = None,
    nsp: str = "/",
    auth: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[AsyncClient, Inbox, str]:
    """A client of the server at ``url`` that records what it receives in its inbox and
    answers ``ask`` with ``"ack-<name>"``; its auth carries ``name``, ``rooms`` and ``data``.
    Returns the client, its inbox and its socket id."""
    options.setdefault("reconnection", False)
    client = AsyncClient(transports=["websocket"], **options)
    inbox = Inbox()
    sock = client.socket(nsp)

    async def on_any(event: str, *args: Any) -> None:
        inbox.add(event, list(args))

    async def on_ask(*_args: Any) -> str:
        return f"ack-{name}"

    async def on_disconnect(reason: str, *_details: Any) -> None:
        inbox.disconnects.append(reason)
        inbox.add("<disconnect>", [reason])

    sock.on_any(on_any)
    sock.on("ask", on_ask)
    sock.on("disconnect", on_disconnect)
    await client.connect(
        url,
        namespaces=[nsp],
        auth={"name": name, "rooms": rooms or [], "data": data or {}, **(auth or {})},
        wait_timeout=WAIT,
    )
    sid = sock.id
    assert sid is not None
    return client, inbox, sid


class Ticker:
    """Broadcasts ``tick`` 1, 2, 3, ... from ``node``, for outage tests: whatever happens to
    Redis meanwhile, every client must get every tick, in order."""

    def __init__(self, node: PyNode) -> None:
        self.node = node
        #: The last tick sent.
        self.index = 0

    def tick(self) -> None:
        """Broadcast the next tick."""
        self.index += 1
        self.node.sio.emit("tick", self.index)

    async def ticks(self, count: int, every: float = 0.005) -> None:
        """Broadcast ``count`` ticks, ``every`` seconds apart."""
        for _ in range(count):
            self.tick()
            await asyncio.sleep(every)

    async def ticks_until(self, check: Callable[[], bool], what: str, bound: float) -> None:
        """Broadcast a tick every few milliseconds until ``check()`` (at most ``bound`` s)."""
        deadline = time.monotonic() + bound
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {bound} s waiting for {what}")
            self.tick()
            await asyncio.sleep(0.005)

    async def all_arrived(self, inbox: Inbox, where: str) -> None:
        """Wait until ``inbox`` has every tick sent so far; check they came once, in order."""
        await inbox.wait(lambda: len(inbox.of("tick")) >= self.index, f"the ticks {where}")
        assert [args[0] for args in inbox.of("tick")] == list(range(1, self.index + 1))


@contextlib.asynccontextmanager
async def _bounded(what: str) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(WAIT * 4):
            yield
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def room_channels_ready(*nodes: PyNode) -> None:
    """With the sharded adapter, wait until each server subscribes to the channels of its
    rooms (it does so when a room is created: a broadcast to the room published before that
    is not received, by Node's design)."""
    from socketwire.adapters.redis_link import PresenceKind
    from socketwire.adapters.redis_sharded import ShardedRedisAdapter

    adapters = [node.adapter() for node in nodes]
    if not all(isinstance(adapter, ShardedRedisAdapter) for adapter in adapters):
        return
    wanted: dict[str, int] = {}
    for adapter in adapters:
        for room in adapter.rooms:
            if adapter.channels.has_own_channel(room, is_socket_id=room in adapter.sids):
                channel = adapter.channels.room(room)
                wanted[channel] = wanted.get(channel, 0) + 1
    link = adapters[0].link

    async def subscribed() -> bool:
        for channel, count in wanted.items():
            if await link.count(PresenceKind.SHARDNUMSUB, channel) < count:
                return False
        return True

    await eventually(subscribed, "the servers to subscribe to their rooms' channels")


async def drop_transport(client: AsyncClient) -> None:
    """Close the client's Engine.IO connection without a DISCONNECT packet: the server sees
    "transport close" and keeps the session for recovery."""
    manager = client.io
    assert manager is not None
    assert manager.engine is not None
    await manager.engine.close()


def session_of(client: AsyncClient, nsp: str = "/") -> tuple[str, str]:
    """The ``(pid, last offset)`` a client would present to recover (its core's state)."""
    core = client.socket(nsp)._core
    assert core.pid is not None
    assert core.last_offset is not None
    return core.pid, core.last_offset


async def start_node(adapter: AdapterFactory, **options: Any) -> PyNode:
    """A socketwire server with ``adapter`` on 127.0.0.1:0, subscribed before it returns."""

    sio = Server(adapter=adapter, **options)
    node = PyNode(sio, NativeServer(sio, "127.0.0.1", 0))

    for name in ("/", "/admin"):
        nsp = sio.of(name)

        @nsp.on("connection")
        async def on_connection(socket: Socket) -> None:
            auth = socket.handshake.auth
            if not socket.recovered:
                socket.join(list(auth.get("rooms", [])))
                socket.data.update(auth.get("data", {}))

        @nsp.on("node-sse")
        async def on_sse(*args: Any) -> str:
            node.server_events.append(("node-sse", list(args)))
            return "py-pong"

        @nsp.on("py-sse")
        async def on_py_sse(*args: Any) -> str:
            node.server_events.append(("py-sse", list(args)))
            return "py-pong"

    await node.http.start()
    await sio.start()
    return node
