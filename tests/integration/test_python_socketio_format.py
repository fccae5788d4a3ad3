"""python-socketio's pub/sub managers' format (Redis, AMQP), against python-socketio 5.x
itself: what its ``AsyncPubSubManager`` (the installed package's, with ``_publish``
captured) publishes is what socketwire's codec encodes, byte for byte, and decodes to the
same message."""

from __future__ import annotations

import json
from typing import Any

import pytest
import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from socketwire.adapters.wire.pysocketio import (
    PsCallback,
    PsCloseRoom,
    PsDisconnect,
    PsEmit,
    PsEnterRoom,
    PsLeaveRoom,
    PythonSocketioCodec,
)

pytestmark = pytest.mark.integration

CODEC = PythonSocketioCodec()


class Capture(AsyncPubSubManager):  # type: ignore[misc]
    """python-socketio's pub/sub manager, its publications kept instead of sent."""

    def __init__(self) -> None:
        super().__init__(channel="socketio")
        self.sent: list[dict[str, Any]] = []

    async def _publish(self, data: dict[str, Any]) -> None:
        self.sent.append(data)


@pytest.fixture
def manager() -> Capture:
    capture = Capture()
    socketio.AsyncServer(client_manager=capture)
    return capture


def published(manager: Capture) -> bytes:
    """What python-socketio's AsyncRedisManager publishes, ``self.json.dumps(data)``, and
    AsyncAioPikaManager's message body, ``self.json.dumps(data).encode()``."""
    (data,) = manager.sent
    manager.sent.clear()
    return json.dumps(data).encode()


async def test_emits_are_python_socketios_bytes(manager: Capture) -> None:
    host = manager.host_id
    cases: list[tuple[dict[str, Any], PsEmit]] = [
        ({"data": "one"}, PsEmit(host, "ev", ["one"], "/")),
        (
            {"data": ("a", 1, None), "room": "r", "skip_sid": "s", "namespace": "/chat"},
            PsEmit(host, "ev", ["a", 1, None], "/chat", "r", "s"),
        ),
        (
            {"data": ({"x": b"\x00\x01"}, [b"\xff", 2]), "to": ["r1", "r2"], "skip_sid": ["a"]},
            PsEmit(host, "ev", [{"x": b"\x00\x01"}, [b"\xff", 2]], "/", ["r1", "r2"], ["a"]),
        ),
        ({"data": ()}, PsEmit(host, "ev", [], "/")),
    ]
    for kwargs, expected in cases:
        await manager.emit("ev", **kwargs)
        raw = published(manager)
        assert CODEC.encode(expected) == raw
        assert CODEC.decode(raw) == expected


async def test_callbacks_are_python_socketios_bytes(manager: Capture) -> None:
    host = manager.host_id
    await manager.emit("ask", "q", room="sid1", callback=lambda *args: None)
    raw = published(manager)
    expected = PsEmit(host, "ask", ["q"], "/", "sid1", None, ("sid1", "/", 1))
    assert CODEC.decode(raw) == expected
    assert CODEC.encode(expected) == raw
    # a client of this server answered the callback of server "other"
    await manager._return_callback("other", "sid1", "/", 1, "yes", {"n": 2})
    raw = published(manager)
    answer = PsCallback("other", "sid1", "/", 1, ["yes", {"n": 2}])
    assert CODEC.decode(raw) == answer
    assert CODEC.encode(answer) == raw


async def test_room_and_disconnect_messages_are_python_socketios_bytes(
    manager: Capture,
) -> None:
    host = manager.host_id
    await manager.enter_room("far", "/", "vip")
    await manager.leave_room("far", "/", "vip")
    await manager.close_room("vip", "/")
    await manager.can_disconnect("far", "/")
    expected = [
        PsEnterRoom(host, "far", "vip", "/"),
        PsLeaveRoom(host, "far", "vip", "/"),
        PsCloseRoom(host, "vip", "/"),
        PsDisconnect(host, "far", "/"),
    ]
    for message, data in zip(expected, list(manager.sent), strict=True):
        raw = json.dumps(data).encode()
        assert CODEC.decode(raw) == message
        assert CODEC.encode(message) == raw
