"""Connection state recovery (socket.io 4.6+), against fake Engine.IO connections."""

from __future__ import annotations

from typing import Any

from sio_fakes import Signal, connect, open_conn

from socketwire import RecoveryOptions, Server, Socket
from socketwire.adapters.base import Adapter
from socketwire.adapters.memory import SessionAwareMemoryAdapter
from socketwire.server.namespace import Namespace
from socketwire.socketio import PacketType


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _server(clock: Clock, **options: Any) -> Server:
    def factory(nsp: Namespace) -> Adapter:
        return SessionAwareMemoryAdapter(nsp, clock=clock)

    return Server(
        connection_state_recovery=RecoveryOptions(max_disconnection_duration=60.0, **options),
        adapter=factory,
    )


async def test_recovers_session_rooms_data_and_missed_packets() -> None:
    clock = Clock()
    sio = _server(clock)
    connected = Signal()
    sio.on("connection", connected)
    middleware_calls: list[str] = []

    async def mw(socket: Socket) -> None:
        middleware_calls.append(socket.id)

    sio.use(mw)
    sock, sid = await connect(sio)
    [(socket,)] = await connected.wait()
    connect_packet = sock.packets[0]
    pid = connect_packet.data["pid"]
    assert isinstance(pid, str)
    assert len(pid) == 20
    socket.join("room")
    socket.data["user"] = "ann"
    socket.emit("first", 1)
    first = await sock.wait_event("first")
    offset = first.data[-1]  # the offset rides as the last argument
    assert first.data[:-1] == ["first", 1]
    assert isinstance(offset, str)
    sock.drop("transport close")

    # missed while away: a room broadcast, a global one, one for another room (not replayed),
    # a volatile one (never stored)
    other, _ = await connect(sio)
    sio.to("room").emit("in-room", "a")
    sio.emit("everyone", b"\x01")
    sio.to("elsewhere").emit("not-for-me")
    sio.volatile.emit("volatile")
    assert len(middleware_calls) == 2

    back = open_conn(sio)
    back.connect("/", {"pid": pid, "offset": offset})
    packet = await back.wait_type(PacketType.CONNECT)
    assert packet.data == {"sid": sid, "pid": pid}
    kinds = [(p.type, p.data[0] if p.type == PacketType.EVENT else None) for p in back.packets]
    assert kinds == [
        (PacketType.EVENT, "in-room"),
        (PacketType.EVENT, "everyone"),
        (PacketType.CONNECT, None),
    ]
    assert back.packets[1].data[1] == b"\x01"
    [_, _, (recovered,)] = await connected.wait(3)
    assert recovered.recovered
    assert recovered.id == sid
    assert recovered.rooms == {sid, "room"}
    assert recovered.data == {"user": "ann"}
    assert len(middleware_calls) == 2  # skip_middlewares
    assert not other.closed


async def test_no_recovery_after_expiry_unknown_offset_or_clean_disconnect() -> None:
    clock = Clock()
    sio = _server(clock, skip_middlewares=False)
    sock, sid = await connect(sio)
    pid = sock.packets[0].data["pid"]
    sio.emit("e")
    offset = (await sock.wait_event("e")).data[-1]
    sock.drop("ping timeout")

    clock.now += 61  # past max_disconnection_duration
    late = open_conn(sio)
    late.connect("/", {"pid": pid, "offset": offset})
    packet = await late.wait_type(PacketType.CONNECT)
    assert packet.data["sid"] != sid
    assert packet.data["pid"] != pid

    # an unknown offset: a fresh session
    sock2, sid2 = await connect(sio)
    pid2 = sock2.packets[0].data["pid"]
    sock2.drop("transport close")
    again = open_conn(sio)
    again.connect("/", {"pid": pid2, "offset": "nope"})
    assert (await again.wait_type(PacketType.CONNECT)).data["sid"] != sid2

    # a client namespace disconnect is not recoverable
    adapter = sio.sockets.adapter
    assert isinstance(adapter, SessionAwareMemoryAdapter)
    sock3, _ = await connect(sio)
    sessions_before = len(adapter.sessions)
    sock3.deliver_raw("41")
    assert len(adapter.sessions) == sessions_before


async def test_acked_and_volatile_packets_carry_no_offset() -> None:
    sio = Server(connection_state_recovery=True)
    connected = Signal()
    sio.on("connection", connected)
    sock, _ = await connect(sio)
    [(socket,)] = await connected.wait()
    socket.volatile.emit("v", 1)
    assert (await sock.wait_event("v")).data == ["v", 1]
    socket.timeout(0.01).emit("a", 1)  # no ack requested: an offset is added
    data = (await sock.wait_event("a")).data
    assert len(data) == 3
