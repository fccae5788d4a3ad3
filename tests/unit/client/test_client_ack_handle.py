"""Ack handles through the real client (TestClient, in memory): a client handler answering a
server's emit later or never, and a server handler answering a client's emit from another
event."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from conftest import wait_until
from socketwire import Ack, AckTimeoutError, Server, Socket
from socketwire.socketio import Packet, PacketType
from socketwire.testing import TestClient

WAIT = 5.0


async def test_client_handler_answers_a_server_emit_later_from_a_thread() -> None:
    sio = Server(serve_client=False)
    answers: asyncio.Queue[Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        answers.put_nowait(await socket.timeout(WAIT).emit_with_ack("question", 20))

    client = TestClient(sio)
    kept: list[Ack] = []

    @client.on("question")
    async def question(n: int, ack: Ack) -> int:
        kept.append(ack)
        return -1  # not the ack

    async with client:
        await wait_until(lambda: bool(kept), "the handler")
        assert answers.empty()
        thread = threading.Thread(target=kept[0], args=(42,))
        thread.start()
        assert await asyncio.wait_for(answers.get(), WAIT) == 42
        thread.join()


async def test_client_handler_that_withholds_lets_the_server_time_out() -> None:
    sio = Server(serve_client=False)
    outcome: asyncio.Queue[BaseException | Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        try:
            outcome.put_nowait(await socket.timeout(0.1).emit_with_ack("question"))
        except AckTimeoutError as exc:
            outcome.put_nowait(exc)

    client = TestClient(sio)
    kept: list[Ack] = []

    @client.on("question")
    async def withhold(ack: Ack) -> None:
        kept.append(ack)

    async with client:
        assert isinstance(await asyncio.wait_for(outcome.get(), WAIT), AckTimeoutError)
        assert len(kept) == 1
        assert kept[0].requested
        assert not kept[0].sent
        kept[0]("too late")  # the server forgot the id: ignored there, no error here


async def test_server_handler_answers_from_another_event() -> None:
    sio = Server(serve_client=False)
    jobs: dict[str, Ack] = {}

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("job")
        async def job(name: str, ack: Ack) -> None:
            jobs[name] = ack

        @socket.on("done")
        async def done(name: str, result: Any) -> None:
            jobs.pop(name)(result)

    async with TestClient(sio) as alice, TestClient(sio) as bob:
        waiting = asyncio.create_task(alice.emit_with_ack("job", "render"))
        await alice.emit("ping")  # the server handled "job" first: it is waiting
        assert not waiting.done()
        await bob.emit("done", "render", {"url": "/r.png"})  # another client's event
        assert await asyncio.wait_for(waiting, WAIT) == {"url": "/r.png"}


@pytest.mark.parametrize("deferred", [False, True])
async def test_client_ack_none_is_one_null(deferred: bool) -> None:
    sio = Server(serve_client=False)
    raw: asyncio.Queue[list[Any]] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        # the ACK packet's arguments as they arrived (emit_with_ack reads both as None)
        socket.acks[999] = raw.put_nowait
        socket.client.write_packet(Packet(PacketType.EVENT, "/", ["question"], 999))

    client = TestClient(sio)

    @client.on("question")
    async def question(ack: Ack) -> None:
        if deferred:
            asyncio.get_running_loop().call_soon(ack, None)
        else:
            ack(None)

    async with client:
        assert await asyncio.wait_for(raw.get(), WAIT) == [None]


async def test_client_handler_gets_as_many_arguments_as_it_declares_besides_its_ack() -> None:
    sio = Server(serve_client=False)
    answers: asyncio.Queue[Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        answers.put_nowait(await socket.timeout(WAIT).emit_with_ack("three", 1, 2, 3))

    client = TestClient(sio)

    @client.on("three")
    async def first_only(first: int, ack: Ack) -> None:  # JavaScript's arity rule
        ack(first)

    async with client:
        assert await asyncio.wait_for(answers.get(), WAIT) == 1
