"""The server session with an Engine.IO v3 client (``allow_eio3``): the client's heartbeat,
v3 payloads over polling (text, binary, JSONP), binary messages with their type byte, and
the upgrade; driven with a fake ``now`` and asserted on wire output, as JS engine.io 6.6."""

from __future__ import annotations

from socketwire.engineio import CloseReason, EngineOptions
from socketwire.engineio.framing import Framing
from socketwire.engineio.http import HttpAnswer
from socketwire.engineio.observed import (
    Drained,
    Flushed,
    Heartbeat,
    PacketCreated,
    PacketReceived,
    observe,
)
from socketwire.engineio.packets import Packet, PacketType
from socketwire.engineio.server_session import (
    AnswerPoll,
    Closed,
    MessageReceived,
    SendProbe,
    SendWebSocket,
    ServerSession,
    Upgraded,
    Upgrading,
)

OPTS = EngineOptions(ping_interval=0.3, ping_timeout=0.2, upgrade_timeout=1.0, allow_eio3=True)
OK = HttpAnswer(200, b"ok", "text/html")
BAD = HttpAnswer(400)


def polling(framing: Framing) -> tuple[ServerSession, str | bytes]:
    """A v3 polling session, its handshake answered: (session, handshake payload)."""
    session = ServerSession("s1", "polling", OPTS, 0.0, framing=framing)
    assert session.receive_get(0.0) is None
    [answer] = session.take_outputs()
    assert isinstance(answer, AnswerPoll)
    return session, answer.payload


def ws(**kwargs: bool) -> ServerSession:
    framing = Framing(3)
    framing.websocket_base64 = kwargs.get("base64", False)
    session = ServerSession("s1", "websocket", OPTS, 0.0, framing=framing)
    [open_packet] = session.take_outputs()
    assert isinstance(open_packet, SendWebSocket)
    assert isinstance(open_packet.data, str)
    assert open_packet.data.startswith('0{"sid":"s1"')
    return session


def test_handshake_is_a_length_prefixed_payload() -> None:
    _, payload = polling(Framing(3))
    assert isinstance(payload, str)
    head, _, packet = payload.partition(":")
    assert int(head) == len(packet)
    assert packet.startswith('0{"sid":"s1","upgrades":["websocket"]')


def test_jsonp_handshake_is_a_script() -> None:
    _, payload = polling(Framing(3, jsonp="4"))
    assert isinstance(payload, str)
    assert payload.startswith('___eio[4]("')
    assert payload.endswith('");')


def test_the_client_pings_and_the_server_pongs() -> None:
    session = ws()
    # no server ping: the client's ping is due within ping_interval + ping_timeout
    assert session.next_deadline() == 0.3 + 0.2
    session.handle_timeout(0.4)
    assert session.take_outputs() == []
    session.receive_websocket("2", 0.4)
    assert session.take_outputs() == [SendWebSocket("3")]
    assert session.next_deadline() == 0.4 + 0.3 + 0.2
    # a message does not refresh it (JS: only a ping does, in v3)
    session.receive_websocket("4x", 0.8)
    assert session.take_outputs() == [MessageReceived("x")]
    session.handle_timeout(0.4 + 0.3 + 0.2)
    assert session.take_outputs()[-1] == Closed(CloseReason.PING_TIMEOUT)


def test_a_pong_from_a_v3_client_is_a_transport_error() -> None:
    session = ws()
    session.receive_websocket("3", 0.1)
    assert session.take_outputs()[-1] == Closed(CloseReason.TRANSPORT_ERROR)


def test_binary_messages_keep_their_type_byte() -> None:
    session = ws()
    session.send_message(b"\x00\x01")
    assert session.take_outputs() == [SendWebSocket(b"\x04\x00\x01")]
    assert session.take_websocket_message(b"\x04\xff") == b"\xff"
    assert session.take_websocket_message("4hi") == "hi"
    session.receive_websocket(b"\x04\x02", 0.1)
    assert session.take_outputs() == [MessageReceived(b"\x02")]
    session.receive_websocket(b"\x02", 0.1)  # binary ping: no client sends one
    assert session.take_outputs()[-1] == Closed(CloseReason.PARSE_ERROR)


def test_base64_websocket_gets_binary_as_text() -> None:
    session = ws(base64=True)
    assert not session.writes_through
    session.send_message(b"\x00\x01")
    assert session.take_outputs() == [SendWebSocket("b4AAE=")]


def test_polling_payloads_binary_and_base64() -> None:
    binary, _ = polling(Framing(3))
    binary.send_message("a")
    binary.send_message(b"\x07")
    assert binary.receive_get(0.1) is None
    assert binary.take_outputs() == [AnswerPoll(b"\x00\x02\xff4a\x01\x02\xff\x04\x07")]
    text, _ = polling(Framing(3, binary=False))
    text.send_message(b"\x07")
    assert text.receive_get(0.1) is None
    assert text.take_outputs() == [AnswerPoll("6:b4Bw==")]


def test_posts_text_binary_and_jsonp() -> None:
    session, _ = polling(Framing(3))
    assert session.receive_post_start(binary=False) is None
    assert session.receive_post(b"2:4a1:2", 0.1) == OK
    assert session.take_outputs() == [MessageReceived("a")]
    # the pong waits for the next poll
    assert session.receive_get(0.1) is None
    assert session.take_outputs() == [AnswerPoll("1:3")]
    assert session.receive_post_start(binary=True) is None
    assert session.receive_post(b"\x01\x02\xff\x04\x09", 0.1) == OK
    assert session.take_outputs() == [MessageReceived(b"\x09")]
    script, _ = polling(Framing(3, jsonp="0"))
    assert script.receive_post_start(binary=False) is None
    assert script.receive_post(b"d=2%3A4b", 0.1) == OK
    assert script.take_outputs() == [MessageReceived("b")]


def test_malformed_post_closes_with_parse_error() -> None:
    session, _ = polling(Framing(3))
    assert session.receive_post_start(binary=False) is None
    assert session.receive_post(b"9:4a", 0.1) == BAD
    assert session.take_outputs()[-1] == Closed(CloseReason.PARSE_ERROR)


def test_upgrade_to_websocket() -> None:
    session, _ = polling(Framing(3))
    session.send_message(b"\x01")
    assert session.start_probe(0.1)
    session.receive_probe("2probe", 0.1)
    assert session.take_outputs() == [SendProbe("3probe"), Upgrading()]
    session.receive_probe("5", 0.2)
    assert session.take_outputs() == [Upgraded(), SendWebSocket(b"\x04\x01")]
    assert session.transport == "websocket"
    assert session.protocol == 3


def test_an_observed_v3_session_reports_the_clients_ping_and_binary_without_its_type_byte() -> None:
    session = ws()
    observe(session)
    session.send_message(b"\x01\x02")
    session.receive_websocket("2", 0.1)  # v3: the client pings, the server answers
    assert session.take_outputs() == [
        PacketCreated(Packet(PacketType.MESSAGE, b"\x01\x02")),
        Flushed((Packet(PacketType.MESSAGE, b"\x01\x02"),)),
        SendWebSocket(b"\x04\x01\x02"),
        Drained(),
        PacketReceived(Packet(PacketType.PING)),
        PacketCreated(Packet(PacketType.PONG)),
        Flushed((Packet(PacketType.PONG),)),
        SendWebSocket("3"),
        Drained(),
        Heartbeat(),
    ]
