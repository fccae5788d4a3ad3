"""Events, acknowledgements both ways, binary, catch-all listeners, per-packet middlewares."""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

import pytest
from sio_fakes import Signal, connect

from socketwire import Ack, AckTimeoutError, DisconnectedError, Server, Socket
from socketwire.socketio import MsgpackParser, Packet, PacketType


async def _server_socket(sio: Server, nsp: str = "/") -> tuple[Any, Socket]:
    connected = Signal()
    sio.of(nsp).on("connection", connected)
    sock, _ = await connect(sio, nsp)
    [(socket,)] = await connected.wait()
    return sock, socket


@pytest.mark.parametrize("parser", [None, "msgpack"])
async def test_client_event_with_binary_and_ack(parser: str | None) -> None:
    sio = Server(parser=parser)
    received = Signal()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("chat")
        async def chat(text: str, blob: bytes, obj: dict[str, Any]) -> Any:
            await received(text, blob, obj)
            return ("ok", b"\x01\x02")

        @socket.on("none")
        async def none() -> None:
            return None

    sock, _ = await connect(sio)
    sock.emit("chat", "hi", b"\x00\xff", {"a": [1, b"x"]}, ack=7)
    ack = await sock.wait_type(PacketType.ACK)
    assert ack.id == 7
    assert ack.data == ["ok", b"\x01\x02"]
    assert (await received.wait())[0] == ("hi", b"\x00\xff", {"a": [1, b"x"]})
    sock.emit("none", ack=8)
    ack = await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 8)
    assert ack.data == []
    if parser == "msgpack":
        assert isinstance(sio.parser, MsgpackParser)
        assert all(isinstance(m, bytes) for m in sock.messages)


async def test_plain_handler_runs_in_thread_and_can_emit() -> None:
    sio = Server()
    threads: list[int] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("work")
        def work(n: int) -> int:  # plain: runs in a worker thread
            threads.append(threading.get_ident())
            socket.emit("progress", n)  # handed over to the loop
            return n * 2

    sock, _ = await connect(sio)
    sock.emit("work", 21, ack=1)
    ack = await sock.wait_type(PacketType.ACK)
    assert ack.data == [42]
    assert (await sock.wait_event("progress")).data == ["progress", 21]
    assert threads
    assert threads[0] != threading.get_ident()


async def test_events_are_handled_in_order_after_connection_handler() -> None:
    sio = Server()
    order: list[Any] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        await asyncio.sleep(0.01)  # a slow connection handler: events wait for it

        @socket.on("n")
        async def n(value: int) -> None:
            order.append(value)
            if value == 0:
                await asyncio.sleep(0.01)

        @socket.on("done")
        async def done() -> str:
            return "done"

    sock, _ = await connect(sio)
    for i in range(5):
        sock.emit("n", i)
    sock.emit("done", ack=99)
    await sock.wait_type(PacketType.ACK)
    assert order == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("parser", [None, "msgpack"])
async def test_server_emit_with_ack(parser: str | None) -> None:
    sio = Server(parser=parser)
    sock, socket = await _server_socket(sio)
    task = asyncio.create_task(socket.emit_with_ack("question", 42, b"\x00"))
    event = await sock.wait_event("question")
    assert event.data == ["question", 42, b"\x00"]
    assert event.id is not None
    assert len(socket.acks) == 1
    sock.deliver(Packet(PacketType.ACK, "/", ["answer", b"\x01"], event.id))
    assert await task == ("answer", b"\x01")
    assert socket.acks == {}


async def test_emit_with_ack_timeout_and_late_ack_ignored() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    with pytest.raises(AckTimeoutError) as info:
        await socket.timeout(0.05).emit_with_ack("q")
    assert info.value.missing == [socket.id]
    assert socket.acks == {}
    event = await sock.wait_event("q")
    sock.deliver(Packet(PacketType.ACK, "/", ["late"], event.id))  # ignored
    sock.deliver(Packet(PacketType.ACK, "/", ["made up"], 12345))  # ignored
    assert not sock.closed
    assert socket.connected


async def test_pending_acks_fail_on_disconnect() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    task = asyncio.create_task(socket.emit_with_ack("q"))
    await sock.wait_event("q")
    sock.drop("transport close")
    with pytest.raises(DisconnectedError):
        await task
    assert socket.acks == {}
    with pytest.raises(DisconnectedError):
        await socket.emit_with_ack("again")


async def test_catch_all_listeners_in_and_out() -> None:
    sio = Server()
    incoming = Signal()
    outgoing = Signal()
    sock, socket = await _server_socket(sio)
    socket.on_any(incoming)
    socket.on_any_outgoing(outgoing)
    first: list[Any] = []
    socket.prepend_any(lambda *a: first.append(("prepended", incoming.calls[:])))
    sock.emit("whatever", 1, 2)
    assert (await incoming.wait())[0] == ("whatever", 1, 2)
    assert first == [("prepended", [])]
    socket.emit("out", "x")
    sio.emit("all", 1)
    calls = await outgoing.wait(2)
    assert calls == [("out", "x"), ("all", 1)]
    socket.off_any_outgoing(outgoing)
    socket.emit("out2")
    await sock.wait_event("out2")
    assert len(outgoing.calls) == 2


async def test_socket_middleware_rejects_and_mutates() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    errors = Signal()
    socket.on("error", errors)
    got = Signal()
    socket.on("ev", got)

    async def mw(event: str, args: list[Any]) -> None:
        if event == "forbidden":
            raise PermissionError("no")
        args.append("added")

    socket.use(mw)
    sock.emit("forbidden", 1)
    sock.emit("ev", 1)
    assert (await got.wait())[0] == (1, "added")
    [(exc,)] = await errors.wait()
    assert isinstance(exc, PermissionError)
    assert not sock.closed  # nothing is sent to the client, as JS


async def test_reserved_event_names_cannot_be_emitted() -> None:
    sio = Server()
    _, socket = await _server_socket(sio)
    for name in ("connect", "disconnect", "disconnecting", "connect_error"):
        with pytest.raises(ValueError, match="reserved"):
            socket.emit(name)
        with pytest.raises(ValueError, match="reserved"):
            sio.emit(name)


async def test_a_client_event_named_error_reaches_no_error_handler() -> None:
    # "disconnect" and "disconnecting" are refused by the parser (as socket.io-parser's);
    # "error" is not, and JS would call the socket's error handlers with the client's
    # arguments. Here only the catch-all listeners see it.
    name = "error"
    sio = Server()
    sock, socket = await _server_socket(sio)
    reserved, seen, after = Signal(), Signal(), Signal()
    socket.on(name, reserved)
    socket.on("after", after)
    socket.on_any(seen)
    sock.emit(name, "forged")
    sock.emit("after")
    await after.wait()  # handled in order: the forged event was handled before
    assert seen.calls == [(name, "forged"), ("after",)]
    assert reserved.calls == []
    assert socket.connected


async def test_handler_failure_sends_no_ack_and_keeps_socket() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)

    @socket.on("boom")
    async def boom() -> None:
        raise RuntimeError("handler bug")

    @socket.on("ok")
    async def ok() -> int:
        return 1

    sock.emit("boom", ack=1)
    sock.emit("ok", ack=2)
    ack = await sock.wait_type(PacketType.ACK)
    assert ack.id == 2
    assert socket.connected


async def test_concurrent_events_option() -> None:
    sio = Server(concurrent_events=True)
    release = asyncio.Event()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("wait")
        async def wait() -> str:
            await release.wait()
            return "released"

        @socket.on("go")
        async def go() -> str:
            release.set()  # runs while "wait" is still waiting
            return "went"

        @socket.on("ready")
        async def ready() -> None:
            return None

    sock, _ = await connect(sio)
    # events before the connection handler returned run in order, after it: once this ack
    # is back, the socket handles events concurrently
    sock.emit("ready", ack=0)
    await sock.wait_type(PacketType.ACK)
    sock.emit("wait", ack=1)
    sock.emit("go", ack=2)
    acks = [
        await sock.wait_for(lambda p, i=i: p.type == PacketType.ACK and p.id == i) for i in (2, 1)
    ]
    assert [a.data for a in acks] == [["went"], ["released"]]


async def test_send_and_off() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    socket.send("m", 1)
    assert (await sock.wait_event("message")).data == ["message", "m", 1]
    got: list[Any] = []

    async def handler(x: int) -> None:
        got.append(x)

    socket.on("e", handler)
    socket.off("e", handler)

    @socket.on("marker")
    async def marker() -> int:
        return 1

    sock.emit("e", 1)
    sock.emit("marker", ack=5)
    await sock.wait_type(PacketType.ACK)
    assert got == []


async def test_once_handlers_run_for_the_next_event_only() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    calls: list[tuple[str, Any]] = []
    both = Signal()

    async def once_async(value: Any) -> str:
        calls.append(("once", value))
        return "first"

    def plain(value: Any) -> None:
        calls.append(("on", value))

    socket.once("ev", once_async)
    socket.on("ev", plain)

    @socket.once("other")
    def once_plain(value: Any) -> None:
        calls.append(("other", value))

    socket.on("ev", both)
    sock.emit("ev", 1, ack=1)
    ack = await sock.wait_type(PacketType.ACK)
    assert ack.data == ["first"]  # the first handler's result is the ack
    sock.emit("ev", 2, ack=2)
    ack = await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 2)
    assert ack.data == []  # the once handler is gone: plain returns None
    await both.wait(2)
    assert calls == [("once", 1), ("on", 1), ("on", 2)]

    # listeners() gives the functions as registered (a once handler, a typed one)
    def typed(value: int, ack: Ack) -> None:
        pass

    socket.on("ev", typed)
    # (identity: a stored wrapper compares equal to its function)
    assert [id(fn) for fn in socket.listeners("ev")] == [id(plain), id(both), id(typed)]
    assert [id(fn) for fn in socket.listeners("other")] == [id(once_plain)]
    socket.off("ev", typed)
    # off() finds a once handler by the function registered
    socket.off("other", once_plain)
    sock.emit("other", 3)
    sock.emit("ev", 4)
    await both.wait(3)
    assert ("other", 3) not in calls


async def test_a_once_handler_answers_through_its_ack_handle() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    handles: asyncio.Queue[Ack] = asyncio.Queue()

    def later(value: int, ack: Ack) -> str:
        handles.put_nowait(ack)
        return "not the ack"

    socket.once("ask", later)
    sock.emit("ask", 1, ack=7)
    handle = await asyncio.wait_for(handles.get(), 5)
    handle("answered", 1)
    ack = await sock.wait_type(PacketType.ACK)
    assert (ack.id, ack.data) == (7, ["answered", 1])


async def test_once_for_a_reserved_event() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    reasons = Signal()
    socket.once("disconnect", reasons)
    sock.emit("x")
    sock.drop("transport close")
    assert (await reasons.wait())[0] == ("transport close",)


async def test_listeners_any_write_and_request() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)

    def first(*args: Any) -> None:
        pass

    def second(*args: Any) -> None:
        pass

    socket.on_any(first)
    socket.prepend_any(second)
    socket.on_any_outgoing(first)
    listeners = socket.listeners_any()
    assert listeners == [second, first]
    listeners.clear()  # a copy
    assert socket.listeners_any() == [second, first]
    assert socket.listeners_any_outgoing() == [first]
    socket.off_any_outgoing()
    assert socket.listeners_any_outgoing() == []
    socket.write("hello", 1)
    assert (await sock.wait_event("message")).data == ["message", "hello", 1]
    sio.write("to all")  # io.write and namespace.write, as JS
    sio.of("/").write("to the namespace")
    assert (await sock.wait_for(lambda p: p.data == ["message", "to all"])).type is PacketType.EVENT
    assert (await sock.wait_for(lambda p: p.data == ["message", "to the namespace"])).data
    assert socket.request is socket.conn.request
    assert socket.request.query["EIO"] == "4"


@pytest.mark.parametrize("concurrent", [False, True])
async def test_handler_that_answers_at_once_runs_in_its_own_task(concurrent: bool) -> None:
    """On Python 3.12+ an event's handler starts eagerly: a handler that does not suspend has
    answered when the packet's delivery returns; it still runs in a task of its own, with its
    own context (the eager start changes when it runs, not what it runs in)."""
    import contextvars

    from socketwire.handlers import EAGER_TASKS

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    sio = Server(concurrent_events=concurrent)
    seen: list[tuple[bool, bool, str]] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("echo")
        async def echo(value: str) -> str:
            task = asyncio.current_task()
            seen.append((task is not None, task is not outer, var.get()))
            var.set(value)  # must not leak out of the handler's task
            async with asyncio.timeout(1):  # needs a current task
                await asyncio.sleep(0) if value == "b" else None  # b suspends once
            return value

    outer = asyncio.current_task()
    var.set("outer")
    sock, _ = await connect(sio)
    # the first events wait for the connection handler: let it run
    sock.emit("echo", "warm", ack=1)
    await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 1)
    before = len([p for p in sock.packets if p.type == PacketType.ACK])
    sock.emit("echo", "a", ack=2)
    answered_at_once = len([p for p in sock.packets if p.type == PacketType.ACK]) > before
    assert answered_at_once is EAGER_TASKS
    sock.emit("echo", "b", ack=3)
    ack = await sock.wait_for(lambda p: p.type == PacketType.ACK and p.id == 3)
    assert ack.data == ["b"]
    assert var.get() == "outer"
    # every call in a task that is not the test's, with the test's context's value; on
    # Python 3.11 two events queued together share the socket's one runner task (and so a
    # context), as they did before eager tasks
    shared = not EAGER_TASKS and not concurrent
    assert seen[-2:] == [(True, True, "outer"), (True, True, "a" if shared else "outer")]


async def test_socket_takes_application_attributes_and_weak_references() -> None:
    sio = Server()
    sock, socket = await _server_socket(sio)
    socket.username = "ada"  # type: ignore[attr-defined]  # as JS code does
    assert socket.username == "ada"  # type: ignore[attr-defined]
    assert weakref.ref(socket)() is socket
    # events still run after the connection handler's queue is gone (made again on demand)
    handled = Signal()
    socket.on("ping", handled)
    sock.emit("ping", 1)
    assert (await handled.wait())[0] == (1,)
    assert socket.pending_events == 0
