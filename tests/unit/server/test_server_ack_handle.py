"""A server handler that declares an Ack: it answers later, from anywhere, or never, and the
socket's other events are not held up meanwhile."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sio_fakes import Signal, connect

from socketwire import Ack, AckAlreadySentError, Server, Socket
from socketwire.socketio import PacketType


def acks(sock: Any) -> list[tuple[int | None, list[Any]]]:
    return [(p.id, p.data) for p in sock.packets if p.type == PacketType.ACK]


async def test_ack_from_another_event_while_the_socket_goes_on() -> None:
    sio = Server()
    waiting: dict[str, Ack] = {}

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("job")
        async def job(name: str, ack: Ack) -> str:
            waiting[name] = ack
            return "a return value is not the ack"

        @socket.on("finish")
        async def finish(name: str, result: Any) -> str:
            waiting.pop(name)(result)
            return "finished"

    sock, _ = await connect(sio)
    sock.emit("job", "a", ack=1)
    sock.emit("finish", "a", {"ok": True}, ack=2)  # handled after "job" returned
    await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 2)
    assert acks(sock) == [(1, [{"ok": True}]), (2, ["finished"])]


async def test_ack_from_a_thread_and_from_a_timer() -> None:
    sio = Server()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("thread")
        async def in_thread(n: int, ack: Ack) -> None:
            threading.Thread(target=ack, args=(n + 1,)).start()

        @socket.on("timer")
        def timer(n: int, ack: Ack) -> None:  # a plain handler: runs in a worker thread
            loop.call_soon_threadsafe(loop.call_later, 0.01, ack, n + 2)

    loop = asyncio.get_running_loop()
    sock, _ = await connect(sio)
    sock.emit("thread", 1, ack=5)
    sock.emit("timer", 1, ack=6)
    await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 6)
    await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 5)
    assert sorted(acks(sock)) == [(5, [2]), (6, [3])]


async def test_withheld_ack_sends_nothing() -> None:
    sio = Server()
    kept: list[Ack] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("ignore")
        async def ignore(ack: Ack) -> None:
            kept.append(ack)

        @socket.on("ping")
        async def ping() -> str:
            return "pong"

    sock, _ = await connect(sio)
    sock.emit("ignore", ack=1)
    sock.emit("ping", ack=2)  # handled after "ignore": its answer came first
    await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 2)
    assert acks(sock) == [(2, ["pong"])]
    assert kept[0].requested
    assert not kept[0].sent


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        ("nothing", []),  # ack()
        ("null", [None]),  # ack(None): JS cb(null)
        ("return_none", []),  # return None
        ("return_null", [None]),  # return (None,)
    ],
)
async def test_null_and_no_argument(event: str, wire: list[Any]) -> None:
    sio = Server()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        async def nothing(ack: Ack) -> None:
            ack()

        async def null(ack: Ack) -> None:
            ack(None)

        async def return_none() -> None:
            return None

        async def return_null() -> tuple[None]:
            return (None,)

        for handler in (nothing, null, return_none, return_null):
            socket.on(handler.__name__, handler)

    sock, _ = await connect(sio)
    sock.emit(event, ack=3)
    packet = await sock.wait_type(PacketType.ACK)
    assert (packet.id, packet.data) == (3, wire)


async def test_a_second_call_raises() -> None:
    sio = Server()
    errors = Signal()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("twice")
        async def twice(ack: Ack) -> None:
            ack(1)
            try:
                ack(2)
            except AckAlreadySentError as exc:
                await errors(exc)

    sock, _ = await connect(sio)
    sock.emit("twice", ack=4)
    assert len(await errors.wait()) == 1
    assert acks(sock) == [(4, [1])]


async def test_not_requested_and_after_disconnect() -> None:
    sio = Server()
    kept: list[Ack] = []
    got = Signal()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("keep")
        async def keep(ack: Ack) -> None:
            kept.append(ack)
            await got()

    sock, _ = await connect(sio)
    sock.emit("keep")  # no ack asked for
    sock.emit("keep", ack=9)
    await got.wait(2)
    assert [ack.requested for ack in kept] == [False, True]
    kept[0]("sends nothing")
    sock.drop("transport close")
    kept[1]("too late")  # the socket is gone: dropped, not an error
    assert acks(sock) == []


async def test_off_removes_a_handler_that_takes_an_ack() -> None:
    sio = Server()
    sockets: list[Socket] = []

    async def handler(ack: Ack) -> None:
        ack("still here")

    async def ping() -> str:
        return "pong"

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.on("x", handler)
        socket.on("ping", ping)
        sockets.append(socket)

    sock, _ = await connect(sio)
    sock.emit("x", ack=1)
    await sock.wait_type(PacketType.ACK)
    sockets[0].off("x", handler)
    sock.emit("x", ack=2)
    sock.emit("ping", ack=3)  # handled after the second "x"
    await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 3)
    assert acks(sock) == [(1, ["still here"]), (3, ["pong"])]


async def test_an_ack_parameter_that_cannot_take_a_keyword_fails_registration() -> None:
    sio = Server()
    failures = Signal()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        def bad(ack: Ack, /) -> None: ...

        try:
            socket.on("bad", bad)
        except TypeError as exc:
            await failures(exc)

    await connect(sio)
    [(error,)] = await failures.wait()
    assert "keyword" in str(error)
