"""The session's shortcuts for the I/O layer's hot paths agree with the general path.

``take_websocket_message`` followed, when it does not take the message, by
``receive_websocket`` must leave the session exactly as ``receive_websocket`` alone, returning
the message instead of producing a ``MessageReceived``; ``writes_through`` must be
True only when sending would produce a lone ``SendWebSocket``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from socketwire.engineio import CloseReason, EngineOptions
from socketwire.engineio.server_session import (
    Closed,
    CloseWebSocket,
    MessageReceived,
    Output,
    ReadyState,
    SendWebSocket,
    ServerSession,
)

OPTS = EngineOptions(ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=10)


def ws_session() -> ServerSession:
    session = ServerSession("s1", "websocket", OPTS, 0.0)
    session.take_outputs()
    return session


def general(inputs: Sequence[tuple[float, str | bytes | None]]) -> tuple[object, ...]:
    """Drive a session with ``receive_websocket`` (a ``None`` message: a timer tick)."""
    session = ws_session()
    seen: list[Output | str | bytes] = []
    deadlines: list[float | None] = []
    for now, data in inputs:
        if data is None:
            session.handle_timeout(now)
        else:
            session.receive_websocket(data, now)
        for out in session.take_outputs():
            seen.append(out.data if isinstance(out, MessageReceived) else out)
        deadlines.append(session.next_deadline())
    return seen, deadlines, session.state


def shortcut(inputs: Sequence[tuple[float, str | bytes | None]]) -> tuple[object, ...]:
    """The same as the I/O layer does it, with ``take_websocket_message`` first."""
    session = ws_session()
    seen: list[Output | str | bytes] = []
    deadlines: list[float | None] = []
    for now, data in inputs:
        if data is None:
            session.handle_timeout(now)
        else:
            message = session.take_websocket_message(data)
            if message is None:
                session.receive_websocket(data, now)
            else:
                assert session.take_outputs() == []
                seen.append(message)
        for out in session.take_outputs():
            seen.append(out.data if isinstance(out, MessageReceived) else out)
        deadlines.append(session.next_deadline())
    return seen, deadlines, session.state


CASES: dict[str, list[tuple[float, str | bytes | None]]] = {
    "messages": [(0.1, "4hello"), (0.1, b"\x01\x02"), (0.2, "4"), (0.2, "4é")],
    "pong awaited: the first packet moves the deadline": [
        (0.3, None),
        (0.35, "4during"),
        (0.4, "4again"),
        (0.45, "3"),
        (0.5, "4after"),
    ],
    "pong timeout": [(0.3, None), (0.4, "4late"), (0.9, None), (1.0, "4closed")],
    "too large": [(0.1, "4ok"), (0.1, "4" + "x" * 10), (0.2, "4never")],
    "too large binary": [(0.1, b"x" * 11), (0.2, "4never")],
    "ping from the client": [(0.1, "2"), (0.2, "4never")],
    "parse error": [(0.1, "9"), (0.2, "4never")],
    "noop and upgrade are ignored": [(0.1, "6"), (0.1, "5"), (0.1, "4x")],
    "empty": [(0.1, ""), (0.2, "4never")],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_take_websocket_message_agrees(name: str) -> None:
    assert shortcut(CASES[name]) == general(CASES[name])


def test_take_websocket_message_returns_the_data() -> None:
    session = ws_session()
    assert session.take_websocket_message("4hello") == "hello"
    assert session.take_websocket_message(b"\x00") == b"\x00"
    assert session.take_outputs() == []


@pytest.mark.parametrize("data", ["2", "3", "6", "", "9x", "4" + "x" * 10, b"x" * 11])
def test_take_websocket_message_leaves_the_rest(data: str | bytes) -> None:
    session = ws_session()
    assert session.take_websocket_message(data) is None
    assert session.take_outputs() == []
    assert session.state is ReadyState.OPEN


def test_take_websocket_message_keeps_output_order() -> None:
    # A pending output must come out first: the message is queued behind it.
    session = ws_session()
    session.send_message("first")
    assert session.take_websocket_message("4second") is None
    session.receive_websocket("4second", 0.1)
    assert session.take_outputs() == [SendWebSocket("4first"), MessageReceived("second")]


def test_writes_through() -> None:
    session = ws_session()
    assert session.writes_through
    session.send_message("queued")
    assert not session.writes_through  # an output is pending: it must go first
    session.take_outputs()
    assert session.writes_through
    session.close(0.1)
    assert session.take_outputs() == [CloseWebSocket(probe=False), Closed(CloseReason.FORCED_CLOSE)]
    assert session.state is ReadyState.CLOSED
    assert not session.writes_through


def test_writes_through_is_false_on_polling() -> None:
    session = ServerSession("s1", "polling", OPTS, 0.0)
    session.take_outputs()
    assert not session.writes_through
