"""The channel between the Engine.IO servers of a cluster's nodes, and the requests on it.

[`NodeChannel`][NodeChannel] is what a cluster adapter gives the Engine.IO server to reach
the other nodes (the Redis adapters' is `socketwire.adapters.redis_forwarding`);
[`describe()`][describe] turns a request into the message that carries it to the node owning
its session, and [`RelayedRequest`][RelayedRequest] is that message as the owner's Engine.IO
server sees it. The forwarding itself is `socketwire.io.forwarding`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable
from urllib.parse import unquote

from socketwire.engineio.forwarding import HttpRequestMessage
from socketwire.engineio.options import EngineOptions
from socketwire.io.http import (
    BodyTooLargeError,
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
    first_values,
    join_headers,
)

__all__ = [
    "ForwardStats",
    "ForwardingEngine",
    "NodeChannel",
    "NodeChannelSource",
    "RelayedRequest",
    "Sent",
    "describe",
]

#: Headers that concern one connection only (RFC 9110 section 7.6.1), and the body length
#: (the body travels whole): not forwarded.
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: ``done(receivers)`` after a publish: how many nodes got it (0: nobody listens), or None
#: when it could not be sent.
Sent = Callable[[int | None], None]


class NodeChannel(Protocol):
    """How the Engine.IO servers of a cluster reach one another: one channel per node.

    A cluster adapter that can carry forwarded requests offers one
    ([`NodeChannelSource`][NodeChannelSource]).
    """

    async def subscribe(self, node: str, receive: Callable[[bytes], None]) -> None:
        """Listen on the channel of ``node`` (this node's id); every message goes to
        ``receive``. Raises when the broker cannot be reached."""

    def publish(self, node: str, data: bytes, done: Sent) -> None:
        """Send ``data`` on node ``node``'s channel, in order with every earlier publish;
        ``done`` gets how many received it, or None when it cannot be sent. Never raises."""

    async def listeners(self, node: str) -> int | None:
        """How many listen on node ``node``'s channel now (None: cannot be known now)."""

    async def close(self) -> None:
        """Stop listening and let go of the broker connection."""


@runtime_checkable
class NodeChannelSource(Protocol):
    """An adapter factory whose adapters' broker can carry forwarded requests."""

    def node_channel(self) -> NodeChannel:
        """A channel for this server's Engine.IO server (one per server)."""


class ForwardingEngine(Protocol):
    """What the forwarder needs of its Engine.IO server."""

    @property
    def sid_prefix(self) -> str:
        """This node's id: what its session ids start with."""

    @property
    def options(self) -> EngineOptions:
        """The server's options (the limits and timeouts)."""

    def owns(self, path: str) -> bool:
        """Whether the server answers ``path``."""

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer a polling request."""

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        """Accept or refuse an upgrade."""


@dataclass
class ForwardStats:
    """What one node's forwarder did (read them; it updates them).

    Attributes:
        forwarded: Polling requests sent to their owner.
        tunnels: WebSocket upgrades accepted by their owner (tunnels opened here).
        served: Polling requests answered for other nodes.
        served_tunnels: Tunnels other nodes opened to sessions here.
        unreachable: Requests whose owner was gone (nobody listened, or it left).
        timeouts: Requests whose owner did not answer in time.
        refused: Requests refused because `MAX_PENDING` were under way.
        malformed: Messages dropped as malformed, too large, or not for this node.
    """

    forwarded: int = 0
    tunnels: int = 0
    served: int = 0
    served_tunnels: int = 0
    unreachable: int = 0
    timeouts: int = 0
    refused: int = 0
    malformed: int = 0

    def summary(self) -> str:
        """One line for the logs."""
        return (
            f"forwarded {self.forwarded} request(s) and {self.tunnels} WebSocket(s) to "
            f"other nodes, served {self.served} request(s) and {self.served_tunnels} "
            f"WebSocket(s) for them; {self.unreachable + self.timeouts} request(s) found "
            f"their node gone or silent"
        )


class RelayedRequest:
    """A request another node forwarded, as this node's Engine.IO server sees it
    (an [`HttpRequest`][socketwire.io.http.HttpRequest], with ``disconnected_future``)."""

    __slots__ = (
        "_body",
        "_gone",
        "_query",
        "_query_string",
        "headers",
        "method",
        "path",
        "raw_path",
        "remote_addr",
        "secure",
    )

    def __init__(self, message: HttpRequestMessage, loop: asyncio.AbstractEventLoop) -> None:
        self.method = message.method
        self.raw_path = message.target
        path, _, query = message.target.partition("?")
        path = path.partition("#")[0]
        self.path = unquote(path) if "%" in path else path
        self._query_string = query.partition("#")[0]
        self._query: dict[str, str] | None = None
        self.headers: Mapping[str, str] = join_headers(message.headers)
        self.remote_addr = message.remote
        self.secure = message.secure
        self._body = message.body
        self._gone: asyncio.Future[None] = loop.create_future()

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, first value of each."""
        if self._query is None:
            self._query = first_values(self._query_string)
        return self._query

    async def read_body(self, limit: int) -> bytes:
        """The body that came with the request (see ``HttpRequest.read_body``)."""
        if len(self._body) > limit:
            raise BodyTooLargeError
        return self._body

    async def wait_disconnected(self) -> None:
        """Return when the opener says the client left (or the opener is gone)."""
        await asyncio.shield(self._gone)

    def disconnected_future(self) -> asyncio.Future[None]:
        """Done when the client left; never cancel it."""
        return self._gone

    @property
    def aborted(self) -> bool:
        """Whether the client left."""
        return self._gone.done()

    def abort(self) -> None:
        """The client left (or its node is gone)."""
        if not self._gone.done():
            self._gone.set_result(None)


def describe(request: HttpRequest, body: bytes) -> HttpRequestMessage:
    """``request`` as the message that carries it to its owner (without the headers that
    concern one connection only), with its ``body``."""
    headers = tuple(
        (name, value) for name, value in request.headers.items() if name not in _HOP_BY_HOP
    )
    return HttpRequestMessage(
        request.method, request.raw_path, headers, body, request.remote_addr, request.secure
    )
