"""Reading a request body within a size limit and a time limit, for plumbings that do not
parse HTTP themselves (the ASGI app, the aiohttp integration).

The plumbing supplies the chunks; this module holds the rules of
[`HttpRequest.read_body()`][socketwire.io.http.HttpRequest.read_body], so every plumbing refuses the
same bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .http import BodyTimeoutError, BodyTooLargeError

__all__ = ["NextChunk", "declared_too_large", "read_limited"]

#: Returns the next chunk of the body, or None once the body is complete. It raises
#: [`ClientDisconnectedError`][socketwire.io.http.ClientDisconnectedError] when the client went
#: away.
NextChunk = Callable[[], Awaitable[bytes | None]]


def declared_too_large(content_length: str | None, limit: int) -> bool:
    """True when a ``Content-Length`` header announces more than ``limit`` bytes.

    Checked before reading anything, so an oversized body is refused without receiving it.
    """
    return content_length is not None and content_length.isdigit() and int(content_length) > limit


async def read_limited(next_chunk: NextChunk, limit: int, time_limit: float) -> bytes:
    """Read a whole body from ``next_chunk``.

    Raises:
        BodyTooLargeError: more than ``limit`` bytes arrived; the caller should answer 413
            and close the connection (the rest of the body was not read).
        BodyTimeoutError: the body was not complete within ``time_limit`` seconds; the caller
            should close the connection after its response.
        ClientDisconnectedError: raised by ``next_chunk``, passed on.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(time_limit):
            while (chunk := await next_chunk()) is not None:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLargeError
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeoutError from None
    return b"".join(chunks)
