"""Hypothesis: every packet survives encode then decode, with both parsers.

Also: JSON decoding in one piece is the same whatever follows in the stream, and decoding
arbitrary text never raises anything but ProtocolError.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketwire.socketio import (
    RESERVED_EVENTS,
    JsonParser,
    MsgpackParser,
    Packet,
    PacketType,
    ProtocolError,
)

MAX_SAFE = 2**53 - 1
EXAMPLES = settings(max_examples=100, deadline=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE, MAX_SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
# "_placeholder" is the one key both wire formats reserve inside binary packets.
keys = st.text(max_size=8).filter(lambda k: k != "_placeholder")


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )


plain = json_values(scalars)
with_bytes = json_values(scalars | st.binary(max_size=16))
objects = st.dictionaries(keys, plain, max_size=4)
namespaces = st.just("/") | st.text(max_size=10).map(lambda s: "/" + s.replace(",", ""))
ack_ids = st.integers(0, MAX_SAFE)
event_names = st.text(max_size=10).filter(lambda s: s not in RESERVED_EVENTS)

packets = st.one_of(
    st.builds(Packet, st.just(PacketType.CONNECT), namespaces, st.none() | objects),
    st.builds(Packet, st.just(PacketType.DISCONNECT), namespaces),
    st.builds(
        Packet,
        st.just(PacketType.EVENT),
        namespaces,
        st.tuples(event_names, st.lists(with_bytes, max_size=4)).map(lambda t: [t[0], *t[1]]),
        st.none() | ack_ids,
    ),
    st.builds(
        Packet, st.just(PacketType.ACK), namespaces, st.lists(with_bytes, max_size=4), ack_ids
    ),
    st.builds(Packet, st.just(PacketType.CONNECT_ERROR), namespaces, objects | st.text()),
)


def feed_all(parser: JsonParser | MsgpackParser, messages: list[str | bytes]) -> list[Packet]:
    decoder = parser.decoder()
    results = [decoder.feed(m) for m in messages]
    assert decoder.awaiting_attachments == 0
    # Only the last message completes the packet.
    assert all(r is None for r in results[:-1])
    return [r for r in results if r is not None]


@pytest.mark.parametrize("parser", [JsonParser(), MsgpackParser()], ids=["json", "msgpack"])
@EXAMPLES
@given(packet=packets)
def test_round_trip(parser: JsonParser | MsgpackParser, packet: Packet) -> None:
    messages = parser.encode(packet)
    assert feed_all(parser, messages) == [packet]


@EXAMPLES
@given(packet=packets)
def test_json_attachments_follow_the_text(packet: Packet) -> None:
    messages = JsonParser(max_attachments=1000).encode(packet)
    assert isinstance(messages[0], str)
    assert all(isinstance(m, bytes) for m in messages[1:])
    if len(messages) > 1:
        assert messages[0][0] in "56"
        assert messages[0].startswith(f"{messages[0][0]}{len(messages) - 1}-")


@EXAMPLES
@given(first=packets, second=packets)
def test_json_decoder_is_reusable(first: Packet, second: Packet) -> None:
    parser = JsonParser(max_attachments=1000)
    messages = parser.encode(first) + parser.encode(second)
    decoder = parser.decoder()
    decoded = [p for p in (decoder.feed(m) for m in messages) if p is not None]
    assert decoded == [first, second]


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from('0123456-/,{}[]":_placeholdernumtrue'), max_size=40))
def test_json_decoder_only_raises_protocol_error(text: str) -> None:
    decoder = JsonParser().decoder()
    try:
        decoder.feed(text)
        decoder.feed(b"\x00")
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(message=st.binary(max_size=40))
def test_msgpack_decoder_only_raises_protocol_error(message: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        MsgpackParser().decoder().feed(message)
