"""python-socketio's Redis manager format: round trips and refusals (the byte-for-byte
comparison with python-socketio's own code is in
tests/integration/test_python_socketio_format.py: python-socketio is a test tool, not a
dependency)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_strategies import event_names, ids, text, values

from socketwire.adapters.wire import WireError
from socketwire.adapters.wire.pysocketio import PickledMessageError, PsEmit, PythonSocketioCodec

CODEC = PythonSocketioCodec()


@given(
    host=ids,
    event=event_names,
    args=st.lists(values, max_size=3),
    room=st.none() | text | st.lists(text, max_size=2),
    callback=st.none() | st.tuples(text, text, st.integers(0, 2**31)),
)
def test_emit_round_trip(
    host: str,
    event: str,
    args: list[Any],
    room: str | list[str] | None,
    callback: tuple[str, str, int] | None,
) -> None:
    message = PsEmit(host, event, args, "/", room, None, callback)
    assert CODEC.decode(CODEC.encode(message)) == message


class _Exploit:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        raise AssertionError("never reached: pickled data is refused before loading")


def test_pickled_messages_are_refused_without_loading() -> None:
    payload = pickle.dumps({"method": "emit", "event": "x", "data": [1], "host_id": "h"})
    with pytest.raises(PickledMessageError):
        CODEC.decode(payload)
    with pytest.raises(PickledMessageError):
        CODEC.decode(pickle.dumps([1], protocol=2))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"[]",
        b'"emit"',
        b"{not json",
        b'{"method": "emit", "host_id": "h"}',
        b'{"method": "emit", "host_id": "h", "event": 1, "data": []}',
        b'{"method": "emit", "host_id": "h", "event": "e", "data": {}}',
        b'{"method": "emit", "host_id": "h", "event": "e", "data": [[]], "binary": true, '
        b'"room": 7}',
        b'{"method": "emit", "host_id": "h", "event": "e", "data": [[{"_placeholder": true, '
        b'"num": 1}], "AA=="], "binary": true}',
        b'{"method": "emit", "host_id": "h", "event": "e", "data": [[], "!!"], "binary": true}',
        b'{"method": "emit", "host_id": "h", "event": "e", "data": [], "callback": ["r", "/"]}',
        b'{"method": "callback", "host_id": "h", "sid": "s", "id": "1", "args": []}',
        b'{"method": "enter_room", "host_id": "h", "sid": "s"}',
        b'{"method": "nothing", "host_id": "h"}',
        b'{"method": "close_room", "room": "r"}',
        b"[" * 100_000 + b"]" * 100_000,
        # deep enough for json.loads, too deep to put the attachments back
        b'{"method": "emit", "host_id": "h", "event": "e", "binary": true, "data": ['
        + b"[" * 980
        + b"]" * 980
        + b"]}",
    ],
)
def test_malformed_messages_are_wire_errors(payload: bytes) -> None:
    with pytest.raises(WireError):
        CODEC.decode(payload)
