"""A Manager's options, read the way socket.io-client reads them.

socket.io-client reads several options with JavaScript's ``||``, so that 0 (and any falsy
value) means "the default", and one with ``??``. [`ManagerOptions`][ManagerOptions] does the
same, so a
value copied from a JavaScript client means the same thing here:

=========================  =======================  ==========================================
option                     JS                       0, None (or False)
=========================  =======================  ==========================================
``reconnection_attempts``  ``|| Infinity``          no limit (``math.inf``)
``reconnection_delay``     ``|| 1000``              1 s
``reconnection_delay_max`` ``|| 5000``              5 s
``randomization_factor``   ``?? 0.5``               None: 0.5; 0: no jitter
``timeout``                ``null ? 20000``         None: 20 s; ``False``: no limit; 0: 0 s
=========================  =======================  ==========================================

The runtime setters of [`Manager`][socketwire.client.manager.Manager] take values as they are,
as JS's ``manager.reconnectionAttempts(0)`` does (0 attempts there means none).
"""

from __future__ import annotations

import math
import ssl as ssl_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from socketwire.engineio.client_session import DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_MESSAGE_SIZE
from socketwire.io.client_network import Proxy, resolve_proxy
from socketwire.io.client_transports import parse_transport_options
from socketwire.io.client_websocket import WebSocketFactory
from socketwire.socketio import JsonParser, MsgpackParser, Parser

__all__ = ["ManagerOptions", "make_parser"]


def make_parser(parser: str | Parser | None) -> Parser:
    """The parser for ``None``/``"json"`` (default), ``"msgpack"``, or a parser object."""
    if parser is None or parser == "json":
        return JsonParser()
    if parser == "msgpack":
        return MsgpackParser()
    if isinstance(parser, str):
        raise ValueError(f"unknown parser {parser!r}: use 'json' or 'msgpack'")
    return parser


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    """Options of a Manager (socket.io-client's ``ManagerOptions``, seconds for times).

    Attributes:
        path: the Socket.IO endpoint path.
        transports: transports to use, the first one to connect with.
        upgrade: probe the WebSocket after a polling handshake.
        query: extra query parameters of every request.
        headers: extra headers of every request and of the WebSocket handshake.
        ssl: TLS context for https/wss (None: the system's certificate authorities).
        timeout: seconds for each connection attempt (``timeout``; see the table above).
        reconnection: reconnect after an unexpected disconnection.
        reconnection_attempts: attempts before ``reconnect_failed`` (0 or None: no end).
        reconnection_delay: the first delay, in seconds (0 or None: 1 s).
        reconnection_delay_max: the largest delay, in seconds (0 or None: 5 s).
        randomization_factor: the jitter of the delays, in ``[0, 1]`` (None: 0.5).
        parser: ``"json"`` (default) or ``"msgpack"``, or a parser object.
        max_message_size: the largest message accepted from the server, in bytes (a larger
            one drops the connection with ``"transport error"``).
        max_buffered_bytes: the bound on outgoing bytes waiting for the transport (a server
            that stops reading); crossing it drops the connection (``"transport error"``).
        with_credentials: keep the cookies the server (or a load balancer) sets, and send
            them with every polling request and the WebSocket handshake, across
            reconnections (JS ``withCredentials``; its default is False, see the client
            guide for why this one is True).
        proxy: True: the ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` variables; a URL: that
            proxy; None or False: none
            ([`socketwire.io.client_network`][socketwire.io.client_network]).
        protocols: WebSocket subprotocols to offer (JS ``protocols``).
        timestamp_requests: a cache-busting ``t`` query parameter: None (default) on polling
            requests only, True on the WebSocket's too, False on none.
        transport_options: per transport (``"polling"``, ``"websocket"``), extra ``headers``
            and ``query`` for that transport only (JS ``transportOptions``).
        remember_upgrade: after a WebSocket worked, connect the next time with the
            WebSocket directly (JS ``rememberUpgrade``; remembered per Manager).
        try_all_transports: when the first transport fails before the handshake, try the
            next one (JS ``tryAllTransports``).
        auto_connect: a socket created on a Manager that is connected or connecting
            connects at once (JS ``autoConnect``).
        websocket_factory: builds each WebSocket connection (None: over the network;
            ``socketwire.testing`` passes one that reaches a server in memory).
    """

    path: str = "/socket.io"
    transports: tuple[str, ...] = ("polling", "websocket")
    upgrade: bool = True
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    ssl: ssl_module.SSLContext | None = None
    timeout: float | None = 20.0
    reconnection: bool = True
    reconnection_attempts: float | None = math.inf
    reconnection_delay: float | None = 1.0
    reconnection_delay_max: float | None = 5.0
    randomization_factor: float | None = 0.5
    parser: str | Parser | None = None
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES
    with_credentials: bool = True
    proxy: Proxy = True
    protocols: tuple[str, ...] = ()
    timestamp_requests: bool | None = None
    transport_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    remember_upgrade: bool = False
    try_all_transports: bool = False
    auto_connect: bool = True
    websocket_factory: WebSocketFactory | None = None

    def __post_init__(self) -> None:
        # socket.io-client's `opts.x || default` and `opts.x ?? default`.
        set_ = object.__setattr__
        set_(self, "reconnection_attempts", self.reconnection_attempts or math.inf)
        set_(self, "reconnection_delay", self.reconnection_delay or 1.0)
        set_(self, "reconnection_delay_max", self.reconnection_delay_max or 5.0)
        if self.randomization_factor is None:
            set_(self, "randomization_factor", 0.5)
        if self.timeout is None:
            set_(self, "timeout", 20.0)
        elif self.timeout is False:
            set_(self, "timeout", math.inf)
        numbers = (
            self.reconnection_attempts,
            self.reconnection_delay,
            self.reconnection_delay_max,
            self.randomization_factor,
            self.timeout,
        )
        if any(n is None or n < 0 for n in numbers):
            raise ValueError("reconnection and timeout options must be >= 0")
        if not self.transports:
            raise ValueError("no transports")
        # Checked now rather than at the first connection attempt.
        parse_transport_options(self.transport_options)
        if isinstance(self.proxy, str):
            resolve_proxy("http://localhost", self.proxy)
