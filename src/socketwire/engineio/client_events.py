"""What the Engine.IO v4 client session reports and asks for: events, actions, handshake.

[`ClientSession`][socketwire.engineio.client_session.ClientSession] returns [`Event`][Event] values
from ``events_received()`` (for the application) and [`Action`][Action] values from
``actions_to_perform()`` (for the I/O driver, to perform in order).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.packets import Packet
from socketwire.engineio.reasons import CloseReason

__all__ = [
    "Action",
    "CloseWebSocket",
    "Closed",
    "Drained",
    "Event",
    "Handshake",
    "MessageReceived",
    "OpenWebSocket",
    "Opened",
    "PacketCreated",
    "PacketReceived",
    "PingReceived",
    "SendWebSocket",
    "StartPoll",
    "StartPost",
    "StopPolling",
    "TransportFailure",
    "TransportName",
    "UpgradeFailed",
    "Upgraded",
    "Upgrading",
    "parse_handshake",
]


class TransportName(StrEnum):
    """The transports this client speaks (the ``transport`` query parameter)."""

    POLLING = "polling"
    WEBSOCKET = "websocket"
    #: a WebTransport session (HTTP/3): driven as a WebSocket, on a stream
    WEBTRANSPORT = "webtransport"


@dataclass(frozen=True, slots=True)
class Handshake:
    """The server's ``open`` packet.

    Attributes:
        sid: the session id.
        upgrades: transports the server offers to upgrade to (filtered to ours).
        ping_interval: milliseconds between the server's pings.
        ping_timeout: milliseconds the server waits for a pong.
        max_payload: the most bytes the server accepts in one POST body (0: no limit).
    """

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: int
    ping_timeout: int
    max_payload: int


# Events: what the driver hands to the application.
@dataclass(frozen=True, slots=True)
class Opened:
    """The handshake completed; messages can flow."""

    handshake: Handshake


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A message from the server: ``str`` for text, ``bytes`` for binary."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class PingReceived:
    """The server pinged (the pong is already queued); socket.io-client's Manager re-emits it."""


@dataclass(frozen=True, slots=True)
class Upgrading:
    """The probe answered ``3probe``: the session pauses polling to move to ``transport``
    (engine.io-client's ``upgrading`` event)."""

    transport: TransportName


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The session moved to ``transport`` (the ``upgrade`` packet is queued)."""

    transport: TransportName


@dataclass(frozen=True, slots=True)
class UpgradeFailed:
    """The upgrade probe failed; the session goes on over polling."""

    transport: TransportName
    description: str


@dataclass(frozen=True, slots=True)
class PacketReceived:
    """A packet arrived, whatever its type (engine.io-client's ``packet`` event).

    Reported only when the session's ``verbose_events`` is set.
    """

    packet: Packet


@dataclass(frozen=True, slots=True)
class PacketCreated:
    """A packet was queued for sending: a message or a pong (``packetCreate``).

    Reported only when the session's ``verbose_events`` is set.
    """

    packet: Packet


@dataclass(frozen=True, slots=True)
class Drained:
    """Everything queued was handed to the transport (engine.io-client's ``drain``).

    Reported only when the session's ``verbose_events`` is set.
    """


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """What broke the session, in engine.io-client's words (its ``TransportError``).

    Attributes:
        message: what failed: ``"xhr poll error"``, ``"xhr post error"``,
            ``"websocket error"`` (a request or the WebSocket), ``"parse error"`` (a
            malformed packet or handshake), ``"timeout"`` (no handshake in time), or the
            name of a limit (``"send buffer full"``, ``"event queue full"``).
        description: the cause, as the transport reported it (``"HTTP 400 ..."``,
            ``"Cannot connect to host ..."``); may be empty.
    """

    message: str
    description: str = ""

    def __str__(self) -> str:
        return f"{self.message}: {self.description}" if self.description else self.message


@dataclass(frozen=True, slots=True)
class Closed:
    """The session ended; it emits nothing after this.

    Attributes:
        reason: engine.io-client's close reason.
        description: what happened, for people.
        error: for ``"transport error"``, what failed (None for the other reasons).
    """

    reason: CloseReason
    description: str = ""
    error: TransportFailure | None = None


Event = (
    Opened
    | MessageReceived
    | PingReceived
    | Upgrading
    | Upgraded
    | UpgradeFailed
    | PacketReceived
    | PacketCreated
    | Drained
    | Closed
)


# Actions: what the driver must do, in order.
@dataclass(frozen=True, slots=True)
class StartPoll:
    """Send one polling GET; report with ``receive_poll_response`` or ``poll_failed``."""


@dataclass(frozen=True, slots=True)
class StartPost:
    """POST ``body`` (a text payload); report with ``post_done`` or ``post_failed``.

    POSTs must reach the server in the order of these actions.
    """

    body: str


@dataclass(frozen=True, slots=True)
class StopPolling:
    """Abort the pending GET, let queued POSTs finish (briefly), release HTTP resources."""


@dataclass(frozen=True, slots=True)
class OpenWebSocket:
    """Open the WebSocket (or the WebTransport session: ``transport``); report
    ``websocket_opened``, then messages, then its end."""

    transport: TransportName = TransportName.WEBSOCKET


@dataclass(frozen=True, slots=True)
class SendWebSocket:
    """Write these WebSocket messages in order; call ``websocket_drained`` once written."""

    messages: tuple[str | bytes, ...]


@dataclass(frozen=True, slots=True)
class CloseWebSocket:
    """Close the WebSocket after the messages already queued for it."""


Action = StartPoll | StartPost | StopPolling | OpenWebSocket | SendWebSocket | CloseWebSocket


def _int_field(data: dict[str, object], key: str, *, minimum: int) -> int:
    value = data.get(key)
    # bool is an int in Python but never a valid number on the wire.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ProtocolError(f"handshake {key} must be an integer >= {minimum}, got {value!r}")
    return value


def parse_handshake(text: str, transports: Sequence[str]) -> Handshake:
    """Parse and validate the JSON of an ``open`` packet.

    Args:
        text: the packet data.
        transports: the client's transports; offered upgrades are filtered to these.

    Raises:
        ProtocolError: not a JSON object, or a field missing or of the wrong type.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError("handshake is not JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError("handshake is not a JSON object")
    sid = data.get("sid")
    if not isinstance(sid, str) or not sid:
        raise ProtocolError("handshake sid must be a non-empty string")
    upgrades = data.get("upgrades", [])
    if not isinstance(upgrades, list) or not all(isinstance(u, str) for u in upgrades):
        raise ProtocolError("handshake upgrades must be a list of strings")
    # engine.io-client treats a missing maxPayload as "no limit" (older servers omit it).
    max_payload = _int_field(data, "maxPayload", minimum=0) if "maxPayload" in data else 0
    return Handshake(
        sid=sid,
        upgrades=tuple(u for u in upgrades if u in transports),
        ping_interval=_int_field(data, "pingInterval", minimum=1),
        ping_timeout=_int_field(data, "pingTimeout", minimum=1),
        max_payload=max_payload,
    )
