"""Typed events on a real server, through the real client in memory (TestClient)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pydantic import BaseModel, Field

import socketwire
from socketwire import ConnectError, PayloadError, Server, Socket
from socketwire.testing import TestClient

WAIT = 5.0


class Say(BaseModel):
    room: str
    text: str = Field(min_length=1)


class Said(BaseModel):
    id: int
    text: str


class Credentials(BaseModel):
    token: str = Field(min_length=3)


async def test_good_payloads_are_converted_and_the_ack_serialised() -> None:
    sio = Server(serve_client=False)
    seen: list[Any] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("say")
        async def say(message: Say, times: int = 1) -> Said:
            seen.append((message, times))
            return Said(id=times, text=message.text)

    async with TestClient(sio) as client:
        ack = await client.emit_with_ack("say", {"room": "a", "text": "hi"}, "2")
    assert seen == [(Say(room="a", text="hi"), 2)]
    assert ack == {"id": 2, "text": "hi"}


async def test_a_bad_payload_never_reaches_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    sio = Server(serve_client=False)
    called: list[Any] = []
    errors: asyncio.Queue[Exception] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.on("say", lambda message: called.append(message))
        socket.off("say")

        @socket.on("say")
        async def say(message: Say) -> None:
            called.append(message)

        @socket.on("error")
        async def on_error(exc: Exception) -> None:
            await errors.put(exc)

    with caplog.at_level(logging.INFO, logger="socketwire.server"):
        async with TestClient(sio) as client:
            # with an ack: the error acknowledgement
            ack = await client.emit_with_ack("say", {"room": "a", "text": ""})
            # without: the socket's error handlers
            await client.emit("say", "not an object")
            error = await asyncio.wait_for(errors.get(), WAIT)
    assert called == []
    assert ack == {
        "error": {
            "code": "REQUEST_VALIDATION_ERROR",
            "event": "say",
            "message": "invalid arguments for event 'say'",
            "issues": [
                {
                    "path": [0, "text"],
                    "message": "String should have at least 1 character",
                    "type": "string_too_short",
                }
            ],
        }
    }
    assert isinstance(error, PayloadError)
    assert error.issues[0]["type"] == "model_type"
    logged = [r for r in caplog.records if "sent invalid arguments" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.INFO, logging.INFO]


async def test_an_invalid_ack_is_refused_with_an_error_ack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = Server(serve_client=False, validate_outgoing=True)

    @sio.event
    async def say(socket: Socket, message: Say) -> Said:
        return {"id": "not a number"}  # type: ignore[return-value]

    with caplog.at_level(logging.ERROR, logger="socketwire.server"):
        async with TestClient(sio) as client:
            ack = await client.emit_with_ack("say", {"room": "a", "text": "x"})
    assert ack["error"]["code"] == "RESPONSE_VALIDATION_ERROR"
    assert "issues" not in ack["error"]
    assert "returned an invalid acknowledgement" in caplog.text


async def test_validation_off_and_strict() -> None:
    seen: list[Any] = []

    def server(validation: str) -> Server:
        sio = Server(serve_client=False, validation=validation)

        @sio.event
        async def typed(socket: Socket, message: Say) -> None:
            seen.append(message)

        @sio.event
        async def plain(socket: Socket, count: int) -> int:
            return count

        return sio

    async with TestClient(server("off")) as client:
        assert await client.emit_with_ack("plain", "x") == "x"
        await client.emit_with_ack("typed", {"no": "room"})
    assert seen == [{"no": "room"}]
    async with TestClient(server("auto")) as client:
        assert await client.emit_with_ack("plain", "x") == "x"  # builtins: not checked
    async with TestClient(server("strict")) as client:
        assert await client.emit_with_ack("plain", "7") == 7
        ack = await client.emit_with_ack("plain", "x")
        assert ack["error"]["issues"][0]["path"] == [0]
    with pytest.raises(ValueError, match="'sometimes' is not a valid Validation"):
        Server(serve_client=False, validation="sometimes")


async def test_at_sio_event_names_the_event_after_the_function() -> None:
    sio = Server(serve_client=False)
    events: asyncio.Queue[Any] = asyncio.Queue()

    @sio.event
    async def connect(socket: Socket, auth: Credentials) -> None:
        socket.data["token"] = auth.token

    @sio.event
    async def chat(socket: Socket, text: str) -> str:
        return f"{socket.data['token']}:{text}"

    @sio.event("close room")
    def close_room(socket: Socket, room: str) -> str:  # a plain function: in a thread
        return f"closed {room}"

    @sio.event
    async def disconnect(socket: Socket, reason: str) -> None:
        await events.put(("disconnect", socket.data["token"], reason))

    async with TestClient(sio, auth={"token": "abc"}) as client:
        assert await client.emit_with_ack("chat", "hi") == "abc:hi"
        assert await client.emit_with_ack("close room", "r1") == "closed r1"
    assert await asyncio.wait_for(events.get(), WAIT) == (
        "disconnect",
        "abc",
        "client namespace disconnect",
    )
    contract = sio.contract()
    [root] = contract.namespaces
    assert [e.name for e in root.received] == ["chat", "close room"]


async def test_connect_refuses_bad_auth_and_false() -> None:
    sio = Server(serve_client=False)

    @sio.event
    async def connect(socket: Socket, auth: Credentials) -> bool:
        return auth.token != "banned"

    with pytest.raises(ConnectError) as caught:
        async with TestClient(sio, auth={"token": "x"}):
            pass
    assert caught.value.message == "invalid arguments for event 'connect'"
    assert caught.value.data["code"] == "REQUEST_VALIDATION_ERROR"
    assert caught.value.data["issues"][0]["path"] == [0, "token"]
    with pytest.raises(ConnectError, match="Connection refused"):
        async with TestClient(sio, auth={"token": "banned"}):
            pass
    async with TestClient(sio, auth={"token": "good"}) as client:
        assert client.connected


class Chat(socketwire.NamespaceHandlers):
    def __init__(self) -> None:
        super().__init__("/chat")
        self.log: asyncio.Queue[str] = asyncio.Queue()

    async def on_connect(self, socket: Socket) -> None:
        socket.join("everyone")

    async def on_say(self, socket: Socket, message: Say) -> Said:
        self.to("everyone").emit("said", message.text)
        return Said(id=1, text=message.text)

    def on_plain(self, socket: Socket, value: int) -> int:
        return value + 1

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        await self.log.put(reason)


async def test_class_based_namespaces() -> None:
    sio = Server(serve_client=False)
    chat = Chat()
    assert set(chat.handlers()) == {"connect", "say", "plain", "disconnect"}
    with pytest.raises(RuntimeError, match="not registered"):
        chat.emit("x")
    sio.register_namespace(chat)
    assert chat.nsp is sio.of("/chat")
    async with TestClient(sio, namespace="/chat") as client:
        assert await client.emit_with_ack("say", {"room": "r", "text": "t"}) == {
            "id": 1,
            "text": "t",
        }
        assert await client.receive("said") == ("said", ["t"])
        assert await client.emit_with_ack("plain", 1) == 2
        bad = await client.emit_with_ack("say", {})
        assert bad["error"]["event"] == "say"
    assert await asyncio.wait_for(chat.log.get(), WAIT) == "client namespace disconnect"
    [_, described] = sio.contract().namespaces
    assert described.name == "/chat"
    assert [e.name for e in described.received] == ["plain", "say"]


async def test_declared_emits_serialise_validate_and_convert_acks() -> None:
    sio = Server(serve_client=False, validate_outgoing=True)
    sockets: list[Socket] = []

    @sio.emits
    def said(message: Said) -> None:
        """Someone said something."""

    @sio.emits("how many")
    def how_many(question: str) -> Said:
        """Ask a client; it answers with a Said."""

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        sockets.append(socket)

    async with TestClient(sio) as client:
        [socket] = sockets
        socket.emit("said", Said(id=1, text="a"))
        assert await client.receive("said") == ("said", [{"id": 1, "text": "a"}])
        sio.emit("said", {"id": "2", "text": "b"})  # validated, then sent converted
        assert await client.receive("said") == ("said", [{"id": 2, "text": "b"}])
        with pytest.raises(PayloadError) as caught:
            sio.to("nobody").emit("said", {"id": "x"})
        assert not caught.value.rejected
        assert caught.value.code == "REQUEST_VALIDATION_ERROR"

        answers: list[Any] = [{"id": 3, "text": "q"}, {"id": 3, "text": "r"}, {"wrong": True}]
        client.on("how many", lambda question: answers.pop(0))
        answer = await socket.timeout(WAIT).emit_with_ack("how many", "q")
        assert answer == Said(id=3, text="q")
        [broadcast] = await sio.timeout(WAIT).emit_with_ack("how many", "r")
        assert broadcast == Said(id=3, text="r")

        with pytest.raises(PayloadError) as caught:
            await socket.timeout(WAIT).emit_with_ack("how many", "q")
        assert caught.value.code == "RESPONSE_VALIDATION_ERROR"
    [root] = sio.contract().namespaces
    assert [(e.name, e.description) for e in root.sent] == [
        ("how many", "Ask a client; it answers with a Said."),
        ("said", "Someone said something."),
    ]


async def test_the_client_validates_events_from_the_server() -> None:
    sio = Server(serve_client=False)
    sockets: list[Socket] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        sockets.append(socket)

    received: list[Said] = []
    async with TestClient(sio) as client:

        @client.on("said")
        async def said(message: Said) -> str:
            received.append(message)
            return "thanks"

        [socket] = sockets
        assert await socket.timeout(WAIT).emit_with_ack("said", {"id": "1", "text": "a"}) == (
            "thanks"
        )
        bad = await socket.timeout(WAIT).emit_with_ack("said", {"id": "x"})
    assert received == [Said(id=1, text="a")]
    assert bad["error"]["code"] == "REQUEST_VALIDATION_ERROR"
    assert [i["path"] for i in bad["error"]["issues"]] == [[0, "id"], [0, "text"]]
