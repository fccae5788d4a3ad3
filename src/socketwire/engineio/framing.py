"""How one session's packets are framed: the protocol revision and what the client takes.

A [`ServerSession`][socketwire.engineio.server_session.ServerSession] queues every packet in
WebSocket form and asks its [`Framing`][Framing] to turn the queue into a polling answer, and a
POST body or a WebSocket message into packets. The v4 framing is JS ``engine.io-parser`` 5;
the v3 one (``allow_eio3``) is [`socketwire.engineio.v3`][socketwire.engineio.v3], with JSONP
([`socketwire.engineio.jsonp`][socketwire.engineio.jsonp]) on either.
"""

from __future__ import annotations

from collections.abc import Sequence

from socketwire.engineio import jsonp, v3
from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.packets import Packet, decode_packet
from socketwire.engineio.payload import decode_payload, decode_payload_bytes, join_encoded

__all__ = ["Framing"]


class Framing:
    """The framing of one session, fixed by its handshake (JS: its transport's ``protocol``,
    ``supportsBinary`` and JSONP ``head``).

    Args:
        protocol: 4, or 3 for a socket.io 2.x client (``EIO=3``).
        binary: v3 only: the client takes binary polling payloads (no ``b64`` query).
        jsonp: the JSONP callback index (a ``j`` query on the polling handshake), or None.
    """

    __slots__ = ("binary", "jsonp", "protocol", "websocket_base64")

    def __init__(self, protocol: int = 4, *, binary: bool = True, jsonp: str | None = None):
        self.protocol = protocol
        self.binary = binary and jsonp is None
        self.jsonp = jsonp
        #: v3: the session's WebSocket asked for base64 (``b64``): binary goes as ``b4...``.
        self.websocket_base64 = False

    def binary_message(self, data: bytes) -> bytes:
        """A binary MESSAGE packet in WebSocket form (v3 keeps the type byte)."""
        if self.protocol == 3:
            return v3.MESSAGE_BYTE + data
        return bytes(data)

    def payload(self, messages: Sequence[str | bytes]) -> str | bytes:
        """The body answering a poll with ``messages`` (WebSocket form): text, or bytes
        (a v3 binary payload, answered as ``application/octet-stream``)."""
        if self.protocol == 3:
            body = v3.encode_payload(messages, binary=self.binary)
        else:
            body = join_encoded(messages)
        if self.jsonp is not None:
            # a JSONP session's payload is always text (binary is base64)
            assert isinstance(body, str)
            return jsonp.wrap(body, self.jsonp)
        return body

    def decode_post(self, body: bytes, *, binary: bool, max_packets: int) -> list[Packet]:
        """The packets of a POST body; ``binary``: its Content-Type is
        ``application/octet-stream`` (a v3 binary payload).

        Raises:
            ProtocolError: the body is not a valid payload.
        """
        if self.jsonp is not None:
            text = jsonp.unwrap_post(body)
            if text is None:
                return []
            return self._decode_text(text, max_packets)
        if binary:
            return v3.decode_binary_payload(body, max_packets=max_packets)
        if self.protocol == 3:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProtocolError("payload is not UTF-8") from exc
            return v3.decode_payload(text, max_packets=max_packets)
        return decode_payload_bytes(body, max_packets=max_packets)

    def _decode_text(self, text: str, max_packets: int) -> list[Packet]:
        if self.protocol == 3:
            return v3.decode_payload(text, max_packets=max_packets)
        return decode_payload(text, max_packets=max_packets)

    def decode(self, message: str | bytes) -> Packet:
        """Decode one WebSocket message.

        Raises:
            ProtocolError: it is not a valid packet.
        """
        if self.protocol == 3:
            return v3.decode_message(message)
        return decode_packet(message)

    def to_websocket(self, message: str | bytes) -> str | bytes:
        """A queued packet as the session's WebSocket takes it (binary as base64 text for a
        v3 WebSocket opened with ``b64``)."""
        if self.websocket_base64 and not isinstance(message, str):
            return v3.base64_message(message)
        return message
