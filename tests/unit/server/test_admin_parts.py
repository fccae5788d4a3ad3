"""The admin UI's server-side parts that need no client: the session store's bounds, the
aggregated events, a socket's serialization, and the UI's static files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sio_fakes import FakeRequest

from socketwire.adapters.types import Handshake
from socketwire.server.admin import (
    MAX_SESSIONS,
    SESSION_DURATION,
    _EventBuffer,
    _Sessions,
    serialize_socket,
)
from socketwire.server.admin_ui import AdminUI


def test_sessions_are_bounded_in_number_and_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_SESSIONS == 1000
    sessions = _Sessions(limit=3, duration=SESSION_DURATION)
    ids = [sessions.create() for _ in range(4)]
    assert len(set(ids)) == 4
    assert not sessions.valid(ids[0])  # the oldest went when the fourth came
    assert all(sessions.valid(i) for i in ids[1:])
    assert not sessions.valid("not-a-session")
    now = __import__("time").monotonic()
    monkeypatch.setattr(
        "socketwire.server.admin.time.monotonic", lambda: now + SESSION_DURATION + 1
    )
    assert not sessions.valid(ids[3])


def test_event_buffer_counts_per_second_and_type() -> None:
    buffer = _EventBuffer()
    buffer.push("rawConnection")
    buffer.push("rawConnection")
    buffer.push("rawDisconnection", "transport close")
    buffer.push("bytesIn", None, 0)  # nothing to report
    events = buffer.take()
    assert sorted((e["type"], e.get("subType"), e["count"]) for e in events) == [
        ("rawConnection", None, 2),
        ("rawDisconnection", "transport close", 1),
    ]
    assert all(e["timestamp"] % 1000 == 0 for e in events)
    assert buffer.take() == []


class _Sock:
    def __init__(self, data: dict[str, object], headers: dict[str, str]) -> None:
        self.id = "sid"
        self.rooms = {"sid", "b", "a"}
        self.data = data
        self.handshake = Handshake(
            headers=headers,
            time="Thu Jan 01 2026",
            address="10.0.0.1",
            xdomain=False,
            secure=False,
            issued=1,
            url="/socket.io/?EIO=4",
            query={"EIO": "4"},
            auth={"token": "private"},
        )


def test_serialize_socket_as_js() -> None:
    data = {"_admin": {"clientId": "abc", "transport": "polling"}, "user": "u"}
    out = serialize_socket(_Sock(data, {"x-forwarded-for": "1.2.3.4"}), "/chat")
    assert out["clientId"] == "abc"
    assert out["transport"] == "polling"
    assert out["data"] == {"user": "u"}
    assert out["handshake"]["address"] == "1.2.3.4"
    assert "private" not in json.dumps(out)
    assert out["rooms"] == ["a", "b", "sid"]
    plain = serialize_socket(_Sock({}, {}), "/")
    assert plain["handshake"]["address"] == "10.0.0.1"
    assert plain["clientId"] is None


async def test_ui_missing_says_how_to_install(tmp_path: Path) -> None:
    ui = AdminUI(server_path="/socket.io/", namespace="/admin", directory=tmp_path)
    assert not ui.available
    answer = await ui(FakeRequest(method="GET", path="/admin/"))
    assert answer.status == 404
    assert b"make assets" in answer.body
