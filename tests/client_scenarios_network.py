"""Client scenarios of what lies between the client and its server: an HTTP proxy, a load
balancer pinning sessions by cookie, TLS with a private certificate authority. Shared by the
Node and socketwire suites (see tests/client_scenarios.py); the proxies are
tests/net_harness.py's.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from client_scenarios import HOST, MODES, WAIT, ServerFactory, connect, options
from net_harness import HttpProxy, PinningBalancer, make_tls_files
from socketwire.client import AsyncClient, TransportError

__all__ = [
    "test_cookies_pin_the_session_behind_a_balancer",
    "test_proxy_from_the_environment",
    "test_through_an_http_proxy",
    "test_tls_with_a_private_certificate_authority",
]

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


def _clear_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.mark.parametrize("mode", list(MODES))
async def test_through_an_http_proxy(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    async with HttpProxy(credentials="user:secret") as proxy:
        client = await connect(clients, server, proxy=proxy.url_with_credentials(), **options(mode))
        assert await client.timeout(WAIT).emit_with_ack("echo", "via proxy") == "via proxy"
        await server.d.expect("connection")
        if mode == "upgrade":
            await server.d.expect("upgrade")  # the probe went through the proxy too
        methods = {seen.method for seen in proxy.seen}
        if mode != "websocket":  # polling: plain requests with the absolute URL
            assert {"GET", "POST"} <= methods
            plain = [seen.target for seen in proxy.seen if seen.method != "CONNECT"]
            assert all(target.startswith(server.url) for target in plain)
        if mode != "polling":  # the WebSocket: a CONNECT tunnel
            tunnels = [seen.target for seen in proxy.seen if seen.method == "CONNECT"]
            assert f"{HOST}:{server.port}" in tunnels
        assert all(seen.upstream != 407 for seen in proxy.seen)
        # without the credentials the proxy refuses: a transport error, at once
        stranger = AsyncClient(proxy=proxy.url, reconnection=False, **options(mode))
        clients.append(stranger)
        with pytest.raises(TransportError) as caught:
            await stranger.connect(server.url, wait_timeout=WAIT)
        assert "407" in caught.value.description


async def test_proxy_from_the_environment(
    sio_server: ServerFactory, clients: list[AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await sio_server()
    _clear_proxy_variables(monkeypatch)
    async with HttpProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        first = await connect(clients, server)  # polling, then the WebSocket: both through it
        await server.d.expect("upgrade")
        await first.disconnect()
        assert {"GET", "POST", "CONNECT"} <= {seen.method for seen in proxy.seen}
        used = len(proxy.seen)
        monkeypatch.setenv("NO_PROXY", HOST)  # ... unless the host is excluded
        await connect(clients, server)
        assert len(proxy.seen) == used
        monkeypatch.delenv("NO_PROXY")
        await connect(clients, server, proxy=None)  # or the client says no proxy
        assert len(proxy.seen) == used


@pytest.mark.parametrize("mode", ["polling", "upgrade"])
async def test_cookies_pin_the_session_behind_a_balancer(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    # Two servers that do not share sessions, behind a balancer that pins a client by the
    # cookie it inserts: a client must send it back on every request, the WebSocket
    # handshake included, or its requests land on the server that does not know it.
    servers = [await sio_server(options={"cookie": True}) for _ in range(2)]
    async with PinningBalancer([(HOST, s.port) for s in servers]) as balancer:
        client = AsyncClient(reconnection=False, **options(mode))
        clients.append(client)
        await client.connect(balancer.url, wait_timeout=WAIT)
        assert await client.timeout(WAIT).emit_with_ack("echo", 1) == 1
        pinned = balancer.seen[0].upstream
        connection = await servers[pinned].d.expect("connection")
        assert connection["id"] == client.id
        assert {seen.upstream for seen in balancer.seen} == {pinned}
        for seen in balancer.seen[1:]:  # the balancer's cookie and the server's own
            assert seen.cookie is not None
            assert f"lb={pinned}" in seen.cookie
            assert "io=" in seen.cookie
        if mode == "upgrade":
            await servers[pinned].d.expect("upgrade")
            upgrade = [s for s in balancer.seen if "transport=websocket" in s.target]
            assert upgrade
            assert upgrade[0].cookie is not None
            assert f"lb={pinned}" in upgrade[0].cookie
        await client.disconnect()
        # the same client without cookies: spread over both servers, it cannot connect
        forgetful = AsyncClient(with_credentials=False, reconnection=False, **options(mode))
        clients.append(forgetful)
        before = len(balancer.seen)
        with pytest.raises(TransportError) as caught:
            await forgetful.connect(balancer.url, wait_timeout=WAIT)
        assert "400" in caught.value.description  # "Session ID unknown"
        assert all(seen.cookie is None for seen in balancer.seen[before:])


@pytest.mark.parametrize("mode", list(MODES))
async def test_tls_with_a_private_certificate_authority(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str, tmp_path: Path
) -> None:
    files = make_tls_files(tmp_path)
    server = await sio_server(tls=files.server_args())
    url = f"https://{HOST}:{server.port}"
    context = ssl.create_default_context(cafile=str(files.ca))
    client = AsyncClient(ssl=context, reconnection=False, **options(mode))
    clients.append(client)
    await client.connect(url, wait_timeout=WAIT)
    assert await client.timeout(WAIT).emit_with_ack("echo", "secret") == "secret"
    await server.d.expect("connection")
    # the system's authorities do not know the test one: a transport error, at once
    doubting = AsyncClient(reconnection=False, **options(mode))
    clients.append(doubting)
    with pytest.raises(TransportError) as caught:
        await doubting.connect(url, wait_timeout=WAIT)
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.description
