"""What the client's two transports share on the network: the proxy and the cookies.

Both transports of one session go through the same proxy and carry the same cookies, so
that a load balancer pinning sessions by cookie, or a proxy in front of the server, sees one
client: the polling requests (aiohttp) and the WebSocket handshake (websockets).

Proxies
    ``proxy=True`` (the default) reads the standard variables, as curl, requests and
    websockets do: ``HTTP_PROXY`` for an ``http``/``ws`` server, ``HTTPS_PROXY`` for an
    ``https``/``wss`` one, ``NO_PROXY`` for the hosts to reach directly (lower-case names
    too; ``urllib.request.getproxies`` and ``proxy_bypass``). A URL string is that proxy,
    ``None`` or ``False`` none. Polling then sends plain HTTP requests to an ``http`` proxy
    (absolute URLs) and tunnels ``https`` with ``CONNECT``; the WebSocket always tunnels
    with ``CONNECT``. Credentials in the proxy URL (``http://user:pass@proxy:3128``) are sent.

Cookies
    A jar (aiohttp's ``aiohttp.CookieJar``) takes the ``Set-Cookie`` headers of every
    response, the WebSocket handshake's included, and its cookies go on every request.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractCookieJar
from yarl import URL

__all__ = ["Proxy", "cookie_header", "new_cookie_jar", "resolve_proxy", "store_cookies"]

#: The ``proxy`` option: True (the environment), a URL, or None/False (no proxy).
Proxy = str | bool | None

_HTTP = {"http": "http", "ws": "http", "https": "https", "wss": "https"}


def resolve_proxy(url: str, proxy: Proxy) -> str | None:
    """The proxy URL to reach ``url`` through, or None for a direct connection.

    Raises:
        ValueError: ``proxy`` is a URL that is not ``http://`` or ``https://``.
    """
    if proxy is None or proxy is False:
        return None
    if isinstance(proxy, str):
        if urlsplit(proxy).scheme not in ("http", "https"):
            raise ValueError(f"unsupported proxy {proxy!r}: use an http:// or https:// URL")
        return proxy
    parts = urlsplit(url)
    scheme = _HTTP.get(parts.scheme.lower(), "http")
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    if urllib.request.proxy_bypass(f"{host}:{port}"):  # NO_PROXY
        return None
    found = urllib.request.getproxies().get(scheme)
    # A SOCKS proxy needs a library neither transport has by default: go direct instead.
    if found is None or urlsplit(found).scheme not in ("http", "https"):
        return None
    return found


def new_cookie_jar(with_credentials: bool) -> AbstractCookieJar:
    """A jar that keeps cookies (for IP-address hosts too), or one that keeps none."""
    if not with_credentials:
        return aiohttp.DummyCookieJar()
    # unsafe: keep cookies set by a server reached by IP address (127.0.0.1, 10.0.0.5).
    return aiohttp.CookieJar(unsafe=True)


def cookie_header(jar: AbstractCookieJar, url: str) -> str | None:
    """The ``Cookie`` header the jar has for ``url`` (a ``ws(s)://`` URL is fine)."""
    cookies = jar.filter_cookies(_as_http(url))
    if not cookies:
        return None
    return "; ".join(f"{name}={morsel.coded_value}" for name, morsel in cookies.items())


def store_cookies(jar: AbstractCookieJar, url: str, set_cookie: Iterable[str]) -> None:
    """Put the cookies of ``Set-Cookie`` header values from ``url``'s response in the jar
    (values the cookie parser rejects are skipped, as a browser skips them)."""
    for value in set_cookie:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(value)
        except CookieError:
            continue
        jar.update_cookies(cookie, _as_http(url))


def _as_http(url: str) -> URL:
    parts = urlsplit(url)
    scheme = _HTTP.get(parts.scheme.lower(), "http")
    return URL(parts._replace(scheme=scheme).geturl())
