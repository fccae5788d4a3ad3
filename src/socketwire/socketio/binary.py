"""Binary attachments of the JSON parser: placeholders in, bytes out.

On the wire a ``BINARY_EVENT``/``BINARY_ACK`` declares ``N`` attachments; its JSON holds
``{"_placeholder":true,"num":i}`` where each binary argument was, and the ``N`` attachments
follow as binary Engine.IO messages, in order (socket.io-parser ``binary.js``).

A placeholder is any object whose ``_placeholder`` is ``true``, as in socket.io-parser's
``reconstructPacket``. We are stricter than it: the placeholders must number exactly ``0..N-1``,
each once (its encoder never produces anything else); a ``num`` that is not an integer in range
is refused as it is in JavaScript. This is checked on the JSON header, before any attachment is
awaited, so a forged placeholder can only ever become bytes of this very packet. Placeholders in
a packet that is not ``BINARY_*`` are not looked at and stay plain dicts, as in JavaScript.

The walk is iterative: decoded JSON may be nested up to orjson's limit (1024), deeper than
Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from .errors import ProtocolError

__all__ = ["Slot", "fill_placeholders", "find_placeholders"]

#: Where a placeholder sits: (its container, its key or index there, its attachment number).
Slot: TypeAlias = tuple[Any, Any, int]


def find_placeholders(data: list[Any], attachments: int) -> list[Slot]:
    """Locate and check the placeholders of a binary packet's decoded JSON.

    Args:
        data: The decoded payload (a list, as the shape check ensures).
        attachments: The number of attachments the packet header declared.

    Returns:
        One slot per placeholder; give them to [`fill_placeholders()`][fill_placeholders] once every
        attachment has arrived.

    Raises:
        ProtocolError: A placeholder's ``num`` is not an integer in ``[0, attachments)``, is
            used twice, or the placeholders do not cover every declared attachment.
    """
    slots: list[Slot] = []
    seen = bytearray(attachments)
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        items = enumerate(node) if isinstance(node, list) else node.items()
        for key, value in items:
            if isinstance(value, dict):
                if value.get("_placeholder") is True:
                    num = value.get("num")
                    if type(num) is not int or not 0 <= num < attachments:
                        raise ProtocolError(f"illegal attachments: placeholder num {num!r}")
                    if seen[num]:
                        raise ProtocolError(f"illegal attachments: placeholder {num} used twice")
                    seen[num] = 1
                    slots.append((node, key, num))
                else:
                    stack.append(value)
            elif isinstance(value, list):
                stack.append(value)
    if len(slots) != attachments:
        raise ProtocolError(
            f"illegal attachments: {attachments} declared, {len(slots)} placeholders"
        )
    return slots


def fill_placeholders(slots: list[Slot], buffers: Sequence[bytes]) -> None:
    """Put each attachment where its placeholder was (mutates the decoded JSON in place)."""
    for container, key, num in slots:
        container[key] = buffers[num]
