"""Channel, stream and key names, and ids, as the Node adapters make them.

The hash values were computed by the streams adapter's own ``hashCode``
(tests/interop/test_cluster_wire_vectors.py checks more against Node directly).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketwire.adapters.wire import WireError, WireOptions
from socketwire.adapters.wire.cluster import ClusterBroadcast, FetchSockets, SocketsJoin
from socketwire.adapters.wire.naming import (
    ClassicChannels,
    ShardedChannels,
    SubscriptionMode,
    classic_id,
    is_valid_offset,
    js_hash_code,
    js_length,
    looks_like_socket_id,
    next_offset,
    node_id,
    session_key,
    stream_name,
    streams_channels,
)
from socketwire.socketio import Packet, PacketType


def test_classic_channels() -> None:
    channels = ClassicChannels.of("/chat")
    assert channels.broadcast == "socket.io#/chat#"
    assert channels.pattern == "socket.io#/chat#*"
    assert channels.request == "socket.io-request#/chat#"
    assert channels.response == "socket.io-response#/chat#"
    assert channels.specific_response("AbCd-_") == "socket.io-response#/chat#AbCd-_#"
    assert channels.room("room1") == "socket.io#/chat#room1#"
    assert channels.broadcast_channel(("room1",)) == "socket.io#/chat#room1#"
    assert channels.broadcast_channel(()) == "socket.io#/chat#"
    assert channels.broadcast_channel(("a", "b")) == "socket.io#/chat#"
    assert channels.room_of("socket.io#/chat#room1#") == "room1"
    assert channels.room_of("socket.io#/chat#") == ""
    assert channels.room_of("socket.io#/other#") is None
    assert ClassicChannels.of("/", prefix="app").request == "app-request#/#"


def test_sharded_channels() -> None:
    channels = ShardedChannels.of("/")
    assert channels.main == "socket.io#/#"
    assert channels.response("0123456789abcdef") == "socket.io#/#0123456789abcdef#"
    assert channels.room("r") == "socket.io#/#r#"
    packet = Packet(PacketType.EVENT, "/", ["e"])
    one_room = ClusterBroadcast("u", "/", packet, WireOptions(rooms=("r",)))
    sid_room = ClusterBroadcast("u", "/", packet, WireOptions(rooms=("x" * 20,)))
    acked = ClusterBroadcast("u", "/", packet, WireOptions(rooms=("r",)), "rid")
    two_rooms = ClusterBroadcast("u", "/", packet, WireOptions(rooms=("r", "s")))
    assert channels.channel_for(one_room) == "socket.io#/#r#"
    assert channels.channel_for(sid_room) == "socket.io#/#"
    assert channels.channel_for(acked) == "socket.io#/#"
    assert channels.channel_for(two_rooms) == "socket.io#/#"
    assert channels.channel_for(FetchSockets("u", "/", WireOptions(rooms=("r",)), "x")) == (
        "socket.io#/#"
    )
    assert channels.channel_for(SocketsJoin("u", "/", WireOptions(rooms=("r",)), ())) == (
        "socket.io#/#"
    )
    private = ShardedChannels.of("/", mode=SubscriptionMode.DYNAMIC_PRIVATE)
    assert private.channel_for(sid_room) == "socket.io#/#" + "x" * 20 + "#"
    static = ShardedChannels.of("/", mode=SubscriptionMode.STATIC)
    assert static.channel_for(one_room) == "socket.io#/#"
    assert channels.has_own_channel("r", is_socket_id=False)
    assert not channels.has_own_channel("sid", is_socket_id=True)
    assert private.has_own_channel("sid", is_socket_id=True)
    assert not static.has_own_channel("r", is_socket_id=False)


def test_socket_id_length_is_counted_in_utf16() -> None:
    assert looks_like_socket_id("a" * 20)
    assert not looks_like_socket_id("a" * 19)
    assert js_length("😀") == 2
    assert looks_like_socket_id("😀" * 10)


def test_streams_names() -> None:
    assert streams_channels("/", "0123456789abcdef") == (
        "socket.io#/#",
        "socket.io#/#0123456789abcdef#",
    )
    assert stream_name("/") == "socket.io"
    assert stream_name("/", name="s", count=1) == "s"
    assert session_key("pid") == "sio:session:pid"
    assert session_key("pid", prefix="x:") == "x:pid"
    with pytest.raises(WireError):
        stream_name("/", count=0)


@pytest.mark.parametrize(
    ("text", "hashed"),
    [
        ("", 0),
        ("/", 47),
        ("/admin", 1438238848),
        ("/chat", 46457863),
        ("/é", 1690),
        ("/😀", 1818066),  # two UTF-16 code units
        ("/namespace-1", -1732195152),
        ("/zzzzzzzz", -961036753),
    ],
)
def test_js_hash_code(text: str, hashed: int) -> None:
    assert js_hash_code(text) == hashed


@pytest.mark.parametrize(
    ("nsp", "name"),
    [
        ("/", "socket.io-5"),
        ("/admin", "socket.io-4"),
        ("/namespace-1", "socket.io--2"),  # JS % keeps the sign: Node really uses this name
        ("/namespace-2", "socket.io--1"),
        ("/namespace-3", "socket.io-0"),  # -0 prints as 0
        ("/chat-room-x", "socket.io--4"),
    ],
)
def test_stream_names_with_several_streams(nsp: str, name: str) -> None:
    assert stream_name(nsp, count=7) == name


@given(st.text(max_size=40))
def test_hash_is_a_signed_32_bit_integer(text: str) -> None:
    assert -(2**31) <= js_hash_code(text) < 2**31


def test_ids() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{6}", classic_id())
    assert re.fullmatch(r"[0-9a-f]{16}", node_id())
    assert len({classic_id() for _ in range(50)}) == 50
    assert len({node_id() for _ in range(50)}) == 50


def test_offsets() -> None:
    assert is_valid_offset("1795688880501-0")
    for bad in ("1795688880501", "a-1", "1-1 ", "-1", 1, None, "1-1\n"):
        assert not is_valid_offset(bad)
    assert next_offset("1-0") == "1-1"
    assert next_offset("1795688880501-99") == "1795688880501-100"
    with pytest.raises(WireError):
        next_offset("nope")
