"""Engine.IO v4 packet codec: (packet, wire message) tables, strict decoding, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketwire.engineio import Packet, PacketType, ProtocolError, decode_packet, encode_packet

# (packet, WebSocket message, message inside a polling payload)
TABLE: list[tuple[Packet, str | bytes, str]] = [
    (Packet(PacketType.OPEN, '{"sid":"x"}'), '0{"sid":"x"}', '0{"sid":"x"}'),
    (Packet(PacketType.CLOSE), "1", "1"),
    (Packet(PacketType.PING), "2", "2"),
    (Packet(PacketType.PING, "probe"), "2probe", "2probe"),
    (Packet(PacketType.PONG), "3", "3"),
    (Packet(PacketType.PONG, "probe"), "3probe", "3probe"),
    (Packet(PacketType.MESSAGE, "hello"), "4hello", "4hello"),
    (Packet(PacketType.MESSAGE, ""), "4", "4"),
    (Packet(PacketType.MESSAGE, "é€😀"), "4é€😀", "4é€😀"),
    (Packet(PacketType.MESSAGE, "a\x1eb"), "4a\x1eb", "4a\x1eb"),
    (Packet(PacketType.UPGRADE), "5", "5"),
    (Packet(PacketType.NOOP), "6", "6"),
    (Packet(PacketType.MESSAGE, b"\x01\x02\x03"), b"\x01\x02\x03", "bAQID"),
    (Packet(PacketType.MESSAGE, b""), b"", "b"),
    (Packet(PacketType.MESSAGE, b"\xff" * 4), b"\xff\xff\xff\xff", "b/////w=="),
]


@pytest.mark.parametrize(("packet", "ws", "text"), TABLE)
def test_encode(packet: Packet, ws: str | bytes, text: str) -> None:
    assert encode_packet(packet) == ws
    assert encode_packet(packet, supports_binary=False) == text


@pytest.mark.parametrize(("packet", "ws", "text"), TABLE)
def test_decode(packet: Packet, ws: str | bytes, text: str) -> None:
    assert decode_packet(ws) == packet
    assert decode_packet(text) == packet


def test_decode_trailing_data_is_part_of_the_packet() -> None:
    # A single message has no framing: everything after the type is data.
    assert decode_packet("4hello\n") == Packet(PacketType.MESSAGE, "hello\n")
    assert decode_packet("2probe2") == Packet(PacketType.PING, "probe2")


@pytest.mark.parametrize(
    "bad",
    ["", "7", "9hello", "x", "-1", " 4", "bAQ", "b!!!!", "bAQID\n", "bé", "bAQ=D"],
)
def test_decode_rejects(bad: str) -> None:
    with pytest.raises(ProtocolError):
        decode_packet(bad)


def test_binary_on_non_message_is_refused() -> None:
    with pytest.raises(ValueError, match="binary data"):
        encode_packet(Packet(PacketType.PING, b"x"))


def test_bytearray_and_memoryview_are_binary_messages() -> None:
    assert decode_packet(bytearray(b"ab")) == Packet(PacketType.MESSAGE, b"ab")
    assert encode_packet(Packet(PacketType.MESSAGE, b"ab")) == b"ab"


packets = st.one_of(
    st.builds(Packet, st.sampled_from(list(PacketType)), st.text()),
    st.builds(Packet, st.just(PacketType.MESSAGE), st.binary()),
)


@given(packets)
def test_round_trip(packet: Packet) -> None:
    assert decode_packet(encode_packet(packet)) == packet
    assert decode_packet(encode_packet(packet, supports_binary=False)) == packet
