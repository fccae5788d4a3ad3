"""Connecting to namespaces: handshake, middlewares, refusals, dynamic namespaces."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from sio_fakes import FakeRequest, Signal, connect, open_conn

import socketwire
from socketwire import ConnectionRefusedError, Server, Socket
from socketwire.socketio import Packet, PacketType


async def test_connect_main_namespace_sends_sid_and_runs_handler() -> None:
    sio = Server()
    connected = Signal()
    sio.on("connection", connected)
    request = FakeRequest(
        headers={"host": "x", "origin": "http://a"},
        query={"EIO": "4", "transport": "polling", "foo": "bar"},
    )
    sock, sid = await connect(sio, auth={"token": "t"}, request=request)
    [(socket,)] = await connected.wait()
    assert isinstance(socket, Socket)
    assert socket.id == sid != sock.sid  # never the Engine.IO id
    assert len(sid) == 20
    assert socket.connected
    assert socket.nsp is sio.sockets
    assert socket.rooms == {sid}
    assert socket.handshake.auth == {"token": "t"}
    assert socket.handshake.query["foo"] == "bar"
    assert socket.handshake.address == "127.0.0.1"
    assert socket.handshake.xdomain is True
    assert socket.handshake.url == request.raw_path
    assert socket.conn is sock
    assert sio.sockets.sockets == {sid: socket}


async def test_connect_custom_namespace_and_invalid_namespace() -> None:
    sio = Server()
    chat = sio.of("chat")
    assert chat.name == "/chat"
    assert sio.of("/chat") is chat
    sock, sid = await connect(sio, "/chat")
    assert sid in chat.sockets
    sock.connect("/nope")
    error = await sock.wait_type(PacketType.CONNECT_ERROR, "/nope")
    assert error.data == {"message": "Invalid namespace"}
    assert not sock.closed  # the connection stays usable
    assert "/nope" not in sio.namespaces


async def test_middleware_refusal_with_data() -> None:
    sio = Server()
    seen: list[Any] = []

    async def first(socket: Socket) -> None:
        seen.append(("first", socket.handshake.auth))

    async def second(socket: Socket) -> None:
        raise ConnectionRefusedError("not authorized", data={"code": 42})

    async def never(socket: Socket) -> None:
        seen.append("never")

    sio.use(first)
    sio.use(second)
    sio.use(never)
    sock = open_conn(sio)
    sock.connect("/", {"token": "bad"})
    error = await sock.wait_type(PacketType.CONNECT_ERROR)
    assert error.data == {"message": "not authorized", "data": {"code": 42}}
    assert seen == [("first", {"token": "bad"})]
    assert sio.sockets.sockets == {}
    assert sio.sockets._pre_connect == {}
    assert sio.sockets.adapter.sids == {}  # type: ignore[attr-defined]


async def test_plain_middleware_and_plain_exception() -> None:
    sio = Server()
    chat = sio.of("/chat")

    def refuse(socket: Socket) -> None:  # plain: runs in a worker thread
        raise ValueError("nope")

    chat.use(refuse)
    sock = open_conn(sio)
    sock.connect("/chat")
    error = await sock.wait_type(PacketType.CONNECT_ERROR, "/chat")
    assert error.data == {"message": "nope"}
    # the main namespace has no middleware
    sock.connect("/")
    await sock.wait_type(PacketType.CONNECT, "/")


async def test_dynamic_namespace_regex_shares_parent_handlers() -> None:
    sio = Server()
    parent = sio.of(re.compile(r"^/dyn-\d+$"))
    connected = Signal()
    parent.on("connection", connected)
    new_nsp = Signal()
    sio.on("new_namespace", new_nsp)
    _sock, sid = await connect(sio, "/dyn-1")
    [(socket,)] = await connected.wait()
    assert socket.nsp.name == "/dyn-1"
    assert socket.id == sid
    assert socket.nsp in parent.children
    assert (await new_nsp.wait())[0][0] is socket.nsp
    # a middleware added to the parent later applies to existing children too
    parent.use(lambda s: (_ for _ in ()).throw(ConnectionRefusedError("late")))
    other = open_conn(sio)
    other.connect("/dyn-1")
    assert (await other.wait_type(PacketType.CONNECT_ERROR, "/dyn-1")).data == {"message": "late"}
    other.connect("/dyn-x")
    error = await other.wait_type(PacketType.CONNECT_ERROR, "/dyn-x")
    assert error.data == {"message": "Invalid namespace"}
    # sio.of() with a matching name attaches to the parent
    assert sio.of("/dyn-7") in parent.children


async def test_dynamic_namespace_predicate_and_broadcast_from_parent() -> None:
    sio = Server()
    calls: list[tuple[str, Any]] = []

    async def allow(name: str, auth: dict[str, Any]) -> bool:
        calls.append((name, auth))
        return auth.get("ok") is True

    parent = sio.of(allow)
    sock1, _ = await connect(sio, "/a", {"ok": True})
    sock2, _ = await connect(sio, "/b", {"ok": True})
    sock3 = open_conn(sio)
    sock3.connect("/c", {"ok": False})
    await sock3.wait_type(PacketType.CONNECT_ERROR, "/c")
    assert [c[0] for c in calls] == ["/a", "/b", "/c"]
    parent.emit("hi", 1)
    assert (await sock1.wait_event("hi", "/a")).data == ["hi", 1]
    assert (await sock2.wait_event("hi", "/b")).data == ["hi", 1]
    parent.to("nobody").emit("x")
    with pytest.raises(RuntimeError):
        await parent.fetch_sockets()


async def test_cleanup_empty_child_namespaces() -> None:
    sio = Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(re.compile(r"^/room-"))
    sock, _ = await connect(sio, "/room-1")
    assert "/room-1" in sio.namespaces
    assert len(parent.children) == 1
    sock.deliver(Packet(PacketType.DISCONNECT, "/room-1"))  # handled synchronously
    assert "/room-1" not in sio.namespaces
    assert not parent.children


async def test_connect_timeout_closes_idle_connection() -> None:
    sio = Server(connect_timeout=0.05)
    idle = open_conn(sio)
    active, _ = await connect(sio)
    await idle.wait_closed()
    assert not active.closed
    assert idle.sid not in sio._clients


async def test_connect_flood_is_bounded() -> None:
    sio = Server(max_namespaces_per_client=3)
    sio.of(re.compile(r"^/n"))
    sock = open_conn(sio)
    for i in range(3):
        sock.connect(f"/n{i}")
    for i in range(3):
        await sock.wait_type(PacketType.CONNECT, f"/n{i}")
    assert not sock.closed
    sock.connect("/n3")
    assert sock.closed


async def test_duplicate_connect_closes() -> None:
    sio = Server()
    sock, _ = await connect(sio)
    sock.connect("/")
    assert sock.closed


async def test_packet_before_connect_closes() -> None:
    sio = Server()
    sock = open_conn(sio)
    sock.emit("hello")
    assert sock.closed


async def test_public_exports() -> None:
    for name in ("Server", "Socket", "Namespace", "BroadcastOperator", "RemoteSocket", "ASGIApp"):
        assert hasattr(socketwire, name)
    assert issubclass(socketwire.AckTimeoutError, TimeoutError)


async def test_second_connect_while_connecting_is_dropped() -> None:
    sio = Server()
    gate = asyncio.Event()
    calls: list[str] = []

    async def slow(socket: Socket) -> None:
        calls.append(socket.id)
        await gate.wait()

    sio.use(slow)
    sock = open_conn(sio)
    sock.connect("/")
    sock.connect("/")
    assert not sock.closed
    gate.set()
    await sock.wait_type(PacketType.CONNECT)
    assert len(calls) == 1
    assert len(sio.sockets.sockets) == 1


async def test_custom_adapter_factory_and_handshake_details() -> None:
    from socketwire.adapters.memory import MemoryAdapter
    from socketwire.server.namespace import Namespace

    made: list[str] = []

    class Recording(MemoryAdapter):
        pass

    def factory(nsp: Namespace) -> Recording:
        made.append(nsp.name)
        return Recording(nsp)

    sio = Server(adapter=factory)
    sio.of("/x")
    assert made == ["/", "/x"]
    connected = Signal()
    sio.on("connection", connected)
    await connect(sio)
    [(socket,)] = await connected.wait()
    assert isinstance(socket.adapter, Recording)
    handshake = socket.handshake
    assert re.fullmatch(r"\w{3} \w{3} \d\d \d{4} \d\d:\d\d:\d\d GMT\+0000 \(.+\)", handshake.time)
    assert abs(handshake.issued / 1000 - time.time()) < 60
    assert handshake.secure is False
    assert handshake.xdomain is False
    assert handshake.auth == {}
