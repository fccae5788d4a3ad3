"""Sans-I/O Engine.IO v4 client session: wire bytes in, actions and events out, fake clock."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketwire.engineio import CloseReason
from socketwire.engineio.client_session import (
    Action,
    ClientSession,
    ClientState,
    Closed,
    CloseWebSocket,
    Drained,
    Event,
    Handshake,
    MessageReceived,
    Opened,
    OpenWebSocket,
    PacketCreated,
    PacketReceived,
    PingReceived,
    SendWebSocket,
    StartPoll,
    StartPost,
    StopPolling,
    TransportFailure,
    TransportName,
    Upgraded,
    UpgradeFailed,
    Upgrading,
    parse_handshake,
)
from socketwire.engineio.packets import Packet as EioPacket
from socketwire.engineio.packets import PacketType as EioPacketType

SEP = "\x1e"
HANDSHAKE = {
    "sid": "abc",
    "upgrades": ["websocket"],
    "pingInterval": 25000,
    "pingTimeout": 20000,
    "maxPayload": 1000000,
}
#: pingInterval + pingTimeout, in seconds.
HEARTBEAT = 45.0


def open_packet(**changes: object) -> str:
    """The text of an open packet with ``changes`` applied to :data:`HANDSHAKE`."""
    return "0" + json.dumps({**HANDSHAKE, **changes})


def drain(session: ClientSession) -> tuple[list[Action], list[Event]]:
    """Everything the session produced since the last call."""
    return session.actions_to_perform(), session.events_received()


def polling_session(*, upgrade: bool = False, now: float = 0.0, **changes: object) -> ClientSession:
    """A session open over polling, its first outputs consumed, a poll in flight."""
    session = ClientSession(upgrade=upgrade)
    session.start(now)
    assert drain(session) == ([StartPoll()], [])
    session.receive_poll_response(open_packet(**changes).encode(), now)
    actions, events = drain(session)
    assert isinstance(events[0], Opened)
    assert StartPoll() in actions
    return session


def websocket_session(now: float = 0.0) -> ClientSession:
    """A session open over a WebSocket only, its outputs consumed."""
    session = ClientSession(transports=["websocket"])
    session.start(now)
    assert drain(session) == ([OpenWebSocket()], [])
    session.websocket_opened()
    assert drain(session) == ([], [])
    session.receive_websocket_message(open_packet(upgrades=[]), now)
    actions, events = drain(session)
    assert actions == []
    assert [type(e) for e in events] == [Opened]
    return session


def upgraded_session() -> ClientSession:
    """A session that upgraded from polling to WebSocket, outputs consumed."""
    session = polling_session(upgrade=True)
    session.websocket_opened()
    session.receive_websocket_message("3probe", 1.0)
    session.receive_poll_response(b"6", 1.0)
    assert drain(session)[1] == [
        Upgrading(TransportName.WEBSOCKET),
        Upgraded(TransportName.WEBSOCKET),
    ]
    session.websocket_drained()
    assert session.transport is TransportName.WEBSOCKET
    return session


# -- handshake ---------------------------------------------------------------------------


def test_handshake_fields_and_upgrade_filter() -> None:
    text = json.dumps({**HANDSHAKE, "upgrades": ["websocket", "webtransport"]})
    assert parse_handshake(text, ["polling", "websocket"]) == Handshake(
        "abc", ("websocket",), 25000, 20000, 1000000
    )
    assert parse_handshake(text, ["polling"]).upgrades == ()


def test_handshake_without_max_payload_means_no_limit() -> None:
    text = json.dumps({k: v for k, v in HANDSHAKE.items() if k != "maxPayload"})
    assert parse_handshake(text, ["polling"]).max_payload == 0


BAD_HANDSHAKES = [
    "0",
    "0not json",
    "0[1, 2]",
    open_packet(sid=""),
    open_packet(sid=12),
    open_packet(upgrades="websocket"),
    open_packet(upgrades=[1]),
    open_packet(pingInterval="25000"),
    open_packet(pingInterval=0),
    open_packet(pingTimeout=-1),
    open_packet(pingTimeout=True),
    open_packet(pingTimeout=1.5),
    open_packet(maxPayload=-1),
    open_packet(maxPayload=None),
    "0" + json.dumps({k: v for k, v in HANDSHAKE.items() if k != "sid"}),
    "0" + json.dumps({k: v for k, v in HANDSHAKE.items() if k != "pingInterval"}),
]


@pytest.mark.parametrize("packet", BAD_HANDSHAKES)
def test_bad_handshake_is_a_transport_error(packet: str) -> None:
    session = ClientSession()
    session.start(0.0)
    drain(session)
    session.receive_poll_response(packet.encode(), 0.1)
    actions, events = drain(session)
    assert actions == [StopPolling()]  # no sid: no close packet to POST
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.TRANSPORT_ERROR
    assert events[0].description.startswith("parse error: handshake")
    assert session.state is ClientState.CLOSED
    assert session.next_deadline() is None


def test_polling_handshake_outputs() -> None:
    session = ClientSession()
    assert session.query(TransportName.POLLING) == {"EIO": "4", "transport": "polling"}
    session.start(100.0)
    assert drain(session) == ([StartPoll()], [])
    assert session.state is ClientState.OPENING
    assert session.next_deadline() == 120.0  # handshake_timeout
    session.receive_poll_response(open_packet().encode(), 101.0)
    actions, events = drain(session)
    # Probe the WebSocket the server offers; keep polling meanwhile.
    assert actions == [OpenWebSocket(), StartPoll()]
    assert events == [Opened(Handshake("abc", ("websocket",), 25000, 20000, 1000000))]
    assert session.sid == "abc"
    assert session.state is ClientState.OPEN
    assert session.next_deadline() == 101.0 + HEARTBEAT
    assert session.query(TransportName.WEBSOCKET) == {
        "EIO": "4",
        "transport": "websocket",
        "sid": "abc",
    }


def test_open_and_messages_in_one_payload() -> None:
    session = ClientSession(upgrade=False)
    session.start(0.0)
    drain(session)
    session.receive_poll_response(f"{open_packet()}{SEP}4hi{SEP}bAQI=".encode(), 0.0)
    actions, events = drain(session)
    assert actions == [StartPoll()]
    assert events[1:] == [MessageReceived("hi"), MessageReceived(b"\x01\x02")]


def test_handshake_timeout() -> None:
    session = ClientSession(handshake_timeout=5.0)
    session.start(10.0)
    drain(session)
    session.handle_timeout(14.9)
    assert drain(session) == ([], [])
    session.handle_timeout(15.0)
    assert drain(session) == (
        [StopPolling()],
        [
            Closed(
                CloseReason.TRANSPORT_ERROR,
                "handshake timeout",
                TransportFailure("timeout", "no handshake within 5.0 s"),
            )
        ],
    )


def test_websocket_handshake_timeout() -> None:
    session = ClientSession(transports=["websocket"], handshake_timeout=1.0)
    session.start(0.0)
    drain(session)
    session.websocket_opened()
    session.handle_timeout(1.0)
    assert drain(session) == (
        [CloseWebSocket()],
        [
            Closed(
                CloseReason.TRANSPORT_ERROR,
                "handshake timeout",
                TransportFailure("timeout", "no handshake within 1.0 s"),
            )
        ],
    )


def test_start_twice_and_bad_options() -> None:
    session = ClientSession()
    session.start(0.0)
    with pytest.raises(RuntimeError):
        session.start(0.0)
    with pytest.raises(ValueError, match="no transports"):
        ClientSession(transports=[])
    with pytest.raises(ValueError, match="carrier"):
        ClientSession(transports=["carrier pigeon"])


# -- heartbeat ---------------------------------------------------------------------------


def test_ping_is_answered_and_resets_the_deadline() -> None:
    session = polling_session(now=0.0)
    assert session.next_deadline() == HEARTBEAT
    session.receive_poll_response(b"2", 30.0)
    actions, events = drain(session)
    assert actions == [StartPost("3"), StartPoll()]
    assert events == [PingReceived()]
    assert session.next_deadline() == 30.0 + HEARTBEAT


def test_no_ping_closes_with_ping_timeout() -> None:
    session = polling_session(now=0.0)
    session.handle_timeout(HEARTBEAT - 0.001)
    assert drain(session) == ([], [])
    session.handle_timeout(HEARTBEAT)
    actions, events = drain(session)
    # polling.js doClose(): the close packet is POSTed before the transport is dropped.
    assert actions == [StartPost("1"), StopPolling()]
    assert events == [Closed(CloseReason.PING_TIMEOUT, "no ping from the server")]


def test_messages_do_not_reset_the_heartbeat() -> None:
    # engine.io-client resets its timer on pings only.
    session = polling_session(now=0.0)
    session.receive_poll_response(b"4x", 40.0)
    drain(session)
    assert session.next_deadline() == HEARTBEAT


def test_websocket_ping() -> None:
    session = websocket_session(now=0.0)
    session.receive_websocket_message("2", 10.0)
    assert drain(session) == ([SendWebSocket(("3",))], [PingReceived()])
    assert session.next_deadline() == 10.0 + HEARTBEAT


# -- buffering and maxPayload ------------------------------------------------------------


def test_sends_wait_for_the_handshake_then_for_each_post() -> None:
    session = ClientSession(upgrade=False)
    session.start(0.0)
    drain(session)
    assert session.send("a") is True
    assert drain(session) == ([], [])  # no sid yet: nowhere to POST
    session.receive_poll_response(open_packet().encode(), 0.0)
    actions, _ = drain(session)
    assert actions == [StartPost("4a"), StartPoll()]
    session.send("b")
    session.send(b"\x00")
    assert drain(session) == ([], [])  # one POST at a time
    session.post_done()
    assert drain(session) == ([StartPost(f"4b{SEP}bAA==")], [])
    session.post_done()
    assert drain(session) == ([], [])


def test_post_batches_respect_max_payload() -> None:
    # engine.io-client _getWritablePackets: the first packet always goes, the next ones
    # while the payload (exact UTF-8 size, separators included) stays within maxPayload.
    session = polling_session(maxPayload=10)
    session.send("x" * 20)  # over the limit alone: still sent, alone
    assert drain(session) == ([StartPost("4" + "x" * 20)], [])
    for data in ["abc", "def", "é", "g"]:
        session.send(data)
    session.post_done()
    # "4abc" (4) + RS + "4def" (4) = 9; + RS + "4é" (3 bytes) = 13 > 10
    assert drain(session) == ([StartPost(f"4abc{SEP}4def")], [])
    session.post_done()
    assert drain(session) == ([StartPost(f"4é{SEP}4g")], [])


def test_empty_binary_websocket_message() -> None:
    session = websocket_session()
    session.receive_websocket_message(b"", 1.0)
    assert drain(session) == ([], [MessageReceived(b"")])


def test_binary_counts_as_base64_in_payload_size() -> None:
    session = polling_session(maxPayload=7)
    session.send("a")
    drain(session)
    session.send(b"\x00\x01\x02")  # "bAAEC": 5 bytes
    session.send("c")
    session.post_done()
    # 5 + RS + "4c" = 8 > 7. (engine.io-client's estimate, 1 + 3 + 2 + 1 = 7, would
    # send both and the server would answer 413.)
    assert drain(session) == ([StartPost("bAAEC")], [])
    session.post_done()
    assert drain(session) == ([StartPost("4c")], [])


def test_no_max_payload_sends_everything() -> None:
    session = polling_session(maxPayload=0)
    session.send("a")
    drain(session)
    for _ in range(3):
        session.send("y" * 100)
    session.post_done()
    assert drain(session) == ([StartPost(SEP.join(["4" + "y" * 100] * 3))], [])


def test_websocket_writes_wait_for_drain() -> None:
    session = websocket_session()
    session.send("a")
    assert drain(session) == ([SendWebSocket(("4a",))], [])
    session.send("b")
    session.send(b"\x01")
    assert drain(session) == ([], [])
    session.websocket_drained()
    assert drain(session) == ([SendWebSocket(("4b", b"\x01"))], [])


# -- upgrade -----------------------------------------------------------------------------


def test_upgrade_sequence() -> None:
    session = polling_session(upgrade=True)  # a poll is in flight
    session.websocket_opened()
    assert drain(session) == ([SendWebSocket(("2probe",))], [])
    session.receive_websocket_message("3probe", 1.0)
    assert session.upgrading
    # pausing: wait for the pending GET
    assert drain(session) == ([], [Upgrading(TransportName.WEBSOCKET)])
    session.send("during")  # held while upgrading
    assert drain(session) == ([], [])
    # The server answers the pending GET with a noop when it gets the probe.
    session.receive_poll_response(b"6", 1.0)
    actions, events = drain(session)
    assert actions == [StopPolling(), SendWebSocket(("5",))]
    assert events == [Upgraded(TransportName.WEBSOCKET)]
    assert session.transport is TransportName.WEBSOCKET
    assert not session.upgrading
    session.websocket_drained()
    assert drain(session) == ([SendWebSocket(("4during",))], [])


def test_upgrade_waits_for_the_pending_post() -> None:
    session = polling_session(upgrade=True)
    session.send("a")
    assert drain(session) == ([StartPost("4a")], [])
    session.websocket_opened()
    session.receive_websocket_message("3probe", 1.0)
    session.receive_poll_response(b"6", 1.0)
    assert drain(session) == (
        [SendWebSocket(("2probe",))],
        [Upgrading(TransportName.WEBSOCKET)],
    )
    session.post_done()
    actions, events = drain(session)
    assert actions == [StopPolling(), SendWebSocket(("5",))]
    assert events == [Upgraded(TransportName.WEBSOCKET)]


def test_upgraded_session_uses_websocket() -> None:
    session = upgraded_session()
    session.send("x")
    assert drain(session) == ([SendWebSocket(("4x",))], [])
    session.receive_poll_response(b"4late", 2.0)  # polling is gone: ignored
    session.receive_websocket_message("4hi", 2.0)
    assert drain(session) == ([], [MessageReceived("hi")])
    session.websocket_closed("gone")
    assert drain(session) == ([], [Closed(CloseReason.TRANSPORT_CLOSE, "gone")])


@pytest.mark.parametrize("reply", ["3", "3probex", "4probe", b"probe", "2probe"])
def test_wrong_probe_reply_fails_the_upgrade(reply: str | bytes) -> None:
    session = polling_session(upgrade=True)
    session.websocket_opened()
    drain(session)
    session.receive_websocket_message(reply, 1.0)
    assert drain(session) == (
        [CloseWebSocket()],
        [UpgradeFailed(TransportName.WEBSOCKET, "probe error")],
    )
    assert session.state is ClientState.OPEN
    session.send("still polling")
    assert drain(session) == ([StartPost("4still polling")], [])


def test_probe_that_cannot_connect() -> None:
    session = polling_session(upgrade=True)
    session.websocket_failed("refused")
    assert drain(session) == (
        [],
        [UpgradeFailed(TransportName.WEBSOCKET, "probe error: refused")],
    )
    assert session.state is ClientState.OPEN


def test_probe_lost_while_pausing_resumes_polling() -> None:
    session = polling_session(upgrade=True)
    session.send("a")
    drain(session)  # POST in flight, GET in flight
    session.websocket_opened()
    session.receive_websocket_message("3probe", 1.0)
    session.receive_poll_response(b"6", 1.0)  # GET done; pause waits for the POST
    drain(session)
    session.websocket_closed("lost")
    actions, events = drain(session)
    assert events == [UpgradeFailed(TransportName.WEBSOCKET, "probe error: lost")]
    assert actions == [StartPoll()]
    session.post_done()
    assert session.transport is TransportName.POLLING
    assert not session.upgrading


def test_no_probe_when_server_offers_no_upgrade() -> None:
    session = ClientSession()
    session.start(0.0)
    drain(session)
    session.receive_poll_response(open_packet(upgrades=[]).encode(), 0.0)
    actions, _ = drain(session)
    assert OpenWebSocket() not in actions


# -- close -------------------------------------------------------------------------------


def test_client_close_over_polling() -> None:
    session = polling_session()
    session.close()
    assert drain(session) == (
        [StartPost("1"), StopPolling()],
        [Closed(CloseReason.FORCED_CLOSE, "")],
    )
    assert session.sid is None
    assert session.send("late") is False
    session.receive_poll_response(b"4ignored", 1.0)
    session.post_done()
    session.handle_timeout(1000.0)
    assert drain(session) == ([], [])


def test_client_close_waits_for_buffered_messages() -> None:
    session = polling_session()
    session.send("a")
    session.send("b")
    assert drain(session) == ([StartPost("4a")], [])
    session.close()
    assert session.state is ClientState.CLOSING
    assert session.send("c") is False
    assert drain(session) == ([], [])
    session.post_done()
    assert drain(session) == ([StartPost("4b")], [])
    session.post_done()
    assert drain(session) == (
        [StartPost("1"), StopPolling()],
        [Closed(CloseReason.FORCED_CLOSE, "")],
    )


def test_client_close_waits_for_the_upgrade() -> None:
    session = polling_session(upgrade=True)
    session.websocket_opened()
    session.receive_websocket_message("3probe", 1.0)
    drain(session)
    session.close()
    assert drain(session) == ([], [])
    session.receive_poll_response(b"6", 1.0)
    actions, events = drain(session)
    assert actions == [StopPolling(), SendWebSocket(("5",))]
    assert events == [Upgraded(TransportName.WEBSOCKET)]
    session.websocket_drained()
    assert drain(session) == ([CloseWebSocket()], [Closed(CloseReason.FORCED_CLOSE, "")])


def test_close_before_handshake() -> None:
    session = ClientSession()
    session.start(0.0)
    drain(session)
    session.close()
    assert drain(session) == (
        [StopPolling()],
        [Closed(CloseReason.FORCED_CLOSE, "closed before the handshake")],
    )


def test_client_close_over_websocket() -> None:
    session = websocket_session()
    session.close()
    assert drain(session) == ([CloseWebSocket()], [Closed(CloseReason.FORCED_CLOSE, "")])


def test_server_close_packet_over_polling() -> None:
    session = polling_session()
    session.receive_poll_response(f"4bye{SEP}1{SEP}4never".encode(), 1.0)
    assert drain(session) == (
        [StopPolling()],  # no close packet back: the server already closed
        [
            MessageReceived("bye"),
            Closed(CloseReason.TRANSPORT_CLOSE, "transport closed by the server"),
        ],
    )


def test_websocket_end_and_failure() -> None:
    session = websocket_session()
    session.websocket_closed("websocket connection closed")
    assert drain(session) == (
        [],
        [Closed(CloseReason.TRANSPORT_CLOSE, "websocket connection closed")],
    )
    session = websocket_session()
    session.websocket_failed("boom")
    assert drain(session) == (
        [],
        [
            Closed(
                CloseReason.TRANSPORT_ERROR,
                "websocket error: boom",
                TransportFailure("websocket error", "boom"),
            )
        ],
    )


@pytest.mark.parametrize(
    ("fail", "description"),
    [
        (lambda s: s.poll_failed("HTTP 400"), TransportFailure("xhr poll error", "HTTP 400")),
        (lambda s: s.post_failed("reset"), TransportFailure("xhr post error", "reset")),
    ],
)
def test_request_failures_are_transport_errors(
    fail: Callable[[ClientSession], None], description: TransportFailure
) -> None:
    session = polling_session()
    session.send("a")
    drain(session)
    fail(session)
    actions, events = drain(session)
    # engine.io-client's messages: "xhr poll error", "xhr post error"
    assert events == [Closed(CloseReason.TRANSPORT_ERROR, str(description), description)]
    assert actions[-1] == StopPolling()


# -- malformed input and limits ----------------------------------------------------------

MALFORMED_POLL_BODIES = [
    b"",
    b"9",
    b"4ok\x1e",
    b"b!!!",
    b"\xff\xfe",
    open_packet().encode(),  # a second open packet
]


@pytest.mark.parametrize("body", MALFORMED_POLL_BODIES)
def test_malformed_poll_body(body: bytes) -> None:
    session = polling_session()
    session.receive_poll_response(body, 1.0)
    actions, events = drain(session)
    assert actions == [StartPost("1"), StopPolling()]
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.TRANSPORT_ERROR
    assert events[0].description.startswith("parse error")


@pytest.mark.parametrize("message", ["", "x", "7", "b!!!"])
def test_malformed_websocket_message(message: str) -> None:
    session = websocket_session()
    session.receive_websocket_message(message, 1.0)
    actions, events = drain(session)
    assert actions == [CloseWebSocket()]
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.TRANSPORT_ERROR


@pytest.mark.parametrize(
    "first", ["4hello", "2", b"\x01", "0" + json.dumps({**HANDSHAKE, "sid": None})]
)
def test_first_websocket_message_must_be_a_valid_open(first: str | bytes) -> None:
    session = ClientSession(transports=["websocket"])
    session.start(0.0)
    session.websocket_opened()
    drain(session)
    session.receive_websocket_message(first, 0.0)
    actions, events = drain(session)
    assert actions == [CloseWebSocket()]
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.TRANSPORT_ERROR


def test_first_polled_packet_must_be_open() -> None:
    session = ClientSession()
    session.start(0.0)
    drain(session)
    session.receive_poll_response(b"4hello", 0.0)
    _, events = drain(session)
    assert events == [
        Closed(
            CloseReason.TRANSPORT_ERROR,
            "parse error: expected an open packet",
            TransportFailure("parse error", "expected an open packet"),
        )
    ]


@pytest.mark.parametrize(
    ("message", "ok"),
    [("4" + "a" * 200, True), ("4" + "a" * 201, False), ("4" + "é" * 100, True),
     ("4" + "é" * 101, False), (b"b" * 200, True), (b"b" * 201, False)],
)  # fmt: skip
def test_max_message_size_websocket(message: str | bytes, ok: bool) -> None:
    # Every message counts, the open packet included: 200 leaves it room.
    session = ClientSession(transports=["websocket"], max_message_size=200)
    session.start(0.0)
    session.websocket_opened()
    session.receive_websocket_message(open_packet(upgrades=[]), 0.0)
    drain(session)
    session.receive_websocket_message(message, 0.0)
    _, events = drain(session)
    if ok:
        assert [type(e) for e in events] == [MessageReceived]
    else:
        assert len(events) == 1
        assert isinstance(events[0], Closed)
        assert events[0].reason is CloseReason.TRANSPORT_ERROR
        assert "exceeds max_message_size" in events[0].description


def test_max_message_size_polling() -> None:
    session = ClientSession(upgrade=False, max_message_size=10, max_payload_size=10_000)
    session.start(0.0)
    session.receive_poll_response(open_packet().encode(), 0.0)
    drain(session)
    # Binary is measured decoded: 10 bytes is fine, 11 is not.
    session.receive_poll_response(b"bAAAAAAAAAAAAAA==", 0.0)
    assert drain(session)[1] == [MessageReceived(b"\x00" * 10)]
    session.receive_poll_response(b"4" + b"z" * 11, 0.0)
    _, events = drain(session)
    failure = TransportFailure("xhr poll error", "message of 11 bytes exceeds max_message_size")
    assert events == [Closed(CloseReason.TRANSPORT_ERROR, str(failure), failure)]


def test_max_payload_size_polling() -> None:
    session = ClientSession(upgrade=False, max_message_size=100)
    assert session.max_payload_size == 200
    session.start(0.0)
    session.receive_poll_response(open_packet().encode(), 0.0)
    drain(session)
    session.receive_poll_response(SEP.join(["4" + "a" * 39] * 5).encode(), 0.0)  # 204 bytes
    _, events = drain(session)
    assert len(events) == 1
    assert isinstance(events[0], Closed)
    assert events[0].reason is CloseReason.TRANSPORT_ERROR
    assert "max_payload_size" in events[0].description


def test_unexpected_inputs_are_ignored() -> None:
    session = polling_session()
    # No POST in flight, no WebSocket: nothing to report.
    session.post_done()
    session.post_failed("x")
    session.websocket_opened()
    session.websocket_drained()
    session.receive_websocket_message("4x", 0.0)
    session.websocket_closed("x")
    assert drain(session) == ([], [])
    assert session.state is ClientState.OPEN


# -- fuzz: any sequence of inputs is handled without an exception ------------------------

WIRE = st.one_of(
    st.sampled_from(["2", "3probe", "4hi", "6", "1", "5", open_packet(), "b" + "QUI=", "x"]),
    st.text(max_size=20),
    st.binary(max_size=20),
)
SIGNALS = [
    "poll_failed", "post_done", "post_failed", "ws_opened", "ws_drained", "ws_closed",
    "ws_failed", "send", "close", "tick",
]  # fmt: skip
INPUTS = st.lists(
    st.one_of(
        st.tuples(st.just("poll"), st.lists(WIRE, min_size=1, max_size=4)),
        st.tuples(st.just("ws"), WIRE),
        st.tuples(st.sampled_from(SIGNALS), st.none()),
    ),
    max_size=30,
)


@given(transports=st.sampled_from([["polling", "websocket"], ["websocket"], ["polling"]]),
       inputs=INPUTS)  # fmt: skip
def test_any_input_sequence_is_safe(transports: list[str], inputs: list[tuple[str, Any]]) -> None:
    session = ClientSession(transports=transports, max_message_size=1000)
    session.start(0.0)
    now = 0.0
    closed = 0
    for kind, value in inputs:
        now += 1.0
        if kind == "poll":
            items = [v if isinstance(v, str) else "b" + base64.b64encode(v).decode() for v in value]
            session.receive_poll_response(SEP.join(items).encode(), now)
        elif kind == "ws":
            session.receive_websocket_message(value, now)
        elif kind == "poll_failed":
            session.poll_failed("x")
        elif kind == "post_done":
            session.post_done()
        elif kind == "post_failed":
            session.post_failed("x")
        elif kind == "ws_opened":
            session.websocket_opened()
        elif kind == "ws_drained":
            session.websocket_drained()
        elif kind == "ws_closed":
            session.websocket_closed("x")
        elif kind == "ws_failed":
            session.websocket_failed("x")
        elif kind == "send":
            session.send("m")
        elif kind == "close":
            session.close()
        else:
            session.handle_timeout(now + 100.0)
        actions, events = drain(session)
        closed += sum(isinstance(e, Closed) for e in events)
        if session.state is ClientState.CLOSED:
            assert session.next_deadline() is None
        # Nothing is sent on a closed session but the goodbye of the close itself.
        if closed and not any(isinstance(e, Closed) for e in events):
            assert actions == []
            assert events == []
    assert closed <= 1


# -- writable, ping expiry, outgoing bound -------------------------------------------------


def test_writable_follows_the_transport() -> None:
    session = ClientSession()
    assert not session.writable  # not started
    session.start(0.0)
    assert not session.writable  # no handshake yet
    session = polling_session()
    assert session.writable  # the long-poll GET in flight does not matter
    assert session.send("a")
    assert drain(session)[0] == [StartPost("4a")]
    assert not session.writable  # a POST in flight (JS transport.writable is false)
    session.post_done()
    assert session.writable
    ws = websocket_session()
    assert ws.writable
    ws.send("b")
    assert not ws.writable  # the write is not drained yet
    ws.websocket_drained()
    assert ws.writable
    ws.close()
    assert not ws.writable


def test_writable_is_false_while_upgrading() -> None:
    session = polling_session(upgrade=True)
    session.websocket_opened()
    session.receive_websocket_message("3probe", 1.0)
    assert session.upgrading
    assert not session.writable


def test_ping_expired_notices_a_late_timer() -> None:
    session = polling_session(now=10.0)
    assert not session.ping_expired(10.0 + HEARTBEAT)  # the deadline itself is still fine
    assert session.ping_expired(10.0 + HEARTBEAT + 0.001)
    assert session.state is ClientState.OPEN  # the caller closes it via handle_timeout
    session.handle_timeout(10.0 + HEARTBEAT + 0.001)
    assert drain(session)[1][-1] == Closed(CloseReason.PING_TIMEOUT, "no ping from the server")
    assert not session.ping_expired(100.0)  # closed: nothing to expire
    fresh = ClientSession()
    assert not fresh.ping_expired(0.0)


def test_outgoing_buffer_is_bounded() -> None:
    session = ClientSession(transports=["websocket"], max_buffered_bytes=100)
    session.start(0.0)
    session.websocket_opened()
    session.receive_websocket_message(open_packet(upgrades=[]), 0.0)
    drain(session)
    assert session.send("x" * 60)  # goes to the WebSocket at once
    assert drain(session)[0] == [SendWebSocket(("4" + "x" * 60,))]
    assert session.buffered_amount == 0
    # the server stops reading: the write never drains, the rest waits in the buffer
    assert session.send("y" * 49)
    assert session.buffered_amount == 50
    assert session.send(b"z" * 49)
    assert session.buffered_amount == 100
    assert not session.send("w")  # one byte more than the bound: the session gives up
    actions, events = drain(session)
    assert CloseWebSocket() in actions
    [closed] = events
    assert isinstance(closed, Closed)
    assert closed.reason is CloseReason.TRANSPORT_ERROR
    assert closed.description.startswith("send buffer full")
    assert session.buffered_amount == 0


def test_outgoing_buffer_bound_over_polling() -> None:
    session = ClientSession(max_buffered_bytes=10)
    session.start(0.0)
    session.receive_poll_response(open_packet().encode(), 0.0)
    drain(session)
    assert session.send("0123456789" * 5)  # leaves at once in a POST
    assert drain(session)[0] == [StartPost("4" + "0123456789" * 5)]
    assert session.buffered_amount == 0
    assert session.send("abcd")
    assert session.send("efgh")
    assert session.buffered_amount == 10
    session.post_done()  # the next POST takes both
    assert drain(session)[0] == [StartPost("4abcd" + SEP + "4efgh")]
    assert session.buffered_amount == 0
    assert not session.send("x" * 20)  # waits behind the POST in flight: over the bound
    [closed] = drain(session)[1]
    assert isinstance(closed, Closed)
    assert closed.reason is CloseReason.TRANSPORT_ERROR
    assert session.state is ClientState.CLOSED


def test_abort_is_a_transport_error() -> None:
    session = websocket_session()
    session.abort("event queue full", "10 events not read")
    actions, events = drain(session)
    assert actions == [CloseWebSocket()]
    failure = TransportFailure("event queue full", "10 events not read")
    assert events == [
        Closed(CloseReason.TRANSPORT_ERROR, "event queue full: 10 events not read", failure)
    ]


# -- engine.io-client options and events ---------------------------------------------------


def test_try_all_transports_falls_back_before_the_handshake() -> None:
    session = ClientSession(try_all_transports=True)
    session.start(0.0)
    assert drain(session) == ([StartPoll()], [])
    session.poll_failed("HTTP 400 Transport unknown")  # polling refused: try the WebSocket
    assert drain(session) == ([StopPolling(), OpenWebSocket()], [])
    assert session.transport is TransportName.WEBSOCKET
    session.poll_failed("late report of the stopped channel")  # ignored
    session.websocket_opened()
    session.receive_websocket_message(open_packet(upgrades=[]), 0.0)
    assert [type(e) for e in drain(session)[1]] == [Opened]
    assert session.state is ClientState.OPEN


def test_try_all_transports_gives_up_after_the_last() -> None:
    session = ClientSession(transports=["websocket", "polling"], try_all_transports=True)
    session.start(0.0)
    drain(session)
    session.websocket_failed("refused")
    assert drain(session) == ([StartPoll()], [])
    session.poll_failed("refused too")
    failure = TransportFailure("xhr poll error", "refused too")
    assert drain(session) == (
        [StopPolling()],
        [Closed(CloseReason.TRANSPORT_ERROR, str(failure), failure)],
    )


def test_try_all_transports_only_while_opening() -> None:
    session = ClientSession(try_all_transports=True, upgrade=False)
    session.start(0.0)
    session.receive_poll_response(open_packet().encode(), 0.0)
    drain(session)
    session.poll_failed("lost")  # after the handshake a failure closes, as without the option
    events = drain(session)[1]
    assert [type(e) for e in events] == [Closed]


def test_verbose_events_packets_and_drain() -> None:
    session = ClientSession(upgrade=False)
    session.verbose_events = True
    session.start(0.0)
    session.receive_poll_response((open_packet() + "\x1e2").encode(), 0.0)
    actions, events = drain(session)
    pong = EioPacket(EioPacketType.PONG)
    assert isinstance(events[1], Opened)
    assert events[2:] == [
        PacketReceived(EioPacket(EioPacketType.PING)),
        PacketCreated(pong),  # the answer, created before the ping is reported
        PingReceived(),
    ]
    assert isinstance(events[0], PacketReceived)
    assert events[0].packet.type is EioPacketType.OPEN
    assert StartPost("3") in actions  # the pong, alone in its POST
    session.send("hello")
    assert drain(session) == ([], [PacketCreated(EioPacket(EioPacketType.MESSAGE, "hello"))])
    session.post_done()  # the pong's POST: the message goes next
    assert drain(session) == ([StartPost("4hello")], [])
    session.post_done()  # nothing waits any more
    assert drain(session) == ([], [Drained()])


def test_quiet_by_default() -> None:
    session = polling_session()
    session.send("x")
    session.post_done()
    assert drain(session)[1] == []


def test_no_handshake_timeout() -> None:
    session = ClientSession(handshake_timeout=None)
    session.start(0.0)
    assert session.next_deadline() is None
    session.handle_timeout(1e9)
    assert session.state is ClientState.OPENING
