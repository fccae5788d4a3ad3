"""Engine.IO v3 encodings (socketwire.engineio.v3, .jsonp, .framing): tables of packets and
wire bytes, each decoder checked on what its encoder writes, and every malformed input
refused with a ProtocolError (the session closes with "parse error")."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketwire.engineio import jsonp, v3
from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.framing import Framing
from socketwire.engineio.packets import Packet, PacketType, SharedMessage

M, PING, PONG = PacketType.MESSAGE, PacketType.PING, PacketType.PONG

# (WebSocket-form packets, text payload) — the protocol's v3 README examples and more
TEXT_PAYLOADS: list[tuple[list[str | bytes], str]] = [
    (["4hello", "4world"], "6:4hello6:4world"),
    (["2"], "1:2"),
    (["4€"], "2:4€"),  # one UTF-16 unit: JS counts characters, not bytes
    (["4😀"], "3:4😀"),  # an astral character is two UTF-16 units
    (["4h€😀", b"\x04\x00\x01\x02"], "5:4h€😀6:b4AAEC"),
    (["4", "6"], "1:41:6"),
]


@pytest.mark.parametrize(("messages", "payload"), TEXT_PAYLOADS)
def test_text_payloads(messages: list[str | bytes], payload: str) -> None:
    assert v3.encode_payload(messages, binary=False) == payload
    assert v3.messages_of(v3.decode_payload(payload)) == messages


def test_binary_payload() -> None:
    # <0 string><digits 0-9><255><packet> then <1 binary>...: JS encodePayloadAsBinary
    body = v3.encode_payload(["4h€", b"\x04\x00\x01\x02"], binary=True)
    assert body == b"\x00\x05\xff4h\xe2\x82\xac" + b"\x01\x04\xff\x04\x00\x01\x02"
    assert isinstance(body, bytes)
    assert v3.messages_of(v3.decode_binary_payload(body)) == ["4h€", b"\x04\x00\x01\x02"]
    # no binary packet: a text payload, even for a client that takes binary
    assert v3.encode_payload(["4a"], binary=True) == "2:4a"


def test_empty_items_are_skipped_as_in_js() -> None:
    assert v3.decode_payload("0:") == []
    assert v3.messages_of(v3.decode_payload("0:2:4a")) == ["4a"]


@pytest.mark.parametrize(
    "payload",
    [
        "",
        ":4a",  # no length
        "2x:4a",
        "0x2:4a",  # JS's Number() would read hex; we want decimal digits
        " 2:4a",
        "-1:4a",
        "5:4a",  # longer than what follows
        "2:4a3:4",
        "2:4a9",  # trailing digits with no colon
        "1" * 20 + ":4",  # an absurd length
        "2:9x",  # unknown packet type
        "3:b4!!",  # base64 garbage
        "6:b4AAE",  # bad padding
        "3:b2A",  # base64 on a packet that is not a message
        "2:4\ud83d",  # fine: a lone surrogate is a character (see below)
    ][:-1],
)
def test_malformed_text_payloads(payload: str) -> None:
    with pytest.raises(ProtocolError):
        v3.decode_payload(payload)


def test_length_may_split_a_surrogate_pair_as_in_js() -> None:
    # JS slices by UTF-16 unit: a length that cuts an astral character leaves lone halves
    packets = v3.decode_payload("2:4\ud83d")
    assert packets == [Packet(M, "\ud83d")]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x02\x01\xff4",  # item kind neither 0 nor 1
        b"\x00\xff4",  # no length digits
        b"\x00\x0a\xff4",  # a "digit" over 9
        b"\x00\x05\xff4a",  # shorter than its length
        b"\x00\x02",  # no 255
        b"\x00\x02\xff4\xff",  # not UTF-8
        b"\x01\x01\xff\x02",  # binary data on a ping
        b"\x00" + b"\x01" * 20 + b"\xff",  # absurd length
    ],
)
def test_malformed_binary_payloads(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        v3.decode_binary_payload(body)


def test_packet_count_is_bounded() -> None:
    with pytest.raises(ProtocolError):
        v3.decode_payload("1:6" * 11, max_packets=10)
    with pytest.raises(ProtocolError):
        v3.decode_binary_payload(b"\x00\x01\xff6" * 11, max_packets=10)
    assert len(v3.decode_payload("1:6" * 10, max_packets=10)) == 10


@pytest.mark.parametrize(
    ("message", "packet"),
    [
        ("2probe", Packet(PING, "probe")),
        ("3", Packet(PONG)),
        (b"\x04abc", Packet(M, b"abc")),
        ("b4AAEC", Packet(M, b"\x00\x01\x02")),
    ],
)
def test_messages(message: str | bytes, packet: Packet) -> None:
    assert v3.decode_message(message) == packet


@pytest.mark.parametrize("message", ["", b"", b"\x02x", "bxAA", "b4A", "x"])
def test_malformed_messages(message: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        v3.decode_message(message)


@given(st.lists(st.one_of(st.text(), st.binary()), min_size=1, max_size=8), st.booleans())
def test_round_trip(datas: list[str | bytes], binary: bool) -> None:
    messages = [("4" + d) if isinstance(d, str) else b"\x04" + d for d in datas]
    payload = v3.encode_payload(messages, binary=binary)
    if isinstance(payload, str):
        decoded = v3.decode_payload(payload)
    else:
        decoded = v3.decode_binary_payload(payload)
    assert v3.messages_of(decoded) == messages


def test_utf16_length() -> None:
    assert [v3.utf16_length(t) for t in ("", "abc", "é", "€", "😀", "a😀b")] == [0, 3, 1, 1, 2, 4]


# -- JSONP -------------------------------------------------------------------------------


def test_jsonp_wrap_is_javascript() -> None:
    assert jsonp.wrap('3:4"x', "0") == '___eio[0]("3:4\\"x");'
    # U+2028/U+2029 are valid JSON but not valid JavaScript string characters
    assert jsonp.wrap("\u2028\u2029\n", "12") == '___eio[12]("\\u2028\\u2029\\n");'
    assert jsonp.wrap("é\ud800", "1") == '___eio[1]("é\\ud800");'
    assert jsonp.jsonp_index("1a2<script>") == "12"


@pytest.mark.parametrize(
    ("body", "payload"),
    [
        (b"d=6%3A4hello", "6:4hello"),
        (b"d=3%3A4a+b", "3:4a b"),  # a form: + is a space
        (b"d=4%3A4a%5Cnb", "4:4a\nb"),  # an escaped newline
        (b"d=5%3A4a%5C%5Cnb", "5:4a\\nb"),  # an escaped backslash before n
        (b"x=1", None),  # no d: JS ignores the body
        (b"d=1&d=2", None),  # d twice is an array in JS: ignored too
        (b"d=", ""),
    ],
)
def test_jsonp_post_bodies(body: bytes, payload: str | None) -> None:
    assert jsonp.unwrap_post(body) == payload


# -- framing -----------------------------------------------------------------------------


def test_framing_v3_polling_answers() -> None:
    text = Framing(3, binary=False)
    assert text.payload(["4a", b"\x04\x01"]) == "2:4a6:b4AQ=="
    binary = Framing(3)
    assert binary.payload(["4a", b"\x04\x01"]) == b"\x00\x02\xff4a\x01\x02\xff\x04\x01"
    # JSONP is always text: binary as base64, whatever b64 said
    script = Framing(3, jsonp="2")
    assert script.payload(["4a", b"\x04\x01"]) == '___eio[2]("2:4a6:b4AQ==");'
    assert Framing(4, jsonp="0").payload(["4a", b"\x01"]) == '___eio[0]("4a\\u001ebAQ==");'
    assert Framing(3).binary_message(b"x") == b"\x04x"
    assert Framing(4).binary_message(b"x") == b"x"


def test_framing_v3_posts() -> None:
    framing = Framing(3)
    assert framing.decode_post(b"6:4hello", binary=False, max_packets=10) == [Packet(M, "hello")]
    body = b"\x01\x03\xff\x04hi"
    assert framing.decode_post(body, binary=True, max_packets=10) == [Packet(M, b"hi")]
    script = Framing(3, jsonp="0")
    assert script.decode_post(b"d=2%3A4a", binary=False, max_packets=10) == [Packet(M, "a")]
    assert script.decode_post(b"nothing", binary=False, max_packets=10) == []
    with pytest.raises(ProtocolError):
        framing.decode_post(b"\xff", binary=False, max_packets=10)


def test_base64_websocket() -> None:
    framing = Framing(3, binary=False)
    framing.websocket_base64 = True
    assert framing.to_websocket(b"\x04\x00") == "b4" + base64.b64encode(b"\x00").decode()
    assert framing.to_websocket("4a") == "4a"


def test_shared_message_has_one_v3_twin() -> None:
    text = SharedMessage('42["a"]')
    assert text.eio3() is text  # text is the same in v3, frame and all
    binary = SharedMessage(b"\x00\x01")
    twin = binary.eio3()
    assert twin.data == b"\x04\x00\x01"
    assert binary.eio3() is twin  # built once, for every v3 recipient
