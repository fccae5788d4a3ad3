"""The Socket.IO v4 rules (socket.io 2.x clients), as socket.io 4.8 applies them with
``allowEIO3``."""

from __future__ import annotations

from typing import Any

import pytest

from socketwire.socketio import v4


@pytest.mark.parametrize(
    ("nsp", "name", "auth"),
    [
        ("/", "/", {}),
        ("/chat", "/chat", {}),
        ("/chat?token=abc", "/chat", {"token": "abc"}),
        ("/chat?a=1&a=2&b=", "/chat", {"a": "2", "b": ""}),  # Object.fromEntries: last wins
        ("/chat?x=%C3%A9+y", "/chat", {"x": "é y"}),
        ("/chat#frag", "/chat", {}),
    ],
)
def test_parse_namespace(nsp: str, name: str, auth: dict[str, str]) -> None:
    assert v4.parse_namespace(nsp) == (name, auth)


def test_socket_id() -> None:
    assert v4.socket_id("/", "abc") == "abc"
    assert v4.socket_id("/chat", "abc") == "/chat#abc"


@pytest.mark.parametrize(
    ("error", "payload"),
    [
        ({"message": "refused"}, "refused"),
        ({"message": "refused", "data": {"code": 1}}, {"code": 1}),
        ({"message": "refused", "data": []}, []),  # an empty list is true in JS
        ({"message": "refused", "data": 0}, "refused"),
        ({"message": "refused", "data": ""}, "refused"),
        ({"message": "refused", "data": False}, "refused"),
        ({"message": "refused", "data": float("nan")}, "refused"),
    ],
)
def test_connect_error_payload(error: dict[str, Any], payload: Any) -> None:
    assert v4.connect_error_payload(error) == payload
