"""EngineOptions: defaults, normalisation and validation."""

from __future__ import annotations

from typing import Any

import pytest

from socketwire.engineio import CookieOptions, EngineOptions


def test_defaults_are_js_defaults() -> None:
    options = EngineOptions()
    assert options.path == "/engine.io/"
    assert (options.ping_interval, options.ping_timeout, options.upgrade_timeout) == (25, 20, 10)
    assert options.max_http_buffer_size == 1_000_000
    assert options.transports == ("polling", "websocket")
    assert options.cookie_options is None
    assert options.cors is None
    assert options.http_compression
    assert options.compression_threshold == 1024
    assert not options.per_message_deflate


@pytest.mark.parametrize(
    ("path", "normalised"),
    [("/engine.io", "/engine.io/"), ("/socket.io/", "/socket.io/"), ("/x//", "/x/"), ("/", "/")],
)
def test_path(path: str, normalised: str) -> None:
    assert EngineOptions(path=path).path == normalised


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ping_interval": 0},
        {"ping_timeout": -1},
        {"upgrade_timeout": float("inf")},
        {"forward_timeout": 0},
        {"max_http_buffer_size": 0},
        {"max_http_buffer_size": True},
        {"max_buffered_bytes": 1.5},
        {"compression_threshold": -1},
        {"transports": ()},
        {"transports": ("polling", "flashsocket")},
        {"path": "engine.io"},
        {"initial_packet": 3},
        {"cookie": "yes"},
        {"cors": {"origin": "*"}},
        {"cookie": {"name": "bad name"}},
        {"cookie": {"sameSite": "sometimes"}},
    ],
)
def test_invalid(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        EngineOptions(**kwargs)


@pytest.mark.parametrize(
    ("cookie", "header"),
    [
        (True, "io=SID; Path=/; HttpOnly; SameSite=Lax"),
        ({"name": "x", "httpOnly": False, "sameSite": "none", "secure": True}, None),
        (CookieOptions(path=None, max_age=60, domain="a.example", same_site=None), None),
    ],
)
def test_cookie(cookie: Any, header: str | None) -> None:
    options = EngineOptions(cookie=cookie).cookie_options
    assert options is not None
    value = options.serialize("SID")
    if header is not None:
        assert value == header
    elif isinstance(cookie, dict):
        assert value == "x=SID; Path=/; Secure; SameSite=None"
    else:
        assert value == "io=SID; Max-Age=60; Domain=a.example; HttpOnly"


def test_upgrades() -> None:
    assert EngineOptions().upgrades("polling") == ["websocket"]
    assert EngineOptions().upgrades("websocket") == []
    assert EngineOptions(allow_upgrades=False).upgrades("polling") == []
