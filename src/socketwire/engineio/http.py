"""Pure HTTP rules of the Engine.IO server: error bodies, CORS, compression, cookies.

No I/O: these functions take request data and return status codes, headers and bodies
exactly as the JS ``engine.io`` 6 server (with the ``cors`` and ``accepts`` packages) does.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from socketwire.engineio.options import CorsOptions

__all__ = [
    "HttpAnswer",
    "HttpErrorCode",
    "bad_request_empty",
    "compress",
    "cors_headers",
    "error_answer",
    "error_message",
    "has_invalid_header_char",
    "negotiate_encoding",
    "upgrade_error_answer",
]

_JSON = "application/json"


class HttpErrorCode(IntEnum):
    """JS ``Server.errors``: the ``code`` of an Engine.IO HTTP error body."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


_MESSAGES = {
    HttpErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    HttpErrorCode.UNKNOWN_SID: "Session ID unknown",
    HttpErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    HttpErrorCode.BAD_REQUEST: "Bad request",
    HttpErrorCode.FORBIDDEN: "Forbidden",
    HttpErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A response decided by the core: status, body, and Content-Type (None: no header)."""

    status: int
    body: bytes = b""
    content_type: str | None = None


def error_message(code: HttpErrorCode) -> str:
    """JS ``Server.errorMessages[code]``."""
    return _MESSAGES[code]


def error_answer(code: HttpErrorCode, message: str | None = None) -> HttpAnswer:
    """JS ``abortRequest``: 403 for FORBIDDEN, else 400, with ``{"code","message"}``."""
    status = 403 if code is HttpErrorCode.FORBIDDEN else 400
    body = json.dumps(
        {"code": int(code), "message": message or _MESSAGES[code]},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return HttpAnswer(status, body.encode(), _JSON)


def upgrade_error_answer(code: HttpErrorCode, message: str | None = None) -> HttpAnswer:
    """JS ``abortUpgrade``: a refused WebSocket upgrade is a 400 with the message as text."""
    return HttpAnswer(400, (message or _MESSAGES[code]).encode(), "text/html")


def bad_request_empty() -> HttpAnswer:
    """A bare 400 (JS ``res.writeHead(400); res.end()``: overlapping requests)."""
    return HttpAnswer(400)


# Node's http validHdrChars: HTAB, visible ASCII and obs-text; not DEL nor other controls.
_INVALID_HEADER_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def has_invalid_header_char(value: str | None) -> bool:
    """True when ``value`` holds a character Node refuses in a header (JS INVALID_ORIGIN)."""
    return value is not None and _INVALID_HEADER_CHAR.search(value) is not None


# -- CORS -------------------------------------------------------------------------------


def _origin_allowed(origin: str | None, allowed: object) -> bool:
    if isinstance(allowed, str):
        return origin == allowed
    if isinstance(allowed, re.Pattern):
        return origin is not None and allowed.search(origin) is not None
    if isinstance(allowed, list | tuple):
        return any(_origin_allowed(origin, a) for a in allowed)
    return bool(allowed)


def cors_headers(
    cors: CorsOptions,
    method: str,
    headers: Mapping[str, str],
    *,
    callback_result: bool | None = None,
) -> list[tuple[str, str]] | None:
    """The CORS headers the `cors` npm package would set for this request.

    Args:
        cors: the options.
        method: the request method; ``OPTIONS`` is a preflight.
        headers: the request headers, by lower-case name.
        callback_result: when ``cors.origin`` is a callback, what it answered for this
            request's origin (the caller awaits it).

    Returns:
        The headers to add, or None when the origin callback refused the origin: then, as
        the `cors` package does, no CORS header is set (the request is still served).
    """
    request_origin = headers.get("origin")
    out: list[tuple[str, str]] = []
    vary: list[str] = []
    allowed = cors.origin
    if callable(allowed):
        if not callback_result:
            return None
        allowed = True
    if allowed is False:
        return None
    if allowed == "*":
        out.append(("Access-Control-Allow-Origin", "*"))
    elif isinstance(allowed, str):
        out.append(("Access-Control-Allow-Origin", allowed))
        vary.append("Origin")
    else:
        if _origin_allowed(request_origin, allowed) and request_origin:
            out.append(("Access-Control-Allow-Origin", request_origin))
        vary.append("Origin")
    if cors.credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if method == "OPTIONS":
        out.append(("Access-Control-Allow-Methods", ",".join(cors.methods)))
        if cors.allowed_headers is None:
            vary.append("Access-Control-Request-Headers")
            requested = headers.get("access-control-request-headers")
            if requested:
                out.append(("Access-Control-Allow-Headers", requested))
        elif cors.allowed_headers:
            out.append(("Access-Control-Allow-Headers", ",".join(cors.allowed_headers)))
        if cors.max_age is not None:
            out.append(("Access-Control-Max-Age", str(cors.max_age)))
    if cors.exposed_headers:
        out.append(("Access-Control-Expose-Headers", ",".join(cors.exposed_headers)))
    if vary:
        out.append(("Vary", ", ".join(vary)))
    return out


# -- compression ------------------------------------------------------------------------

_CODINGS = ("gzip", "deflate")


def negotiate_encoding(accept_encoding: str | None) -> str | None:
    """Choose ``gzip`` or ``deflate`` from Accept-Encoding, as ``accepts().encodings()``.

    The highest quality wins; on a tie, the coding listed first by the client, then gzip.
    ``*`` matches a coding not listed; ``q=0`` refuses it.
    """
    if not accept_encoding:
        return None
    quality: dict[str, tuple[float, int]] = {}
    for index, item in enumerate(accept_encoding.split(",")):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name and name not in quality:
            quality[name] = (q, index)
    best: tuple[float, int, int, str] | None = None
    for order, coding in enumerate(_CODINGS):
        found = quality.get(coding) or quality.get("*")
        if found is None or found[0] <= 0:
            continue
        rank = (-found[0], found[1], order, coding)
        if best is None or rank < best:
            best = rank
    return best[3] if best else None


def compress(body: bytes, encoding: str) -> bytes:
    """Compress a response body with ``gzip`` or ``deflate`` (zlib stream, as Node)."""
    if encoding == "gzip":
        return gzip.compress(body, mtime=0)
    if encoding == "deflate":
        return zlib.compress(body)
    raise ValueError(f"unsupported encoding {encoding!r}")
