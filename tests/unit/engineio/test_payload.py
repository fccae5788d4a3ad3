"""Engine.IO v4 polling payloads: tables, strict decoding, bounds, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketwire.engineio import (
    Packet,
    PacketType,
    ProtocolError,
    decode_payload,
    decode_payload_bytes,
    encode_payload,
    join_encoded,
)

M = PacketType.MESSAGE

TABLE: list[tuple[list[Packet], str]] = [
    ([Packet(M, "hello")], "4hello"),
    ([Packet(M, "a"), Packet(M, "b")], "4a\x1e4b"),
    ([Packet(PacketType.PING), Packet(M, b"\x01\x02\x03")], "2\x1ebAQID"),
    ([Packet(M, b""), Packet(PacketType.NOOP)], "b\x1e6"),
    ([Packet(PacketType.NOOP), Packet(PacketType.CLOSE)], "6\x1e1"),
    ([Packet(PacketType.OPEN, '{"sid":"s"}'), Packet(M, "x")], '0{"sid":"s"}\x1e4x'),
]


@pytest.mark.parametrize(("packets", "wire"), TABLE)
def test_encode(packets: list[Packet], wire: str) -> None:
    assert encode_payload(packets) == wire


@pytest.mark.parametrize(("packets", "wire"), TABLE)
def test_decode(packets: list[Packet], wire: str) -> None:
    assert decode_payload(wire) == packets
    assert decode_payload_bytes(wire.encode()) == packets


def test_join_encoded_matches_encode_payload() -> None:
    assert join_encoded(["4a", b"\x01\x02\x03", "6"]) == "4a\x1ebAQID\x1e6"


@pytest.mark.parametrize(
    "bad",
    [
        "",  # empty payload
        "4a\x1e",  # trailing separator: empty last packet
        "\x1e4a",  # empty first packet
        "4a\x1e\x1e4b",  # empty packet in the middle
        "4a\x1e9",  # unknown type after a valid packet: all or nothing
        "4a\x1ebAQ",  # truncated base64
        "4a\x1eb!!",  # invalid base64
    ],
)
def test_decode_rejects(bad: str) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(bad)


def test_decode_bytes_rejects_invalid_utf8() -> None:
    with pytest.raises(ProtocolError, match="UTF-8"):
        decode_payload_bytes(b"4\xff")


def test_max_packets() -> None:
    assert len(decode_payload("4a\x1e4b\x1e4c", max_packets=3)) == 3
    with pytest.raises(ProtocolError, match="more than 2"):
        decode_payload("4a\x1e4b\x1e4c", max_packets=2)


packet_lists = st.lists(
    st.one_of(
        st.builds(
            Packet, st.sampled_from(list(PacketType)), st.text().filter(lambda s: "\x1e" not in s)
        ),
        st.builds(Packet, st.just(M), st.binary()),
    ),
    min_size=1,
    max_size=8,
)


@given(packet_lists)
def test_round_trip(packets: list[Packet]) -> None:
    assert decode_payload(encode_payload(packets)) == packets
