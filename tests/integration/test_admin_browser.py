"""The official admin UI, in headless Chromium, watching a mixed cluster.

A socketwire server and a Node socket.io 4.8 server (with ``@socket.io/admin-ui``'s own
``instrument()``, tests/interop/js/admin_node.js) share one Redis through the
``@socket.io/redis-adapter`` format. The UI is the one the socketwire server serves
(``serve_ui=True``): it logs in, lists the sockets and rooms of both servers, shows both
servers, and disconnects a socket of the Node server. Screenshots go to test-output/
(docs/topics/observability-cluster.png is a copy of admin-servers.png).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from _browser import OUTPUT, chromium, playwright_api

from conftest import NodeDriver, NodeFactory
from integration.cluster_nodes import PyNode, eventually
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire import AsyncClient, Server, Socket
from socketwire.adapters.redis import create_adapter
from socketwire.io.native import NativeServer
from socketwire.server.admin_ui import PACKAGED_ASSETS

pytestmark = [pytest.mark.integration, pytest.mark.interop]
playwright_api()
bcrypt = pytest.importorskip("bcrypt", reason="the admin extra (`make install`)")
if not (PACKAGED_ASSETS / "@socket.io" / "admin-ui" / "ui" / "dist" / "index.html").is_file():
    pytest.skip("the admin UI is not in the package (`make assets`)", allow_module_level=True)

USER, PASSWORD = "admin", "correct horse"


@dataclass
class Cluster:
    py: PyNode
    node: NodeDriver
    node_ids: dict[str, str]


async def py_client(node: PyNode, name: str, rooms: list[str]) -> str:
    client = AsyncClient(transports=["websocket"], reconnection=False)
    await client.connect(node.url, auth={"rooms": rooms}, wait_timeout=5)
    node.clients[name] = client
    sid = client.socket("/").id
    assert sid is not None
    node.ids[name] = sid
    return sid


@pytest.fixture
async def cluster(redis_server: RedisServer, node: NodeFactory) -> AsyncIterator[Cluster]:  # noqa: F811
    driver = await node("admin_node.js", {"redis": redis_server.url, "serverId": "node-1"})
    await driver.expect("ready")
    sio = Server(adapter=create_adapter(redis_server.url))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    sio.instrument(
        auth={"type": "basic", "username": USER, "password": hashed},
        serve_ui=True,
        server_id="socketwire-1",
        stats_interval=0.5,
    )

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.join(list(socket.handshake.auth.get("rooms", [])))

    py = PyNode(sio, NativeServer(sio, "127.0.0.1", 0))
    await py.http.start()
    await sio.start()

    async def both() -> bool:
        return await sio.of("/").adapter.server_count() == 2

    await eventually(both, "the two servers to count each other")
    ids = {}
    for name, rooms in (("node-a", ["lobby", "node-room"]), ("node-b", ["lobby"])):
        await driver.command("client", name=name, rooms=rooms)
        ids[name] = (await driver.expect("client_connect", name=name))["id"]
    await py_client(py, "py-a", ["lobby", "py-room"])
    await py_client(py, "py-b", ["py-room"])
    try:
        yield Cluster(py, driver, ids)
    finally:
        await py.close()


async def test_ui_watches_and_operates_a_mixed_cluster(cluster: Cluster) -> None:
    OUTPUT.mkdir(exist_ok=True)
    all_ids = [*cluster.py.ids.values(), *cluster.node_ids.values()]
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        try:
            await _drive(page, cluster, all_ids)
        except BaseException:
            await page.screenshot(path=OUTPUT / "admin-failure.png")
            raise
    assert not cluster.node.seen("client_disconnect", name="node-b")
    assert all(client.connected for client in cluster.py.clients.values())


async def _drive(page: Any, cluster: Cluster, all_ids: list[str]) -> None:
    if True:
        await page.goto(f"{cluster.py.url}/admin/")
        # the form is filled in with this server's address; a login is still needed
        await page.get_by_label("Username").fill(USER)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Connect").click()
        await page.get_by_role("button", name="Connect").wait_for(state="hidden", timeout=5000)
        await page.get_by_text(re.compile("^connected$", re.IGNORECASE)).first.wait_for(
            timeout=5000
        )

        await page.get_by_role("navigation").get_by_role("link", name="Servers").click()
        for server_id in ("socketwire-1", "node-1"):
            await page.get_by_text(server_id).first.wait_for(timeout=5000)
        await page.screenshot(path=OUTPUT / "admin-servers.png")

        await page.get_by_role("navigation").get_by_role("link", name="Sockets").click()
        for sid in all_ids:
            await page.get_by_text(sid).first.wait_for(timeout=5000)
        await page.screenshot(path=OUTPUT / "admin-sockets.png")

        await page.get_by_role("navigation").get_by_role("link", name="Rooms").click()
        for room in ("lobby", "py-room", "node-room"):
            await page.get_by_text(room, exact=True).first.wait_for(timeout=5000)
        await page.screenshot(path=OUTPUT / "admin-rooms.png")

        # disconnect a socket of the Node server from the UI served by socketwire
        victim = cluster.node_ids["node-a"]
        await page.get_by_role("navigation").get_by_role("link", name="Sockets").click()
        # the row's (icon) button disconnects the socket
        await page.locator("tr", has_text=victim).get_by_role("button").click()
        event = await cluster.node.expect("client_disconnect", name="node-a")
        assert event["reason"] == "io server disconnect"
        await page.get_by_role("navigation").get_by_role("link", name="Sockets").click()
        await page.get_by_text(cluster.node_ids["node-b"]).first.wait_for(timeout=5000)
        # Node's server reports the disconnection (socket_disconnected) through Redis
        await page.locator("tr", has_text=victim).first.wait_for(state="detached", timeout=5000)
        await page.screenshot(path=OUTPUT / "admin-after-disconnect.png")
