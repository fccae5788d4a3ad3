"""An observed server session: the packet, flush, drain and heartbeat outputs, in JS's order,
and a session that is not observed producing none of them."""

from __future__ import annotations

from test_server_session import OPTS, polling_session, ws_session

from socketwire.engineio import EngineOptions
from socketwire.engineio.observed import (
    Drained,
    Flushed,
    Heartbeat,
    ObservedSession,
    PacketCreated,
    PacketReceived,
    observe,
)
from socketwire.engineio.packets import Packet, PacketType
from socketwire.engineio.server_session import (
    AnswerPoll,
    Closed,
    MessageReceived,
    Observation,
    SendProbe,
    SendWebSocket,
    ServerSession,
    Upgraded,
    Upgrading,
)

MESSAGE = PacketType.MESSAGE


def test_a_session_that_is_not_observed_reports_nothing_more() -> None:
    session = ws_session()
    session.send_message("hi")
    session.receive_websocket("4yo", 0.1)
    session.handle_timeout(0.3)
    session.receive_websocket("3", 0.35)
    outputs = session.take_outputs()
    assert outputs == [SendWebSocket("4hi"), MessageReceived("yo"), SendWebSocket("2")]
    assert not any(isinstance(out, Observation) for out in outputs)
    assert session.writes_through
    assert session.take_websocket_message("4direct") == "direct"


def test_observe_keeps_the_state_and_is_idempotent() -> None:
    session = polling_session()
    session.send_message("queued")
    observe(session)
    observe(session)
    assert type(session) is ObservedSession
    assert session.sid == "s1"
    assert session.buffered_amount == len("4queued")
    # what was queued before is still flushed, and reported
    assert session.receive_get(0.1) is None
    assert session.take_outputs() == [
        Flushed((Packet(MESSAGE, "queued"),)),
        AnswerPoll("4queued"),
        Drained(),
    ]


def test_websocket_send_is_created_flushed_and_drained() -> None:
    session = ws_session()
    observe(session)
    assert not session.writes_through
    session.send_message("hi")
    session.send_message(b"\x01\x02", compress=False)
    assert session.take_outputs() == [
        PacketCreated(Packet(MESSAGE, "hi")),
        Flushed((Packet(MESSAGE, "hi"),)),
        SendWebSocket("4hi"),
        Drained(),
        PacketCreated(Packet(MESSAGE, b"\x01\x02"), compress=False),
        Flushed((Packet(MESSAGE, b"\x01\x02"),)),
        SendWebSocket(b"\x01\x02", compress=False),
        Drained(),
    ]
    # the broadcast path too
    session.send_encoded("42", frame=b"frame")
    assert session.take_outputs() == [
        PacketCreated(Packet(MESSAGE, "2")),
        Flushed((Packet(MESSAGE, "2"),)),
        SendWebSocket("42", frame=b"frame"),
        Drained(),
    ]


def test_websocket_messages_are_reported_before_they_are_delivered() -> None:
    session = ws_session()
    observe(session)
    assert session.take_websocket_message("4hi") is None
    session.receive_websocket("4hi", 0.1)
    session.receive_websocket(b"\x07", 0.1)
    session.receive_websocket("6", 0.1)
    assert session.take_outputs() == [
        PacketReceived(Packet(MESSAGE, "hi")),
        MessageReceived("hi"),
        PacketReceived(Packet(MESSAGE, b"\x07")),
        MessageReceived(b"\x07"),
        PacketReceived(Packet(PacketType.NOOP)),
    ]


def test_ping_is_created_and_pong_is_a_heartbeat() -> None:
    session = ws_session()
    observe(session)
    session.handle_timeout(0.3)
    assert session.take_outputs() == [
        PacketCreated(Packet(PacketType.PING)),
        Flushed((Packet(PacketType.PING),)),
        SendWebSocket("2"),
        Drained(),
    ]
    session.receive_websocket("3", 0.35)
    assert session.take_outputs() == [PacketReceived(Packet(PacketType.PONG)), Heartbeat()]


def test_a_ping_from_the_client_is_reported_then_closes_without_heartbeat() -> None:
    session = ws_session()
    observe(session)
    session.receive_websocket("2", 0.1)
    outputs = session.take_outputs()
    assert outputs[0] == PacketReceived(Packet(PacketType.PING))
    assert not any(isinstance(out, Heartbeat) for out in outputs)
    assert isinstance(outputs[-1], Closed)


def test_polling_packets_are_flushed_by_the_poll() -> None:
    session = polling_session()
    observe(session)
    session.send_message("a")
    session.send_message("b")
    assert session.take_outputs() == [
        PacketCreated(Packet(MESSAGE, "a")),
        PacketCreated(Packet(MESSAGE, "b")),
    ]
    assert session.receive_get(0.1) is None
    assert session.take_outputs() == [
        Flushed((Packet(MESSAGE, "a"), Packet(MESSAGE, "b"))),
        AnswerPoll("4a\x1e4b"),
        Drained(),
    ]
    # a poll waiting: the packet is created and flushed at once
    assert session.receive_get(0.2) is None
    session.send_message("c")
    assert session.take_outputs() == [
        PacketCreated(Packet(MESSAGE, "c")),
        Flushed((Packet(MESSAGE, "c"),)),
        AnswerPoll("4c"),
        Drained(),
    ]
    # a POST's packets are received, in order (a pong is a heartbeat, as in JS, even
    # when no ping waits for it)
    session.receive_post(b"4x\x1e3", 0.25)
    assert session.take_outputs() == [
        PacketReceived(Packet(MESSAGE, "x")),
        MessageReceived("x"),
        PacketReceived(Packet(PacketType.PONG)),
        Heartbeat(),
    ]


def test_upgrade_flushes_what_waited_onto_the_websocket() -> None:
    session = polling_session()
    observe(session)
    session.send_message("waiting")
    session.take_outputs()
    assert session.start_probe(0.1)
    session.receive_probe("2probe", 0.1)
    assert session.take_outputs() == [SendProbe("3probe"), Upgrading()]
    session.receive_probe("5", 0.1)
    assert session.take_outputs() == [
        Upgraded(),
        Flushed((Packet(MESSAGE, "waiting"),)),
        SendWebSocket("4waiting"),
        Drained(),
    ]


def test_nothing_is_created_once_closing() -> None:
    session = polling_session()
    observe(session)
    session.send_message("last")
    session.take_outputs()
    session.close(0.1)  # orderly: waits for the next poll
    session.send_message("dropped")
    assert session.take_outputs() == []
    assert session.receive_get(0.2) is None
    outputs = session.take_outputs()
    assert outputs[:3] == [
        Flushed((Packet(MESSAGE, "last"),)),
        AnswerPoll("4last\x1e1"),
        Drained(),
    ]
    assert isinstance(outputs[-1], Closed)


def test_observed_from_the_start_reports_no_open_packet() -> None:
    session = ServerSession("s1", "websocket", EngineOptions(ping_interval=OPTS.ping_interval), 0)
    observe(session)
    outputs = session.take_outputs()
    assert len(outputs) == 1
    assert isinstance(outputs[0], SendWebSocket)
