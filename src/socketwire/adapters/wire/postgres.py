"""The wire format of ``@socket.io/postgres-adapter`` 0.5 (LISTEN/NOTIFY).

Every message is one [`cluster`][.cluster] envelope, notified on the namespace's channel
``<prefix>#<namespace>`` ([`channel_name()`][channel_name]):

- as JSON text (``JSON.stringify``: keys ``type, data, uid, nsp``, compact, raw UTF-8), when
  it holds no binary and its JSON is shorter than the payload threshold;
- otherwise the whole envelope is msgpack (@msgpack/msgpack) in a row of the attachment
  table, and the notification is a small JSON header
  ``{"uid": <uid>, "type": <type>, "attachmentId": "<row id>"}`` (no ``nsp``; the id is a
  string because node-pg returns ``bigint`` as one). A receiver reads the row back with
  ``SELECT payload FROM <table> WHERE id = $1``.

Two places where this codec is stricter than the Node adapter, both on the sending side
(a Node receiver accepts either form):

- PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; Node switches to an attachment
  only above 8000 bytes, so its 8000-byte messages are lost. Here a payload of
  ``payload_threshold`` bytes or more (UTF-8 bytes, not characters) becomes an attachment.
- Node sends binary through the table only for the types that usually carry it (broadcast,
  server-side emit and their answers); elsewhere ``JSON.stringify`` turns a ``Buffer`` into
  ``{"type": "Buffer", "data": [...]}``. Here any message holding ``bytes`` becomes an
  attachment, so the bytes arrive as bytes.

This module is sans-I/O: it turns messages into what to send and notifications into
messages; [`socketwire.adapters.postgres`][socketwire.adapters.postgres] runs the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .cluster import ClusterMessage, envelope_data, from_envelope, message_type, to_envelope
from .errors import WireError
from .values import dumps_json, expect_map, has_binary, loads_json, pack, unpack_msgpack

__all__ = [
    "DEFAULT_CHANNEL_PREFIX",
    "DEFAULT_TABLE_NAME",
    "MAX_CHANNEL_BYTES",
    "NOTIFY_LIMIT",
    "Attachment",
    "AttachmentHeader",
    "Notification",
    "PostgresCodec",
    "channel_name",
    "check_table_name",
]

DEFAULT_CHANNEL_PREFIX: Final = "socket.io"
DEFAULT_TABLE_NAME: Final = "socket_io_attachments"
#: PostgreSQL refuses NOTIFY payloads of this many bytes or more.
NOTIFY_LIMIT: Final = 8000
#: A channel is an identifier: PostgreSQL's NAMEDATALEN - 1 bytes at most.
MAX_CHANNEL_BYTES: Final = 63
#: The largest row id a header may name (``bigserial``).
_MAX_ROW_ID: Final = 2**63 - 1
_ROW_ID: Final = re.compile(r"[1-9][0-9]{0,18}")
# What Node interpolates into its SQL unquoted: an identifier, optionally schema-qualified.
_TABLE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?")


def channel_name(nsp: str, prefix: str = DEFAULT_CHANNEL_PREFIX) -> str:
    """The channel of namespace ``nsp``: ``<prefix>#<nsp>``, case preserved.

    Raises:
        WireError: The name is over [`MAX_CHANNEL_BYTES`][MAX_CHANNEL_BYTES] bytes of UTF-8.
            PostgreSQL would refuse to notify on it (and Node's ``LISTEN`` would silently truncate
            it).
    """
    channel = f"{prefix}#{nsp}"
    size = len(channel.encode())
    if size > MAX_CHANNEL_BYTES:
        raise WireError(
            f"channel {channel!r:.100} is {size} bytes; PostgreSQL allows "
            f"{MAX_CHANNEL_BYTES}: use a shorter namespace name or channel prefix"
        )
    return channel


def check_table_name(name: str) -> str:
    """``name`` if it is an identifier Node would put into its SQL as is (``table`` or
    ``schema.table``, unquoted, so folded to lower case by PostgreSQL as for Node).

    Raises:
        ValueError: Anything else (quotes, spaces, ...), which would be SQL injection.
    """
    if _TABLE.fullmatch(name) is None:
        raise ValueError(f"invalid attachment table name {name!r:.100}")
    return name


@dataclass(frozen=True, slots=True)
class Notification:
    """A message sent as is: ``SELECT pg_notify(<channel>, <payload>)``."""

    payload: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A message sent through the attachment table.

    You must ``INSERT INTO <table> (payload) VALUES (<row>) RETURNING id``, then notify
    [`header()`][header] of that id.

    Attributes:
        uid: The sender's uid.
        type: The message type (an int, as the header carries it).
        row: The msgpack bytes of the whole envelope.
    """

    uid: str
    type: int
    row: bytes

    def header(self, attachment_id: int | str) -> str:
        """The notification that points at row ``attachment_id`` (written as a string)."""
        header = {"uid": self.uid, "type": self.type, "attachmentId": str(attachment_id)}
        return dumps_json(header).decode()


@dataclass(frozen=True, slots=True)
class AttachmentHeader:
    """A notification that names a row of the attachment table.

    Attributes:
        uid: The sender's uid (filter your own before fetching the row).
        type: The message type the header announces (informative: the row's counts).
        attachment_id: The row to read.
    """

    uid: str
    type: int | None
    attachment_id: int


class PostgresCodec:
    """Encodes messages into notifications or attachments, and decodes both.

    Args:
        payload_threshold: A JSON payload of this many bytes or more goes through the
            attachment table; at most [`NOTIFY_LIMIT`][NOTIFY_LIMIT].

    Raises:
        ValueError: ``payload_threshold`` is not between 1 and [`NOTIFY_LIMIT`][NOTIFY_LIMIT].
    """

    __slots__ = ("payload_threshold",)

    def __init__(self, *, payload_threshold: int = NOTIFY_LIMIT) -> None:
        if not 0 < payload_threshold <= NOTIFY_LIMIT:
            raise ValueError(
                f"payload_threshold must be between 1 and {NOTIFY_LIMIT} bytes "
                f"(PostgreSQL refuses larger NOTIFY payloads), not {payload_threshold}"
            )
        self.payload_threshold = payload_threshold

    def encode(self, message: ClusterMessage) -> Notification | Attachment:
        """What to send for ``message``.

        Raises:
            WireError: The message holds something JSON or msgpack cannot carry.
        """
        envelope = to_envelope(message)
        if not has_binary(envelope_data(message)):
            payload = dumps_json(envelope)
            if len(payload) < self.payload_threshold:
                return Notification(payload.decode())
        return Attachment(message.uid, message_type(message).value, pack(envelope))

    def decode_notification(self, payload: str | bytes) -> ClusterMessage | AttachmentHeader:
        """Decode one notification's payload: a message, or a header to fetch the row of.

        A header is an object with a truthy ``attachmentId`` (as Node tells them apart): a
        positive integer or its decimal string.

        Raises:
            WireError: Not JSON, not an envelope nor a header, or a field of the wrong type.
        """
        obj = expect_map(loads_json(payload), "notification")
        attachment_id = obj.get("attachmentId")
        if attachment_id is None or attachment_id in (0, "", False):
            return from_envelope(obj)
        uid = obj.get("uid")
        if not isinstance(uid, str):
            raise WireError(f"invalid attachment header uid: {uid!r:.80}")
        code = obj.get("type")
        if code is not None and type(code) is not int:
            raise WireError(f"invalid attachment header type: {code!r:.80}")
        return AttachmentHeader(uid, code, _row_id(attachment_id))

    def decode_attachment(self, row: bytes) -> ClusterMessage:
        """Decode the msgpack envelope stored in an attachment row.

        Raises:
            WireError: Not msgpack of an envelope (a JS ``Date``, an ext type, is refused).
        """
        return from_envelope(unpack_msgpack(row))


def _row_id(value: object) -> int:
    if type(value) is int and 0 < value <= _MAX_ROW_ID:
        return value
    if isinstance(value, str) and _ROW_ID.fullmatch(value) and int(value) <= _MAX_ROW_ID:
        return int(value)
    raise WireError(f"invalid attachmentId: {value!r:.80}")
