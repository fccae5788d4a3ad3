"""socket.io-client 2.x (Engine.IO v3, Socket.IO v4) against socketwire with
``allow_eio3``, side by side with the official socket.io 4.8 with ``allowEIO3``.

The same scenario runs against both servers (tests/integration/sio_server.py and
tests/interop/js/sio_server.js speak one command protocol): an old client
(tests/interop/js/sio_client_v2.js, the npm package socket.io-client 2.5.0) and a new one
(socket.io-client 4.8) in one namespace share a room and a broadcast, and the old one uses
namespaces with a query, binary both ways, acks both ways and a refused namespace. JSONP,
which socket.io-client 2.x runs only in a browser, is driven raw in
tests/interop/test_engineio_v3_wire.py.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from client_scenarios import ScenarioServer, ServerFactory, scenario_servers
from conftest import JS_DIR, NodeDriver, NodeFactory

pytestmark = pytest.mark.interop

SOCKETWIRE = Path(__file__).parent.parent / "integration" / "sio_server.py"
BLOB = {"$bin": "AAEC/w=="}  # b"\x00\x01\x02\xff"

#: mode: (transports, upgrade, socket.io-client 2.x options)
MODES: dict[str, tuple[list[str], bool, dict[str, Any]]] = {
    "polling": (["polling"], False, {}),  # XHR2: binary polling payloads
    "polling-base64": (["polling"], False, {"forceBase64": True}),  # b64=1: "b4..." items
    "websocket": (["websocket"], False, {}),
    "websocket-base64": (["websocket"], False, {"forceBase64": True}),
    "upgrade": (["polling", "websocket"], True, {}),
}


@pytest.fixture(params=["socketwire", "node"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[ScenarioServer]:
    """The scenario server with allowEIO3: socketwire's, or the official Node one."""
    node_bin = shutil.which("node")
    if node_bin is None or not (JS_DIR / "node_modules").is_dir():
        pytest.skip("node or tests/interop/js/node_modules is missing (run `make npm`)")
    if request.param == "node":
        argv, cwd, name = [node_bin, str(JS_DIR / "sio_server.js")], JS_DIR, "sio_server.js"
    else:
        argv, cwd, name = [sys.executable, str(SOCKETWIRE)], SOCKETWIRE.parent, "sio_server.py"
    factory: ServerFactory
    async for factory in scenario_servers(argv, cwd, name):
        yield await factory(options={"allowEIO3": True})


async def old_client(node: NodeFactory, server: ScenarioServer, mode: str) -> NodeDriver:
    transports, upgrade, options = MODES[mode]
    args = {"url": server.url, "transports": transports, "upgrade": upgrade, "options": options}
    return await node("sio_client_v2.js", args)


@pytest.mark.parametrize("mode", list(MODES))
async def test_old_and_new_clients_in_one_namespace(
    server: ScenarioServer, node: NodeFactory, mode: str
) -> None:
    old = await old_client(node, server, mode)
    transports = ["websocket"] if mode.startswith("websocket") else ["polling", "websocket"]
    new = await node(
        "sio_client.js", {"url": server.url, "transports": transports, "upgrade": True}
    )

    # v4: the main namespace is joined without a CONNECT; the socket id is the engine id
    await old.command("socket", name="a", nsp="/")
    connected = await old.expect("connect", name="a")
    seen = await server.d.expect("connection", nsp="/", protocol=3)
    assert connected["id"] == seen["id"] == seen["engine"]
    # a namespace's query is its auth; its socket id is "<nsp>#<engine id>"
    await old.command("socket", name="c", nsp="/chat", query={"token": "abc"})
    chat = await old.expect("connect", name="c")
    seen_chat = await server.d.expect("connection", nsp="/chat", protocol=3)
    assert seen_chat["auth"] == {"token": "abc"}
    assert chat["id"] == seen_chat["id"] == "/chat#" + seen["engine"]

    await new.command("socket", name="a", nsp="/")
    await new.expect("connect", name="a")
    seen_new = await server.d.expect("connection", nsp="/", protocol=4)

    # one room, one broadcast with binary, both clients
    for driver in (old, new):
        await driver.command("emit", name="a", ev="join", args=["room"], ref=1)
        assert (await driver.expect("ack_response", name="a", ref=1))["args"] == ["room"]
    news = ["hi", BLOB, {"nested": [BLOB, "é😀"]}]
    await server.command("emit", nsp="/", room="room", event="news", args=news)
    for driver in (old, new):
        assert (await driver.expect("ev", name="a", ev="news"))["args"] == news

    # binary and an ack from the old client, in the main namespace and in /chat
    await old.command("emit", name="a", ev="upload", args=[BLOB, "x"], ref=2)
    message = await server.d.expect("message", nsp="/", name="upload")
    assert (message["args"], message["acked"], message["id"]) == ([BLOB, "x"], True, seen["id"])
    assert (await old.expect("ack_response", name="a", ref=2))["args"] == [BLOB, "x"]
    await old.command("emit", name="c", ev="say", args=["€"], ref=3)
    assert (await server.d.expect("message", nsp="/chat", name="say"))["args"] == ["€"]
    assert (await old.expect("ack_response", name="c", ref=3))["args"] == ["€"]

    # the server asks the old client for an ack, with binary both ways
    await old.command("reply", name="a", ev="question", args=["answer", BLOB])
    await server.command("emit", nsp="/", to=seen["id"], event="question", args=[BLOB], ref=7)
    assert (await server.d.expect("client_ack", ref=7))["args"] == ["answer", BLOB]
    assert (await old.expect("ev", name="a", ev="question"))["args"] == [BLOB]

    # a refused namespace: v4's ERROR carries the middleware's data (err.data || message)
    await old.command("socket", name="r", nsp="/refuse", query={"k": "v"})
    refused = await old.expect("connect_error", name="r")
    assert refused["data"] == {"reason": "not allowed", "auth": {"k": "v"}}

    # the old client leaves /chat; the new one is undisturbed
    await old.command("disconnect", name="c")
    gone = await server.d.expect("disconnect", nsp="/chat")
    assert (gone["id"], gone["reason"]) == (seen_chat["id"], "client namespace disconnect")
    await new.command("emit", name="a", ev="still", args=[1], ref=4)
    assert (await new.expect("ack_response", name="a", ref=4))["args"] == [1]
    assert seen_new["id"] != seen_new["engine"]  # v5: an id of its own
    if MODES[mode][1]:
        await old.expect("upgrade", transport="websocket")
