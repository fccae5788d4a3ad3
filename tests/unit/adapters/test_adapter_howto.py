"""The cluster adapter of docs/howto/writing-an-adapter.md, run: the how-to cannot rot.

Two servers of one process share the how-to's in-process bus; each has a client. What one
server broadcasts, asks or emits server-side reaches the other through the adapter
interface alone (ClusterAdapter's public hooks).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import socketwire
from socketwire.testing import TestClient

HOWTO = Path(__file__).resolve().parents[3] / "docs" / "howto" / "writing-an-adapter.md"


def howto_module() -> dict[str, Any]:
    """The how-to's adapter code block, executed as a module."""
    blocks = re.findall(r"```python\n(.*?)```", HOWTO.read_text(encoding="utf-8"), re.DOTALL)
    (source,) = [block for block in blocks if "class BusAdapter" in block]
    namespace: dict[str, Any] = {"__name__": "writing_an_adapter"}
    exec(compile(source, str(HOWTO), "exec"), namespace)
    return namespace


def make_server(bus: Any, name: str) -> socketwire.Server:
    sio = socketwire.Server(adapter=bus.factory)

    @sio.on("connection")
    async def on_connection(socket: socketwire.Socket) -> None:
        socket.join("room")

        @socket.on("shout")
        async def shout(text: str) -> None:
            sio.to("room").emit("heard", name, text)

    @sio.on("whoami")
    async def whoami(question: str) -> str:
        return f"{name} answers {question}"

    return sio


async def test_two_servers_share_the_bus() -> None:
    bus = howto_module()["Bus"]()
    server_a = make_server(bus, "a")
    server_b = make_server(bus, "b")
    await server_a.start()
    await server_b.start()
    assert await server_a.sockets.adapter.server_count() == 2
    try:
        async with TestClient(server_a) as alice, TestClient(server_b) as bob:
            await alice.emit("shout", "hello")
            assert await bob.receive("heard") == ("heard", ["a", "hello"])
            assert await alice.receive("heard") == ("heard", ["a", "hello"])

            ids = {socket.id for socket in await server_a.fetch_sockets()}
            assert ids == {alice.id, bob.id}

            answers = await server_a.server_side_emit_with_ack("whoami", "?")
            assert answers == ["b answers ?"]

            alice.on("ping", lambda: "pong from alice")
            bob.on("ping", lambda: "pong from bob")
            acks = await server_b.timeout(2).emit_with_ack("ping")
            assert sorted(acks) == ["pong from alice", "pong from bob"]
    finally:
        await server_a.shutdown()
        await server_b.shutdown()
    assert bus.members == {"/": []}
