"""Pure HTTP rules: error bodies, CORS headers, Accept-Encoding negotiation, compression."""

from __future__ import annotations

import gzip
import re
import zlib

import pytest

from socketwire.engineio import CorsOptions
from socketwire.engineio.http import (
    HttpAnswer,
    HttpErrorCode,
    compress,
    cors_headers,
    error_answer,
    has_invalid_header_char,
    negotiate_encoding,
    upgrade_error_answer,
)

JSON = "application/json"


@pytest.mark.parametrize(
    ("code", "status", "body"),
    [
        (HttpErrorCode.UNKNOWN_TRANSPORT, 400, b'{"code":0,"message":"Transport unknown"}'),
        (HttpErrorCode.UNKNOWN_SID, 400, b'{"code":1,"message":"Session ID unknown"}'),
        (HttpErrorCode.BAD_HANDSHAKE_METHOD, 400, b'{"code":2,"message":"Bad handshake method"}'),
        (HttpErrorCode.BAD_REQUEST, 400, b'{"code":3,"message":"Bad request"}'),
        (HttpErrorCode.FORBIDDEN, 403, b'{"code":4,"message":"Forbidden"}'),
        (
            HttpErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
            400,
            b'{"code":5,"message":"Unsupported protocol version"}',
        ),
    ],
)
def test_error_answer(code: HttpErrorCode, status: int, body: bytes) -> None:
    assert error_answer(code) == HttpAnswer(status, body, JSON)


def test_error_custom_message_and_upgrade_error() -> None:
    assert error_answer(HttpErrorCode.FORBIDDEN, "nope").body == b'{"code":4,"message":"nope"}'
    assert upgrade_error_answer(HttpErrorCode.UNKNOWN_SID) == HttpAnswer(
        400, b"Session ID unknown", "text/html"
    )


@pytest.mark.parametrize(
    ("value", "invalid"),
    [(None, False), ("http://a.example", False), ("a\tb", False), ("a\nb", True), ("\x7f", True)],
)
def test_invalid_header_char(value: str | None, invalid: bool) -> None:
    assert has_invalid_header_char(value) is invalid


REQ = {"origin": "http://a.example", "access-control-request-headers": "x-token"}


@pytest.mark.parametrize(
    ("cors", "method", "expected"),
    [
        (CorsOptions(), "GET", [("Access-Control-Allow-Origin", "*")]),
        (
            CorsOptions(origin="http://b.example"),
            "GET",
            [("Access-Control-Allow-Origin", "http://b.example"), ("Vary", "Origin")],
        ),
        (
            CorsOptions(origin=["http://a.example"], credentials=True, exposed_headers=["x-a"]),
            "GET",
            [
                ("Access-Control-Allow-Origin", "http://a.example"),
                ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Expose-Headers", "x-a"),
                ("Vary", "Origin"),
            ],
        ),
        (CorsOptions(origin=["http://c.example"]), "GET", [("Vary", "Origin")]),
        (
            CorsOptions(origin=[re.compile(r"\.example$")]),
            "GET",
            [("Access-Control-Allow-Origin", "http://a.example"), ("Vary", "Origin")],
        ),
        (
            CorsOptions(origin=True, max_age=600),
            "OPTIONS",
            [
                ("Access-Control-Allow-Origin", "http://a.example"),
                ("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE"),
                ("Access-Control-Allow-Headers", "x-token"),
                ("Access-Control-Max-Age", "600"),
                ("Vary", "Origin, Access-Control-Request-Headers"),
            ],
        ),
        (
            CorsOptions(methods=["GET", "POST"], allowed_headers=["a", "b"]),
            "OPTIONS",
            [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "GET,POST"),
                ("Access-Control-Allow-Headers", "a,b"),
            ],
        ),
    ],
)
def test_cors_headers(cors: CorsOptions, method: str, expected: list[tuple[str, str]]) -> None:
    assert cors_headers(cors, method, REQ) == expected


def test_cors_callback() -> None:
    cors = CorsOptions(origin=lambda origin: origin == "http://a.example")
    assert cors_headers(cors, "GET", REQ, callback_result=False) is None
    assert cors_headers(cors, "GET", REQ, callback_result=True) == [
        ("Access-Control-Allow-Origin", "http://a.example"),
        ("Vary", "Origin"),
    ]
    assert cors_headers(CorsOptions(origin=False), "GET", REQ) is None


@pytest.mark.parametrize(
    ("header", "encoding"),
    [
        (None, None),
        ("", None),
        ("identity", None),
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip, deflate, br", "gzip"),
        ("deflate, gzip", "deflate"),
        ("gzip;q=0.5, deflate", "deflate"),
        ("gzip;q=0", None),
        ("*", "gzip"),
        ("*;q=0.1, deflate;q=0.5", "deflate"),
        ("gzip;q=0, *", "deflate"),
        ("GZIP", "gzip"),
    ],
)
def test_negotiate_encoding(header: str | None, encoding: str | None) -> None:
    assert negotiate_encoding(header) == encoding


def test_compress() -> None:
    body = b"4" + b"x" * 2000
    assert gzip.decompress(compress(body, "gzip")) == body
    assert zlib.decompress(compress(body, "deflate")) == body
    with pytest.raises(ValueError, match="unsupported"):
        compress(body, "br")
