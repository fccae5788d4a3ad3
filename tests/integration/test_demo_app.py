"""The demo's Socket.IO side (socketwire.demo.app), with the Python client over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from socketwire.client import AsyncClient
from socketwire.demo import create_app
from socketwire.demo.app import MAX_ECHO_EVENTS
from socketwire.io.native import NativeServer

pytestmark = pytest.mark.integration

WAIT = 5.0


@pytest.fixture
async def url() -> AsyncIterator[str]:
    server = NativeServer(create_app(serve_client=False), host="127.0.0.1", port=0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncClient]]:
    made: list[AsyncClient] = []
    yield made
    for client in made:
        await client.disconnect()


async def connect(
    url: str, made: list[AsyncClient], nickname: str, namespace: str = "/"
) -> tuple[AsyncClient, asyncio.Queue[tuple[str, Any]]]:
    """A client (its own connection) and a queue of every event it receives."""
    client = AsyncClient(reconnection=False, force_new=True)
    made.append(client)
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    client.socket(namespace).on_any(lambda event, *args: events.put_nowait((event, args)))
    await client.connect(
        url, namespaces=[namespace], auth={"nickname": nickname}, wait_timeout=WAIT
    )
    return client, events


async def next_event(events: asyncio.Queue[tuple[str, Any]], name: str) -> Any:
    """The arguments of the next ``name`` event (others are skipped)."""
    async with asyncio.timeout(WAIT):
        while True:
            event, args = await events.get()
            if event == name:
                return args


async def test_echo_sends_back_and_acknowledges(url: str, clients: list[AsyncClient]) -> None:
    client, events = await connect(url, clients, "e", "/echo")
    echo = client.socket("/echo")
    assert await echo.timeout(WAIT).emit_with_ack("ping", {"n": 1}, b"\x00\x01") == (
        {"n": 1},
        b"\x00\x01",
    )
    assert await next_event(events, "ping") == ({"n": 1}, b"\x00\x01")
    echo.emit("no-ack", "x")
    assert await next_event(events, "no-ack") == ("x",)


async def test_echo_answers_a_bounded_number_of_event_names(
    url: str, clients: list[AsyncClient]
) -> None:
    client, _ = await connect(url, clients, "e", "/echo")
    echo = client.socket("/echo")
    for i in range(MAX_ECHO_EVENTS):
        assert await echo.timeout(WAIT).emit_with_ack(f"e{i}", i) == i
    beyond = asyncio.create_task(echo.emit_with_ack("one-too-many", 1))
    # events of a socket are handled in order: once this ack is back, the one before was
    # handled, and left unanswered
    assert await echo.timeout(WAIT).emit_with_ack("e0", 0) == 0
    assert not beyond.done()
    beyond.cancel()


async def test_chat_events_between_two_people(url: str, clients: list[AsyncClient]) -> None:
    alice, alice_events = await connect(url, clients, "alice")
    bob, _ = await connect(url, clients, "bob")
    assert (await alice.timeout(WAIT).emit_with_ack("hello", {}))["online"] == 2
    for client in (alice, bob):
        assert (await client.timeout(WAIT).emit_with_ack("join", " lobby "))["room"] == "lobby"
    bob.emit("typing", {"room": "lobby", "typing": True})
    assert await next_event(alice_events, "typing") == (
        {"room": "lobby", "nickname": "bob", "typing": True},
    )
    refused = await bob.timeout(WAIT).emit_with_ack("message", {"room": "elsewhere", "text": "x"})
    assert refused == {"ok": False, "error": "join the room before writing in it"}
    assert (await bob.timeout(WAIT).emit_with_ack("nickname", "Bob"))["nickname"] == "Bob"
    renamed = (await next_event(alice_events, "notice"))[0]
    assert renamed["room"] == "lobby"
    assert renamed["text"] == "bob is now Bob"
    assert isinstance(renamed["time"], int)
    await bob.disconnect()
    assert await next_event(alice_events, "typing") == (
        {"room": "lobby", "nickname": "Bob", "typing": False},
    )
    notice = (await next_event(alice_events, "notice"))[0]
    assert notice["text"] == "Bob left"
    assert await next_event(alice_events, "online") == (1,)


async def test_bad_requests_get_an_error_ack(url: str, clients: list[AsyncClient]) -> None:
    alice, _ = await connect(url, clients, "alice")
    # the chat's own refusals
    assert (await alice.timeout(WAIT).emit_with_ack("join", "a/b"))["ok"] is False
    assert (await alice.timeout(WAIT).emit_with_ack("leave", "never-joined"))["ok"] is False
    assert (await alice.timeout(WAIT).emit_with_ack("nickname", ""))["ok"] is False
    # payloads of the wrong type do not reach the chat (its TypedDicts are validated)
    for event, payload in (("join", 5), ("message", "not a dict"), ("typing", [])):
        refused = await alice.timeout(WAIT).emit_with_ack(event, payload)
        assert refused["error"]["code"] == "REQUEST_VALIDATION_ERROR", event
        assert refused["error"]["event"] == event
    hello = await alice.timeout(WAIT).emit_with_ack("hello", {"nickname": ""})
    assert hello["nickname"] == "alice"  # an unusable name keeps the current one
