"""JSONP polling (JS ``engine.io`` 6 ``transports/polling-jsonp``), sans I/O.

A polling handshake with a ``j`` query parameter makes the session a JSONP one, for good:
every poll is answered with a script that calls ``___eio[<j>]("<payload>");`` and the
client POSTs its payloads as a form, ``d=<payload>``. socket.io-client 2.x uses it where
XHR is unavailable or when forced (``forceJSONP``).
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

__all__ = ["jsonp_index", "unwrap_post", "wrap"]

_NOT_DIGIT = re.compile(r"[^0-9]")
# JS: the client escapes newlines as \\n and backslash-n as \\\\n; see unwrap_post.
_ESCAPED_NEWLINE = re.compile(r"(\\)?\\n")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def jsonp_index(j: str) -> str:
    """The callback index of a ``j`` parameter: its digits only, as JS keeps them."""
    return _NOT_DIGIT.sub("", j)


def wrap(payload: str, index: str) -> str:
    """The script answering a JSONP poll: ``___eio[index]("payload");``.

    The payload is a JSON string literal with U+2028 and U+2029 escaped (valid JSON is not
    valid JavaScript with them raw), as JS ``JSON.stringify`` plus its two replaces write it.
    """
    literal = json.dumps(payload, ensure_ascii=False)
    if not literal.isascii():
        literal = literal.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        # JSON.stringify escapes lone surrogates (a well-formed string for any encoder)
        literal = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", literal)
    return f"___eio[{index}]({literal});"


def unwrap_post(body: bytes) -> str | None:
    """The payload of a JSONP POST body (``d=<payload>``, form-encoded), or None when it
    has none (JS then ignores the body and still answers ``ok``).

    As JS ``JSONP.onData``: ``\\n`` (an escaped newline) becomes a newline, and ``\\\\n``
    (an escaped backslash before ``n``) becomes ``\\n``.
    """
    fields = parse_qs(
        body.decode("utf-8", "replace"),
        keep_blank_values=True,
        errors="replace",
    )
    values = fields.get("d")
    if values is None or len(values) != 1:
        return None
    data = _ESCAPED_NEWLINE.sub(lambda m: m.group(0) if m.group(1) else "\n", values[0])
    return data.replace("\\\\n", "\\n")
