"""The "retry" scenarios of socket.io-client 4.8.4's own test suite (``test/retry.ts``), with
the official client (tests/interop/js/sio_retry.js) against socketwire and against the
official server (tests/interop/js/sio_server.js).

Where the official test counts packets in a 100 ms window, these wait for the event that ends
the scenario and assert on the order of the packets instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from _sio_helpers import Running, serve_fixture

from conftest import NodeDriver, NodeFactory
from socketwire import Ack, Server, Socket

pytestmark = pytest.mark.interop
assert serve_fixture  # the fixture, imported for pytest to find

SERVERS = ["native", "asgi", "node"]


def echo_server() -> Server:
    """The official test server's ``echo``: ``(arg, cb) => cb(arg)``."""
    sio = Server()

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("echo")
        async def echo(arg: Any) -> tuple[Any]:
            # JS cb(arg): one argument, even when it is null (returning None sends none)
            return (arg,)

    return sio


async def start(kind: str, sio: Server, serve: Any, node: NodeFactory) -> str:
    """The URL of the server of ``kind``: ``sio`` served by socketwire, or Node's."""
    if kind == "node":
        server = await node("sio_server.js", {})
        listening = await server.expect("listening")
        return f"http://127.0.0.1:{listening['port']}"
    running: Running = await serve(sio, kind)
    return running.url


async def run(node: NodeFactory, url: str, scenario: str, **args: Any) -> NodeDriver:
    return await node("sio_retry.js", {"url": url, "scenario": scenario, **args})


@pytest.mark.parametrize("kind", SERVERS)
async def test_emit_in_the_connect_handler_is_sent_once(
    kind: str, serve: Any, node: NodeFactory
) -> None:
    """ "should not emit a packet twice in the 'connect' handler": the client's packets are
    its CONNECT and one event, and it receives the open packet, the CONNECT and the ack
    ``30[null]`` in that order. The server's first upgrade noop comes 100 ms after the
    probe (JS's upgrade check), after these: sent at once, it came before the ack."""
    url = await start(kind, echo_server(), serve, node)
    client = await run(node, url, "connect_emit", event="echo", args=[None])
    acked = await client.expect("acked")
    assert acked["sent"] == ["0", '20["echo",null]']
    received = acked["received"]
    assert [p["type"] for p in received] == ["open", "message", "message"], received
    assert received[1]["data"].startswith('0{"sid":'), received
    assert received[2]["data"] == "30[null]"


def withholding_server() -> Server:
    """The official test server's ``ack``: ``() => socket.emit("ack", ...)``, never calling
    the callback it is given."""
    sio = Server()

    @sio.on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("ack")
        async def ack(ack: Ack) -> None:
            socket.emit("ack")  # and no answer: the handle is dropped unused

    return sio


@pytest.mark.parametrize("kind", SERVERS)
async def test_unacknowledged_packet_is_retried_then_fails(
    kind: str, serve: Any, node: NodeFactory
) -> None:
    """ "should fail when the server does not acknowledge the packet": with retries 3 the
    client sends the packet four times (a new ack id each time), gets the server's four
    events, then gives up. Node's server is told to drop four acks of an event that also
    makes it emit "ack" back (its scenario server's ``emit_back``)."""
    if kind == "node":
        server = await node("sio_server.js", {})
        listening = await server.expect("listening")
        await server.command("drop_acks", count=4)
        url = f"http://127.0.0.1:{listening['port']}"
        event, args = "emit_back", ["ack"]
    else:
        url = await start(kind, withholding_server(), serve, node)
        event, args = "ack", []
    client = await run(node, url, "unacknowledged", event=event, args=args, back="ack")
    settled = await client.expect("settled")
    assert settled["error"] == "operation has timed out"
    assert settled["count"] == 4
    done = await client.expect("done")
    packet = json.dumps([event, *args], separators=(",", ":"))
    assert done["sent"] == ["0", *(f"2{i}{packet}" for i in range(4)), "1"]
