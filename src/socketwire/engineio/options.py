"""Engine.IO server options: the JS ``engine.io`` 6 option names in snake_case.

Durations are seconds (floats); the handshake reports them in milliseconds as JS does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AllowRequest",
    "CookieOptions",
    "CorsOptions",
    "EngineOptions",
    "OriginCallback",
    "Transport",
]

Transport = Literal["polling", "websocket", "webtransport"]
#: ``allow_request``: called with the handshake's [`HttpRequest`][socketwire.io.http.HttpRequest]
#: (typed ``Any`` here: this core does not know the I/O layer); refuse the handshake with
#: False or ``(False, "message")``.
AllowRequest = Callable[[Any], Awaitable[bool | tuple[bool, str]]]
#: A CORS origin callback: given the request's Origin (or None), is it allowed?
OriginCallback = Callable[[str | None], bool | Awaitable[bool]]

_TRANSPORTS = ("polling", "websocket", "webtransport")
_SAME_SITE = ("lax", "strict", "none")
# RFC 6265 cookie-name token and cookie-value characters, as the `cookie` npm package checks.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_COOKIE_ATTR = re.compile(r"^[\x20-\x3a\x3c-\x7e]*$")


@dataclass(frozen=True, slots=True)
class CookieOptions:
    """The session cookie set on the handshake response (JS ``cookie`` option).

    Defaults are JS's: ``io=<sid>; Path=/; HttpOnly; SameSite=Lax``.
    """

    name: str = "io"
    path: str | None = "/"
    domain: str | None = None
    max_age: int | None = None
    http_only: bool = True
    secure: bool = False
    partitioned: bool = False
    same_site: Literal["lax", "strict", "none"] | None = "lax"

    def __post_init__(self) -> None:
        if not _COOKIE_NAME.match(self.name):
            raise ValueError(f"invalid cookie name {self.name!r}")
        for attr in (self.path, self.domain):
            if attr is not None and not _COOKIE_ATTR.match(attr):
                raise ValueError(f"invalid cookie attribute {attr!r}")
        if self.same_site is not None and self.same_site not in _SAME_SITE:
            raise ValueError(f"same_site must be one of {_SAME_SITE} or None")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> CookieOptions:
        """Build from a dict using either JS (``httpOnly``) or snake_case keys."""
        aliases = {"httpOnly": "http_only", "sameSite": "same_site", "maxAge": "max_age"}
        kwargs = {aliases.get(k, k): v for k, v in options.items()}
        same_site = kwargs.get("same_site")
        if isinstance(same_site, str):
            kwargs["same_site"] = same_site.lower()
        elif same_site is True:
            kwargs["same_site"] = "strict"
        elif same_site is False:
            kwargs["same_site"] = None
        return cls(**kwargs)

    def serialize(self, value: str) -> str:
        """The ``Set-Cookie`` value for ``value``, in the `cookie` npm package's order."""
        parts = [f"{self.name}={value}"]
        if self.max_age is not None:
            parts.append(f"Max-Age={self.max_age}")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.path:
            parts.append(f"Path={self.path}")
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        if self.partitioned:
            parts.append("Partitioned")
        if self.same_site:
            parts.append(f"SameSite={self.same_site.capitalize()}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class CorsOptions:
    """CORS headers, as the `cors` npm package (which JS engine.io uses) writes them.

    Attributes:
        origin: ``"*"`` (any origin), one fixed origin string, a list of allowed origins
            (strings or compiled patterns; the request's origin is reflected when allowed),
            True (reflect any origin), or a callback ``(origin) -> bool`` (sync or async).
        credentials: send ``Access-Control-Allow-Credentials: true``.
        methods: ``Access-Control-Allow-Methods`` on preflight.
        allowed_headers: ``Access-Control-Allow-Headers`` on preflight; None reflects the
            request's ``Access-Control-Request-Headers``.
        exposed_headers: ``Access-Control-Expose-Headers``.
        max_age: ``Access-Control-Max-Age`` (seconds) on preflight.
    """

    origin: str | bool | Sequence[str | re.Pattern[str]] | OriginCallback = "*"
    credentials: bool = False
    methods: Sequence[str] = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE")
    allowed_headers: Sequence[str] | None = None
    exposed_headers: Sequence[str] | None = None
    max_age: int | None = None


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine.IO server options (JS ``ServerOptions``, snake_case, seconds).

    Attributes:
        path: the URL prefix served; normalised like JS to end with exactly one ``/``.
        ping_interval: seconds between server pings.
        ping_timeout: seconds to wait for the pong before closing with "ping timeout".
        upgrade_timeout: seconds a WebSocket probe may take to complete the upgrade.
        max_http_buffer_size: the largest POST body and WebSocket message, in bytes
            (larger POST bodies get 413); also advertised as ``maxPayload``.
        transports: the transports accepted: ``"polling"``, ``"websocket"``, and
            ``"webtransport"`` (off by default, as in JS; it needs a WebTransport listener,
            see [`WebTransportServer`][socketwire.io.webtransport.WebTransportServer]).
        allow_upgrades: offer the polling to WebSocket upgrade.
        allow_request: async ``(request) -> bool | (bool, message)`` deciding handshakes.
        cookie: False (none), True (JS defaults), a [`CookieOptions`][CookieOptions] or a dict of
            them.
        cors: None (no CORS headers, as JS) or [`CorsOptions`][CorsOptions].
        http_compression: gzip/deflate polling responses of at least
            ``compression_threshold`` bytes when the client accepts it.
        compression_threshold: see ``http_compression`` (JS ``httpCompression.threshold``).
        per_message_deflate: offer permessage-deflate on WebSocket connections.
        initial_packet: a message sent right after the open packet.
        max_buffered_bytes: the bound on bytes queued for one client (waiting for a poll,
            or written to a WebSocket and not yet taken by the OS); a client that goes over
            it is closed with reason "transport buffer full".
        allow_eio3: also serve Engine.IO v3 clients (socket.io-client 2.x), as JS
            ``allowEIO3`` (off by default, as in JS).
        forward_timeout: in a cluster that forwards requests (see
            `socketwire.io.forwarding`), seconds to wait for the node owning a session
            to answer a request forwarded to it (a long-poll GET waits ``ping_interval +
            ping_timeout`` more); then the client gets "Session ID unknown".
    """

    path: str = "/engine.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    upgrade_timeout: float = 10.0
    max_http_buffer_size: int = 1_000_000
    transports: tuple[Transport, ...] = ("polling", "websocket")
    allow_upgrades: bool = True
    allow_request: AllowRequest | None = None
    cookie: bool | CookieOptions | Mapping[str, Any] = False
    cors: CorsOptions | None = None
    http_compression: bool = True
    compression_threshold: int = 1024
    per_message_deflate: bool = False
    initial_packet: str | bytes | None = None
    max_buffered_bytes: int = 16 * 1024 * 1024
    add_trailing_slash: bool = True
    allow_eio3: bool = False
    forward_timeout: float = 5.0
    _cookie: CookieOptions | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        for name in ("ping_interval", "ping_timeout", "upgrade_timeout", "forward_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        for name in ("max_http_buffer_size", "max_buffered_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if not isinstance(self.compression_threshold, int) or self.compression_threshold < 0:
            raise ValueError("compression_threshold must be a non-negative int")
        transports = tuple(self.transports)
        if not transports or any(t not in _TRANSPORTS for t in transports):
            raise ValueError(f"transports must be a non-empty subset of {_TRANSPORTS}")
        object.__setattr__(self, "transports", transports)
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', not {self.path!r}")
        path = self.path.rstrip("/")
        object.__setattr__(self, "path", path + "/" if self.add_trailing_slash else path or "/")
        if self.initial_packet is not None and not isinstance(self.initial_packet, str | bytes):
            raise ValueError("initial_packet must be str, bytes or None")
        if self.cors is not None and not isinstance(self.cors, CorsOptions):
            raise ValueError("cors must be a CorsOptions or None")
        cookie: CookieOptions | None
        if self.cookie is False:
            cookie = None
        elif self.cookie is True:
            cookie = CookieOptions()
        elif isinstance(self.cookie, CookieOptions):
            cookie = self.cookie
        elif isinstance(self.cookie, Mapping):
            cookie = CookieOptions.from_mapping(self.cookie)
        else:
            raise ValueError("cookie must be a bool, a CookieOptions or a mapping")
        object.__setattr__(self, "_cookie", cookie)

    @property
    def cookie_options(self) -> CookieOptions | None:
        """The normalised cookie options, or None when no cookie is set."""
        return self._cookie

    def upgrades(self, transport: str) -> list[str]:
        """The upgrades advertised in the handshake over ``transport`` (JS getAvailableUpgrades:
        polling upgrades to WebSocket and WebTransport, those of them that are on)."""
        if transport == "polling" and self.allow_upgrades:
            return [t for t in ("websocket", "webtransport") if t in self.transports]
        return []
