"""``AsyncClient``: the Socket.IO client on asyncio (socket.io-client's ``io()``).

One client connects one or more namespaces of one server. Its namespaces share one
[`Manager`][socketwire.client.manager.Manager] (one Engine.IO connection); with ``multiplex``
(the default, as in JS) clients of the same event loop and server share a Manager too,
unless one of their namespaces is already there or ``force_new`` is set.

The client's own ``on``/``emit``/... methods are those of its main namespace ``"/"``;
[`AsyncClient.socket()`][AsyncClient.socket] gives the others. Manager events
(``reconnect_attempt``, ``reconnect``, ``reconnect_error``, ``reconnect_failed``, ``open``,
``close``, ``error``, ``ping``) registered with [`AsyncClient.on()`][AsyncClient.on] go to the
Manager.

[`AsyncClient.connect()`][AsyncClient.connect] fails fast by default, as python-socketio's:
the first failed attempt raises. ``connect(url, retry=True)`` keeps trying, as
socket.io-client does.

For example:

```python
client = socketwire.AsyncClient(reconnection_delay=0.5)

@client.on("chat")
async def chat(text):
    return "got it"            # the ack, when the server asked for one

await client.connect("http://127.0.0.1:3000", namespaces=["/", "/admin"])
reply = await client.timeout(2).emit_with_ack("hello", b"\\x00binary")
await client.socket("/admin").emit_with_ack("stats")
await client.disconnect()
```
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import ssl as ssl_module
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from socketwire.client.errors import ConnectError
from socketwire.client.main_socket import MANAGER_EVENTS, MainSocketMethods
from socketwire.client.manager import Manager, ReadyState
from socketwire.client.options import ManagerOptions, make_parser
from socketwire.client.socket import Auth, ClientSocket
from socketwire.engineio.client_session import DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_MESSAGE_SIZE
from socketwire.io.client_network import Proxy
from socketwire.io.client_websocket import WebSocketFactory
from socketwire.socketio import Parser

__all__ = ["MANAGER_EVENTS", "AsyncClient"]

_SCHEMES = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_UNSET: Any = object()

# Managers shared by the clients of one loop (socket.io-client's ``cache``).
_CACHE: weakref.WeakValueDictionary[tuple[int, str], Manager] = weakref.WeakValueDictionary()


def _manager_key(url: str, path: str) -> str:
    # JS url(): "protocol://host:port" + path, with the default port made explicit.
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES or not parts.hostname:
        raise ValueError(f"unsupported URL {url!r}: use http, https, ws or wss")
    port = parts.port or _SCHEMES[scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}:{port}{path}"


class AsyncClient(MainSocketMethods):
    """A Socket.IO client on asyncio (socket.io-client 4.8).

    Options that socket.io-client reads with ``||`` read 0 and None the same way here: see
    [`socketwire.client.options`][socketwire.client.options].

    Args:
        reconnection: reconnect after an unexpected disconnection.
        reconnection_attempts: attempts before ``reconnect_failed`` (``math.inf``, 0 or
            None: no end).
        reconnection_delay: the first delay before reconnecting, in seconds (0 or None:
            1 s).
        reconnection_delay_max: the largest delay, in seconds (0 or None: 5 s).
        randomization_factor: jitter of the delays, in ``[0, 1]`` (None: 0.5).
        timeout: seconds allowed for each Engine.IO connection attempt (None: 20 s;
            False: no limit).
        parser: ``"json"`` (default) or ``"msgpack"`` (socket.io-msgpack-parser), or a parser.
        retries: resend an acknowledged emit up to this many times: every non-volatile emit
            then waits for the server's ack, one at a time, in order (at-least-once).
        ack_timeout: default seconds to wait for an acknowledgement (None: forever).
        transports: transports to use, the first one to connect with.
        upgrade: probe the WebSocket after a polling handshake.
        path: the Socket.IO endpoint path.
        auth: sent with CONNECT: a dict, or a callable returning one (or an awaitable of
            one), called on every connection attempt (plain callables run on the loop).
        max_buffered_packets: bound on each namespace's send buffer (emits while
            disconnected) and retry queue; past it, emits raise ``BufferFullError``.
        max_message_size: the largest message accepted from the server, in bytes; a larger
            one drops the connection (``"transport error"``), then reconnection follows.
        max_buffered_bytes: the bound on outgoing bytes waiting for the transport (a server
            that stops reading); crossing it drops the connection (``"transport error"``).
        headers: extra headers of every request and of the WebSocket handshake.
        query: extra query parameters.
        ssl: TLS context for https/wss (None: the system's certificate authorities; pass
            ``ssl.create_default_context(cafile=...)`` for a private CA).
        with_credentials: keep cookies (a load balancer's, the server's) and send them
            with every request and the WebSocket handshake (JS ``withCredentials``).
        proxy: True (default): ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``; a URL: that
            HTTP proxy; None or False: none.
        protocols: WebSocket subprotocols to offer.
        timestamp_requests: cache-busting ``t`` parameter: None on polling only, True on
            the WebSocket too, False nowhere.
        transport_options: per transport, extra ``headers`` and ``query``:
            ``{"websocket": {"headers": {...}}}``.
        remember_upgrade: after a WebSocket worked, reconnect with the WebSocket directly.
        try_all_transports: when the first transport fails, try the next one.
        auto_connect: a socket created with [`socket()`][socket] while the client is connected
            (or connecting) connects at once (JS ``autoConnect``).
        force_new: always use a new Manager (JS ``forceNew``).
        multiplex: share the Manager of another client of the same server (JS default).
        websocket_factory: builds each WebSocket connection (None: over the network;
            ``socketwire.testing.TestClient`` passes one that reaches a server in memory).
    """

    def __init__(
        self,
        *,
        reconnection: bool = True,
        reconnection_attempts: float | None = math.inf,
        reconnection_delay: float | None = 1.0,
        reconnection_delay_max: float | None = 5.0,
        randomization_factor: float | None = 0.5,
        timeout: float | None = 20.0,
        parser: str | Parser | None = None,
        retries: int = 0,
        ack_timeout: float | None = None,
        transports: Sequence[str] = ("polling", "websocket"),
        upgrade: bool = True,
        path: str = "/socket.io",
        auth: Auth = None,
        max_buffered_packets: int = 1000,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        with_credentials: bool = True,
        proxy: Proxy = True,
        protocols: Sequence[str] = (),
        timestamp_requests: bool | None = None,
        transport_options: Mapping[str, Mapping[str, Any]] | None = None,
        remember_upgrade: bool = False,
        try_all_transports: bool = False,
        auto_connect: bool = True,
        force_new: bool = False,
        multiplex: bool = True,
        websocket_factory: WebSocketFactory | None = None,
    ) -> None:
        make_parser(parser)  # fail early on an unknown name
        if retries < 0 or max_buffered_packets < 1:
            raise ValueError("retries must be >= 0 and max_buffered_packets >= 1")
        self._options = ManagerOptions(
            path=path,
            transports=tuple(transports),
            upgrade=upgrade,
            query=dict(query or {}),
            headers=dict(headers or {}),
            ssl=ssl,
            timeout=timeout,
            reconnection=reconnection,
            reconnection_attempts=reconnection_attempts,
            reconnection_delay=reconnection_delay,
            reconnection_delay_max=reconnection_delay_max,
            randomization_factor=randomization_factor,
            parser=parser,
            max_message_size=max_message_size,
            max_buffered_bytes=max_buffered_bytes,
            with_credentials=with_credentials,
            proxy=proxy,
            protocols=tuple(protocols),
            timestamp_requests=timestamp_requests,
            transport_options=dict(transport_options or {}),
            remember_upgrade=remember_upgrade,
            try_all_transports=try_all_transports,
            auto_connect=auto_connect,
            websocket_factory=websocket_factory,
        )
        self._socket_options: dict[str, Any] = {
            "retries": retries,
            "ack_timeout": ack_timeout,
            "max_buffered_packets": max_buffered_packets,
        }
        self._auth = auth
        self._force_new = force_new
        self._multiplex = multiplex
        self._sockets: dict[str, ClientSocket] = {}
        self._namespaces: list[str] = []
        # Manager event handlers registered on the client: (event, handler, once).
        self._manager_handlers: list[tuple[str, Callable[..., Any], bool]] = []
        #: The Manager of the current connection (None before [`connect()`][connect]).
        self.io: Manager | None = None
        self.socket("/")

    def __repr__(self) -> str:
        return f"<AsyncClient {self._namespaces} connected={self.connected}>"

    # -- namespaces --------------------------------------------------------------------
    def socket(self, nsp: str = "/") -> ClientSocket:
        """The socket of namespace ``nsp``, created if new.

        [`connect()`][connect] connects the namespaces it lists. A new socket asked for while the
        client is connected (or connecting) joins at once with ``auto_connect`` (the
        default, as in JS; then call this on the event loop), else with its own
        ``connect()``.
        """
        if not nsp.startswith("/"):
            raise ValueError(f"a namespace starts with '/': {nsp!r}")
        sock = self._sockets.get(nsp)
        if sock is None:
            sock = ClientSocket(None, nsp, auth=self._auth, **self._socket_options)
            self._sockets[nsp] = sock
            if self.io is not None:
                self._attach(self.io, sock)
                live = any(s.active for s in self._sockets.values())
                if self._options.auto_connect and live:
                    sock.connect()
        return sock

    @property
    def main(self) -> ClientSocket:
        """The socket of the main namespace ``"/"`` (the target of this object's emits)."""
        return self._sockets["/"]

    @property
    def connected(self) -> bool:
        """Every namespace given to [`connect()`][connect] is connected."""
        return bool(self._namespaces) and all(
            self._sockets[nsp].connected for nsp in self._namespaces
        )

    @property
    def id(self) -> str | None:
        """The id of the main namespace's socket (None when not connected)."""
        return self.main.id

    @property
    def recovered(self) -> bool:
        """The main namespace recovered its session on the last connection."""
        return self.main.recovered

    # -- connection --------------------------------------------------------------------
    async def connect(
        self,
        url: str,
        *,
        namespaces: Iterable[str] | None = None,
        auth: Auth = _UNSET,
        transports: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        retry: bool = False,
    ) -> None:
        """Connect ``namespaces`` (default: the URL's path, else ``"/"``) over one connection.

        By default the first failed attempt raises (as python-socketio's ``connect``): a
        server that is down, refuses, or does not answer within ``timeout`` is an error at
        once, with nothing left running. With ``retry=True`` the client keeps trying in the
        background with the reconnection back-off, as socket.io-client does, each failure
        logged at WARNING (``connect_error`` handlers see them too), until connected, until
        ``wait_timeout``, or until ``reconnection_attempts`` run out. Once connected, a lost
        connection is re-established with the back-off either way.

        Args:
            url: the server, ``http(s)://host:port`` (or ``ws(s)://``).
            namespaces: the namespaces to connect.
            auth: replaces the constructor's ``auth`` for these namespaces.
            transports: replaces the constructor's ``transports``.
            headers: replaces the constructor's ``headers``.
            wait: wait until every namespace is connected (False: return at once; the
                outcome goes to the ``connect`` and ``connect_error`` handlers).
            wait_timeout: seconds to wait (None: as long as the attempt, or with ``retry``
                the attempts, go on).
            retry: keep trying after a failed attempt instead of raising.

        Raises:
            TransportError: the connection failed (a ``ConnectError``; ``message`` is
                engine.io-client's, ``"xhr poll error"`` or ``"websocket error"``, and
                ``description`` the cause).
            ConnectError: a namespace was refused (``message`` and ``data`` are the
                middleware's), or the attempt timed out (``"timeout"``), or with ``retry``
                the attempts ran out, or ``wait_timeout`` elapsed (the last error is then
                its ``__cause__``). The client is then disconnected.
            RuntimeError: the client is already connected or connecting.
            ValueError: an unsupported URL.
        """
        if any(s.active for s in self._sockets.values()):
            raise RuntimeError("the client is already connected or connecting")
        if namespaces is None:
            path = urlsplit(url).path
            namespaces = [path if path not in ("", "/") else "/"]
        names = list(dict.fromkeys(namespaces))
        if not names:
            raise ValueError("no namespace to connect")
        options = self._options
        if transports is not None:
            options = dataclasses.replace(options, transports=tuple(transports))
        if headers is not None:
            options = dataclasses.replace(options, headers=dict(headers))
        key = _manager_key(url, options.path)
        parts = urlsplit(url)
        # The path names a namespace; the query goes to every request, as in JS.
        origin = f"{parts.scheme}://{parts.netloc}" + (f"?{parts.query}" if parts.query else "")
        manager = self._lookup(key, origin, names, options)
        self.io = manager
        self._register_manager_handlers(manager)
        self._namespaces = names
        sockets = [self.socket(nsp) for nsp in names]
        for sock in sockets:
            self._attach(manager, sock)
        if not retry and manager.ready_state is ReadyState.CLOSED and not manager.reconnecting:
            # JS open(callback): with a callback, a failed attempt starts no reconnection.
            manager.open(lambda error: None)
        for sock in sockets:
            if auth is not _UNSET:
                sock.auth = auth
            sock.connect_error = None
            sock.connect()
        if not wait:
            return
        try:
            async with asyncio.timeout(wait_timeout):
                for sock in sockets:
                    await sock.wait_connected(retry=retry)
        except TimeoutError:
            last = next((s.connect_error for s in sockets if s.connect_error is not None), None)
            await self.disconnect()
            raise ConnectError(f"not connected within {wait_timeout} s") from last
        except ConnectError:
            await self.disconnect()
            raise

    def _register_manager_handlers(self, manager: Manager) -> None:
        for event, handler, once in list(self._manager_handlers):
            if handler in manager.listeners(event):
                continue
            if once:
                manager.once(event, handler)
                self._manager_handlers.remove((event, handler, once))
            else:
                manager.on(event, handler)

    def _lookup(self, key: str, origin: str, names: list[str], options: ManagerOptions) -> Manager:
        loop = asyncio.get_running_loop()
        cache_key = (id(loop), key)
        cached = _CACHE.get(cache_key)
        if cached is not None and cached.loop is not loop and cached.loop is not None:
            cached = None  # a Manager of a loop that is gone
        mine = [s for s in self._sockets.values() if s.manager is not None]
        if mine and mine[0].manager is cached and cached is not None:
            return cached  # reconnecting this client on its own Manager
        shared = any(nsp in cached.nsps for nsp in names) if cached is not None else False
        if self._force_new or not self._multiplex or shared:
            return Manager(origin, options)
        if cached is None:
            cached = Manager(origin, options)
            _CACHE[cache_key] = cached
        return cached

    def _attach(self, manager: Manager, sock: ClientSocket) -> None:
        if sock.manager is manager:
            return
        if sock.manager is not None and sock.manager.nsps.get(sock.nsp) is sock:
            del sock.manager.nsps[sock.nsp]
        sock.manager = manager
        manager.nsps[sock.nsp] = sock

    async def disconnect(self) -> None:
        """Leave every namespace of this client (no reconnection) and, when no other
        client shares the Manager, close the connection and wait until it is released."""
        manager = self.io
        for sock in self._sockets.values():
            if sock.active:
                sock.disconnect()
        if manager is not None:
            busy = manager.ready_state is not ReadyState.CLOSED or manager.reconnecting
            if busy and not any(s.active for s in manager.nsps.values()):
                manager.close()
            await manager.aclose()

    async def wait(self) -> None:
        """Wait until the client is done: every namespace disconnected (by either side), or
        the connection lost with no reconnection coming (``reconnect_failed``, or
        ``reconnection=False``)."""
        while not self._finished():
            assert self.io is not None
            await self.io.wait_changed()

    def _finished(self) -> bool:
        manager = self.io
        if manager is None:
            return True
        sockets = [self._sockets[nsp] for nsp in self._namespaces]
        if not any(s.active for s in sockets):
            return True
        return manager.ready_state is ReadyState.CLOSED and not manager.reconnecting

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()
