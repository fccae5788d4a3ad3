"""Acknowledgements through an Ack handle, against the official packages: socket.io-client
4.8.4 (tests/interop/js/sio_client.js) sees a socketwire handler's deferred answers exactly
as it sees the official server's ``cb(...args)`` (tests/interop/js/sio_server.js), ``null``
included; and socketwire's client answers the official server through its handle.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from _sio_helpers import open_socket, serve_fixture

from conftest import NodeFactory, from_js, to_js
from socketwire import Ack, AsyncClient, Server, Socket

pytestmark = pytest.mark.interop
assert serve_fixture  # the fixture, imported for pytest to find

WAIT = 5.0
#: What JS ``cb(...args)`` sends for each: no argument, one null, several.
ARGUMENTS: list[list[Any]] = [[], [None], [None, None], [1, "a", b"\x00"], [{"k": None}]]


def deferring_server() -> Server:
    """``echo(*args)`` is answered with its own arguments, by the next ``release`` event."""
    sio = Server()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        held: list[tuple[list[Any], Ack]] = []

        @socket.on("echo")
        async def echo(*args: Any, ack: Ack) -> None:
            held.append((list(args), ack))

        @socket.on("release")
        async def release() -> None:
            args, ack = held.pop(0)
            ack(*args)  # JS cb(...args): cb(null) is one null, cb() none

    return sio


@pytest.mark.parametrize("kind", ["native", "asgi", "node"])
async def test_client_sees_deferred_answers_as_from_node(
    kind: str, serve: Any, node: NodeFactory
) -> None:
    if kind == "node":
        server = await node("sio_server.js", {})  # acks every event with its arguments
        listening = await server.expect("listening")
        url = f"http://127.0.0.1:{listening['port']}"
    else:
        url = (await serve(deferring_server(), kind)).url
    driver = await node("sio_client.js", {"url": url, "path": "/socket.io/"})
    await open_socket(driver, "a")
    for ref, args in enumerate(ARGUMENTS):
        await driver.command("emit", name="a", ev="echo", args=to_js(args), ref=ref)
        await driver.command("emit", name="a", ev="release")
        answer = await driver.expect("ack_response", name="a", ref=ref)
        assert from_js(answer["args"]) == args, (kind, args)


async def test_client_answers_the_official_server_through_its_handle(node: NodeFactory) -> None:
    server = await node("sio_server.js", {})
    listening = await server.expect("listening")
    client = AsyncClient(transports=["websocket"])

    @client.on("question")
    async def question(how: str, ack: Ack) -> str:
        if how == "null":
            asyncio.get_running_loop().call_soon(ack, None)  # after the handler returned
        elif how == "nothing":
            threading.Thread(target=ack).start()
        elif how == "several":
            ack(1, None, "x")
        return "never an ack"

    await client.connect(f"http://127.0.0.1:{listening['port']}", wait_timeout=WAIT)
    try:
        expected = {"null": [None], "nothing": [], "several": [1, None, "x"]}
        for ref, (how, args) in enumerate(expected.items()):
            await server.command("emit", to=client.id, event="question", args=[how], ref=ref)
            answer = await server.expect("client_ack", ref=ref)
            assert answer.get("args") == args, (how, answer)
        # withheld: the server's own timeout decides
        await server.command(
            "emit", to=client.id, event="question", args=["never"], ref=9, timeout=200
        )
        answer = await server.expect("client_ack", ref=9)
        assert answer["error"] == "operation has timed out"
    finally:
        await client.disconnect()
