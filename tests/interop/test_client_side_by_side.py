"""socketwire's client and the official socket.io-client 4.8.4, doing the same thing.

Where the Python client behaves as the JS one, or deliberately not, each test runs both
against the same official Node server (tests/interop/js/sio_server.js) and compares: the
JS client is tests/interop/js/sio_client.js, driven over stdin/stdout.

* recovery offsets: JS hands them to its listeners (JavaScript ignores extra arguments),
  Python strips them;
* a failed connection: the same ``TransportError`` messages; JS keeps retrying where the
  Python ``connect()`` raises, unless ``retry=True``;
* ``tryAllTransports``, ``reconnectionAttempts: 0``, ``withCredentials`` behind a
  cookie-pinning balancer, ``ca`` for a private certificate authority, the ``disconnect``
  details of a transport error.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from _sio_node import sio_server

from client_scenarios import (
    HOST,
    MODES,
    WAIT,
    Recorder,
    ServerFactory,
    clients,
    listen,
    options,
)
from conftest import NodeDriver, NodeFactory
from net_harness import PinningBalancer, make_tls_files
from socketwire.client import AsyncClient, TransportError

__all__ = ["clients", "sio_server"]

pytestmark = pytest.mark.interop


async def js_client(
    node: NodeFactory, url: str, mode: str = "upgrade", **manager_options: Any
) -> NodeDriver:
    """socket.io-client with one socket "a" on "/", connecting (reconnection off unless
    ``manager_options`` turn it on)."""
    transports, upgrade = MODES[mode]
    driver = await node(
        "sio_client.js",
        {"url": url, "transports": transports, "upgrade": upgrade, "options": manager_options},
    )
    await driver.command("socket", name="a", nsp="/")
    return driver


async def test_recovery_offset(
    sio_server: ServerFactory, node: NodeFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server(recovery=True)
    driver = await js_client(node, server.url)
    await driver.expect("connect", name="a")
    rec = Recorder()
    client = AsyncClient()
    clients.append(client)

    @client.on("news")
    async def news(item: str) -> None:
        rec.record("news", item)

    client.on_any(lambda event, *args: rec.record("any", event, *args))
    await client.connect(server.url, wait_timeout=WAIT)
    for _ in range(2):
        await server.d.expect("connection")
    await server.command("emit", nsp="/", event="news", args=["headline"])
    # JS: the offset is one more argument, which a JS listener declaring one ignores
    js = await driver.expect("ev", name="a", ev="news")
    assert js["args"][0] == "headline"
    assert len(js["args"]) == 2
    assert isinstance(js["args"][1], str)
    # Python: the handler and the catch-all get what the application sent
    assert await rec.expect("news") == ("headline",)
    assert await rec.expect("any") == ("news", "headline")


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_connection_failure(
    sio_server: ServerFactory, node: NodeFactory, clients: list[AsyncClient], mode: str
) -> None:
    other = "websocket" if mode == "polling" else "polling"
    server = await sio_server(options={"transports": [other]})
    expected = "xhr poll error" if mode == "polling" else "websocket error"
    driver = await js_client(node, server.url, mode)
    js = await driver.expect("connect_error", name="a")
    assert (js["message"], js["type"]) == (expected, "TransportError")
    client = AsyncClient(**options(mode))
    clients.append(client)
    with pytest.raises(TransportError) as caught:
        await client.connect(server.url, wait_timeout=WAIT)
    assert (caught.value.message, caught.value.type) == (expected, "TransportError")


async def test_failed_connection_is_retried_by_js_and_with_retry(
    sio_server: ServerFactory, node: NodeFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server(options={"transports": ["websocket"]})
    quick = {"reconnection": True, "reconnectionDelay": 20, "reconnectionDelayMax": 20}
    driver = await js_client(node, server.url, "polling", **quick)
    for _ in range(3):  # socket.io-client retries (and says so in connect_error)
        await driver.expect("connect_error", name="a", message="xhr poll error")
    rec = Recorder()
    client = AsyncClient(reconnection_delay=0.02, reconnection_delay_max=0.02, **options("polling"))
    clients.append(client)
    listen(client, rec, "connect_error")
    with pytest.raises(TransportError):  # by default, Python raises at the first
        await client.connect(server.url, wait_timeout=WAIT)
    assert rec.count("connect_error") <= 1
    connecting = asyncio.create_task(client.connect(server.url, retry=True, wait_timeout=WAIT))
    for _ in range(3):  # with retry=True, as JS
        [error] = await rec.expect("connect_error")
        assert isinstance(error, TransportError)
    connecting.cancel()
    await asyncio.gather(connecting, return_exceptions=True)


async def test_try_all_transports(
    sio_server: ServerFactory, node: NodeFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server(options={"transports": ["websocket"]})
    driver = await js_client(node, server.url, "upgrade", tryAllTransports=True)
    await driver.expect("connect", name="a")
    client = AsyncClient(try_all_transports=True)
    clients.append(client)
    await client.connect(server.url, wait_timeout=WAIT)
    transports = [(await server.d.expect("connection"))["transport"] for _ in range(2)]
    assert transports == ["websocket", "websocket"]


async def test_reconnection_attempts_zero_is_no_limit(
    sio_server: ServerFactory, node: NodeFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server()
    quick = {"reconnectionDelay": 20, "reconnectionDelayMax": 20, "randomizationFactor": 0}
    driver = await js_client(node, server.url, reconnection=True, reconnectionAttempts=0, **quick)
    await driver.expect("connect", name="a")
    rec = Recorder()
    client = AsyncClient(
        reconnection_attempts=0,
        reconnection_delay=0.02,
        reconnection_delay_max=0.02,
        randomization_factor=0,
    )
    clients.append(client)
    listen(client, rec, "reconnect_attempt", "reconnect_failed")
    await client.connect(server.url, wait_timeout=WAIT)
    await server.kill()
    for n in (1, 2, 3, 4):
        await driver.expect("manager", name="reconnect_attempt", arg=n)
        assert await rec.expect("reconnect_attempt") == (n,)
    assert not driver.seen("manager", name="reconnect_failed")
    assert rec.count("reconnect_failed") == 0


@pytest.mark.parametrize("mode", ["polling", "upgrade"])
async def test_cookies_behind_a_pinning_balancer(
    sio_server: ServerFactory, node: NodeFactory, clients: list[AsyncClient], mode: str
) -> None:
    servers = [await sio_server(options={"cookie": True}) for _ in range(2)]
    async with PinningBalancer([(HOST, s.port) for s in servers]) as balancer:
        # withCredentials: the JS client keeps the cookies; without, it cannot connect
        keeps = await js_client(node, balancer.url, mode, withCredentials=True)
        await keeps.expect("connect", name="a")
        forgets = await js_client(node, balancer.url, mode)
        error = await forgets.expect("connect_error", name="a")
        assert error["type"] == "TransportError"
        client = AsyncClient(reconnection=False, **options(mode))
        clients.append(client)
        await client.connect(balancer.url, wait_timeout=WAIT)
        forgetful = AsyncClient(with_credentials=False, reconnection=False, **options(mode))
        clients.append(forgetful)
        with pytest.raises(TransportError) as caught:
            await forgetful.connect(balancer.url, wait_timeout=WAIT)
        assert caught.value.message in ("xhr poll error", "xhr post error")
        assert error["message"] in ("xhr poll error", "xhr post error")


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_private_certificate_authority(
    sio_server: ServerFactory,
    node: NodeFactory,
    clients: list[AsyncClient],
    mode: str,
    tmp_path: Path,
) -> None:
    files = make_tls_files(tmp_path)
    server = await sio_server(tls=files.server_args())
    url = f"https://{HOST}:{server.port}"
    trusting = await js_client(node, url, mode, ca=files.ca.read_text())
    await trusting.expect("connect", name="a")
    doubting = await js_client(node, url, mode)
    error = await doubting.expect("connect_error", name="a")
    client = AsyncClient(ssl=ssl.create_default_context(cafile=str(files.ca)), **options(mode))
    clients.append(client)
    await client.connect(url, wait_timeout=WAIT)
    stranger = AsyncClient(**options(mode))
    clients.append(stranger)
    with pytest.raises(TransportError) as caught:
        await stranger.connect(url, wait_timeout=WAIT)
    assert (caught.value.message, caught.value.type) == (error["message"], error["type"])


async def test_disconnect_details_of_a_transport_error(
    sio_server: ServerFactory, node: NodeFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server()
    driver = await js_client(node, server.url, "polling", reconnection=True)
    await driver.expect("connect", name="a")
    rec = Recorder()
    client = AsyncClient(**options("polling"))
    clients.append(client)
    listen(client, rec, "disconnect")
    await client.connect(server.url, wait_timeout=WAIT)
    await server.kill()
    js = await driver.expect("disconnect", name="a")
    reason, details = await rec.expect("disconnect")
    assert (reason, js["reason"]) == ("transport error", "transport error")
    assert isinstance(details, TransportError)
    assert details.message == js["description"] == "xhr poll error"
