"""The msgpack parser, wire-compatible with socket.io-msgpack-parser 3.0 (notepack.io 2.2).

Every packet is one binary Engine.IO message: the msgpack map ``{type, data, nsp, id}``
(``data`` and ``id`` left out when absent), binary arguments as msgpack ``bin``. There are no
``BINARY_*`` types and no attachments.

notepack.io specifics we follow:

- It writes JavaScript ``undefined`` as the fixext 1 value ``d4 00 00`` (the JavaScript client
  sends ``{type: 0, data: undefined, nsp}`` when it has no auth). A top-level ``data`` or
  ``id`` that is ``undefined`` counts as absent; ``undefined`` inside ``data`` becomes
  ``None``, as ``JSON.stringify`` would make it ``null``.
- It writes Node typed arrays that are not Buffers as ext type 0; those decode to ``bytes``.
  An ext type 0 holding the single byte ``00`` is read as ``undefined`` (the ext hook cannot
  tell ``d4`` from ``c7 01``, so a one-byte zero typed array is ambiguous). A Date (``d7``
  ext 0) decodes to its 8 raw bytes. Other ext types are refused.
- Integers take the smallest msgpack width and non-integral numbers float64, as msgpack
  does; a Python ``float`` with an integral value stays a float64 where notepack would write
  an integer (the same number to a JavaScript peer).
"""

from __future__ import annotations

from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # ships no type information

from .base import Decoder
from .errors import ProtocolError
from .notepack import BIN_OR_EXT, UNDEFINED, normalize, string_keyed_map
from .packets import Packet, PacketType
from .validation import ABSENT, check_ack_id, check_packet

__all__ = ["MsgpackDecoder", "MsgpackParser"]

# socket.io-msgpack-parser knows only types 0-4: binary data needs no special type. Indexed
# by packet type (an int): enum hashing is slow.
_WIRE_TYPE: Final = (0, 1, 2, 3, 4, 2, 3)
_TYPES: Final = tuple(PacketType)


class MsgpackParser:
    """Encode and decode packets as socket.io-msgpack-parser does.

    Stateless: one instance serves every connection. Encoding trusts the packet and does not
    re-check its shape. Decoding checks it exactly as the JSON parser does
    (`check_packet()`).
    """

    __slots__ = ()

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode a packet into its one binary Engine.IO message.

        Raises:
            TypeError: ``data`` holds something msgpack cannot carry (including integers
                outside the 64-bit range and nesting beyond msgpack's limit).
        """
        # Key order as socket.io builds its packet objects ({type, data, nsp, id}): notepack
        # writes keys in insertion order, and omits nothing but what is absent.
        obj: dict[str, Any] = {"type": _WIRE_TYPE[packet.type]}
        if packet.data is not None:
            obj["data"] = packet.data
        obj["nsp"] = packet.nsp
        if packet.id is not None:
            obj["id"] = packet.id
        try:
            message: bytes = msgpack.packb(obj, use_bin_type=True)
        except (OverflowError, ValueError) as exc:
            raise TypeError(f"cannot encode packet data: {exc}") from exc
        return [message]

    def decoder(self) -> MsgpackDecoder:
        """Return a new decoder, for one connection."""
        return MsgpackDecoder()


class MsgpackDecoder(Decoder):
    """Decodes one connection's messages as socket.io-msgpack-parser's ``Decoder``, stricter.

    Refused (`ProtocolError`): a text message; bytes that are not exactly one
    msgpack value (malformed, truncated, trailing data, invalid UTF-8, nesting deeper than msgpack's
    limit); anything but a map with string keys at any level; a ``type`` that is not an integer 0-4;
    a ``nsp`` that is not a string; an invalid ``id``; a payload of the wrong shape
    (`check_packet()`).
    """

    __slots__ = ("_slow",)

    def __init__(self) -> None:
        self._slow = False

    @property
    def awaiting_attachments(self) -> int:
        """Always 0: msgpack packets carry their binary data inline."""
        return 0

    def reset(self) -> None:
        """Nothing to drop: every message is a whole packet."""

    def feed(self, message: str | bytes | bytearray | memoryview) -> Packet | None:
        """Decode one Engine.IO message; see [`Decoder.feed()`][Decoder.feed]. Never returns
        ``None``."""
        if isinstance(message, str):
            raise ProtocolError("got a text message: the msgpack parser only takes binary")
        if not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError(f"expected str or bytes, got {type(message).__name__}")
        if isinstance(message, memoryview):
            message = message.tobytes()
        try:
            self._slow = BIN_OR_EXT.search(message) is not None
            if not self._slow:
                # No bin or ext value anywhere, so every map key is a str (strict_map_key
                # refuses the rest): skip the per-map hook, which costs more than the parse.
                decoded: object = msgpack.unpackb(message, raw=False)
            else:
                decoded = msgpack.unpackb(
                    message,
                    raw=False,
                    ext_hook=self._ext_hook,
                    object_pairs_hook=string_keyed_map,
                )
        except ProtocolError:
            raise
        except (ValueError, TypeError) as exc:
            # msgpack's errors (FormatError, StackError, ExtraData, truncated input) and
            # UnicodeDecodeError are all ValueErrors.
            raise ProtocolError(f"invalid msgpack: {exc}") from None
        return self._to_packet(decoded)

    def _ext_hook(self, code: int, data: bytes) -> object:
        if code != 0:
            raise ProtocolError(f"invalid msgpack: unsupported ext type {code}")
        if data == b"\x00":
            return UNDEFINED
        return data

    def _to_packet(self, decoded: object) -> Packet:
        if not isinstance(decoded, dict):
            raise ProtocolError("invalid packet: not a map")
        code = decoded.get("type")
        if type(code) is not int or not 0 <= code <= 4:
            raise ProtocolError(f"invalid packet type {code!r}")
        packet_type = _TYPES[code]
        nsp = decoded.get("nsp")
        if not isinstance(nsp, str):
            raise ProtocolError("invalid namespace")
        raw_id = decoded.get("id", UNDEFINED)
        ack_id = None if raw_id is UNDEFINED else check_ack_id(raw_id)
        data = decoded.get("data", ABSENT)
        if data is UNDEFINED:
            data = ABSENT
        elif self._slow:
            # undefined inside data becomes None; a timestamp (ext -1) is refused.
            normalize(data)
        check_packet(packet_type, data, ack_id)
        return Packet(packet_type, nsp, None if data is ABSENT else data, ack_id)
