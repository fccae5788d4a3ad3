"""Hostile Socket.IO input against the server, through raw Engine.IO peers.

Every malformed class closes the connection cleanly (or, where JS does, is ignored), the
server stays up (a healthy client works afterwards), nothing is logged as an error, and no
connection, socket, room or pending acknowledgement is left behind.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from _sio_peer import PollingPeer, Running, WsPeer, assert_no_leaks, leaks, serve_sio

from socketwire import DisconnectedError, Server, Socket

pytestmark = pytest.mark.integration
assert serve_sio  # the fixture, imported for pytest to find

MAX_NAMESPACES = 5

#: Engine.IO packets (text with the "4" message prefix, or raw bytes) that must close
CLOSING: dict[str, list[str | bytes]] = {
    "unknown-type-9": ["49"],
    "unknown-type-7": ['47["x"]'],
    "event-object": ['42{"a":1}'],
    "event-empty-array": ["42[]"],
    "event-number-first": ["42[1]"],
    "event-null-first": ["42[null]"],
    "event-string": ['42"x"'],
    "event-no-payload": ["42"],
    "event-trailing-garbage": ['42["x"]]'],
    "connect-data-string": ['40/other,"x"'],
    "connect-data-array": ["40/other,[1]"],
    "connect-data-number": ["40/other,1"],
    "ack-id-negative": ['42-1["x"]'],
    "ack-id-huge": ["42" + "9" * 30 + '["x"]'],
    "ack-id-huge-on-ack": ["43" + "9" * 30 + '["x"]'],
    "ack-id-letters": ['42abc["x"]'],
    "ack-without-id": ['43["x"]'],
    "ack-args-not-array": ['431{"a":1}'],
    "placeholder-splice": ['451-["hello",{"_placeholder":true,"num":"splice"}]'],
    "placeholder-proto": ['451-["hello",{"_placeholder":true,"num":"__proto__"}]'],
    "placeholder-out-of-range": ['451-["hello",{"_placeholder":true,"num":1}]'],
    "placeholder-twice": [
        '452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]',
    ],
    "attachment-bomb": ['459999-["x"]'],
    "attachment-count-zero": ['450-["x"]'],
    "attachment-count-huge": ["45" + "9" * 40 + '-["x"]'],
    "deep-json-unclosed": ["42" + "[" * 100_000],
    "deep-json-closed": ['42["x",' + "[" * 5000 + "]" * 5000 + "]"],
    "deep-json-objects": ['42["x",' + '{"a":' * 5000 + "1" + "}" * 5000 + "]"],
    "event-namespace-not-joined": ['42/other,["x"]'],
    "ack-namespace-not-joined": ['43/other,1["x"]'],
    "disconnect-namespace-not-joined": ["41/other,"],
    "binary-unexpected": [b"\x01\x02\x03"],
    "text-while-attachments": ['451-["x",{"_placeholder":true,"num":0}]', '42["y"]'],
    "connect-error-from-client": ['44{"message":"x"}'],
    "second-connect": ["40"],
}

#: the classes also run over long-polling and behind the ASGI app
SUBSET = [
    "unknown-type-9",
    "event-empty-array",
    "connect-data-string",
    "ack-id-huge",
    "placeholder-splice",
    "attachment-bomb",
    "deep-json-unclosed",
    "event-namespace-not-joined",
    "binary-unexpected",
    "text-while-attachments",
]


class App:
    """A server with an echo event, rooms, a dynamic namespace and a slow middleware."""

    def __init__(self, **options: Any) -> None:
        self.sio = Server(max_namespaces_per_client=MAX_NAMESPACES, **options)
        self.sockets: asyncio.Queue[Socket] = asyncio.Queue()
        self.release_slow = asyncio.Event()
        self.slow_entered = asyncio.Event()
        sio = self.sio

        async def on_connection(socket: Socket) -> None:
            socket.join(["room-a", "room-b"])

            @socket.on("echo")
            async def echo(value: Any) -> Any:
                return value

            await self.sockets.put(socket)

        sio.on("connection", on_connection)
        sio.of("/other").on("connection", on_connection)
        sio.of(re.compile(r"^/dyn-\d+$")).on("connection", on_connection)
        slow = sio.of("/slow")

        async def slow_middleware(socket: Socket) -> None:
            socket.join("joined-in-middleware")
            self.slow_entered.set()
            await self.release_slow.wait()

        slow.use(slow_middleware)
        slow.on("connection", on_connection)

    async def socket(self) -> Socket:
        return await asyncio.wait_for(self.sockets.get(), 5)


@pytest.fixture
def error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """The socketwire records at ERROR or above (a handler crash, an unexpected exception)."""
    caplog.set_level(logging.DEBUG, logger="socketwire")
    records: list[logging.LogRecord] = []
    yield records
    records.extend(
        r for r in caplog.records if r.name.startswith("socketwire") and r.levelno >= logging.ERROR
    )
    assert records == [], [r.getMessage() for r in records]


async def healthy_client_works(app: App, running: Running) -> None:
    """A well-behaved client connects, gets an ack, and leaves without leaking."""
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    await app.socket()
    await peer.send('421["echo","still alive"]')
    assert await peer.recv() == '431["still alive"]'
    await peer.close()
    await assert_no_leaks(app.sio)


async def pending_ack(socket: Socket) -> asyncio.Task[Any]:
    """A server-side ``emit_with_ack`` the client never answers."""
    return asyncio.create_task(socket.timeout(30).emit_with_ack("question"))


async def assert_ack_rejected(task: asyncio.Task[Any]) -> None:
    with pytest.raises(DisconnectedError):
        await asyncio.wait_for(task, 5)


async def run_over_websocket(app: App, running: Running, messages: list[str | bytes]) -> None:
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    socket = await app.socket()
    assert socket.rooms == {socket.id, "room-a", "room-b"}
    task = await pending_ack(socket)
    assert await peer.recv() == '420["question"]'
    await peer.send(*messages)
    await peer.closed()
    await assert_ack_rejected(task)
    assert not socket.connected
    await assert_no_leaks(app.sio)


async def run_over_polling(app: App, running: Running, messages: list[str | bytes]) -> None:
    peer = await PollingPeer.open(running)
    await peer.connect_nsp("/")
    socket = await app.socket()
    task = await pending_ack(socket)
    assert await peer.get() == ['420["question"]']
    assert await peer.post(*messages) == 200
    # the server closed the session: the next poll carries the close packet
    assert (await peer.get())[-1] == "1"
    await assert_ack_rejected(task)
    await assert_no_leaks(app.sio)


@pytest.mark.parametrize("case", list(CLOSING))
async def test_malformed_closes_websocket_native(
    serve_sio: Any, error_logs: list[logging.LogRecord], case: str
) -> None:
    app = App()
    running = await serve_sio(app.sio)
    await run_over_websocket(app, running, CLOSING[case])
    await healthy_client_works(app, running)


@pytest.mark.parametrize("kind", ["native", "asgi"])
@pytest.mark.parametrize("case", SUBSET)
async def test_malformed_closes_polling(
    serve_sio: Any, error_logs: list[logging.LogRecord], kind: str, case: str
) -> None:
    app = App()
    running = await serve_sio(app.sio, kind)
    await run_over_polling(app, running, CLOSING[case])
    await healthy_client_works(app, running)


@pytest.mark.parametrize("case", SUBSET)
async def test_malformed_closes_websocket_asgi(
    serve_sio: Any, error_logs: list[logging.LogRecord], case: str
) -> None:
    app = App()
    running = await serve_sio(app.sio, "asgi")
    await run_over_websocket(app, running, CLOSING[case])
    await healthy_client_works(app, running)


@pytest.mark.parametrize("kind", ["native", "asgi"])
async def test_unknown_ack_ids_are_ignored(
    serve_sio: Any, error_logs: list[logging.LogRecord], kind: str
) -> None:
    """An ACK for an id the server never issued is ignored, as JS: the connection stays."""
    app = App()
    running = await serve_sio(app.sio, kind)
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    socket = await app.socket()
    task = await pending_ack(socket)
    assert await peer.recv() == '420["question"]'
    await peer.send('43999999999["forged"]', '431["forged"]', '437["forged"]')
    await peer.send('421["echo","after"]')
    assert await peer.recv() == '431["after"]'
    assert not task.done()
    assert list(socket.acks) == [0]
    await peer.send('430["the answer"]')
    assert await asyncio.wait_for(task, 5) == "the answer"
    assert socket.acks == {}
    await peer.send('430["again"]')  # a second answer to the same id: ignored
    await peer.send('421["echo","still"]')
    assert await peer.recv() == '431["still"]'
    await peer.close()
    await assert_no_leaks(app.sio)


async def test_connect_flood_past_the_namespace_limit_websocket(
    serve_sio: Any, error_logs: list[logging.LogRecord]
) -> None:
    """CONNECTs to many (existing) namespaces: past the limit the connection is closed."""
    app = App()
    running = await serve_sio(app.sio)
    peer = await WsPeer.open(running)
    await peer.send(*(f"40/dyn-{i}," for i in range(MAX_NAMESPACES * 4)))
    seen = await peer.closed()
    answers = [m for m in seen if isinstance(m, str) and m.startswith("40/dyn-")]
    assert len(answers) <= MAX_NAMESPACES
    await assert_no_leaks(app.sio)
    await healthy_client_works(app, running)


async def test_connect_flood_to_unknown_namespaces_polling(
    serve_sio: Any, error_logs: list[logging.LogRecord]
) -> None:
    """One POST of many CONNECTs to namespaces that do not exist: closed at the limit."""
    app = App()
    running = await serve_sio(app.sio)
    peer = await PollingPeer.open(running)
    flood = [f"40/nowhere-{i}," for i in range(MAX_NAMESPACES * 20)]
    assert await peer.post(*flood) == 200
    packets = await peer.get()
    assert packets[-1] == "1"
    assert len([p for p in packets if p.startswith("44/nowhere-")]) <= MAX_NAMESPACES
    await assert_no_leaks(app.sio)
    await healthy_client_works(app, running)


async def test_connect_flood_within_the_limit_is_served(
    serve_sio: Any, error_logs: list[logging.LogRecord]
) -> None:
    """Up to the limit, each CONNECT gets its own answer (the bound is not too tight)."""
    app = App()
    running = await serve_sio(app.sio)
    peer = await WsPeer.open(running)
    for i in range(MAX_NAMESPACES):
        await peer.connect_nsp(f"/dyn-{i}")
    await peer.send('42/dyn-0,1["echo","ok"]')
    assert await peer.recv() == '43/dyn-0,1["ok"]'
    assert sum(len(n.sockets) for n in app.sio.namespaces.values()) == MAX_NAMESPACES
    await peer.close()
    await assert_no_leaks(app.sio)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_garbage_while_a_middleware_runs(
    serve_sio: Any, error_logs: list[logging.LogRecord], transport: str
) -> None:
    """The connection closes while a namespace middleware awaits: no socket is left behind,
    not even the rooms the middleware joined."""
    app = App()
    running = await serve_sio(app.sio)
    if transport == "websocket":
        ws = await WsPeer.open(running)
        await ws.send("40/slow,")
        await asyncio.wait_for(app.slow_entered.wait(), 5)
        assert leaks(app.sio)["/slow connecting sockets"] == 1
        await ws.send("49")
        await ws.closed()
    else:
        poll = await PollingPeer.open(running)
        assert await poll.post("40/slow,") == 200
        await asyncio.wait_for(app.slow_entered.wait(), 5)
        assert await poll.post("49") == 200
        assert (await poll.get())[-1] == "1"
    app.release_slow.set()
    await assert_no_leaks(app.sio)
    assert app.sockets.empty()
    await healthy_client_works(app, running)


async def test_oversized_message_closes_and_server_stays_up(
    serve_sio: Any, error_logs: list[logging.LogRecord]
) -> None:
    """A message past max_http_buffer_size ends the connection at the Engine.IO level."""
    app = App(max_http_buffer_size=100_000)
    running = await serve_sio(app.sio)
    peer = await WsPeer.open(running)
    await peer.connect_nsp("/")
    await app.socket()
    await peer.send('42["echo","' + "x" * 200_000 + '"]')
    await peer.closed()
    await assert_no_leaks(app.sio)
    await healthy_client_works(app, running)


# ---------------------------------------------------------------------------------------
# The msgpack parser (socket.io-msgpack-parser): every packet is one binary message


def _mp(**fields: Any) -> bytes:
    return bytes(msgpack.packb(fields))


MSGPACK_CLOSING: dict[str, str | bytes] = {
    "garbage": b"\xc1",
    "not-a-map": bytes(msgpack.packb([1, 2])),
    "deep-arrays": b"\x81\xa4data" + b"\x91" * 100_000 + b"\x01",
    "huge-map-claim": b"\xdf\xff\xff\xff\xff",
    "huge-array-claim": b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\xdd\xff\xff\xff\xff",
    "unknown-type": _mp(type=9, nsp="/"),
    "event-not-array": _mp(type=2, nsp="/", data={"a": 1}),
    "event-name-not-string": _mp(type=2, nsp="/", data=[1]),
    "connect-data-not-map": _mp(type=0, nsp="/other", data=[1]),
    "ack-id-negative": _mp(type=2, nsp="/", data=["x"], id=-1),
    "ack-id-huge": _mp(type=2, nsp="/", data=["x"], id=2**64 - 1),
    "nsp-not-string": _mp(type=2, nsp=5, data=["x"]),
    "namespace-not-joined": _mp(type=2, nsp="/other", data=["x"]),
    "ext-type": bytes(msgpack.packb({"type": 2, "nsp": "/", "data": [msgpack.ExtType(1, b"a")]})),
    "trailing-bytes": _mp(type=2, nsp="/", data=["x"]) + b"\x00",
    "text-message": '42["x"]',
}


async def _msgpack_recv(peer: WsPeer) -> dict[str, Any]:
    message = await peer.recv()
    assert isinstance(message, bytes), message
    packet: dict[str, Any] = msgpack.unpackb(message)
    return packet


async def _msgpack_connect(peer: WsPeer) -> None:
    await peer.send(_mp(type=0, nsp="/"))
    packet = await _msgpack_recv(peer)
    assert packet["type"] == 0, packet
    assert isinstance(packet["data"]["sid"], str)


@pytest.mark.parametrize("kind", ["native", "asgi"])
@pytest.mark.parametrize("case", list(MSGPACK_CLOSING))
async def test_malformed_msgpack_closes(
    serve_sio: Any, error_logs: list[logging.LogRecord], kind: str, case: str
) -> None:
    app = App(parser="msgpack")
    running = await serve_sio(app.sio, kind)
    peer = await WsPeer.open(running)
    await _msgpack_connect(peer)
    socket = await app.socket()
    task = await pending_ack(socket)
    assert await _msgpack_recv(peer) == {"type": 2, "nsp": "/", "data": ["question"], "id": 0}
    await peer.send(MSGPACK_CLOSING[case])
    await peer.closed()
    await assert_ack_rejected(task)
    await assert_no_leaks(app.sio)

    healthy = await WsPeer.open(running)
    await _msgpack_connect(healthy)
    await app.socket()
    await healthy.send(_mp(type=2, nsp="/", data=["echo", b"\x00ok"], id=7))
    assert await _msgpack_recv(healthy) == {"type": 3, "nsp": "/", "data": [b"\x00ok"], "id": 7}
    await healthy.close()
    await assert_no_leaks(app.sio)
