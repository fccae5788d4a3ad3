"""Per-packet send options through the server session: ``compress`` and pre-built frames."""

from __future__ import annotations

from socketwire.engineio import EngineOptions
from socketwire.engineio.server_session import (
    AnswerPoll,
    SendProbe,
    SendWebSocket,
    ServerSession,
    Upgraded,
    Upgrading,
)

OPTS = EngineOptions(ping_interval=10.0, ping_timeout=5.0, upgrade_timeout=5.0)
FRAME = b"\x81\x034hi"


def polling() -> ServerSession:
    session = ServerSession("s1", "polling", OPTS, 0.0)
    assert session.receive_get(0.0) is None
    [answer] = session.take_outputs()
    assert isinstance(answer, AnswerPoll)
    assert answer.compress  # the open packet: compression allowed (JS default)
    return session


def websocket() -> ServerSession:
    session = ServerSession("s1", "websocket", OPTS, 0.0)
    session.take_outputs()
    return session


def test_websocket_outputs_carry_compress_and_frame() -> None:
    session = websocket()
    session.send_message("a", compress=False)
    session.send_encoded("4hi", frame=FRAME)
    session.send_encoded(b"\x01", compress=False, frame=b"\x82\x01\x01")
    session.send_message(b"\x02")
    assert session.take_outputs() == [
        SendWebSocket("4a", compress=False),
        SendWebSocket("4hi", compress=True, frame=FRAME),
        SendWebSocket(b"\x01", compress=False, frame=b"\x82\x01\x01"),
        SendWebSocket(b"\x02", compress=True),
    ]


def test_poll_compressed_when_any_packet_may_be() -> None:
    session = polling()
    session.send_message("a", compress=False)
    session.send_message("b", compress=False)
    assert session.receive_get(1.0) is None
    assert session.take_outputs() == [AnswerPoll("4a\x1e4b", compress=False)]

    session.send_message("c", compress=False)
    session.send_encoded("4d", frame=FRAME)  # the frame is dropped: a poll carries text
    assert session.receive_get(1.0) is None
    assert session.take_outputs() == [AnswerPoll("4c\x1e4d", compress=True)]

    # a pending poll answered by one packet
    assert session.receive_get(1.0) is None
    assert session.take_outputs() == []
    session.send_message("e", compress=False)
    assert session.take_outputs() == [AnswerPoll("4e", compress=False)]


def test_closing_poll_keeps_the_queue_flags() -> None:
    session = polling()
    session.send_message("a", compress=False)
    session.close(1.0)
    assert session.receive_get(1.0) is None
    assert session.take_outputs()[0] == AnswerPoll("4a\x1e1", compress=False)


def test_upgrade_flushes_the_queue_with_each_packet_flag() -> None:
    session = polling()
    assert session.start_probe(1.0)
    session.receive_probe("2probe", 1.0)
    assert session.take_outputs() == [SendProbe("3probe"), Upgrading()]
    session.send_message("a", compress=False)
    session.send_message("b")
    session.receive_probe("5", 1.0)
    assert session.take_outputs() == [
        Upgraded(),
        SendWebSocket("4a", compress=False),
        SendWebSocket("4b", compress=True),
    ]
