"""The wire format of ``@socket.io/redis-streams-adapter`` 0.3.

Two paths, one [`cluster`][.cluster] envelope:

- durable messages (a broadcast without ack, join, leave, disconnect) are stream entries,
  ``XADD <stream> MAXLEN ~ <n> * uid <uid> nsp <nsp> type <n> data <data>``, where
  ``data`` is JSON, or base64 of msgpack when its type may carry binary and it does
  (never with ``onlyPlaintext``), and ``type`` is the decimal string. Readers tell the two
  apart by the first character (``{`` is JSON);
- ephemeral messages ([`is_ephemeral()`][is_ephemeral]: a broadcast with ack, a server-side emit, a
  fetch) and every response are msgpack of the whole envelope on pub/sub channels.

The msgpack here is @msgpack/msgpack's (see [`unpack_msgpack()`][.unpack_msgpack]). A disconnected
socket's session is stored as base64 of msgpack of ``{sid, pid, rooms, data}``
([`StreamsCodec.encode_session()`][StreamsCodec.encode_session]).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Final

from .cluster import (
    MAY_CONTAIN_BINARY,
    ClusterBroadcast,
    ClusterMessage,
    FetchSockets,
    MessageType,
    ServerSideEmit,
    envelope_data,
    from_envelope,
    message_type,
    read_message,
    to_envelope,
)
from .common import WireSession
from .errors import WireError
from .values import dumps_json, has_binary, loads_json, pack, unpack_msgpack

__all__ = ["StreamsCodec", "is_ephemeral"]

_DECIMAL: Final = re.compile(r"[0-9]{1,10}")


def is_ephemeral(message: ClusterMessage) -> bool:
    """Whether ``message`` goes over pub/sub rather than into the stream (``isEphemeral``).

    Responses are always published on the requester's channel and are not covered here.
    """
    if isinstance(message, ClusterBroadcast):
        return message.request_id is not None
    return isinstance(message, ServerSideEmit | FetchSockets)


def _text(value: str | bytes, where: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode()
    except UnicodeDecodeError:
        raise WireError(f"invalid {where}: not UTF-8") from None


class StreamsCodec:
    """Encodes and decodes the streams adapter's entries, pub/sub messages and sessions.

    Args:
        only_plaintext: Always write stream ``data`` as JSON (the adapter's
            ``onlyPlaintext`` option), even when it holds binary.
    """

    __slots__ = ("_only_plaintext",)

    def __init__(self, *, only_plaintext: bool = False) -> None:
        self._only_plaintext = only_plaintext

    # -- stream entries ---------------------------------------------------------------------

    def encode_entry(self, message: ClusterMessage) -> dict[str, str]:
        """The stream entry fields ``{uid, nsp, type, data}`` of a durable message.

        Raises:
            WireError: ``message`` is ephemeral (it goes over pub/sub), or its data cannot
                be encoded.
        """
        if is_ephemeral(message):
            raise WireError(f"{type(message).__name__} is ephemeral: publish it instead")
        code = message_type(message)
        fields = {"uid": message.uid, "nsp": message.nsp, "type": str(code.value)}
        data = envelope_data(message)
        if data is not None:
            if not self._only_plaintext and code in MAY_CONTAIN_BINARY and has_binary(data):
                fields["data"] = base64.b64encode(pack(data)).decode("ascii")
            else:
                fields["data"] = dumps_json(data).decode()
        return fields

    def decode_entry(self, fields: Mapping[str, str] | Mapping[bytes, bytes]) -> ClusterMessage:
        """Decode the fields of one stream entry (as redis-py returns them, str or bytes).

        Raises:
            WireError: A field missing or malformed, or an unknown type.
        """
        text: dict[str, str] = {}
        for key, value in fields.items():
            name = _text(key, "entry field name")
            text[name] = _text(value, f"entry field {name!r}")
        raw_type = text.get("type")
        if raw_type is None or _DECIMAL.fullmatch(raw_type) is None:
            raise WireError(f"invalid entry type {raw_type!r:.80}")
        code = int(raw_type)
        if code not in _VALID_TYPES:
            raise WireError(f"unknown cluster message type {code}")
        raw_data = text.get("data")
        data: object = None
        if raw_data:
            if raw_data.startswith("{"):
                data = loads_json(raw_data)
            else:
                try:
                    packed = base64.b64decode(raw_data, validate=True)
                except (binascii.Error, ValueError):
                    raise WireError("invalid entry data: neither JSON nor base64") from None
                data = unpack_msgpack(packed)
        return read_message(MessageType(code), text.get("uid"), text.get("nsp"), data)

    # -- pub/sub ----------------------------------------------------------------------------

    def encode_pubsub(self, message: ClusterMessage) -> bytes:
        """msgpack of the whole envelope, for an ephemeral message or a response.

        Raises:
            WireError: The message holds something msgpack cannot carry.
        """
        return pack(to_envelope(message))

    def decode_pubsub(self, raw: bytes) -> ClusterMessage:
        """Decode a message from the public or a private channel.

        Raises:
            WireError: Malformed, or of an unknown type.
        """
        return from_envelope(unpack_msgpack(raw))

    # -- sessions ---------------------------------------------------------------------------

    def encode_session(self, session: WireSession) -> str:
        """The value stored under the session key: base64 of msgpack of the session.

        Raises:
            WireError: The session data cannot be encoded.
        """
        return base64.b64encode(pack(session.to_wire())).decode("ascii")

    def decode_session(self, raw: str | bytes) -> WireSession:
        """Read a stored session.

        Raises:
            WireError: Not base64 of a msgpack session.
        """
        try:
            packed = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise WireError("invalid session: not base64") from None
        return WireSession.from_wire(unpack_msgpack(packed))


_VALID_TYPES: Final = frozenset(t.value for t in MessageType)
