"""Rooms, broadcasts (encoded once), volatile, broadcast acks, remote control, disconnects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sio_fakes import FakeEngineSocket, Signal, connect, open_conn

from socketwire import AckTimeoutError, Server, Socket
from socketwire.socketio import Packet, PacketType


async def _clients(sio: Server, count: int) -> list[tuple[FakeEngineSocket, Socket]]:
    connected = Signal()
    sio.on("connection", connected)
    socks = [(await connect(sio))[0] for _ in range(count)]
    calls = await connected.wait(count)
    by_sid = {c[0].id: c[0] for c in calls}
    return [(s, by_sid[s.packets[0].data["sid"]]) for s in socks]


async def test_rooms_join_leave_and_room_events() -> None:
    sio = Server()
    events: list[tuple[str, Any]] = []
    adapter = sio.sockets.adapter
    for name in ("create-room", "delete-room", "join-room", "leave-room"):
        adapter.on(name, lambda *a, n=name: events.append((n, a)))
    [(sock, socket)] = await _clients(sio, 1)
    socket.join("r1")
    socket.join(["a", "b"])
    assert socket.rooms == {socket.id, "r1", "a", "b"}
    socket.leave("a")
    assert socket.rooms == {socket.id, "r1", "b"}
    assert ("create-room", ("r1",)) in events
    assert ("join-room", ("r1", socket.id)) in events
    assert events[-2:] == [("leave-room", ("a", socket.id)), ("delete-room", ("a",))]
    sock.drop("transport close")
    assert adapter.rooms == {}
    assert adapter.sids == {}


async def test_broadcast_to_rooms_except_and_encoded_once() -> None:
    sio = Server()
    (s1, k1), (s2, k2), (s3, k3) = await _clients(sio, 3)
    k1.join(["red", "blue"])
    k2.join("red")
    k3.join("blue")
    sio.to("red").emit("x", b"\x00bin")  # binary: several engine messages
    await s1.wait_event("x")
    await s2.wait_event("x")
    # the same encoded objects went to every recipient
    assert s1.encoded[-2] is s2.encoded[-2]
    assert s1.encoded[-1] is s2.encoded[-1]
    assert isinstance(s1.encoded[-1], bytes)
    assert s3.events() == []
    sio.to(["red", "blue"]).except_("blue").emit("y")
    await s2.wait_event("y")
    sio.in_("blue").emit("z")
    await s1.wait_event("z")
    await s3.wait_event("z")
    assert [e[0] for e in s1.events()] == ["x", "z"]
    assert [e[0] for e in s2.events()] == ["x", "y"]
    assert [e[0] for e in s3.events()] == ["z"]
    # from a socket: everyone in the room but itself
    k1.to("red").emit("from1")
    k1.broadcast.emit("all-but-1")
    await s2.wait_event("all-but-1")
    await s3.wait_event("all-but-1")
    assert "from1" in [e[0] for e in s2.events()]
    assert all(e[0] not in ("from1", "all-but-1") for e in s1.events())


async def test_volatile_dropped_when_not_writable() -> None:
    sio = Server()
    (s1, k1), (s2, _) = await _clients(sio, 2)
    s2.writable = False
    sio.volatile.emit("v", 1)
    k1.volatile.emit("single")
    sio.emit("normal")
    await s2.wait_event("normal")
    await s1.wait_event("normal")
    assert [e[0] for e in s2.events()] == ["normal"]
    assert [e[0] for e in s1.events()] == ["v", "single", "normal"]


async def test_broadcast_emit_with_ack_collects_and_times_out() -> None:
    sio = Server()
    (s1, k1), (s2, k2) = await _clients(sio, 2)
    task = asyncio.create_task(sio.timeout(2).emit_with_ack("q", 1))
    e1 = await s1.wait_event("q")
    e2 = await s2.wait_event("q")
    assert e1.id == e2.id is not None
    s1.deliver(Packet(PacketType.ACK, "/", ["r1"], e1.id))
    s2.deliver(Packet(PacketType.ACK, "/", ["r2", "ignored"], e2.id))
    assert sorted(await task) == ["r1", "r2"]
    # one client does not answer
    task = asyncio.create_task(sio.timeout(0.1).emit_with_ack("q2"))
    e1 = await s1.wait_event("q2")
    s1.deliver(Packet(PacketType.ACK, "/", ["only"], e1.id))
    with pytest.raises(AckTimeoutError) as info:
        await task
    assert info.value.responses == ["only"]
    assert info.value.missing == [k2.id]
    assert k1.acks == {}
    assert k2.acks == {}
    # nobody targeted: an empty list at once
    assert await sio.to("empty-room").timeout(1).emit_with_ack("q3") == []


async def test_fetch_sockets_and_remote_control() -> None:
    sio = Server()
    (s1, k1), (s2, k2) = await _clients(sio, 2)
    k1.join("r")
    k1.data["user"] = "ann"
    sockets = await sio.in_("r").fetch_sockets()
    assert [s.id for s in sockets] == [k1.id]
    remote = sockets[0]
    assert remote.data == {"user": "ann"}
    assert remote.rooms == {k1.id, "r"}
    assert remote.handshake is k1.handshake
    remote.emit("hello", 1)
    assert (await s1.wait_event("hello")).data == ["hello", 1]
    task = asyncio.create_task(remote.timeout(1).emit_with_ack("q"))
    event = await s1.wait_event("q")
    s1.deliver(Packet(PacketType.ACK, "/", ["single"], event.id))
    assert await task == "single"
    await remote.join("extra")
    assert "extra" in k1.rooms
    await sio.sockets_join("everyone")
    assert "everyone" in k2.rooms
    assert "everyone" in k1.rooms
    await sio.in_("r").sockets_leave("everyone")
    assert "everyone" not in k1.rooms
    assert "everyone" in k2.rooms
    assert await sio.all_sockets() == {k1.id, k2.id}
    await sio.except_("r").disconnect_sockets()
    await s2.wait_type(PacketType.DISCONNECT)
    assert not k2.connected
    assert k1.connected
    assert not s2.closed
    await remote.disconnect(close=True)
    assert s1.closed
    assert await sio.fetch_sockets() == []


async def test_server_side_emit_on_one_node() -> None:
    sio = Server()
    local = Signal()
    sio.on("ping-servers", local)
    await sio.server_side_emit("ping-servers", 1)
    assert await sio.server_side_emit_with_ack("ping-servers") == []
    with pytest.raises(ValueError, match="reserved"):
        await sio.server_side_emit("connection")
    assert local.calls == []  # JS: no other server, nothing is called locally


@pytest.mark.parametrize(
    ("action", "reason", "closed"),
    [
        ("client_disconnect", "client namespace disconnect", False),
        ("server_disconnect", "server namespace disconnect", False),
        ("server_close", "server namespace disconnect", True),
        ("transport_close", "transport close", True),
        ("ping_timeout", "ping timeout", True),
        ("parse_error", "parse error", True),
        ("invalid_state", "forced server close", True),
        ("shutdown", "server shutting down", True),
    ],
)
async def test_disconnect_reasons(action: str, reason: str, closed: bool) -> None:
    sio = Server()
    [(sock, socket)] = await _clients(sio, 1)
    socket.join("room")
    disconnecting = Signal()
    disconnect = Signal()
    rooms_seen: list[set[str]] = []

    async def on_disconnecting(r: str) -> None:
        rooms_seen.append(socket.rooms)
        await disconnecting(r)

    socket.on("disconnecting", on_disconnecting)
    socket.on("disconnect", disconnect)
    if action == "client_disconnect":
        sock.deliver(Packet(PacketType.DISCONNECT, "/"))
    elif action == "server_disconnect":
        socket.disconnect()
    elif action == "server_close":
        socket.disconnect(close=True)
    elif action == "transport_close":
        sock.drop("transport close")
    elif action == "ping_timeout":
        sock.drop("ping timeout")
    elif action == "parse_error":
        sock.deliver_raw("not a packet")
    elif action == "invalid_state":
        sock.emit("ev", nsp="/not-joined")
    else:
        await sio.shutdown()
    assert (await disconnect.wait())[0] == (reason,)
    assert disconnecting.calls == [(reason,)]
    assert rooms_seen == [{socket.id, "room"}]
    assert socket.rooms == set()
    assert not socket.connected
    if action == "server_disconnect":
        assert sock.packets[-1] == Packet(PacketType.DISCONNECT, "/")
    assert sock.closed is closed
    assert sio.sockets.sockets == {}
    assert sio.sockets.adapter.rooms == {}  # type: ignore[attr-defined]
    if closed:
        assert sock.sid not in sio._clients


async def test_many_connections_leave_nothing_behind() -> None:
    sio = Server()
    chat = sio.of("/chat")
    socks = []
    for _ in range(20):
        sock = open_conn(sio)
        sock.connect("/")
        sock.connect("/chat")
        socks.append(sock)
    for sock in socks:
        await sock.wait_type(PacketType.CONNECT, "/chat")
    assert len(sio.sockets.sockets) == 20 == len(chat.sockets)
    pending = [
        asyncio.create_task(s.timeout(10).emit_with_ack("q")) for s in sio.sockets.sockets.values()
    ]
    for sock in socks:
        sock.drop("transport close")
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    assert sio.sockets.sockets == {}
    assert chat.sockets == {}
    assert sio._clients == {}
    assert sio.sockets.adapter.sids == {}
    assert chat.adapter.rooms == {}


async def test_broadcast_ack_reports_clients_that_disconnect() -> None:
    from socketwire import AckError

    sio = Server()
    (s1, _), (s2, k2) = await _clients(sio, 2)
    task = asyncio.create_task(sio.emit_with_ack("q"))  # no timeout: waits for everyone
    e1 = await s1.wait_event("q")
    await s2.wait_event("q")
    s1.deliver(Packet(PacketType.ACK, "/", ["yes"], e1.id))
    s2.drop("transport close")
    with pytest.raises(AckError) as info:
        await task
    assert not isinstance(info.value, AckTimeoutError)
    assert info.value.responses == ["yes"]
    assert info.value.missing == [k2.id]


async def test_plain_handlers_broadcast_and_join_from_threads() -> None:
    sio = Server()

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:  # plain: in a worker thread
        socket.join("from-thread")

        @socket.on("shout")
        def shout(text: str) -> None:
            sio.to("from-thread").emit("heard", text)

    (s1, k1), (s2, _) = await _clients(sio, 2)
    s1.emit("shout", "hey")
    await s2.wait_event("heard")
    await s1.wait_event("heard")
    assert "from-thread" in k1.rooms


async def test_server_side_event_from_a_cluster_adapter() -> None:
    sio = Server()
    got = Signal()

    @sio.on("hello-from-node")
    async def hello(x: int) -> int:
        await got(x)
        return x + 1

    response: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    # what a cluster adapter does with a SERVER_SIDE_EMIT from another node
    sio.sockets.handle_server_side_emit(["hello-from-node", 1], response.set_result)
    assert (await got.wait())[0] == (1,)
    assert await asyncio.wait_for(response, 5) == 2
