"""The WebTransport stream framing (socketwire.engineio.stream): wire bytes, and the
decoder checked on the whole buffer, byte by byte and in random chunks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.options import EngineOptions
from socketwire.engineio.requests import session_id_of
from socketwire.engineio.stream import StreamDecoder, encode_stream_packet

# (packet in WebSocket form, stream bytes): engine.io-parser 5 createPacketEncoderStream
VECTORS: list[tuple[str | bytes, bytes]] = [
    ("4hello", b"\x064hello"),
    ("2", b"\x012"),
    ('0{"sid":"x"}', b'\x0c0{"sid":"x"}'),
    (b"\x00\x01\x02", b"\x83\x00\x01\x02"),
    ("4" + "a" * 125, b"\x7e\x00\x7e4" + b"a" * 125),  # 126 bytes: a 16-bit length
    (b"\xff" * 70000, b"\xff" + (70000).to_bytes(8, "big") + b"\xff" * 70000),  # 64-bit
    ("4é", b"\x034\xc3\xa9"),  # the length counts UTF-8 bytes
]


@pytest.mark.parametrize(("message", "wire"), VECTORS)
def test_vectors(message: str | bytes, wire: bytes) -> None:
    assert encode_stream_packet(message) == wire
    assert StreamDecoder(1_000_000).feed(wire) == [message]
    one_at_a_time = StreamDecoder(1_000_000)
    got: list[str | bytes] = []
    for i in range(len(wire)):
        got += one_at_a_time.feed(wire[i : i + 1])
    assert got == [message]
    assert one_at_a_time.buffered == 0


@given(
    st.lists(st.one_of(st.text(min_size=1), st.binary(min_size=1)), max_size=6),
    st.lists(st.integers(1, 50), min_size=1),
)
def test_any_chunking(messages: list[str | bytes], cuts: list[int]) -> None:
    wire = b"".join(encode_stream_packet(m) for m in messages)
    decoder = StreamDecoder(1_000_000)
    got: list[str | bytes] = []
    position, i = 0, 0
    while position < len(wire):
        size = cuts[i % len(cuts)]
        got += decoder.feed(wire[position : position + size])
        position += size
        i += 1
    assert got == messages


def test_a_partial_packet_waits() -> None:
    decoder = StreamDecoder(100)
    assert decoder.feed(b"\x064hel") == []
    assert decoder.buffered == 5
    assert decoder.feed(b"lo\x012") == ["4hello", "2"]


@pytest.mark.parametrize(
    "wire",
    [
        b"\x00",  # length 0
        b"\x80",  # binary of length 0
        b"\x7e\x00\x65" + b"a" * 101,  # over max_payload (100)
        b"\x7f" + (2**40).to_bytes(8, "big"),  # absurd: refused before any byte of it
        b"\x02\xff\xfe",  # text that is not UTF-8
    ],
)
def test_bad_streams(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        StreamDecoder(100).feed(wire)


def test_upgrades_and_open_packets() -> None:
    both = EngineOptions(transports=("polling", "websocket", "webtransport"))
    assert both.upgrades("polling") == ["websocket", "webtransport"]
    assert both.upgrades("webtransport") == []
    wt_only = EngineOptions(transports=("polling", "webtransport"))
    assert wt_only.upgrades("polling") == ["webtransport"]
    assert session_id_of('{"sid":"abc"}') == "abc"
    for data in ("", "{", '{"sid":1}', "[]", '"x"'):
        assert session_id_of(data) is None
