"""HTTP middlewares on Engine.IO requests (JS ``engine.use``): sessions, security headers,
rate limits.

[`EngineServer.use()`][socketwire.io.engine.EngineServer.use] adds one; they run in order on
every request the Engine.IO server owns (the handshake, every poll and POST, every WebSocket
upgrade), after the CORS preflight and before the request is checked, as JS runs them. Two
kinds are accepted:

- a **socketwire middleware**, ``middleware(request, response)`` (plain or ``async``), with
  JS's ``(req, res, next)`` turned into Python: it reads the
  [`EngineRequest`][EngineRequest], may set headers on the
  [`MiddlewareResponse`][MiddlewareResponse] (they go out with the answer, the 101 of a
  WebSocket too), may answer at once with ``response.end(...)`` (the request goes no
  further), and returning is ``next()``; raising is ``next(err)``: the request is refused
  with 400 ``{"code":3,"message":"Bad request"}`` and ``connection_error`` reports
  ``{"name": "MIDDLEWARE_FAILURE"}``;
- an **ASGI middleware**, a class (or a one-argument factory) that wraps an ASGI app, as
  Starlette's ``app.add_middleware(cls, **options)`` takes it: it gets the request as an
  ASGI scope (``"http"`` or ``"websocket"``) and an app standing for the rest of the chain
  and the Engine.IO server, whose answer it may change (headers of ``http.response.start``
  or ``websocket.accept``) or replace. What it leaves in the scope (``scope["session"]``,
  ``scope["state"]``) stays in [`EngineRequest.scope`][EngineRequest.scope].

The handshake's request becomes the session's request: ``socket.request`` on the Socket.IO
server, with the ``state`` and ``scope`` its middlewares filled.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from socketwire.io.http import BodyTooLargeError, HttpRequest, HttpResponse, WebSocketAccept
from socketwire.io.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "EngineRequest",
    "Middleware",
    "MiddlewareError",
    "MiddlewareResponse",
    "Middlewares",
    "SocketwireMiddleware",
]

logger = logging.getLogger("socketwire.engine")

#: ``middleware(request, response)``: see the module docstring.
SocketwireMiddleware = Callable[["EngineRequest", "MiddlewareResponse"], Awaitable[None] | None]
#: What [`EngineServer.use()`][socketwire.io.engine.EngineServer.use] takes: a
#: [`SocketwireMiddleware`][SocketwireMiddleware], or an ASGI middleware (a class or a
#: factory called with the app to wrap, or a ``starlette.middleware.Middleware``).
Middleware = Callable[..., Any]
Answer = HttpResponse | WebSocketAccept
#: Serves a request once the middlewares let it through, with the headers they set.
Serve = Callable[["EngineRequest", list[tuple[str, str]]], Awaitable[Answer]]

#: Where the ASGI app that continues the chain finds its request, in the scope.
_CONTINUATION: Final = "socketwire.engine.continuation"


class MiddlewareError(Exception):
    """A middleware failed (raised, or answered nothing); the request is refused.

    Attributes:
        headers: The headers set until then: they go out with the refusal, as in JS.
    """

    def __init__(self, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.headers = list(headers)


class EngineRequest:
    """A request going through the Engine.IO middlewares: the plumbing's request (every
    [`HttpRequest`][socketwire.io.http.HttpRequest] attribute reads through), plus what the
    middlewares leave on it.

    Attributes:
        upgrade: True for a WebSocket upgrade request.
    """

    __slots__ = ("_body", "_inner", "_scope", "upgrade")

    def __init__(self, inner: HttpRequest, *, upgrade: bool) -> None:
        self._inner = inner
        self.upgrade = upgrade
        self._scope: Scope | None = None
        self._body: bytes | None = None

    # -- HttpRequest --------------------------------------------------------------------

    @property
    def method(self) -> str:
        """The request method."""
        return self._inner.method

    @property
    def path(self) -> str:
        """The URL path."""
        return self._inner.path

    @property
    def raw_path(self) -> str:
        """The request target as sent."""
        return self._inner.raw_path

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, first value of each."""
        return self._inner.query

    @property
    def headers(self) -> Mapping[str, str]:
        """Request headers by lower-case name."""
        return self._inner.headers

    @property
    def remote_addr(self) -> tuple[str, int] | None:
        """The peer's address, when known."""
        return self._inner.remote_addr

    @property
    def secure(self) -> bool:
        """True when the request came over TLS."""
        return self._inner.secure

    async def read_body(self, limit: int) -> bytes:
        """The body (read once: an ASGI middleware may have read it already)."""
        if self._body is None:
            self._body = await self._inner.read_body(limit)
        if len(self._body) > limit:
            raise BodyTooLargeError
        return self._body

    async def wait_disconnected(self) -> None:
        """Return when the client closes the connection."""
        await self._inner.wait_disconnected()

    def __getattr__(self, name: str) -> Any:
        # The plumbing's optional capabilities (disconnected_future...).
        return getattr(self._inner, name)

    # -- what middlewares leave ---------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """The request as an ASGI scope, as the last ASGI middleware passed it on (built
        from the request when there is none): ``scope["session"]`` of a session middleware,
        for instance."""
        if self._scope is None:
            self._scope = request_scope(self._inner, upgrade=self.upgrade)
        return self._scope

    @scope.setter
    def scope(self, scope: Scope) -> None:
        self._scope = scope

    @property
    def state(self) -> dict[str, Any]:
        """Free-form data for the application (``scope["state"]``, as Starlette's
        ``request.state``): ``request.state["user"] = ...`` in a middleware, read as
        ``socket.request.state["user"]``."""
        state: dict[str, Any] = self.scope.setdefault("state", {})
        return state

    @property
    def inner(self) -> HttpRequest:
        """The plumbing's request."""
        return self._inner


def request_scope(request: HttpRequest, *, upgrade: bool) -> Scope:
    """An ASGI scope for ``request`` (a copy of the real one behind the ASGI plumbing)."""
    original: Scope | None = getattr(request, "scope", None)
    if original is not None:
        return dict(original)
    target = request.raw_path
    path_part, _, query_string = target.partition("?")
    scheme = (
        ("wss" if request.secure else "ws") if upgrade else ("https" if request.secure else "http")
    )
    scope: Scope = {
        "type": "websocket" if upgrade else "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": request.path,
        "raw_path": path_part.encode("latin-1", "replace"),
        "query_string": query_string.encode("latin-1", "replace"),
        "root_path": "",
        "headers": [
            (name.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
            for name, value in request.headers.items()
        ],
        "client": request.remote_addr,
        "server": None,
        "state": {},
    }
    if not upgrade:
        scope["method"] = request.method
    else:
        scope["subprotocols"] = []
    return scope


class MiddlewareResponse:
    """What a socketwire middleware may do to the answer (JS ``res``: ``setHeader``,
    ``getHeader``, ``removeHeader``, ``end``).

    Attributes:
        headers: The headers of the answer so far (the CORS ones first), in order.
        answer: Set by [`end()`][end]: the answer sent instead of going on.
    """

    __slots__ = ("answer", "headers")

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self.headers: list[tuple[str, str]] = list(headers)
        self.answer: HttpResponse | None = None

    def set_header(self, name: str, value: str | Sequence[str]) -> None:
        """Set header ``name`` (replacing any of that name); a list sets it several times
        (``Set-Cookie``)."""
        self.remove_header(name)
        values = [value] if isinstance(value, str) else list(value)
        self.headers.extend((name, item) for item in values)

    def get_header(self, name: str) -> str | list[str] | None:
        """The value of header ``name`` (a list when it is set several times), or None."""
        lowered = name.lower()
        values = [value for key, value in self.headers if key.lower() == lowered]
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def remove_header(self, name: str) -> None:
        """Remove every header ``name``."""
        lowered = name.lower()
        self.headers = [(key, value) for key, value in self.headers if key.lower() != lowered]

    def end(
        self,
        status: int = 200,
        body: bytes | str = b"",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Answer now with ``status`` and ``body`` (after the headers set so far, then
        ``headers``): the request goes no further. A WebSocket upgrade is refused with it."""
        data = body.encode() if isinstance(body, str) else body
        self.answer = HttpResponse(status, [*self.headers, *headers], data)

    @property
    def ended(self) -> bool:
        """True once [`end()`][end] was called."""
        return self.answer is not None


@dataclass(slots=True)
class _Continuation:
    """One request's place in the chain, handed to the ASGI app that goes on from it."""

    chain: Middlewares
    index: int
    request: EngineRequest
    response: MiddlewareResponse
    serve: Serve
    result: Answer | None = None
    sent: list[Message] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Entry:
    socketwire: SocketwireMiddleware | None
    asgi: ASGIApp | None


class Middlewares:
    """The middlewares of one Engine.IO server, in order."""

    def __init__(self, max_body: int) -> None:
        self._entries: list[_Entry] = []
        #: The most an ASGI middleware may read of a POST body (``max_http_buffer_size``).
        self.max_body = max_body

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(self, middleware: Middleware, options: Mapping[str, Any]) -> None:
        """Add ``middleware`` (see [`EngineServer.use()`][socketwire.io.engine.EngineServer.use]).

        Raises:
            TypeError: ``options`` given to a socketwire middleware.
        """
        spec = _starlette_spec(middleware)
        if spec is not None:
            cls, args, kwargs = spec
            self._entries.append(_Entry(None, cls(_continue, *args, **{**kwargs, **options})))
        elif _is_asgi_factory(middleware):
            self._entries.append(_Entry(None, middleware(_continue, **options)))
        elif options:
            raise TypeError(
                "options are for ASGI middlewares (a class, or a factory taking the app); "
                f"{middleware!r} takes (request, response)"
            )
        else:
            self._entries.append(_Entry(middleware, None))

    async def run(
        self,
        request: HttpRequest,
        headers: list[tuple[str, str]],
        serve: Serve,
        *,
        upgrade: bool,
    ) -> Answer:
        """Run every middleware on ``request``, then ``serve`` it with the headers they set.

        Raises:
            MiddlewareError: a middleware raised, or answered nothing.
        """
        wrapped = EngineRequest(request, upgrade=upgrade)
        return await self.step(0, wrapped, MiddlewareResponse(headers), serve)

    async def step(
        self,
        index: int,
        request: EngineRequest,
        response: MiddlewareResponse,
        serve: Serve,
    ) -> Answer:
        """Run the middlewares from ``index`` on, then ``serve``."""
        entries = self._entries
        while index < len(entries):
            entry = entries[index]
            if entry.asgi is not None:
                return await self._asgi(entry.asgi, index, request, response, serve)
            assert entry.socketwire is not None
            try:
                result = entry.socketwire(request, response)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                logger.info("Engine.IO middleware %r failed: %r", entry.socketwire, exc)
                raise MiddlewareError(str(exc), response.headers) from exc
            if response.answer is not None:
                return response.answer
            index += 1
        return await serve(request, response.headers)

    async def _asgi(
        self,
        app: ASGIApp,
        index: int,
        request: EngineRequest,
        response: MiddlewareResponse,
        serve: Serve,
    ) -> Answer:
        continuation = _Continuation(self, index, request, response, serve)
        scope = dict(request.scope)
        scope[_CONTINUATION] = continuation
        sent = continuation.sent

        async def send(message: Message) -> None:
            sent.append(message)

        try:
            await app(scope, _receiver(request, self.max_body), send)
        except MiddlewareError:
            raise
        except Exception as exc:
            logger.info("ASGI middleware %r failed: %r", app, exc)
            if not sent:
                raise MiddlewareError(str(exc), response.headers) from exc
        try:
            return _answer_of(continuation)
        except MiddlewareError as exc:
            exc.headers = list(response.headers)
            raise


async def _continue(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app an ASGI middleware wraps: the rest of the chain, then the engine."""
    continuation: _Continuation = scope[_CONTINUATION]
    request = continuation.request
    passed = dict(scope)
    del passed[_CONTINUATION]
    request.scope = passed
    result = await continuation.chain.step(
        continuation.index + 1, request, continuation.response, continuation.serve
    )
    continuation.result = result
    for message in _messages(result, upgrade=request.upgrade):
        await send(message)


def _receiver(request: EngineRequest, max_body: int) -> Receive:
    """``receive`` for an ASGI middleware: the body (or the WebSocket connect), then the
    client's disconnection."""
    first = True

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            if request.upgrade:
                return {"type": "websocket.connect"}
            body = await request.read_body(max_body) if request.method == "POST" else b""
            return {"type": "http.request", "body": body, "more_body": False}
        await request.wait_disconnected()
        if request.upgrade:
            return {"type": "websocket.disconnect", "code": 1005}
        return {"type": "http.disconnect"}

    return receive


def _encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _decode_headers(headers: Iterable[Sequence[bytes]]) -> list[tuple[str, str]]:
    return [
        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in headers
    ]


def _messages(result: Answer, *, upgrade: bool) -> list[Message]:
    """What the engine's answer is in ASGI messages."""
    if isinstance(result, WebSocketAccept):
        return [{"type": "websocket.accept", "headers": _encode_headers(result.headers)}]
    prefix = "websocket.http.response" if upgrade else "http.response"
    return [
        {
            "type": f"{prefix}.start",
            "status": result.status,
            "headers": _encode_headers(result.headers),
        },
        {"type": f"{prefix}.body", "body": result.body},
    ]


def _answer_of(continuation: _Continuation) -> Answer:
    """The answer an ASGI middleware sent (the engine's, changed or not, or its own)."""
    start: Message | None = None
    body: list[bytes] = []
    for message in continuation.sent:
        kind = message.get("type")
        if kind == "websocket.accept":
            result = continuation.result
            if not isinstance(result, WebSocketAccept):
                raise MiddlewareError("an ASGI middleware accepted a WebSocket on its own")
            headers = _decode_headers(message.get("headers", ()))
            return dataclasses.replace(result, headers=headers)
        if kind == "websocket.close":
            # ASGI: a close before the accept refuses the handshake with 403.
            return HttpResponse(403)
        if kind in ("http.response.start", "websocket.http.response.start"):
            start = message
        elif kind in ("http.response.body", "websocket.http.response.body"):
            body.append(bytes(message.get("body", b"")))
    if start is None:
        raise MiddlewareError("the ASGI middleware answered nothing")
    headers = _decode_headers(start.get("headers", ()))
    return HttpResponse(int(start.get("status", 200)), headers, b"".join(body))


def _is_asgi_factory(middleware: object) -> bool:
    """A class, or a callable taking one positional argument (the app to wrap)."""
    if inspect.isclass(middleware):
        return True
    try:
        signature = inspect.signature(middleware)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [
        param
        for param in signature.parameters.values()
        if param.kind in positional and param.default is inspect.Parameter.empty
    ]
    return len(required) == 1


def _starlette_spec(middleware: object) -> tuple[Any, Sequence[Any], Mapping[str, Any]] | None:
    """``(cls, args, kwargs)`` of a ``starlette.middleware.Middleware``, or None."""
    cls = getattr(middleware, "cls", None)
    args = getattr(middleware, "args", None)
    kwargs = getattr(middleware, "kwargs", None)
    if inspect.isclass(cls) and isinstance(args, Sequence) and isinstance(kwargs, Mapping):
        return cls, args, kwargs
    return None
