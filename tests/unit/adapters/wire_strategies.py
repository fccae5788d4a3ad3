"""Hypothesis strategies for the inter-node messages (shared by the wire codec tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from socketwire.adapters.wire.cluster import (
    AdapterClose,
    BroadcastAck,
    BroadcastClientCount,
    ClusterBroadcast,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    Heartbeat,
    InitialHeartbeat,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketsJoin,
    SocketsLeave,
)
from socketwire.adapters.wire.common import (
    WireFlags,
    WireHandshake,
    WireOptions,
    WireSession,
    WireSocket,
)
from socketwire.socketio import RESERVED_EVENTS, Packet, PacketType

__all__ = [
    "events",
    "flags",
    "handshakes",
    "ids",
    "json_values",
    "messages",
    "options",
    "packets",
    "rooms",
    "sessions",
    "sockets",
    "values",
]

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
ids = st.text("abcdefABCDEF0123456789-_", min_size=1, max_size=16)
rooms = st.lists(text, max_size=3).map(tuple)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_scalars = scalars | st.floats(allow_nan=False, allow_infinity=False)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
#: Values msgpack carries (bytes included).
values: st.SearchStrategy[Any] = st.recursive(
    json_scalars | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
event_names = text.filter(lambda name: name not in RESERVED_EVENTS)


def events(args: st.SearchStrategy[Any] = values) -> st.SearchStrategy[list[Any]]:
    """``[event, *args]``."""
    return st.builds(lambda name, rest: [name, *rest], event_names, st.lists(args, max_size=3))


opt_bool = st.none() | st.booleans()
flags = st.builds(
    WireFlags,
    volatile=opt_bool,
    compress=opt_bool,
    local=opt_bool,
    timeout=st.none() | st.integers(0, 10**6),
    expect_single_response=opt_bool,
)
options = st.builds(WireOptions, rooms=rooms, except_=rooms, flags=flags)


def packets(nsp: str = "/", args: st.SearchStrategy[Any] = values) -> st.SearchStrategy[Packet]:
    """EVENT packets of namespace ``nsp``."""
    return st.builds(lambda data: Packet(PacketType.EVENT, nsp, data), events(args))


headers = st.dictionaries(text, text, max_size=3)
handshakes = st.builds(
    WireHandshake,
    headers=headers,
    time=text,
    address=st.none() | text,
    xdomain=st.booleans(),
    secure=st.booleans(),
    issued=st.integers(0, 2**53),
    url=text,
    query=headers,
    auth=st.dictionaries(text, json_values, max_size=2),
)


def sockets(data: st.SearchStrategy[Any] = values) -> st.SearchStrategy[WireSocket]:
    """Socket details."""
    return st.builds(WireSocket, id=ids, handshake=handshakes, rooms=rooms, data=data)


sessions = st.builds(WireSession, sid=ids, pid=ids, rooms=rooms, data=values)


_uid = ids
_nsp = st.sampled_from(["/", "/admin", "/é"])


def messages(data: st.SearchStrategy[Any]) -> st.SearchStrategy[ClusterMessage]:
    """Every cluster message, with ``data`` for free-form values."""
    return st.one_of(
        st.builds(InitialHeartbeat, _uid, _nsp),
        st.builds(Heartbeat, _uid, _nsp),
        st.builds(AdapterClose, _uid, _nsp),
        _nsp.flatmap(
            lambda name: st.builds(
                ClusterBroadcast,
                _uid,
                st.just(name),
                packets(name, data),
                options,
                st.none() | ids,
            )
        ),
        st.builds(SocketsJoin, _uid, _nsp, options, rooms),
        st.builds(SocketsLeave, _uid, _nsp, options, rooms),
        st.builds(DisconnectSockets, _uid, _nsp, options, st.booleans()),
        st.builds(FetchSockets, _uid, _nsp, options, ids),
        st.builds(
            FetchSocketsResponse, _uid, _nsp, ids, st.lists(sockets(data), max_size=2).map(tuple)
        ),
        st.builds(ServerSideEmit, _uid, _nsp, events(data), st.none() | ids),
        st.builds(ServerSideEmitResponse, _uid, _nsp, ids, data),
        st.builds(BroadcastClientCount, _uid, _nsp, ids, st.integers(0, 2**31)),
        st.builds(BroadcastAck, _uid, _nsp, ids, data),
    )
