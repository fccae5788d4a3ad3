"""The client's proxy resolution, cookie jar helpers and engine event listeners."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from socketwire.io.client_emitter import EngineEmitter
from socketwire.io.client_network import (
    cookie_header,
    new_cookie_jar,
    resolve_proxy,
    store_cookies,
)

VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "WS_PROXY", "WSS_PROXY")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable set, whatever the machine has."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_proxy_from_the_environment_by_scheme(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", "http://plain:3128")
    clean_env.setenv("HTTPS_PROXY", "http://secure:3128")
    assert resolve_proxy("http://example.test:8000", True) == "http://plain:3128"
    assert resolve_proxy("ws://example.test:8000", True) == "http://plain:3128"
    assert resolve_proxy("https://example.test", True) == "http://secure:3128"
    assert resolve_proxy("wss://example.test", True) == "http://secure:3128"


def test_no_proxy_and_explicit_choices(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", "http://plain:3128")
    clean_env.setenv("NO_PROXY", "internal.test,127.0.0.1")
    assert resolve_proxy("http://internal.test:80", True) is None
    assert resolve_proxy("http://127.0.0.1:3000", True) is None
    assert resolve_proxy("http://example.test", True) == "http://plain:3128"
    assert resolve_proxy("http://example.test", None) is None
    assert resolve_proxy("http://example.test", False) is None
    assert resolve_proxy("http://internal.test", "http://mine:1") == "http://mine:1"
    with pytest.raises(ValueError, match="proxy"):
        resolve_proxy("http://example.test", "socks5://mine:1")


def test_no_variable_no_proxy(clean_env: pytest.MonkeyPatch) -> None:
    assert resolve_proxy("http://example.test", True) is None
    clean_env.setenv("HTTP_PROXY", "socks5://s:1080")  # neither transport speaks SOCKS
    assert resolve_proxy("http://example.test", True) is None


async def test_cookie_jar_helpers() -> None:
    jar = new_cookie_jar(True)
    store_cookies(jar, "ws://127.0.0.1:3000/socket.io/", ["io=abc; Path=/", "lb=1; HttpOnly"])
    store_cookies(jar, "http://127.0.0.1:3000/", ["bad cookie without equals sign"])
    header = cookie_header(jar, "wss://127.0.0.1:3000/socket.io/?EIO=4")
    assert header is not None
    assert sorted(header.split("; ")) == ["io=abc", "lb=1"]
    assert cookie_header(jar, "http://127.0.0.2:3000/") is None  # another host
    dummy = new_cookie_jar(False)
    assert isinstance(dummy, aiohttp.DummyCookieJar)
    store_cookies(dummy, "http://127.0.0.1/", ["io=abc"])
    assert cookie_header(dummy, "http://127.0.0.1/") is None


async def test_engine_emitter() -> None:
    emitter = EngineEmitter()
    calls: list[tuple[str, object]] = []
    done = asyncio.Event()

    def every(name: str) -> None:
        calls.append(("every", name))

    async def later(name: str) -> None:
        calls.append(("async", name))
        done.set()

    def failing(name: str) -> None:
        raise RuntimeError("a bug in a listener")

    emitter.on("upgrade", failing)
    emitter.on("upgrade", every)
    emitter.once("upgrade", lambda name: calls.append(("once", name)))
    emitter.on("upgrade", later)
    assert not emitter.wants_verbose()
    emitter.on("drain", every)
    assert emitter.wants_verbose()
    emitter.emit("upgrade", "websocket")  # the failing one is logged, the others run
    emitter.emit("upgrade", "again")
    await asyncio.wait_for(done.wait(), 5)
    assert calls[:2] == [("every", "websocket"), ("once", "websocket")]
    assert ("once", "again") not in calls
    emitter.off("upgrade", every)
    emitter.off("drain")
    assert emitter.listeners("upgrade") == [failing, later]
    assert emitter.listeners("drain") == []
    with pytest.raises(ValueError, match="engine event"):
        emitter.on("upgraded", every)
