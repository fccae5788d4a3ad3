"""The Socket.IO server (JS ``Server``): namespaces over one Engine.IO server.

It is an [`HttpApp`][socketwire.io.http.HttpApp]: serve it with
[`NativeServer`][socketwire.io.native.NativeServer] or [`ASGIApp`][socketwire.ASGIApp].

For example:

```python
sio = socketwire.Server(cors=CorsOptions(origin="*"))

@sio.on("connection")
async def on_connection(socket: socketwire.Socket) -> None:
    @socket.on("chat")
    async def chat(message: str) -> str:
        socket.broadcast.emit("chat", message)
        return "ok"   # the acknowledgement, if the client asked for one
```
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

import orjson

from socketwire.adapters.base import Adapter, AdapterFactory
from socketwire.adapters.defaults import process_default_adapter
from socketwire.adapters.memory import MemoryAdapter, SessionAwareMemoryAdapter
from socketwire.adapters.types import RecoveryOptions
from socketwire.engineio.options import CorsOptions, EngineOptions
from socketwire.handlers import LoopGuard, spawn
from socketwire.io.engine import EngineServer, EngineSocket
from socketwire.io.http import (
    HttpHandler,
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
    WebSocketHandler,
    WebSocketTransport,
)
from socketwire.io.node_channel import NodeChannelSource
from socketwire.server.client import Client
from socketwire.server.counters import ServerCounters
from socketwire.server.namespace import Namespace, ParentNamespace
from socketwire.server.operators import BroadcastOperator, RemoteSocket
from socketwire.server.routes import NamespaceHandlers
from socketwire.server.state import EventBudget
from socketwire.socketio import JsonParser, MsgpackParser, Parser
from socketwire.static import ClientBundle
from socketwire.typed.contract import Contract
from socketwire.typed.payloads import available as payloads_available
from socketwire.typed.payloads import outgoing_default
from socketwire.typed.signature import Validation

if TYPE_CHECKING:
    from socketwire.server.admin import Admin, AdminAuth

__all__ = ["NamespacePredicate", "Server"]

logger = logging.getLogger("socketwire.server")

H = TypeVar("H", bound=Callable[..., Any])
#: ``(name, auth) -> bool`` (or an awaitable of it): may a client create namespace ``name``?
NamespacePredicate = Callable[[str, dict[str, Any]], bool | Awaitable[bool]]


def _resolve_parser(parser: Parser | str | None) -> Parser:
    if parser is None or parser == "json":
        return JsonParser()
    if parser == "msgpack":
        return MsgpackParser()
    if isinstance(parser, str):
        raise ValueError(f"unknown parser {parser!r} (use 'json', 'msgpack' or a Parser)")
    return parser


class Server:
    """A Socket.IO v5 server (what socket.io 4.8 does, in Python naming).

    Args:
        path: The URL path served (JS ``path``, ``"/socket.io/"`` by default).
        parser: None or ``"json"`` (the default parser), ``"msgpack"``
            (``socket.io-msgpack-parser``), or a `Parser`.
        connect_timeout: Seconds an Engine.IO connection may stay without joining a
            namespace before it is closed.
        connection_state_recovery: None (off), True (the defaults) or
            [`RecoveryOptions`][RecoveryOptions].
        cleanup_empty_child_namespaces: Remove a dynamic child namespace when its last
            socket leaves.
        adapter: Builds the adapter of each namespace (default: the in-memory one; in a
            worker of ``socketwire serve --workers N``, the one linking the workers). With
            a Redis adapter, requests for sessions other nodes own are forwarded to them
            (no sticky sessions needed; see the clusters topic, "Deploying").
        max_namespaces_per_client: A connection connected or connecting to more namespaces
            than this at once is closed (a bound JS does not have).
        concurrent_events: Run each incoming event's handlers in a task of its own instead
            of one after the other per socket (JS runs listeners without waiting for the
            previous one's promise).
        max_pending_events: The most events of one socket received and not yet handled
            (waiting their turn, or running with ``concurrent_events``). At that many,
            reading from the connection pauses (a WebSocket stops reading, a polling POST
            waits) until half of them are handled (a bound JS does not have).
        pending_events_timeout: Seconds a connection may stay paused by
            ``max_pending_events`` or ``max_concurrent_events`` before it is closed
            (reason ``"event queue full"``).
        max_concurrent_events: With ``concurrent_events``, the most event handlers running
            at once on this server; at that many, a connection that brings one more pauses
            until half of them have returned.
        attachment_timeout: Seconds a binary packet may take to receive all its attachments
            once its first message arrived; past it the connection is closed
            (``"parse error"``), so that a partial packet cannot pin its attachments (JS has
            no such bound).
        serve_client: Serve the official browser client at ``<path>/socket.io.js`` (and
            ``.min.js``, ``.esm.min.js``, ``.msgpack.min.js``, with their maps), as JS
            ``serveClient``; see `ClientBundle`.
        serve_client_dir: Where the ``socket.io-client`` dist is (default: looked for, see
            `locate()`).
        validation: Which handlers have their arguments validated against their
            annotations (with the ``pydantic`` extra): ``"auto"`` (those with annotations
            beyond the builtins JSON gives), ``"strict"`` (every annotated handler) or
            ``"off"``; see [`socketwire.typed.signature`][socketwire.typed.signature].
        validate_outgoing: Validate what typed handlers return (the acks) and the arguments
            of declared events ([`emits`][socketwire.Server.emits]) before sending them.
            None (the default): on in development and tests, off in production; see
            [`outgoing_default`][socketwire.typed.payloads.outgoing_default].
        asyncapi_path: Serve the AsyncAPI 3.0 document of
            [`contract`][socketwire.Server.contract] at this path (``"/asyncapi.json"``...);
            None (the default) serves nothing. Needs pydantic.
        asyncapi_info: The document's ``info`` (``title``, ``version``, ``description``).
        **engine_options: Passed to [`EngineOptions`][socketwire.engineio.EngineOptions] (``cors``,
            ``ping_interval``, ``transports``, ``max_buffered_bytes``...); ``cors`` may also
            be a dict of [`CorsOptions`][socketwire.engineio.CorsOptions] fields.
    """

    def __init__(
        self,
        *,
        path: str = "/socket.io/",
        parser: Parser | str | None = None,
        connect_timeout: float = 45.0,
        connection_state_recovery: RecoveryOptions | bool | None = None,
        cleanup_empty_child_namespaces: bool = False,
        adapter: AdapterFactory | None = None,
        max_namespaces_per_client: int = 100,
        concurrent_events: bool = False,
        max_pending_events: int = 100,
        pending_events_timeout: float = 20.0,
        max_concurrent_events: int = 10_000,
        attachment_timeout: float = 60.0,
        serve_client: bool = True,
        serve_client_dir: str | os.PathLike[str] | None = None,
        validation: Validation | str = Validation.AUTO,
        validate_outgoing: bool | None = None,
        asyncapi_path: str | None = None,
        asyncapi_info: Mapping[str, Any] | None = None,
        **engine_options: Any,
    ) -> None:
        self.parser: Parser = _resolve_parser(parser)
        #: Which handlers have their arguments validated (the ``validation`` option).
        self.validation = Validation(validation)
        #: Whether acks of typed handlers and declared emits are validated before sending.
        self.validate_outgoing: bool = (
            outgoing_default() if validate_outgoing is None else validate_outgoing
        )
        if asyncapi_path is not None and not payloads_available():
            raise ValueError("asyncapi_path needs pydantic (socketwire's 'pydantic' extra)")
        self.asyncapi_path = asyncapi_path
        self.asyncapi_info: dict[str, Any] = dict(asyncapi_info or {})
        self.connect_timeout = connect_timeout
        if connection_state_recovery is True:
            connection_state_recovery = RecoveryOptions()
        self.connection_state_recovery: RecoveryOptions | None = connection_state_recovery or None
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        self.max_namespaces_per_client = max_namespaces_per_client
        self.concurrent_events = concurrent_events
        if max_pending_events < 1 or max_concurrent_events < 1:
            raise ValueError("max_pending_events and max_concurrent_events must be >= 1")
        self.max_pending_events = max_pending_events
        self.pending_events_timeout = pending_events_timeout
        self.max_concurrent_events = max_concurrent_events
        self.attachment_timeout = attachment_timeout
        #: The handlers running with ``concurrent_events``, against ``max_concurrent_events``.
        self.event_budget = EventBudget(max_concurrent_events)
        #: The browser client files served, or None (``serve_client=False``).
        self.client_bundle: ClientBundle | None = (
            ClientBundle.locate(serve_client_dir) if serve_client else None
        )
        if adapter is None:
            adapter = process_default_adapter()
        if adapter is None:
            adapter = (
                MemoryAdapter
                if self.connection_state_recovery is None
                else SessionAwareMemoryAdapter
            )
        #: Builds the adapter of each namespace (the ``adapter`` option).
        self.adapter_factory: AdapterFactory = adapter
        #: Hands the API calls made from worker threads (plain handlers) to the server's loop.
        self.loop_guard = LoopGuard()
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[tuple[NamespacePredicate, ParentNamespace]] = []
        self._regex_parents: list[tuple[re.Pattern[str], ParentNamespace]] = []
        self._clients: dict[str, Client] = {}
        # What every Client is given, bound once (not per connection).
        self._client_closed = self._forget_client
        self._client_namespace = self._find_namespace
        self._unstarted: list[Adapter] = []
        self._routes: list[tuple[str, HttpHandler]] = []
        if asyncapi_path is not None:
            self.route(asyncapi_path, self._asyncapi_response)
        self._namespace_watchers: list[Callable[[Namespace], None]] = []
        self._task_factories: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: What the server counts (None until [`enable_counters()`][enable_counters]).
        self.counters: ServerCounters | None = None
        cors = engine_options.get("cors")
        if isinstance(cors, Mapping):
            # JS-style `cors={"origin": ..., "credentials": ...}`
            engine_options["cors"] = CorsOptions(**cors)
        self.engine = EngineServer(EngineOptions(path=path, **engine_options))
        if isinstance(adapter, NodeChannelSource):
            # A cluster whose adapter carries them: no sticky sessions needed.
            self.engine.forward_through(adapter.node_channel())
        self.engine.on_connection(self._on_engine_connection)
        #: The main namespace ("/").
        self.sockets: Namespace = self.of("/")

    # -- HttpApp -----------------------------------------------------------------------------

    def owns(self, path: str) -> bool:
        """True for paths under the server's ``path``, and those of its routes."""
        return self.engine.owns(path) or self._route_for(path) is not None

    def route(self, path: str, handler: HttpHandler) -> None:
        """Answer the plain HTTP requests for ``path`` with ``handler`` (before Engine.IO).

        A ``path`` ending with ``/`` also takes every path below it, and itself without the
        slash (``"/admin/"`` takes ``/admin``, ``/admin/`` and ``/admin/js/app.js``). The
        admin UI and the metrics endpoint are served this way.
        """
        if not path.startswith("/"):
            raise ValueError(f"a route's path starts with '/', not {path!r}")
        self._routes.append((path, handler))

    def _route_for(self, path: str) -> HttpHandler | None:
        for prefix, handler in self._routes:
            if path == prefix or (
                prefix.endswith("/") and (path.startswith(prefix) or path == prefix[:-1])
            ):
                return handler
        return None

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer one plain HTTP request (Engine.IO polling, the browser client, or a
        route's)."""
        self._bind()
        if self._routes:
            handler = self._route_for(request.path)
            if handler is not None:
                return await handler(request)
        if self.client_bundle is not None:
            filename = self.client_bundle.match(request.path, self.engine.options.path)
            if filename is not None:
                # JS attachServe: the bundle is answered before engine.io, with CORS
                headers = await self.engine.cors_headers(request)
                if self.engine.options.cors is not None and request.method == "OPTIONS":
                    return HttpResponse(204, headers)
                return self.client_bundle.respond(filename, request, headers)
        return await self.engine.handle_http(request)

    def handle_http_now(
        self, request: HttpRequest, body: bytes
    ) -> HttpResponse | asyncio.Future[HttpResponse] | None:
        """A long-polling request of an open session answered without a coroutine (see
        [`EngineServer.handle_http_now()`][socketwire.io.engine.EngineServer.handle_http_now]);
        None for the rest, which [`handle_http()`][handle_http] answers."""
        if self.loop_guard.loop is None:
            return None  # the first request binds the server, in handle_http
        if self._routes and self._route_for(request.path) is not None:
            return None
        bundle = self.client_bundle
        path = request.path
        engine_path = self.engine.options.path
        # a polling request's path is the engine's own, which names no client file
        if bundle is not None and path != engine_path and bundle.match(path, engine_path):
            return None
        return self.engine.handle_http_now(request, body)

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        """Accept or refuse one WebSocket upgrade request."""
        self._bind()
        return await self.engine.handle_websocket(request)

    async def handle_webtransport(
        self, request: HttpRequest, first: str | bytes, stream: WebSocketTransport
    ) -> WebSocketHandler | None:
        """Take a WebTransport session's stream (see
        [`WebTransportServer`][socketwire.io.webtransport.WebTransportServer])."""
        self._bind()
        return await self.engine.handle_webtransport(request, first, stream)

    async def start(self) -> None:
        """Start the adapters now and wait until each has started (and, with a Redis
        adapter, listen for the requests other nodes forward here).

        Optional on a single node: a server starts lazily on its first request. A cluster
        node calls it once its plumbing listens, so that it subscribes (and answers the
        cluster's requests, server-side emits and forwarded requests) before its first
        client.
        """
        self._bind(start_adapters=False)
        for nsp in list(self._nsps.values()):
            await nsp.adapter.init()
        await self.engine.start()

    async def shutdown(self) -> None:
        """Disconnect every socket ("server shutting down"), close the adapters and the
        Engine.IO sessions."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for nsp in list(self._nsps.values()):
            for socket in list(nsp.sockets.values()):
                socket.handle_close("server shutting down")
            try:
                await nsp.adapter.close()
            except Exception:
                logger.exception("closing the adapter of %s failed", nsp.name)
        await self.engine.shutdown()
        # connections the engine did not end synchronously (or that it does not own)
        for client in list(self._clients.values()):
            client.close_with("server shutting down")

    async def close(self) -> None:
        """Alias of [`shutdown()`][shutdown] (JS ``io.close()``, without the HTTP server)."""
        await self.shutdown()

    def _bind(self, *, start_adapters: bool = True) -> None:
        if self.loop_guard.loop is None:
            self.loop_guard.bind()
            if start_adapters:
                for adapter in self._unstarted:
                    spawn(adapter.init())
            self._unstarted.clear()
            for factory in self._task_factories:
                self._start_task(factory)

    def add_task(self, factory: Callable[[], Awaitable[None]]) -> None:
        """Run ``factory()`` in a task while the server runs: from its start (at once when
        it has started) until [`shutdown()`][shutdown], which cancels it.

        A failure of the task is logged. The admin UI's statistics are sent this way.
        """
        self._task_factories.append(factory)
        if self.loop_guard.loop is not None:
            self.loop_guard.call(self._start_task, factory)

    def _start_task(self, factory: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await factory()

        task = spawn(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def enable_counters(self) -> ServerCounters:
        """Count packets, bytes, acknowledgements and connections from now on (for
        ``socketwire.metrics`` and the admin UI); the same counters on a second call.

        Only the connections opened from now on are counted: enable before serving. See
        [`socketwire.server.counters`][socketwire.server.counters].
        """
        if self.counters is None:
            counters = self.counters = ServerCounters()
            self.engine.on_connection(counters.connection_opened)
            self.engine.on_close(counters.connection_closed)
        return self.counters

    def instrument(
        self,
        *,
        auth: AdminAuth,
        namespace: str = "/admin",
        read_only: bool = False,
        server_id: str | None = None,
        mode: str = "development",
        serve_ui: bool = False,
        ui_path: str = "/admin/",
        stats_interval: float = 2.0,
    ) -> Admin:
        """Let the official Socket.IO admin UI (``@socket.io/admin-ui`` 0.5) watch and
        operate this server (JS ``instrument(io, opts)``).

        See [`socketwire.server.admin`][socketwire.server.admin] and the observability page
        of the docs.

        Args:
            auth: ``False`` (or None): no authentication (a warning is logged);
                ``{"type": "basic", "username": ..., "password": <bcrypt hash>}`` as the JS
                package (needs the ``admin`` extra, bcrypt); or a function ``(auth) ->
                bool`` (may be async) given the UI's ``auth`` payload.
            namespace: The admin namespace.
            read_only: Refuse the UI's operations (join, leave, disconnect, emit).
            server_id: This server's name in the UI (default: ``hostname#pid``).
            mode: ``"development"`` (every socket, room and event) or ``"production"``
                (statistics only: no socket details leave the server).
            serve_ui: Also serve the UI's static files (from the npm package, shipped in
                the wheel) at ``ui_path``, set up to connect to this server.
            ui_path: Where the UI is served (with ``serve_ui``).
            stats_interval: Seconds between two ``server_stats`` messages (JS: 2).

        Returns:
            The [`Admin`][socketwire.server.admin.Admin] that serves the UI.
        """
        from socketwire.server.admin import Admin, AdminOptions

        options = AdminOptions(
            auth=auth,
            namespace=namespace,
            read_only=read_only,
            server_id=server_id,
            mode=mode,
            serve_ui=serve_ui,
            ui_path=ui_path,
            stats_interval=stats_interval,
        )
        return Admin(self, options)

    def _start_adapter(self, nsp: Namespace) -> None:
        # JS calls adapter.init() without waiting; we need a loop for that.
        if self.loop_guard.loop is None:
            self._unstarted.append(nsp.adapter)
        else:
            spawn(nsp.adapter.init())

    def _on_engine_connection(self, conn: EngineSocket) -> None:
        self._bind()
        self._clients[conn.sid] = Client(
            self, conn, on_closed=self._client_closed, find_namespace=self._client_namespace
        )

    def _forget_client(self, client: Client) -> None:
        if self._clients.get(client.id) is client:
            del self._clients[client.id]

    # -- namespaces --------------------------------------------------------------------------

    @overload
    def of(self, name: str) -> Namespace: ...
    @overload
    def of(self, name: re.Pattern[str] | NamespacePredicate) -> ParentNamespace: ...

    def of(self, name: str | re.Pattern[str] | NamespacePredicate) -> Namespace:
        """The namespace ``name``, created if needed.

        Args:
            name: A name (``"/chat"``; a missing leading slash is added), a compiled regular
                expression (``re.search`` on the name) or a predicate ``(name, auth) -> bool``
                (may be async): the latter two return a parent namespace whose children are
                created when a client connects to a matching name.
        """
        if isinstance(name, re.Pattern) or callable(name):
            parent = ParentNamespace(
                self, on_child=self._register, on_child_removed=self._unregister
            )
            self._start_adapter(parent)
            if isinstance(name, re.Pattern):
                pattern = name
                self._parents.append((lambda n, _auth: pattern.search(n) is not None, parent))
                self._regex_parents.append((pattern, parent))
            else:
                self._parents.append((name, parent))
            return parent
        if not name.startswith("/"):
            name = "/" + name
        nsp = self._nsps.get(name)
        if nsp is not None:
            return nsp
        for pattern, parent in self._regex_parents:
            if pattern.search(name):
                return parent.create_child(name)
        nsp = Namespace(self, name)
        self._register(nsp)
        return nsp

    def _register(self, nsp: Namespace) -> None:
        self._nsps[nsp.name] = nsp
        self._start_adapter(nsp)
        for watcher in self._namespace_watchers:
            watcher(nsp)
        if nsp.name != "/":
            self.sockets.handle_new_namespace(nsp)

    def watch_namespaces(self, callback: Callable[[Namespace], None]) -> None:
        """Call ``callback(nsp)`` for every namespace: at once for those that exist, then
        for each one created, before any socket joins it (unlike ``new_namespace``
        listeners, which run later, in a task). It must not block."""
        self._namespace_watchers.append(callback)
        for nsp in list(self._nsps.values()):
            callback(nsp)

    def _unregister(self, nsp: Namespace) -> None:
        if self._nsps.get(nsp.name) is nsp:
            del self._nsps[nsp.name]

    async def _find_namespace(self, name: str, auth: dict[str, Any]) -> Namespace | None:
        """The namespace a client connecting to ``name`` with ``auth`` joins: an existing one,
        or a parent's new child; None when there is none."""
        nsp = self._nsps.get(name)
        if nsp is not None:
            return nsp
        for predicate, parent in list(self._parents):
            try:
                allowed = predicate(name, auth)
                if inspect.isawaitable(allowed):
                    allowed = await allowed
            except Exception:
                logger.exception("namespace predicate failed for %r", name)
                continue
            if not allowed:
                continue
            existing = self._nsps.get(name)
            if existing is not None:
                # created in the meantime
                return existing
            try:
                return parent.create_child(name)
            except Exception:
                # The adapter refused the name (a PostgreSQL channel is 63 bytes at most):
                # the client is told "Invalid namespace" rather than left waiting.
                logger.exception("creating namespace %r failed", name)
                return None
        return None

    @property
    def namespaces(self) -> dict[str, Namespace]:
        """The namespaces by name (static and dynamic children); a copy."""
        return dict(self._nsps)

    # -- the contract ----------------------------------------------------------------------

    def register_namespace(self, handlers: NamespaceHandlers) -> None:
        """Register class-based handlers (python-socketio's ``register_namespace``): each
        ``on_<event>`` method of ``handlers`` handles ``event`` in the namespace
        ``handlers.namespace``, as [`Namespace.event()`][socketwire.Namespace.event] handlers."""
        nsp = self.of(handlers.namespace)
        handlers.nsp = nsp
        for event, method in handlers.handlers().items():
            nsp.event(method, name=event)

    @overload
    def event(self, handler: H, *, name: str | None = None, namespace: str = "/") -> H: ...
    @overload
    def event(
        self, handler: str | None = None, *, name: str | None = None, namespace: str = "/"
    ) -> Callable[[H], H]: ...

    def event(
        self, handler: H | str | None = None, *, name: str | None = None, namespace: str = "/"
    ) -> H | Callable[[H], H]:
        """``@sio.event``: register ``handler(socket, *args)`` in ``namespace`` for the
        event named after it; see [`Namespace.event()`][socketwire.Namespace.event]."""
        return self.of(namespace).event(handler, name=name)

    @overload
    def emits(self, stub: H, *, name: str | None = None, namespace: str = "/") -> H: ...
    @overload
    def emits(
        self, stub: str | None = None, *, name: str | None = None, namespace: str = "/"
    ) -> Callable[[H], H]: ...

    def emits(
        self, stub: H | str | None = None, *, name: str | None = None, namespace: str = "/"
    ) -> H | Callable[[H], H]:
        """``@sio.emits``: declare a server-to-client event of ``namespace``; see
        [`Namespace.emits()`][socketwire.Namespace.emits]."""
        return self.of(namespace).emits(stub, name=name)

    def contract(self) -> Contract:
        """The events of every static namespace (``@event`` handlers, class-based handlers
        and [`emits()`][emits] declarations): what [`asyncapi()`][asyncapi] and
        ``socketwire typescript`` describe. Namespaces without any are left out, except the
        main one."""
        namespaces = []
        for name, nsp in sorted(self._nsps.items()):
            described = nsp.contract()
            if name == "/" or described.received or described.sent:
                namespaces.append(described)
        return Contract(tuple(namespaces))

    def asyncapi(self, **info: Any) -> dict[str, Any]:
        """The AsyncAPI 3.0 document of [`contract()`][contract] (a JSON-able dict); ``info``
        overrides ``asyncapi_info`` (``title``, ``version``, ``description``). Needs
        pydantic."""
        from socketwire.typed.asyncapi import asyncapi_document

        return asyncapi_document(
            self.contract(), path=self.engine.options.path, **{**self.asyncapi_info, **info}
        )

    async def _asyncapi_response(self, request: HttpRequest) -> HttpResponse:
        headers = await self.engine.cors_headers(request)
        if request.method == "OPTIONS" and self.engine.options.cors is not None:
            return HttpResponse(204, headers)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, [*headers, ("allow", "GET, HEAD")])
        body = orjson.dumps(self.asyncapi(), option=orjson.OPT_INDENT_2)
        headers = [*headers, ("content-type", "application/json")]
        return HttpResponse(200, headers, b"" if request.method == "HEAD" else body)

    # -- the main namespace ------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler on the main namespace; see [`Namespace.on()`][Namespace.on]."""
        if handler is None:
            return self.sockets.on(event)
        return self.sockets.on(event, handler)

    def use(self, middleware: Callable[..., Any]) -> None:
        """Add a connection middleware to the main namespace; see
        [`Namespace.use()`][Namespace.use]."""
        self.sockets.use(middleware)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The sockets of the main namespace in ``room``."""
        return self.sockets.to(room)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Alias of [`to()`][to]."""
        return self.sockets.in_(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The sockets of the main namespace not in ``room``."""
        return self.sockets.except_(room)

    def compress(self, compress: bool) -> BroadcastOperator:
        """Every socket of the main namespace, asking for (or against) compression."""
        return self.sockets.compress(compress)

    @property
    def volatile(self) -> BroadcastOperator:
        """Every socket of the main namespace; volatile."""
        return self.sockets.volatile

    @property
    def local(self) -> BroadcastOperator:
        """Every socket of the main namespace on this server."""
        return self.sockets.local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Every socket of the main namespace, waiting at most ``seconds`` for acks."""
        return self.sockets.timeout(seconds)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of the main namespace."""
        self.sockets.emit(event, *args)

    def send(self, *args: Any) -> None:
        """Send a ``message`` event to every socket of the main namespace."""
        self.sockets.send(*args)

    def write(self, *args: Any) -> None:
        """Alias of [`send()`][send] (JS ``io.write``)."""
        self.sockets.send(*args)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` to every socket of the main namespace and collect their acks."""
        return await self.sockets.emit_with_ack(event, *args)

    async def all_sockets(self) -> set[str]:
        """The ids of the sockets of the main namespace."""
        return await self.sockets.all_sockets()

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """The sockets of the main namespace."""
        return await self.sockets.fetch_sockets()

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make every socket of the main namespace join ``room``."""
        await self.sockets.sockets_join(room)

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make every socket of the main namespace leave ``room``."""
        await self.sockets.sockets_leave(room)

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket of the main namespace."""
        await self.sockets.disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the other servers of the cluster (nothing on a single server)."""
        await self.sockets.server_side_emit(event, *args)

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send ``event`` to the other servers and return their responses."""
        return await self.sockets.server_side_emit_with_ack(event, *args)

    @property
    def clients_count(self) -> int:
        """The number of Engine.IO connections."""
        return self.engine.clients_count

    @property
    def per_message_deflate(self) -> bool:
        """True when WebSocket compression is wanted (``Server(per_message_deflate=...)``)."""
        return self.engine.per_message_deflate
