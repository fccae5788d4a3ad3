"""The server session state machine, driven with fake ``now`` and asserted on wire output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from socketwire.engineio import CloseReason, EngineOptions
from socketwire.engineio.http import HttpAnswer
from socketwire.engineio.server_session import (
    CLOSE_TIMEOUT,
    UPGRADE_CHECK_INTERVAL,
    AnswerPoll,
    Closed,
    CloseWebSocket,
    MessageReceived,
    Output,
    ReadyState,
    SendProbe,
    SendWebSocket,
    ServerSession,
    Upgraded,
    Upgrading,
    max_payload_packets,
)

OPTS = EngineOptions(ping_interval=0.3, ping_timeout=0.2, upgrade_timeout=1.0)
OK = HttpAnswer(200, b"ok", "text/html")
BAD = HttpAnswer(400)


def handshake(transport: str, **kwargs: Any) -> str:
    options = EngineOptions(**{**_opts_dict(OPTS), **kwargs})
    upgrades = options.upgrades(transport)
    return "0" + json.dumps(
        {
            "sid": "s1",
            "upgrades": upgrades,
            "pingInterval": round(options.ping_interval * 1000),
            "pingTimeout": round(options.ping_timeout * 1000),
            "maxPayload": options.max_http_buffer_size,
        },
        separators=(",", ":"),
    )


def _opts_dict(options: EngineOptions) -> dict[str, Any]:
    return {
        "ping_interval": options.ping_interval,
        "ping_timeout": options.ping_timeout,
        "upgrade_timeout": options.upgrade_timeout,
    }


def ws_session(**kwargs: Any) -> ServerSession:
    """An open session over WebSocket, its open packet already taken."""
    session = ServerSession("s1", "websocket", EngineOptions(**{**_opts_dict(OPTS), **kwargs}), 0.0)
    assert session.take_outputs() == [SendWebSocket(handshake("websocket", **kwargs))]
    return session


def polling_session(**kwargs: Any) -> ServerSession:
    """An open session over polling, the handshake GET answered, no GET pending."""
    session = ServerSession("s1", "polling", EngineOptions(**{**_opts_dict(OPTS), **kwargs}), 0.0)
    assert session.take_outputs() == []
    assert session.receive_get(0.0) is None
    assert session.take_outputs() == [AnswerPoll(handshake("polling", **kwargs))]
    return session


# -- handshake --------------------------------------------------------------------------


def test_handshake_json_over_polling_has_exactly_the_js_keys() -> None:
    session = ServerSession("abc", "polling", EngineOptions(ping_interval=0.3, ping_timeout=0.2), 0)
    assert session.receive_get(0) is None
    assert session.take_outputs() == [
        AnswerPoll(
            '0{"sid":"abc","upgrades":["websocket"],"pingInterval":300,'
            '"pingTimeout":200,"maxPayload":1000000}'
        )
    ]


@pytest.mark.parametrize(
    ("transport", "kwargs", "upgrades"),
    [
        ("polling", {}, ["websocket"]),
        ("polling", {"allow_upgrades": False}, []),
        ("polling", {"transports": ("polling",)}, []),
        ("websocket", {}, []),
    ],
)
def test_handshake_upgrades(transport: str, kwargs: dict[str, Any], upgrades: list[str]) -> None:
    session = ServerSession("s", transport, EngineOptions(**kwargs), 0)  # type: ignore[arg-type]
    session.receive_get(0)
    out = session.take_outputs()
    data = out[0].payload if isinstance(out[0], AnswerPoll) else out[0].data  # type: ignore[union-attr]
    assert isinstance(data, str)
    assert json.loads(data[1:])["upgrades"] == upgrades


def test_initial_packet_follows_open_in_the_same_payload() -> None:
    session = ServerSession("s1", "polling", EngineOptions(initial_packet=b"\x01"), 0)
    session.receive_get(0)
    [answer] = session.take_outputs()
    assert isinstance(answer, AnswerPoll)
    assert answer.payload.endswith("\x1ebAQ==")
    ws = ServerSession("s1", "websocket", EngineOptions(initial_packet="hi"), 0)
    assert ws.take_outputs()[1:] == [SendWebSocket("4hi")]


# -- packets on an open WebSocket session: (input message, outputs) ---------------------

WS_TABLE: list[tuple[str | bytes, list[Output], ReadyState]] = [
    ("4hello", [MessageReceived("hello")], ReadyState.OPEN),
    ("4", [MessageReceived("")], ReadyState.OPEN),
    (b"\x00\xff", [MessageReceived(b"\x00\xff")], ReadyState.OPEN),
    ("bAAE=", [MessageReceived(b"\x00\x01")], ReadyState.OPEN),
    ("6", [], ReadyState.OPEN),
    ("5", [], ReadyState.OPEN),
    ("3", [], ReadyState.OPEN),
    ("1", [], ReadyState.OPEN),  # JS ignores a close packet on WebSocket
    (
        "2",
        [CloseWebSocket(probe=False), Closed(CloseReason.TRANSPORT_ERROR)],
        ReadyState.CLOSED,
    ),
    ("9", [CloseWebSocket(probe=False), Closed(CloseReason.PARSE_ERROR)], ReadyState.CLOSED),
    ("", [CloseWebSocket(probe=False), Closed(CloseReason.PARSE_ERROR)], ReadyState.CLOSED),
    ("b!", [CloseWebSocket(probe=False), Closed(CloseReason.PARSE_ERROR)], ReadyState.CLOSED),
]


@pytest.mark.parametrize(("message", "outputs", "state"), WS_TABLE)
def test_websocket_input(message: str | bytes, outputs: list[Output], state: ReadyState) -> None:
    session = ws_session()
    session.receive_websocket(message, 0.1)
    assert session.take_outputs() == outputs
    assert session.state is state


@pytest.mark.parametrize(
    ("at_limit", "over_limit"),
    [
        ("4" + "x" * 99, "4" + "x" * 100),
        ("4" + "é" * 49 + "x", "4" + "é" * 50),  # the limit counts UTF-8 bytes
        (b"x" * 100, b"x" * 101),
    ],
)
def test_websocket_message_over_the_size_limit(
    at_limit: str | bytes, over_limit: str | bytes
) -> None:
    session = ws_session(max_http_buffer_size=100)
    session.receive_websocket(at_limit, 0.1)
    assert len(session.take_outputs()) == 1
    session.receive_websocket(over_limit, 0.1)
    assert session.take_outputs() == [
        CloseWebSocket(probe=False),
        Closed(CloseReason.TRANSPORT_ERROR),
    ]


def test_websocket_send_text_and_binary() -> None:
    session = ws_session()
    session.send_message("a")
    session.send_message(b"\x01")
    session.send_encoded('42["x"]')
    assert session.take_outputs() == [
        SendWebSocket("4a"),
        SendWebSocket(b"\x01"),
        SendWebSocket('42["x"]'),
    ]
    assert session.writable


# -- heartbeat --------------------------------------------------------------------------


def test_heartbeat_over_websocket() -> None:
    session = ws_session()
    assert session.next_deadline() == pytest.approx(0.3)
    session.handle_timeout(0.29)  # early: nothing
    assert session.take_outputs() == []
    session.handle_timeout(0.3)
    assert session.take_outputs() == [SendWebSocket("2")]
    assert session.next_deadline() == pytest.approx(0.5)
    session.receive_websocket("3", 0.4)
    assert session.take_outputs() == []
    assert session.next_deadline() == pytest.approx(0.7)  # pong re-arms the interval
    session.handle_timeout(0.7)
    assert session.take_outputs() == [SendWebSocket("2")]
    session.handle_timeout(0.89)
    assert session.take_outputs() == []
    session.handle_timeout(0.9)
    assert session.take_outputs() == [
        CloseWebSocket(probe=False),
        Closed(CloseReason.PING_TIMEOUT),
    ]
    assert session.next_deadline() is None


def test_any_packet_refreshes_the_ping_timeout_once() -> None:
    session = ws_session()
    session.handle_timeout(0.3)
    session.receive_websocket("4a", 0.45)
    assert session.next_deadline() == pytest.approx(0.65)
    session.receive_websocket("4b", 0.6)
    assert session.next_deadline() == pytest.approx(0.65)
    session.handle_timeout(0.65)
    assert session.take_outputs()[-1] == Closed(CloseReason.PING_TIMEOUT)


def test_ping_over_polling_waits_for_the_next_poll() -> None:
    session = polling_session()
    session.handle_timeout(0.3)
    assert session.take_outputs() == []
    assert session.buffered_amount == 1
    assert session.receive_get(0.35) is None
    assert session.take_outputs() == [AnswerPoll("2")]
    assert session.receive_post_start(binary=False) is None
    assert session.receive_post(b"3", 0.4) == OK
    assert session.next_deadline() == pytest.approx(0.7)


def test_paused_reading_suspends_the_pong_deadline() -> None:
    # The application stopped reading: a pong may be waiting unread, so no ping timeout.
    session = ws_session()
    session.handle_timeout(0.3)
    assert session.take_outputs() == [SendWebSocket("2")]
    session.pause_reading()
    assert session.next_deadline() is None
    session.handle_timeout(5.0)
    assert session.take_outputs() == []
    assert session.state is ReadyState.OPEN
    # Resumed: ping_timeout from now for the pong to be read.
    session.resume_reading(5.0)
    assert session.next_deadline() == pytest.approx(5.2)
    session.receive_websocket("3", 5.01)
    assert session.next_deadline() == pytest.approx(5.31)


def test_paused_reading_keeps_pinging_and_a_late_resume_still_times_out() -> None:
    session = ws_session()
    session.pause_reading()
    session.handle_timeout(0.3)  # the ping is still sent
    assert session.take_outputs() == [SendWebSocket("2")]
    session.resume_reading(0.4)
    assert session.next_deadline() == pytest.approx(0.6)  # max(0.5, 0.4 + 0.2)
    session.handle_timeout(0.61)
    assert session.take_outputs()[-1] == Closed(CloseReason.PING_TIMEOUT)


# -- polling ----------------------------------------------------------------------------


def test_queued_packets_are_flushed_together_in_the_next_poll() -> None:
    session = polling_session()
    session.send_message("a")
    session.send_message("b")
    session.send_message(b"\x01\x02\x03")
    assert session.take_outputs() == []
    assert not session.writable
    assert session.receive_get(0.1) is None
    assert session.take_outputs() == [AnswerPoll("4a\x1e4b\x1ebAQID")]


def test_pending_poll_is_answered_by_the_next_send() -> None:
    session = polling_session()
    assert session.receive_get(0.1) is None
    assert session.take_outputs() == []
    assert session.writable
    session.send_message("x")
    assert session.take_outputs() == [AnswerPoll("4x")]


def test_overlapping_gets() -> None:
    session = polling_session()
    assert session.receive_get(0.1) is None
    assert session.receive_get(0.1) == BAD
    assert session.take_outputs() == [AnswerPoll("1"), Closed(CloseReason.TRANSPORT_ERROR)]
    assert session.receive_get(0.2) == BAD  # closed for good


def test_poll_aborted_by_the_client() -> None:
    session = polling_session()
    session.receive_get(0.1)
    session.poll_aborted()
    assert session.take_outputs() == [Closed(CloseReason.TRANSPORT_ERROR)]


def test_post_messages() -> None:
    session = polling_session()
    assert session.receive_post_start(binary=False) is None
    assert session.receive_post("4hé\x1ebAQ==\x1e6".encode(), 0.1) == OK
    assert session.take_outputs() == [MessageReceived("hé"), MessageReceived(b"\x01")]


def test_post_close_packet_ends_the_pending_poll_with_a_noop() -> None:
    session = polling_session()
    session.receive_get(0.1)
    session.receive_post_start(binary=False)
    assert session.receive_post(b"1", 0.1) == OK
    assert session.take_outputs() == [AnswerPoll("6"), Closed(CloseReason.TRANSPORT_CLOSE)]


def test_post_close_packet() -> None:
    session = polling_session()
    session.receive_post_start(binary=False)
    assert session.receive_post(b"4a\x1e1\x1e4b", 0.1) == OK
    assert session.take_outputs() == [MessageReceived("a"), Closed(CloseReason.TRANSPORT_CLOSE)]


def test_overlapping_posts() -> None:
    session = polling_session()
    assert session.receive_post_start(binary=False) is None
    assert session.receive_post_start(binary=False) == BAD
    assert session.take_outputs() == [Closed(CloseReason.TRANSPORT_ERROR)]
    assert session.receive_post(b"4a", 0.1) == BAD


def test_binary_post_is_refused_on_v4() -> None:
    session = polling_session()
    assert session.receive_post_start(binary=True) == BAD
    assert session.take_outputs() == [Closed(CloseReason.TRANSPORT_ERROR)]


@pytest.mark.parametrize(
    "body",
    [b"", b"4a\x1e", b"bAQ", b"b!!!!", b"9", b"4a\x1e7", b"\xff", b"\x1e"],
    ids=[
        "empty",
        "trailing-sep",
        "truncated-b64",
        "invalid-b64",
        "unknown",
        "late-bad",
        "utf8",
        "sep",
    ],
)
def test_malformed_post(body: bytes) -> None:
    session = polling_session()
    session.receive_post_start(binary=False)
    assert session.receive_post(body, 0.1) == BAD
    # All or nothing: no message of a bad payload is delivered.
    assert session.take_outputs() == [Closed(CloseReason.PARSE_ERROR)]


def test_too_many_packets_in_a_post() -> None:
    session = polling_session(max_http_buffer_size=4096)
    limit = max_payload_packets(4096)
    session.receive_post_start(binary=False)
    assert session.receive_post("\x1e".join(["6"] * (limit + 1)).encode(), 0.1) == BAD
    assert session.take_outputs() == [Closed(CloseReason.PARSE_ERROR)]


def test_post_over_the_size_limit() -> None:
    session = polling_session(max_http_buffer_size=10)
    session.receive_post_start(binary=False)
    assert session.receive_post(b"4" * 11, 0.1) == HttpAnswer(413)
    assert session.take_outputs() == []


def test_post_aborted() -> None:
    session = polling_session()
    session.receive_post_start(binary=False)
    session.post_aborted(disconnected=False)  # 413: the session lives on
    assert session.take_outputs() == []
    assert session.receive_post_start(binary=False) is None
    session.post_aborted(disconnected=True)
    assert session.take_outputs() == [Closed(CloseReason.TRANSPORT_ERROR)]


# -- upgrade ----------------------------------------------------------------------------


def test_upgrade() -> None:
    session = polling_session()
    assert session.receive_get(0.1) is None  # a poll waits
    assert session.start_probe(0.1)
    assert session.upgrading
    assert session.next_deadline() == pytest.approx(0.3)  # the ping comes before 1.1
    session.receive_probe("2probe", 0.15)
    # the pending poll gets its noop from the upgrade check, 100 ms later (JS setInterval)
    assert session.take_outputs() == [SendProbe("3probe"), Upgrading()]
    session.handle_timeout(0.25)
    assert session.take_outputs() == [AnswerPoll("6")]
    session.send_message("queued")  # the client paused polling: it waits for the upgrade
    assert session.take_outputs() == []
    session.receive_probe("5", 0.2)
    assert session.take_outputs() == [Upgraded(), SendWebSocket("4queued")]
    assert session.transport == "websocket"
    assert session.upgraded
    assert not session.upgrading
    session.send_message("after")
    assert session.take_outputs() == [SendWebSocket("4after")]
    session.receive_websocket("4up", 0.25)
    assert session.take_outputs() == [MessageReceived("up")]
    assert not session.start_probe(0.3)  # already upgraded


def test_poll_pending_at_upgrade_gets_a_close_packet() -> None:
    # A conforming client pauses polling before "5"; one that skipped "2probe" (JS accepts
    # it) or did not wait for its poll's noop may still have a poll pending.
    session = polling_session()
    assert session.start_probe(0.1)
    assert session.receive_get(0.12) is None
    assert session.take_outputs() == []
    session.receive_probe("5", 0.15)
    assert session.take_outputs() == [AnswerPoll("1"), Upgraded()]
    assert session.state is ReadyState.OPEN
    assert session.transport == "websocket"


def test_upgrade_check_sends_a_noop_every_interval_while_a_poll_is_pending() -> None:
    session = polling_session(ping_interval=5.0, ping_timeout=5.0)
    assert session.receive_get(0.0) is None
    assert session.start_probe(0.0)
    assert session.next_deadline() == pytest.approx(1.0)  # the upgrade timeout
    session.receive_probe("2probe", 0.01)
    assert session.take_outputs() == [SendProbe("3probe"), Upgrading()]  # no noop yet
    first = session.next_deadline()
    assert first == pytest.approx(0.01 + UPGRADE_CHECK_INTERVAL)
    session.handle_timeout(first - 0.001)  # a timer firing early does nothing
    assert session.take_outputs() == []
    session.handle_timeout(first)
    assert session.take_outputs() == [AnswerPoll("6")]
    # no poll pending at the next check: nothing, and the check goes on
    second = session.next_deadline()
    assert second == pytest.approx(first + UPGRADE_CHECK_INTERVAL)
    session.handle_timeout(second)
    assert session.take_outputs() == []
    assert session.receive_get(second + 0.01) is None  # the client polls again: it waits
    assert session.take_outputs() == []
    third = session.next_deadline()
    assert third == pytest.approx(second + UPGRADE_CHECK_INTERVAL)
    session.handle_timeout(third)
    assert session.take_outputs() == [AnswerPoll("6")]
    # the upgrade completes: no more checks
    session.receive_probe("5", third + 0.01)
    assert session.take_outputs() == [Upgraded()]
    assert session.next_deadline() == pytest.approx(5.0)  # the ping


@pytest.mark.parametrize("end", ["probe closed", "bad packet", "upgrade timeout", "close"])
def test_upgrade_check_stops_with_the_probe(end: str) -> None:
    session = polling_session(ping_interval=5.0, ping_timeout=5.0)
    assert session.receive_get(0.0) is None
    assert session.start_probe(0.0)
    session.receive_probe("2probe", 0.0)
    session.take_outputs()
    if end == "probe closed":
        session.probe_closed()
    elif end == "bad packet":
        session.receive_probe("4x", 0.05)
    elif end == "upgrade timeout":
        session.handle_timeout(1.0)  # also past the first check: the probe ends first
    else:
        session.close(0.05)  # orderly: the pending poll gets the close packet
    outputs = session.take_outputs()
    assert AnswerPoll("6") not in outputs
    deadline = session.next_deadline()
    assert deadline is None or deadline >= 5.0


def test_probed_poll_with_queued_packets_gets_the_packets() -> None:
    session = polling_session()
    session.start_probe(0.1)
    session.receive_probe("2probe", 0.1)
    session.take_outputs()
    session.send_message("x")
    assert session.receive_get(0.12) is None
    assert session.take_outputs() == [AnswerPoll("4x")]


def test_upgrade_timeout_keeps_the_session_on_polling() -> None:
    session = polling_session(ping_interval=5.0, ping_timeout=5.0)
    assert session.start_probe(0.0)
    assert not session.start_probe(0.0)  # one probe at a time
    assert session.next_deadline() == pytest.approx(1.0)
    session.handle_timeout(1.0)
    assert session.take_outputs() == [CloseWebSocket(probe=True)]
    assert session.transport == "polling"
    assert session.state is ReadyState.OPEN
    assert session.start_probe(1.1)  # a later probe is allowed


@pytest.mark.parametrize("message", ["4hello", "2", "3probe", "9", b"\x01"])
def test_other_packet_on_the_probe_ends_it(message: str | bytes) -> None:
    session = polling_session()
    session.start_probe(0.1)
    session.receive_probe(message, 0.2)
    assert session.take_outputs() == [CloseWebSocket(probe=True)]
    assert not session.upgrading
    assert session.state is ReadyState.OPEN


def test_probe_closed_by_the_client() -> None:
    session = polling_session()
    session.start_probe(0.1)
    session.probe_closed()
    assert session.take_outputs() == []
    assert not session.upgrading


def test_session_closing_while_probing_closes_the_probe() -> None:
    session = polling_session()
    session.start_probe(0.1)
    session.close(0.2, CloseReason.SERVER_SHUTTING_DOWN)
    assert session.take_outputs() == [
        CloseWebSocket(probe=True),
        Closed(CloseReason.SERVER_SHUTTING_DOWN),
    ]


def test_websocket_session_cannot_be_probed() -> None:
    assert not ws_session().start_probe(0.1)


# -- closing ----------------------------------------------------------------------------


def test_close_with_a_pending_poll() -> None:
    session = polling_session()
    session.receive_get(0.1)
    session.close(0.2)
    assert session.take_outputs() == [AnswerPoll("1"), Closed(CloseReason.FORCED_CLOSE)]


@pytest.mark.parametrize(("queued", "payload"), [([], "6\x1e1"), (["a"], "4a\x1e1")])
def test_close_waits_for_the_next_poll(queued: list[str], payload: str) -> None:
    session = polling_session()
    for data in queued:
        session.send_message(data)
    session.close(0.2)
    assert session.state is ReadyState.CLOSING
    session.send_message("dropped")
    assert session.take_outputs() == []
    assert session.next_deadline() == pytest.approx(0.3)  # the heartbeat goes on
    assert session.receive_get(0.25) is None
    assert session.take_outputs() == [AnswerPoll(payload), Closed(CloseReason.FORCED_CLOSE)]


def test_close_timeout() -> None:
    session = polling_session(ping_interval=60.0, ping_timeout=60.0)
    session.close(0.0)
    assert session.next_deadline() == pytest.approx(CLOSE_TIMEOUT)
    session.handle_timeout(CLOSE_TIMEOUT)
    assert session.take_outputs() == [Closed(CloseReason.FORCED_CLOSE)]


def test_a_closing_session_keeps_its_heartbeat() -> None:
    # JS: the ping is not sent while closing, but the pong deadline is armed on schedule,
    # so a client that never polls again is gone after ping_interval + ping_timeout, not
    # after the 30 s of the orderly close.
    session = polling_session()
    session.close(0.1)
    session.handle_timeout(0.3)
    assert session.take_outputs() == []  # no ping queued
    assert session.buffered_amount == 0
    assert session.next_deadline() == pytest.approx(0.5)
    session.handle_timeout(0.5)
    assert session.take_outputs() == [Closed(CloseReason.PING_TIMEOUT)]


def test_a_session_closed_while_a_pong_is_awaited_still_times_out() -> None:
    session = polling_session()
    session.handle_timeout(0.3)  # the ping waits for the next poll
    session.close(0.35)
    assert session.next_deadline() == pytest.approx(0.5)
    session.handle_timeout(0.5)
    assert session.take_outputs() == [Closed(CloseReason.PING_TIMEOUT)]


def test_close_over_websocket() -> None:
    session = ws_session()
    session.close(0.1)
    assert session.take_outputs() == [CloseWebSocket(probe=False), Closed(CloseReason.FORCED_CLOSE)]
    session.send_message("x")
    session.close(0.2)
    assert session.take_outputs() == []


def test_websocket_closed_by_the_client() -> None:
    session = ws_session()
    session.websocket_closed()
    assert session.take_outputs() == [Closed(CloseReason.TRANSPORT_CLOSE)]


def test_handshake_is_exempt_from_the_buffer_bound() -> None:
    options = EngineOptions(max_buffered_bytes=1, initial_packet="x" * 10)
    session = ServerSession("s1", "polling", options, 0.0)
    assert session.take_outputs() == []
    session.receive_get(0.0)
    [answer] = session.take_outputs()
    assert isinstance(answer, AnswerPoll)
    assert answer.payload.endswith("\x1e4xxxxxxxxxx")
    session.send_message("y")
    assert session.take_outputs() == [Closed(CloseReason.BUFFER_FULL)]


def test_buffer_bound() -> None:
    session = polling_session(max_buffered_bytes=200)
    session.send_message("x" * 199)  # "4" + 199 characters: at the bound
    assert session.take_outputs() == []
    session.send_message("x")
    assert session.take_outputs() == [Closed(CloseReason.BUFFER_FULL)]
