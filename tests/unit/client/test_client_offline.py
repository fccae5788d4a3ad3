"""AsyncClient without a server: failed connections, reconnection events, Manager sharing.

The "server" is a port of 127.0.0.1 that was free a moment ago and is closed: every
connection attempt is refused at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from socketwire.client import (
    AsyncClient,
    BufferFullError,
    ConnectError,
    ReadyState,
    TransportError,
)

WAIT = 5.0


@pytest.fixture
def dead_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncClient]]:
    """Clients registered here are disconnected at teardown."""
    made: list[AsyncClient] = []
    yield made
    for client in made:
        await asyncio.wait_for(client.disconnect(), WAIT)


class Events:
    """Collects handler calls; :meth:`wait_for` waits until ``count`` of ``name`` arrived."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = asyncio.Event()

    def handler(self, name: str) -> Any:
        async def record(*args: Any) -> None:
            self.calls.append((name, args))
            self._changed.set()

        return record

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]

    async def wait_for(self, name: str, count: int = 1) -> list[tuple[Any, ...]]:
        async with asyncio.timeout(WAIT):
            while len(self.of(name)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.of(name)


async def test_refused_connection_without_reconnection(
    dead_url: str, clients: list[AsyncClient]
) -> None:
    events = Events()
    client = AsyncClient(reconnection=False)
    clients.append(client)
    client.on("connect_error", events.handler("connect_error"))
    client.on("error", events.handler("error"))
    with pytest.raises(ConnectError):
        await client.connect(dead_url, wait_timeout=WAIT)
    [(error,)] = await events.wait_for("connect_error")
    assert isinstance(error, ConnectError)
    assert error.data is None
    await events.wait_for("error")
    await asyncio.wait_for(client.wait(), WAIT)
    assert not client.connected


async def test_reconnection_attempts_then_failure(
    dead_url: str, clients: list[AsyncClient]
) -> None:
    events = Events()
    client = AsyncClient(reconnection_delay=0.01, reconnection_attempts=2)
    clients.append(client)
    for name in ("connect_error", "reconnect_attempt", "reconnect_error", "reconnect_failed"):
        client.on(name, events.handler(name))
    with pytest.raises(ConnectError):
        await client.connect(dead_url, wait_timeout=WAIT, retry=True)
    await events.wait_for("reconnect_failed")
    assert events.of("reconnect_attempt") == [(1,), (2,)]
    assert len(events.of("reconnect_error")) == 2
    assert len(events.of("connect_error")) == 3  # the first attempt and two reconnections
    assert client.io is not None
    assert not client.io.reconnecting


async def test_wait_timeout_gives_up_and_disconnects(
    dead_url: str, clients: list[AsyncClient]
) -> None:
    client = AsyncClient(reconnection_delay=0.01, reconnection_delay_max=0.02)
    clients.append(client)
    with pytest.raises(ConnectError, match="not connected within") as caught:
        await client.connect(dead_url, wait_timeout=0.2, retry=True)
    # the last failure of the attempts is the cause
    assert isinstance(caught.value.__cause__, TransportError)
    assert client.io is not None
    assert not client.io.reconnecting
    assert client.io.ready_state is ReadyState.CLOSED
    assert not client.main.active


async def test_managers_are_shared_by_namespace(dead_url: str, clients: list[AsyncClient]) -> None:
    def make(**kw: Any) -> AsyncClient:
        client = AsyncClient(reconnection=False, **kw)
        clients.append(client)
        return client

    a, b, c, d, e = make(), make(), make(), make(force_new=True), make(multiplex=False)
    await a.connect(dead_url, namespaces=["/"], wait=False)
    await b.connect(dead_url, namespaces=["/chat"], wait=False)
    await c.connect(dead_url, namespaces=["/"], wait=False)
    await d.connect(dead_url, namespaces=["/other"], wait=False)
    await e.connect(dead_url, namespaces=["/more"], wait=False)
    assert a.io is not None
    assert a.io is b.io
    assert set(a.io.nsps) == {"/", "/chat"}
    assert c.io is not a.io  # "/" was taken
    assert d.io is not a.io
    assert e.io is not a.io
    with pytest.raises(RuntimeError, match="already"):
        await a.connect(dead_url, wait=False)


async def test_emits_before_connecting_are_buffered_with_a_bound() -> None:
    client = AsyncClient(max_buffered_packets=2)
    client.emit("a", 1)
    client.emit("b", b"2")
    with pytest.raises(BufferFullError, match="full"):
        client.emit("c")
    assert client.main.send_buffer_size == 2
    with pytest.raises(ValueError, match="reserved"):
        client.emit("connect")


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="parser"):
        AsyncClient(parser="xml")
    with pytest.raises(ValueError, match="retries"):
        AsyncClient(retries=-1)
    with pytest.raises(ValueError, match="namespace"):
        AsyncClient().socket("chat")


async def test_bad_url() -> None:
    with pytest.raises(ValueError, match="URL"):
        await AsyncClient().connect("ftp://127.0.0.1:1")


@pytest.mark.parametrize(
    ("transports", "message"),
    [(["polling", "websocket"], "xhr poll error"), (["websocket"], "websocket error")],
)
async def test_connect_raises_at_the_first_failure(
    dead_url: str,
    clients: list[AsyncClient],
    transports: list[str],
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The README's client with no server: an error at once, nothing left running.
    events = Events()
    client = AsyncClient(transports=transports)  # reconnection on, as by default
    clients.append(client)
    client.on("connect_error", events.handler("connect_error"))
    client.on("reconnect_attempt", events.handler("reconnect_attempt"))
    with caplog.at_level(logging.WARNING, logger="socketwire.client"):
        with pytest.raises(TransportError) as caught:
            await client.connect(dead_url)
        error = caught.value
        assert isinstance(error, ConnectionError)
        assert error.message == message
        assert error.type == "TransportError"
        assert "127.0.0.1" in error.description  # the cause, as the transport saw it
        assert client.io is not None
        assert not client.io.reconnecting
        assert client.io.ready_state is ReadyState.CLOSED
        await events.wait_for("connect_error")
    assert events.of("reconnect_attempt") == []
    # raised, so not logged as well
    assert [r for r in caplog.records if r.name == "socketwire.client"] == []


async def test_connect_without_waiting_reports_to_the_handlers(
    dead_url: str, clients: list[AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    events = Events()
    client = AsyncClient(reconnection_delay=0.01)
    clients.append(client)
    client.on("connect_error", events.handler("connect_error"))
    with caplog.at_level(logging.WARNING, logger="socketwire.client"):
        await client.connect(dead_url, wait=False)
        [(error,)] = await events.wait_for("connect_error")
        assert isinstance(error, TransportError)
        await asyncio.wait_for(client.wait(), WAIT)  # done: no retry without retry=True
    # nobody raised it: logged
    [record] = [r for r in caplog.records if r.name == "socketwire.client"]
    assert record.levelno == logging.WARNING
    assert "xhr poll error" in record.getMessage()
    assert "retrying" not in record.getMessage()
