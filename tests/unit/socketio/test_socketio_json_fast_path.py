"""The JSON decoder's shortcut for ``2[...``, ``2<id>[...``, ``3<id>[...`` agrees with its
general path.

``2/,<rest>`` spells the same packet as ``2<rest>`` (the namespace ``/``, written out) when
``rest`` does not start with ``/``, and always takes the general path, so each message is
decoded both ways and the outcomes (the packet, or the error message) must be equal.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from socketwire.socketio import ProtocolError
from socketwire.socketio.parser import JsonParser

MAX = 2**53 - 1

RESTS = [
    '["echo","x"]',
    "[]",
    '["a",1,{"b":[null,true]}]',
    '["connect"]',
    "[1]",
    '["a"]x',
    '["a"',
    '["a",1.5e3,-0]',
    '["\\u00e9","\\ud83d\\ude00"]',
    "1[]",
    '1["a"]',
    '007["a"]',
    f'{MAX}["a"]',
    f'{MAX + 1}["a"]',
    f'{"9" * 16}["a"]',
    f'{"9" * 17}["a"]',
    f'{"1" * 40}["a"]',
    '²["a"]',
    '1 ["a"]',
    "12",
    "",
    '{"a":1}',
]


def outcome(message: str) -> object:
    try:
        return JsonParser().decoder().feed(message)
    except ProtocolError as exc:
        return f"ProtocolError: {exc}"


def check(rest: str) -> None:
    for kind in "23":
        assert outcome(f"{kind}{rest}") == outcome(f"{kind}/,{rest}"), rest


@pytest.mark.parametrize("rest", RESTS)
def test_shortcut_agrees_with_the_general_path(rest: str) -> None:
    check(rest)


def test_the_shortcut_decodes() -> None:
    # the cases above must not all be errors: the shortcut really decodes
    packet = outcome('21["echo","x"]')
    assert not isinstance(packet, str)
    assert packet is not None
    assert (packet.nsp, packet.data, packet.id) == ("/", ["echo", "x"], 1)


@given(st.text(alphabet='0123456789[]{}",:ab-/é \\', max_size=30))
def test_shortcut_agrees_on_any_text(rest: str) -> None:
    assume(not rest.startswith("/"))  # then ``2<rest>`` names a namespace itself
    check(rest)
