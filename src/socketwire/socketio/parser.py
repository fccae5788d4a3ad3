"""The default JSON parser, wire-compatible with socket.io-parser 4.2.

Text format (``Encoder.encodeAsString``):

```text
<type>[<attachments>-][<nsp>,][<ack id>][<json>]
```

The namespace is written only when it is not ``"/"``; binary arguments become
``{"_placeholder":true,"num":N}`` and travel as the binary messages that follow the text one
(see [`binary`][.binary]).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from .base import Decoder
from .binary import Slot, fill_placeholders, find_placeholders
from .errors import ProtocolError
from .packets import MAX_ACK_ID, Packet, PacketType
from .validation import ABSENT, check_ack_id, check_packet

__all__ = ["JsonDecoder", "JsonParser"]

_TYPE_CHARS: Final = ("0", "1", "2", "3", "4", "5", "6")
# Indexed by packet type (an int): enum hashing is slow. None: no binary form.
_BE, _BA = PacketType.BINARY_EVENT, PacketType.BINARY_ACK
_BINARY_TYPE: Final = (None, None, _BE, _BA, None, _BE, _BA)
_PLAIN_TYPE: Final = (*tuple(PacketType)[:5], PacketType.EVENT, PacketType.ACK)
_TYPES: Final = tuple(PacketType)
_MAX_ACK_ID_DIGITS: Final = len(str(MAX_ACK_ID))
_PAYLOAD_STARTS: Final = frozenset('[{"')


class JsonParser:
    """Encode and decode packets as socket.io-parser does.

    Stateless: one instance serves every connection (decoding state lives in the
    `JsonDecoder` each connection gets from [`decoder()`][decoder]).

    Encoding trusts the packet (it is built by the server, not a peer): it does not re-check
    the payload shape. Output equals ``JSON.stringify``'s for the same values, except that
    floats keep orjson's spelling (``1.0``, ``1e+20``, ``-0.0``, which JavaScript reads as the
    same numbers) and dict keys keep insertion order (JavaScript puts integer-like keys
    first).

    Args:
        max_attachments: The most binary attachments a received packet may declare; a packet
            declaring more is refused before any attachment is awaited (socket.io-parser's
            ``maxAttachments``, default 10).

    JSON nesting is limited by orjson: 1024 levels when decoding (deeper is a
    `ProtocolError`), 254 when encoding.
    """

    __slots__ = ("_max_attachments",)

    def __init__(self, *, max_attachments: int = 10) -> None:
        if max_attachments < 0:
            raise ValueError("max_attachments must be >= 0")
        self._max_attachments = max_attachments

    @property
    def max_attachments(self) -> int:
        """The most binary attachments a received packet may declare."""
        return self._max_attachments

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode a packet into the Engine.IO messages to send, in order.

        A packet without bytes is one text message. An ``EVENT`` or ``ACK`` whose data holds
        ``bytes``/``bytearray``/``memoryview`` is sent as ``BINARY_EVENT``/``BINARY_ACK``: one
        text message, then one binary message per attachment, in placeholder order.

        Raises:
            TypeError: ``data`` holds something JSON cannot carry (or bytes outside an
                ``EVENT``/``ACK``).
        """
        data = packet.data
        if data is None:
            return [self._head(_TYPE_CHARS[packet.type], packet.nsp, packet.id)]
        try:
            # The common case: no bytes, one pass in C. orjson refuses bytes with a TypeError,
            # which sends binary packets to the slower path below.
            body = orjson.dumps(data).decode()
        except TypeError:
            binary_type = _BINARY_TYPE[packet.type]
            if binary_type is None:
                raise
            return self._encode_binary(packet, binary_type)
        if packet.nsp == "/":
            # the main namespace: the type, the id (an ack, an event asking for one), the body
            ack_id = packet.id
            if ack_id is None:
                return [_TYPE_CHARS[packet.type] + body]
            return [f"{_TYPE_CHARS[packet.type]}{ack_id}{body}"]
        return [self._head(_TYPE_CHARS[packet.type], packet.nsp, packet.id) + body]

    def _encode_binary(self, packet: Packet, binary_type: PacketType) -> list[str | bytes]:
        buffers: list[str | bytes] = []

        def placeholder(value: Any) -> dict[str, Any]:
            # orjson calls this, depth first in output order, for each value it cannot
            # serialize: numbering follows the JSON text, as socket.io-parser's does.
            if isinstance(value, bytes):
                buffers.append(value)
            elif isinstance(value, bytearray | memoryview):
                buffers.append(bytes(value))
            else:
                raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
            return {"_placeholder": True, "num": len(buffers) - 1}

        body = orjson.dumps(packet.data, default=placeholder)
        head = self._head(f"{_TYPE_CHARS[binary_type]}{len(buffers)}-", packet.nsp, packet.id)
        buffers.insert(0, head + body.decode())
        return buffers

    @staticmethod
    def _head(prefix: str, nsp: str, ack_id: int | None) -> str:
        if nsp and nsp != "/":
            prefix = f"{prefix}{nsp},"
        if ack_id is not None:
            prefix = f"{prefix}{ack_id}"
        return prefix

    def decoder(self) -> JsonDecoder:
        """Return a new decoder, for one connection."""
        return JsonDecoder(max_attachments=self._max_attachments)


class JsonDecoder(Decoder):
    """Decodes one connection's messages as socket.io-parser's ``Decoder`` does, but stricter.

    Refused (`ProtocolError`): an empty message or unknown type; an attachment
    count that is not a decimal integer in ``[1, max_attachments]``; an ack id that is not decimal
    digits in ``[0, 2**53 - 1]``; a payload that does not start with ``[``, ``{`` or ``"``, is not
    JSON (trailing data, invalid UTF-8) or has the wrong shape (`check_packet()`);
    bad placeholders ([`binary`][.binary]); a text message while attachments are awaited; a binary
    message when none is.

    The namespace runs from a leading ``/`` to the first ``,`` or the end of the message, as
    in socket.io-parser: ``0/custom`` and ``0/custom,`` (``40/custom`` and ``40/custom,`` with
    the Engine.IO prefix) both give ``/custom``, and ``0/custom?x=1`` gives ``/custom?x=1``
    verbatim (the v5 server treats it as a namespace name, which then does not exist).
    """

    __slots__ = ("_buffers", "_max_attachments", "_pending", "_slots")

    def __init__(self, *, max_attachments: int = 10) -> None:
        self._max_attachments = max_attachments
        self._pending: Packet | None = None
        self._slots: list[Slot] = []
        self._buffers: list[bytes] = []

    @property
    def awaiting_attachments(self) -> int:
        """How many binary attachments the packet being decoded still waits for (0: none)."""
        return len(self._slots) - len(self._buffers) if self._pending is not None else 0

    def reset(self) -> None:
        """Drop any partly received packet."""
        self._pending = None
        self._slots = []
        self._buffers = []

    def feed(self, message: str | bytes | bytearray | memoryview) -> Packet | None:
        """Decode one Engine.IO message; see [`Decoder.feed()`][Decoder.feed]."""
        if isinstance(message, str):
            if self._pending is not None:
                waiting = self.awaiting_attachments
                self.reset()
                raise ProtocolError(
                    f"got a text message while waiting for {waiting} binary attachment(s)"
                )
            try:
                return self._decode_text(message)
            except ProtocolError:
                self.reset()
                raise
        if isinstance(message, bytes | bytearray | memoryview):
            return self._take_attachment(message)
        raise TypeError(f"expected str or bytes, got {type(message).__name__}")

    def _take_attachment(self, message: bytes | bytearray | memoryview) -> Packet | None:
        pending = self._pending
        if pending is None:
            raise ProtocolError("got a binary message when no attachment is expected")
        self._buffers.append(message if isinstance(message, bytes) else bytes(message))
        if len(self._buffers) < len(self._slots):
            return None
        fill_placeholders(self._slots, self._buffers)
        self.reset()
        return pending

    def _decode_text(self, text: str) -> Packet | None:
        end = len(text)
        if not end:
            raise ProtocolError("empty packet")
        code = ord(text[0]) - 48
        if not 0 <= code <= 6:
            raise ProtocolError(f"unknown packet type {text[0]!r}")
        packet_type = _TYPES[code]
        if code == 2 or code == 3:
            # The common case, EVENT or ACK in the main namespace: ``2[...`` or ``2<id>[...``.
            # Found with str methods in C; anything else takes the general path below.
            bracket = text.find("[", 1, _MAX_ACK_ID_DIGITS + 2)
            if bracket > 0:
                digits = text[1:bracket]
                if not digits or (digits.isdigit() and digits.isascii()):
                    given_id = None
                    if digits:
                        # fewer digits than MAX_ACK_ID's are always in range
                        given_id = int(digits)
                        if len(digits) == _MAX_ACK_ID_DIGITS:
                            check_ack_id(given_id)
                    try:
                        args = orjson.loads(text[bracket:])
                    except orjson.JSONDecodeError as exc:
                        raise ProtocolError(f"invalid payload: {exc}") from None
                    check_packet(packet_type, args, given_id)
                    return Packet(packet_type, "/", args, given_id)
        i = 1

        attachments = 0
        if code >= 5:  # BINARY_EVENT, BINARY_ACK
            dash = text.find("-", 1)
            digits = text[1:dash] if dash > 0 else ""
            if not (digits.isascii() and digits.isdigit()):
                raise ProtocolError("illegal attachments: no attachment count")
            limit = self._max_attachments
            # The length test keeps int() away from absurdly long digit strings.
            if len(digits) > len(str(limit)) or int(digits) > limit:
                raise ProtocolError(f"too many attachments (max_attachments={limit})")
            attachments = int(digits)
            if attachments < 1:
                raise ProtocolError("illegal attachments: a binary packet needs at least one")
            i = dash + 1

        nsp = "/"
        if i < end and text[i] == "/":
            comma = text.find(",", i)
            if comma < 0:
                nsp, i = text[i:], end
            else:
                nsp, i = text[i:comma], comma + 1
            if not nsp.isascii():
                try:
                    nsp.encode()
                except UnicodeEncodeError:
                    raise ProtocolError("invalid UTF-8 in namespace") from None

        ack_id = None
        start = i
        # Scan one digit past the longest valid id, no further: enough to refuse it.
        stop = min(end, start + _MAX_ACK_ID_DIGITS + 1)
        while i < stop and "0" <= text[i] <= "9":
            i += 1
        if i > start:
            if i - start > _MAX_ACK_ID_DIGITS:
                raise ProtocolError("invalid ack id: too long")
            ack_id = check_ack_id(int(text[start:i]))

        data: Any = ABSENT
        if i < end:
            # Every valid payload is a list, an object or a string. Refusing anything else
            # here also refuses leading whitespace, which socket.io-parser would read as an
            # ack id digit (Number(" ") == " ").
            if text[i] not in _PAYLOAD_STARTS:
                raise ProtocolError(f"invalid payload: unexpected {text[i]!r}")
            try:
                data = orjson.loads(text[i:])
            except orjson.JSONDecodeError as exc:
                raise ProtocolError(f"invalid payload: {exc}") from None
        check_packet(packet_type, data, ack_id)

        if attachments:
            self._slots = find_placeholders(data, attachments)
            self._buffers = []
            self._pending = Packet(_PLAIN_TYPE[packet_type], nsp, data, ack_id)
            return None
        return Packet(packet_type, nsp, None if data is ABSENT else data, ack_id)
