"""Typed handlers that take an Ack: one reading of the signature decides both the validation
of the arguments and the handle (server sockets, ``@sio.event``, class-based namespaces, and
the client), through the real client in memory."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

import socketwire
from conftest import wait_until
from socketwire import Ack, Server, Socket
from socketwire.testing import TestClient

WAIT = 5.0


class Order(BaseModel):
    item: str
    qty: int = Field(gt=0)


class Receipt(BaseModel):
    item: str
    total: int


async def test_socket_handler_validates_then_answers_later_with_a_model() -> None:
    sio = Server(serve_client=False)
    seen: list[Any] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("order")
        async def order(order: Order, ack: Ack) -> str:
            seen.append(order)
            # later, and a model: serialised as a return value would be
            asyncio.get_running_loop().call_soon(ack, Receipt(item=order.item, total=order.qty))
            return "not the ack"

    async with TestClient(sio) as client:
        assert await client.emit_with_ack("order", {"item": "tea", "qty": "3"}) == {
            "item": "tea",
            "total": 3,
        }
        assert seen == [Order(item="tea", qty=3)]  # converted before the handler ran
        refused = await client.emit_with_ack("order", {"item": "tea", "qty": 0})
        assert refused["error"]["code"] == "REQUEST_VALIDATION_ERROR"
        assert refused["error"]["issues"][0]["path"] == [0, "qty"]
    assert len(seen) == 1  # the bad order never reached it


async def test_validation_off_still_passes_the_handle() -> None:
    sio = Server(serve_client=False, validation="off")

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("order")
        async def order(order: Order, ack: Ack) -> None:
            ack(order)  # not validated: the dict as it came

    async with TestClient(sio) as client:
        assert await client.emit_with_ack("order", {"qty": "x"}) == {"qty": "x"}


async def test_at_sio_event_and_class_based_handlers_take_an_ack() -> None:
    sio = Server(serve_client=False)
    waiting: list[Ack] = []

    @sio.event
    async def hold(socket: Socket, order: Order, ack: Ack) -> None:
        waiting.append(ack)

    @sio.event
    async def release(socket: Socket, total: int) -> None:
        waiting.pop()(total)

    class Shop(socketwire.NamespaceHandlers):
        async def on_order(self, socket: Socket, order: Order, ack: Ack) -> None:
            ack(Receipt(item=order.item, total=order.qty * 2))

    sio.register_namespace(Shop("/shop"))
    async with TestClient(sio) as client:
        held = asyncio.create_task(client.emit_with_ack("hold", {"item": "a", "qty": 1}))
        await wait_until(lambda: bool(waiting), "the held order")
        await client.emit("release", 7)
        assert await asyncio.wait_for(held, WAIT) == 7
        shop = client.socket("/shop")
        await shop.connect()
        assert await shop.emit_with_ack("order", {"item": "b", "qty": 2}) == {
            "item": "b",
            "total": 4,
        }
        bad = await shop.emit_with_ack("order", {"item": "b", "qty": -1})
        assert bad["error"]["code"] == "REQUEST_VALIDATION_ERROR"


async def test_client_typed_handler_with_an_ack() -> None:
    sio = Server(serve_client=False)
    answers: asyncio.Queue[Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        answers.put_nowait(
            await socket.timeout(WAIT).emit_with_ack("bill", {"item": "x", "qty": 2})
        )
        answers.put_nowait(await socket.timeout(WAIT).emit_with_ack("bill", {"item": "x"}))

    client = TestClient(sio)

    @client.on("bill")
    async def bill(order: Order, ack: Ack) -> None:
        ack(Receipt(item=order.item, total=order.qty))

    async with client:
        assert await asyncio.wait_for(answers.get(), WAIT) == {"item": "x", "total": 2}
        refused = await asyncio.wait_for(answers.get(), WAIT)
        assert refused["error"]["code"] == "REQUEST_VALIDATION_ERROR"
