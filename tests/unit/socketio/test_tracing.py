"""The DEBUG description of packets, and the tracing decoder and encoder."""

from __future__ import annotations

import logging

import pytest

from socketwire.socketio import JsonParser, MsgpackParser, Packet, PacketType, ProtocolError
from socketwire.socketio.tracing import MAX_SHOWN, TracingDecoder, TracingEncoder, describe

CASES = [
    (Packet(PacketType.CONNECT, "/", None), None, "CONNECT /"),
    (Packet(PacketType.CONNECT, "/chat", {"token": 1}), 9, "CONNECT /chat 9 bytes {'token': 1}"),
    (Packet(PacketType.DISCONNECT, "/a"), 3, "DISCONNECT /a 3 bytes"),
    (Packet(PacketType.EVENT, "/", ["ping"]), None, "EVENT / 'ping' args=0"),
    (
        Packet(PacketType.EVENT, "/", ["up", b"\x01", {"b": [b"\x02"]}], 7),
        40,
        "EVENT / 'up' id=7 args=2 binary=2 40 bytes [b'\\x01', {'b': [b'\\x02']}]",
    ),
    (Packet(PacketType.ACK, "/", [], 3), 3, "ACK / id=3 args=0 3 bytes"),
    (
        Packet(PacketType.CONNECT_ERROR, "/", {"message": "no"}),
        None,
        "CONNECT_ERROR / {'message': 'no'}",
    ),
]


@pytest.mark.parametrize(("packet", "size", "line"), CASES)
def test_describe(packet: Packet, size: int | None, line: str) -> None:
    assert describe(packet, size) == line


def test_long_arguments_are_cut() -> None:
    line = describe(Packet(PacketType.EVENT, "/", ["e", "y" * 5000]))
    shown = line.split("args=1 ", 1)[1]
    assert len(shown) == MAX_SHOWN
    assert shown.endswith("…")


@pytest.mark.parametrize("parser", [JsonParser(), MsgpackParser()], ids=["json", "msgpack"])
def test_tracing_decoder_and_encoder_log_and_change_nothing(
    parser: JsonParser | MsgpackParser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="t")
    log = logging.getLogger("t")
    packet = Packet(PacketType.EVENT, "/", ["bin", b"\x00\x01", "text"], 5)
    encode = TracingEncoder(parser.encode, log, "conn")
    messages = encode(packet)
    assert messages == parser.encode(packet)
    decoder = TracingDecoder(parser.decoder(), log, "conn")
    results = [decoder.feed(m) for m in messages]
    assert results[:-1] == [None] * (len(messages) - 1)
    assert results[-1] == packet
    assert decoder.awaiting_attachments == 0
    size = sum(len(m.encode() if isinstance(m, str) else m) for m in messages)
    out, into = caplog.messages
    assert out == f"conn > {describe(packet, size)}"
    assert into == f"conn < {describe(packet, size)}"


def test_tracing_decoder_logs_a_protocol_error_and_raises_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="t")
    decoder = TracingDecoder(JsonParser().decoder(), logging.getLogger("t"), "conn")
    with pytest.raises(ProtocolError):
        decoder.feed("9garbage")
    [line] = caplog.messages
    assert line.startswith("conn < invalid packet (8 bytes): ")
    decoder.reset()
    assert decoder.feed('2["ok"]') == Packet(PacketType.EVENT, "/", ["ok"])
