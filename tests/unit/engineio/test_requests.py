"""Engine.IO request validation, a pure function of the request (JS ``Server.verify`` and
``handshake``): a table of requests and what JS engine.io 6 refuses them with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from socketwire.engineio.http import HttpErrorCode
from socketwire.engineio.requests import (
    Refusal,
    allow_request_refusal,
    check_handshake_protocol,
    check_request,
)

BOTH = ("polling", "websocket")


def check(
    query: dict[str, str],
    *,
    method: str = "GET",
    origin: str | None = None,
    upgrade: bool = False,
    transports: tuple[str, ...] = BOTH,
    session: str | None = None,
    protocol: int = 4,
) -> Refusal | None:
    return check_request(
        method=method,
        query=query,
        origin=origin,
        upgrade=upgrade,
        transports=transports,
        session_transport=session,
        session_protocol=protocol,
    )


# (query, keyword arguments, code, context); a None code: the request goes on.
CASES: list[tuple[dict[str, str], dict[str, Any], HttpErrorCode | None, dict[str, Any]]] = [
    # handshakes
    ({"EIO": "4", "transport": "polling"}, {}, None, {}),
    ({"EIO": "4", "transport": "websocket"}, {"upgrade": True}, None, {}),
    ({"EIO": "4"}, {}, HttpErrorCode.UNKNOWN_TRANSPORT, {"transport": None}),
    (
        {"EIO": "4", "transport": "flashsocket"},
        {},
        HttpErrorCode.UNKNOWN_TRANSPORT,
        {"transport": "flashsocket"},
    ),
    (
        {"EIO": "4", "transport": "websocket"},
        {"transports": ("polling",), "upgrade": True},
        HttpErrorCode.UNKNOWN_TRANSPORT,
        {"transport": "websocket"},
    ),
    (
        {"EIO": "4", "transport": "polling"},
        {"origin": "http://a\x00b"},
        HttpErrorCode.BAD_REQUEST,
        {"name": "INVALID_ORIGIN", "origin": "http://a\x00b"},
    ),
    (
        {"EIO": "4", "transport": "polling"},
        {"method": "POST"},
        HttpErrorCode.BAD_HANDSHAKE_METHOD,
        {"method": "POST"},
    ),
    (
        {"EIO": "4", "transport": "websocket"},
        {},
        HttpErrorCode.BAD_REQUEST,
        {"name": "TRANSPORT_HANDSHAKE_ERROR"},
    ),
    # the protocol revision of a handshake is checked later (check_handshake_protocol)
    ({"EIO": "3", "transport": "polling"}, {}, None, {}),
    # requests of a session
    ({"EIO": "4", "transport": "polling", "sid": "s"}, {"session": "polling"}, None, {}),
    (
        {"EIO": "4", "transport": "polling", "sid": "s"},
        {"method": "POST", "session": "polling"},
        None,
        {},
    ),
    (
        {"EIO": "4", "transport": "polling", "sid": "gone"},
        {},
        HttpErrorCode.UNKNOWN_SID,
        {"sid": "gone"},
    ),
    (
        {"EIO": "4", "transport": "polling", "sid": "s"},
        {"session": "websocket"},
        HttpErrorCode.BAD_REQUEST,
        {"name": "TRANSPORT_MISMATCH", "transport": "polling", "previousTransport": "websocket"},
    ),
    # an upgrade may name another transport than the session's
    (
        {"EIO": "4", "transport": "websocket", "sid": "s"},
        {"upgrade": True, "session": "polling"},
        None,
        {},
    ),
    (
        {"EIO": "3", "transport": "polling", "sid": "s"},
        {"session": "polling"},
        HttpErrorCode.BAD_REQUEST,
        {"name": "PROTOCOL_MISMATCH", "protocol": 3, "previousProtocol": 4},
    ),
    # a v3 session (allow_eio3) goes on with EIO=3, or with no EIO at all, as in JS
    (
        {"EIO": "3", "transport": "polling", "sid": "s"},
        {"session": "polling", "protocol": 3},
        None,
        {},
    ),
    ({"transport": "polling", "sid": "s"}, {"session": "polling", "protocol": 3}, None, {}),
    (
        {"EIO": "4", "transport": "websocket", "sid": "s"},
        {"upgrade": True, "session": "polling", "protocol": 3},
        HttpErrorCode.BAD_REQUEST,
        {"name": "PROTOCOL_MISMATCH", "protocol": 4, "previousProtocol": 3},
    ),
    # WebTransport sessions never start with an HTTP request
    (
        {"EIO": "4", "transport": "webtransport"},
        {"transports": ("polling", "webtransport")},
        HttpErrorCode.UNKNOWN_TRANSPORT,
        {"transport": "webtransport"},
    ),
    # checked in JS's order: the transport first, then the origin, then the session
    (
        {"transport": "nope", "sid": "gone"},
        {"origin": "\x7f"},
        HttpErrorCode.UNKNOWN_TRANSPORT,
        {"transport": "nope"},
    ),
    (
        {"transport": "polling", "sid": "gone"},
        {"origin": "\x7f"},
        HttpErrorCode.BAD_REQUEST,
        {"name": "INVALID_ORIGIN", "origin": "\x7f"},
    ),
]


@pytest.mark.parametrize(("query", "kwargs", "code", "context"), CASES)
def test_check_request(
    query: dict[str, str],
    kwargs: dict[str, Any],
    code: HttpErrorCode | None,
    context: dict[str, Any],
) -> None:
    refusal = check(query, **kwargs)
    if code is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert (refusal.code, dict(refusal.context)) == (code, context)


def test_messages_and_answers_are_js_ones() -> None:
    refusal = check({"EIO": "4", "transport": "polling", "sid": "gone"})
    assert refusal is not None
    assert refusal.message == "Session ID unknown"
    answer = refusal.answer(upgrade=False)
    assert answer.status == 400
    assert answer.content_type == "application/json"
    assert json.loads(answer.body) == {"code": 1, "message": "Session ID unknown"}
    upgrade = refusal.answer(upgrade=True)
    assert (upgrade.status, upgrade.body) == (400, b"Session ID unknown")


@pytest.mark.parametrize(
    ("result", "message", "body"),
    [
        (False, "Forbidden", {"code": 4, "message": "Forbidden"}),
        ((False, "no thanks"), "no thanks", {"code": 4, "message": "no thanks"}),
        ((False, ""), "Forbidden", {"code": 4, "message": "Forbidden"}),
    ],
)
def test_allow_request_refusal(
    result: bool | tuple[bool, str], message: str, body: dict[str, Any]
) -> None:
    refusal = allow_request_refusal(result)
    assert refusal is not None
    assert refusal.code is HttpErrorCode.FORBIDDEN
    assert refusal.message == message
    answer = refusal.answer(upgrade=False)
    assert answer.status == 403
    assert json.loads(answer.body) == body


@pytest.mark.parametrize("result", [True, (True, ""), (True, "ignored")])
def test_allow_request_allows(result: bool | tuple[bool, str]) -> None:
    assert allow_request_refusal(result) is None


@pytest.mark.parametrize(
    ("query", "refused"),
    [({"EIO": "4"}, False), ({"EIO": "3"}, True), ({}, True), ({"EIO": "5"}, True)],
)
def test_check_handshake_protocol(query: dict[str, str], refused: bool) -> None:
    refusal = check_handshake_protocol(query)
    if not refused:
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.code is HttpErrorCode.UNSUPPORTED_PROTOCOL_VERSION
        # JS reports the revision it computed: anything but EIO=4 is v3
        assert refusal.context == {"protocol": 3}
        assert check_handshake_protocol(query, allow_eio3=True) is None
