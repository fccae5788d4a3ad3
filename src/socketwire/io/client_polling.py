"""HTTP long-polling for the Engine.IO client, on aiohttp.

Why aiohttp rather than httpx: aiohttp's connector keeps HTTP/1.1 connections alive and
reuses them across the endless GET/POST cycle of long-polling, with no extra layer
(httpx goes through httpcore and anyio); its ``ClientTimeout`` separates the connect
timeout (which we want) from the read timeout (which we do not want on a long-poll: the
session's ping deadline bounds a stuck GET); and its response stream lets us read a body
chunk by chunk and stop at a size limit, after transparent gzip/deflate decoding, so a
hostile server cannot make the client buffer more than ``max_body`` bytes.

One [`PollingChannel`][PollingChannel] per session, with two tasks at most: the poller (one GET at a
time, started on demand by the session's ``StartPoll``) and the poster (POST bodies in
order). Results go back through a [`PollingListener`][PollingListener].
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractCookieJar

__all__ = ["PollingChannel", "PollingListener"]

# How much of an error body to quote in a failure description.
_ERROR_SNIPPET = 200


class PollingListener(Protocol):
    """Receives what the polling channel observed (the session's polling inputs)."""

    def poll_response(self, body: bytes) -> None:
        """A GET answered 200 with ``body``."""

    def poll_failed(self, description: str) -> None:
        """A GET failed."""

    def post_done(self) -> None:
        """A POST answered 200."""

    def post_failed(self, description: str) -> None:
        """A POST failed."""


class _BodyTooLargeError(Exception):
    pass


class PollingChannel:
    """Long-polling requests for one Engine.IO session.

    Args:
        url: returns the URL for the next request (query included).
        listener: receives the results.
        headers: extra request headers.
        ssl: TLS context for https (None: default verification).
        timeout: seconds to connect, and for a whole POST (None: no limit).
        max_body: the most bytes read from one GET response.
        cookie_jar: the jar whose cookies go with every request and which keeps those of
            the responses (see [`socketwire.io.client_network`][socketwire.io.client_network]).
        proxy: the proxy URL (None: a direct connection).
    """

    def __init__(
        self,
        *,
        url: Callable[[], str],
        listener: PollingListener,
        headers: Mapping[str, str],
        ssl: ssl_module.SSLContext | None,
        timeout: float | None,
        max_body: int,
        cookie_jar: AbstractCookieJar,
        proxy: str | None = None,
    ) -> None:
        self._url = url
        self._listener = listener
        self._headers = dict(headers)
        self._timeout = timeout
        self._max_body = max_body
        self._proxy = proxy
        # One connector: HTTP/1.1 keep-alive, at most one GET and one POST at a time.
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl if ssl is not None else True, limit=4),
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout),
            cookie_jar=cookie_jar,
            # The proxy is resolved once for both transports (client_network), not here.
            trust_env=False,
        )
        self._poll_wanted = asyncio.Event()
        self._posts: deque[str] = deque()
        self._post_wanted = asyncio.Event()
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._poster: asyncio.Task[None] | None = None
        self._stopped: asyncio.Task[None] | None = None

    def start_poll(self) -> None:
        """Send one GET (the session never asks for a second before the first ends)."""
        if self._stopping:
            return
        self._poll_wanted.set()
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop())

    def post(self, body: str) -> None:
        """POST ``body`` after the POSTs already queued."""
        if self._stopping:
            return
        self._posts.append(body)
        self._post_wanted.set()
        if self._poster is None:
            self._poster = asyncio.get_running_loop().create_task(self._post_loop())

    def stop(self) -> None:
        """Abort the GET, finish queued POSTs (each bounded by ``timeout``), release all."""
        if not self._stopping:
            self._stopping = True
            self._post_wanted.set()
            self._stopped = asyncio.get_running_loop().create_task(self._stop())

    async def aclose(self) -> None:
        """Stop, and wait until every request ended and the connections are closed."""
        self.stop()
        assert self._stopped is not None
        await asyncio.shield(self._stopped)

    async def _stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._poster is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._poster
        await self._http.close()

    async def _poll_loop(self) -> None:
        while not self._stopping:
            await self._poll_wanted.wait()
            self._poll_wanted.clear()
            try:
                body = await self._get()
            except asyncio.CancelledError:
                raise
            except _BodyTooLargeError:
                self._listener.poll_failed(f"response body over {self._max_body} bytes")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self._listener.poll_failed(_describe(exc))
            else:
                self._listener.poll_response(body)

    async def _get(self) -> bytes:
        async with self._http.get(
            self._url(), headers=self._headers, proxy=self._proxy
        ) as response:
            if response.status != 200:
                snippet = await response.content.read(_ERROR_SNIPPET)
                raise aiohttp.ClientResponseError(
                    response.request_info,
                    (),
                    status=response.status,
                    message=snippet.decode("utf-8", "replace"),
                )
            length = response.content_length
            if length is not None and length > self._max_body:
                raise _BodyTooLargeError
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > self._max_body:
                    raise _BodyTooLargeError
            return bytes(body)

    async def _post_loop(self) -> None:
        headers = {**self._headers, "Content-Type": "text/plain;charset=UTF-8"}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        while True:
            if not self._posts:
                if self._stopping:
                    return
                self._post_wanted.clear()
                await self._post_wanted.wait()
                continue
            body = self._posts.popleft().encode("utf-8")
            try:
                async with self._http.post(
                    self._url(), data=body, headers=headers, timeout=timeout, proxy=self._proxy
                ) as response:
                    await response.read()
                    if response.status != 200:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status
                        )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self._listener.post_failed(_describe(exc))
            else:
                self._listener.post_done()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}".strip()
    if isinstance(exc, TimeoutError):
        return "timeout"
    return str(exc) or type(exc).__name__
