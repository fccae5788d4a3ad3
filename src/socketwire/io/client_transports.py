"""The asyncio Engine.IO v4 client, driving the sans-I/O ``ClientSession``.

All protocol decisions (handshake, heartbeat, upgrade, buffering, close reasons) are the
session's. `EngineClient` only performs its actions with
[`PollingChannel`][socketwire.io.client_polling.PollingChannel] (aiohttp) and
[`WebSocketChannel`][socketwire.io.client_websocket.WebSocketChannel] (websockets), feeds back what
they observe with ``loop.time()`` as ``now``, and keeps one ``loop.call_at`` timer on the
session's next deadline.

For example:

```python
client = EngineClient()
await client.connect("http://localhost:3000")
client.send("hello")
async for event in client:        # MessageReceived, Upgraded, ..., then Closed
    ...
```
"""

from __future__ import annotations

import asyncio
import secrets
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp.abc import AbstractCookieJar

from socketwire.engineio.client_session import (
    DEFAULT_MAX_BUFFERED_BYTES,
    DEFAULT_MAX_MESSAGE_SIZE,
    Action,
    ClientSession,
    ClientState,
    Closed,
    CloseWebSocket,
    Drained,
    Event,
    Handshake,
    MessageReceived,
    Opened,
    OpenWebSocket,
    PacketCreated,
    PacketReceived,
    PingReceived,
    SendWebSocket,
    StartPoll,
    StartPost,
    StopPolling,
    TransportName,
    Upgraded,
    UpgradeFailed,
    Upgrading,
)
from socketwire.io.client_emitter import VERBOSE_EVENTS, EngineEmitter
from socketwire.io.client_network import Proxy, new_cookie_jar, resolve_proxy
from socketwire.io.client_polling import PollingChannel
from socketwire.io.client_websocket import WebSocketChannel, WebSocketFactory, WebSocketLike

__all__ = ["TRANSPORT_OPTIONS", "EngineClient", "EngineConnectionError", "parse_transport_options"]

#: What ``transport_options`` may set per transport (engine.io-client's ``transportOptions``).
TRANSPORT_OPTIONS = frozenset({"headers", "query"})

_SECURE = {"http": False, "ws": False, "https": True, "wss": True}


class EngineConnectionError(ConnectionError):
    """The session could not be opened (or ended before its handshake).

    Attributes:
        closed: the session's [`Closed`][Closed] event (reason and description).
    """

    def __init__(self, closed: Closed) -> None:
        super().__init__(f"{closed.reason}: {closed.description}")
        self.closed = closed


class EngineClient(EngineEmitter):
    """An Engine.IO v4 client connection (engine.io-client's ``Socket``).

    Events reach ``on_event`` when given (called synchronously on the event loop; it must
    not block; an exception it raises goes to the loop's exception handler), otherwise
    they are queued for ``async for event in client``, which ends after ``Closed``.

    Listeners registered with ``on(name, listener)`` get engine.io-client's events
    (``open``, ``packet``, ``packetCreate``, ``drain``, ``upgrading``, ``upgrade``,
    ``upgradeError``, ``error``, ``close``...: see ``client_emitter.ENGINE_EVENTS``), called
    as they happen.

    Args:
        on_event: the event callback (None: iterate over the client instead).
        max_queued_events: without ``on_event``, the bound on events received and not yet
            iterated over; an application that stops reading closes the session with
            ``"transport error"`` (``"event queue full"``) rather than growing memory.
        websocket_factory: builds the session's WebSocket (None: a network connection,
            ``WebSocketChannel``).
    """

    def __init__(
        self,
        *,
        on_event: Callable[[Event], None] | None = None,
        max_queued_events: int = 10_000,
        websocket_factory: WebSocketFactory | None = None,
    ) -> None:
        super().__init__()
        self._on_event = on_event
        self._max_queued_events = max_queued_events
        self._queue: asyncio.Queue[Event] | None = None if on_event else asyncio.Queue()
        self._session: ClientSession | None = None
        self._polling: PollingChannel | None = None
        self._websocket: WebSocketLike | None = None
        self._websocket_factory: WebSocketFactory = websocket_factory or WebSocketChannel
        self._channels: list[PollingChannel | WebSocketLike] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self._opened: asyncio.Future[Handshake] | None = None
        self._closed: asyncio.Future[Closed] | None = None
        self._cleanup: asyncio.Task[None] | None = None
        self._endpoint: _Endpoint | None = None

    # -- public API --------------------------------------------------------------------
    @property
    def sid(self) -> str | None:
        """The session id while open."""
        return self._session.sid if self._session else None

    @property
    def transport(self) -> TransportName | None:
        """The transport carrying the session."""
        return self._session.transport if self._session else None

    @property
    def state(self) -> ClientState:
        """The session's ready state."""
        return self._session.state if self._session else ClientState.CLOSED

    @property
    def writable(self) -> bool:
        """A message sent now leaves at once (engine.io-client's ``transport.writable``)."""
        return self._session is not None and self._session.writable

    @property
    def buffered_amount(self) -> int:
        """Outgoing bytes queued and not yet handed to a transport."""
        return self._session.buffered_amount if self._session else 0

    def on(self, event: str, listener: Callable[..., Any]) -> None:
        """Call ``listener`` on every ``event`` (engine.io-client's names and arguments).

        Raises:
            ValueError: not one of ``ENGINE_EVENTS``.
        """
        super().on(event, listener)
        if event in VERBOSE_EVENTS and self._session is not None:
            self._session.verbose_events = True

    def once(self, event: str, listener: Callable[..., Any]) -> None:
        """Call ``listener`` on the next ``event`` only."""
        super().once(event, listener)
        if event in VERBOSE_EVENTS and self._session is not None:
            self._session.verbose_events = True

    def ping_expired(self) -> bool:
        """The heartbeat deadline passed though its timer has not fired yet (a blocked or
        late loop): engine.io-client's ``_hasPingExpired``. When True the session closes
        with ``"ping timeout"`` on the next loop iteration; treat it as closed now."""
        session = self._session
        if session is None:
            return False
        loop = asyncio.get_running_loop()
        if not session.ping_expired(loop.time()):
            return False
        loop.call_soon(self._feed, lambda s, now: s.handle_timeout(now))
        return True

    async def connect(
        self,
        url: str,
        *,
        path: str = "/engine.io/",
        transports: Sequence[str] = ("polling", "websocket"),
        upgrade: bool = True,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        # The session enforces it as a protocol deadline, so asyncio.timeout cannot replace it.
        timeout: float | None = 20.0,  # noqa: ASYNC109
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        cookie_jar: AbstractCookieJar | None = None,
        proxy: Proxy = True,
        protocols: Sequence[str] = (),
        timestamp_requests: bool | None = None,
        transport_options: Mapping[str, Mapping[str, Any]] | None = None,
        try_all_transports: bool = False,
    ) -> Handshake:
        """Open the session and wait for the server's handshake.

        Args:
            url: ``http``, ``https``, ``ws`` or ``wss`` URL of the server; its path is
                ignored (see ``path``), its query is sent.
            path: the Engine.IO endpoint (a trailing slash is added, as engine.io-client).
            transports: transports to use, the first one to connect with.
            upgrade: probe the WebSocket after a polling handshake.
            query: extra query parameters on every request.
            headers: extra headers on every request and the WebSocket handshake.
            ssl: TLS context for https/wss (None: default certificate verification).
            timeout: seconds to connect and receive the handshake; bound on each POST
                (None: no limit).
            max_message_size: the largest message accepted from the server.
            max_buffered_bytes: the bound on outgoing bytes waiting for the transport;
                crossing it closes the session (see ``ClientSession``).
            cookie_jar: the cookies of every request and of the WebSocket handshake,
                kept from every response (None: a new jar for this session; an
                ``aiohttp.DummyCookieJar`` keeps none).
            proxy: True: the ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` variables; a URL:
                that proxy; None or False: none (see
                [`socketwire.io.client_network`][socketwire.io.client_network]).
            protocols: WebSocket subprotocols to offer.
            timestamp_requests: add a cache-busting ``t`` parameter to the URL (None: to
                polling requests only, as engine.io-client).
            transport_options: per transport (``"polling"``, ``"websocket"``), extra
                ``headers`` and ``query`` for that transport's requests only.
            try_all_transports: when the first transport fails before the handshake, try
                the next one.

        Returns:
            The server's handshake.

        Raises:
            EngineConnectionError: connection refused, handshake timeout, bad handshake.
            ValueError: unsupported URL scheme, transport, proxy or transport option.
            RuntimeError: called twice.
        """
        if self._session is not None:
            raise RuntimeError("connect() called twice")
        parts = urlsplit(url)
        secure = _SECURE.get(parts.scheme.lower())
        if secure is None or not parts.netloc:
            raise ValueError(f"unsupported URL {url!r}: use http, https, ws or wss")
        per_transport = parse_transport_options(transport_options)
        loop = asyncio.get_running_loop()
        self._session = session = ClientSession(
            transports=transports,
            upgrade=upgrade,
            handshake_timeout=timeout,
            max_message_size=max_message_size,
            max_buffered_bytes=max_buffered_bytes,
            try_all_transports=try_all_transports,
        )
        session.verbose_events = self.wants_verbose()
        self._endpoint = _Endpoint(
            secure=secure,
            netloc=parts.netloc,
            path=path.rstrip("/") + "/",
            query={**dict(parse_qsl(parts.query)), **(query or {})},
            headers=dict(headers or {}),
            ssl=ssl,
            timeout=timeout,
            cookie_jar=cookie_jar if cookie_jar is not None else new_cookie_jar(True),
            proxy=resolve_proxy(url, proxy),
            protocols=tuple(protocols),
            timestamp_requests=timestamp_requests,
            per_transport=per_transport,
        )
        self._opened = loop.create_future()
        # connect() may be cancelled before the outcome: never leave it "never retrieved".
        self._opened.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._closed = loop.create_future()
        session.start(loop.time())
        self._pump()
        try:
            return await asyncio.shield(self._opened)
        except EngineConnectionError:
            await self.wait_closed()  # release every connection before reporting
            raise
        except asyncio.CancelledError:
            session.close()
            self._pump()
            await self.wait_closed()
            raise

    def send(self, data: str | bytes) -> bool:
        """Queue a message; False once the session is closing or closed.

        Raises:
            RuntimeError: [`connect()`][connect] was not called.
        """
        if self._session is None:
            raise RuntimeError("not connected")
        queued = self._session.send(data)
        self._pump()
        return queued

    async def close(self) -> Closed:
        """Close (after buffered messages) and wait until every connection is released."""
        if self._session is None:
            raise RuntimeError("not connected")
        self._session.close()
        self._pump()
        return await self.wait_closed()

    async def wait_closed(self) -> Closed:
        """Wait for the end of the session and the release of its connections."""
        if self._closed is None:
            raise RuntimeError("not connected")
        closed = await asyncio.shield(self._closed)
        if self._cleanup is not None:
            await asyncio.shield(self._cleanup)
        return closed

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        if self._queue is None:
            raise RuntimeError("events go to on_event")
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, Closed):
                return

    # -- the loop: actions, events, timer ----------------------------------------------
    def _pump(self) -> None:
        # Listeners and on_event may re-enter (send() from a handler): the outer call
        # drains everything, in order.
        if self._pumping or self._session is None:
            return
        self._pumping = True
        try:
            while True:
                actions = self._session.actions_to_perform()
                events = self._session.events_received()
                if not actions and not events:
                    break
                for action in actions:
                    self._perform(action)
                for event in events:
                    self._dispatch(event)
            self._arm_timer()
        finally:
            self._pumping = False

    def _perform(self, action: Action) -> None:
        if isinstance(action, StartPoll):
            self._polling_channel().start_poll()
        elif isinstance(action, StartPost):
            self._polling_channel().post(action.body)
        elif isinstance(action, StopPolling):
            if self._polling is not None:
                self._polling.stop()
        elif isinstance(action, OpenWebSocket):
            self._websocket = self._open_websocket(action.transport)
        elif isinstance(action, SendWebSocket):
            assert self._websocket is not None
            self._websocket.send(action.messages)
        elif isinstance(action, CloseWebSocket) and self._websocket is not None:
            self._websocket.close()

    def _dispatch(self, event: Event) -> None:
        assert self._opened is not None
        assert self._closed is not None
        if isinstance(event, Opened) and not self._opened.done():
            self._opened.set_result(event.handshake)
        elif isinstance(event, Closed):
            if not self._opened.done():
                self._opened.set_exception(EngineConnectionError(event))
            self._closed.set_result(event)
            self._cleanup = asyncio.get_running_loop().create_task(self._release())
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception as exc:
                # A bug in the handler must not kill the transport task that called us.
                asyncio.get_running_loop().call_exception_handler(
                    {"message": f"on_event handler failed on {event!r}", "exception": exc}
                )
        else:
            assert self._queue is not None
            if not isinstance(event, Closed) and self._queue.qsize() >= self._max_queued_events:
                # The application stopped reading: drop the connection, not the bound.
                assert self._session is not None
                self._session.abort(
                    "event queue full", f"{self._max_queued_events} events not read"
                )
                return
            self._queue.put_nowait(event)
        self._emit_engine_event(event)

    def _emit_engine_event(self, event: Event) -> None:
        # engine.io-client's events, for listeners registered with on().
        if isinstance(event, MessageReceived):
            self.emit("message", event.data)
        elif isinstance(event, PacketReceived):
            self.emit("packet", event.packet)
        elif isinstance(event, PacketCreated):
            self.emit("packetCreate", event.packet)
        elif isinstance(event, Drained):
            self.emit("drain")
        elif isinstance(event, PingReceived):
            self.emit("ping")
        elif isinstance(event, Opened):
            self.emit("handshake", event.handshake)
            self.emit("open")
        elif isinstance(event, Upgrading):
            self.emit("upgrading", str(event.transport))
        elif isinstance(event, Upgraded):
            self.emit("upgrade", str(event.transport))
        elif isinstance(event, UpgradeFailed):
            self.emit("upgradeError", event.description)
        elif isinstance(event, Closed):
            if event.error is not None:
                self.emit("error", event.error)
            self.emit("close", str(event.reason), event.description)

    def _arm_timer(self) -> None:
        assert self._session is not None
        deadline = self._session.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        assert self._session is not None
        self._session.handle_timeout(asyncio.get_running_loop().time())
        self._pump()

    async def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for channel in self._channels:
            await channel.aclose()

    # -- channels ----------------------------------------------------------------------
    def _url(self, transport: TransportName) -> str:
        session, endpoint = self._require()
        secure = endpoint.secure
        polling = transport is TransportName.POLLING
        if transport is TransportName.WEBTRANSPORT:
            scheme = "https"  # always: WebTransport is HTTP/3, over TLS
        else:
            scheme = ("https" if secure else "http") if polling else ("wss" if secure else "ws")
        extra = endpoint.per_transport.get(transport, {}).get("query", {})
        params = {**endpoint.query, **extra, **session.query(transport)}
        # Cache busting, as engine.io-client: polling unless turned off, WebSocket if asked.
        stamp = endpoint.timestamp_requests
        if (polling and stamp is not False) or (not polling and stamp):
            params["t"] = secrets.token_urlsafe(6)
        return f"{scheme}://{endpoint.netloc}{endpoint.path}?{urlencode(params)}"

    def _headers(self, transport: TransportName) -> dict[str, str]:
        _, endpoint = self._require()
        extra = endpoint.per_transport.get(transport, {}).get("headers", {})
        return {**endpoint.headers, **extra}

    def _polling_channel(self) -> PollingChannel:
        if self._polling is None:
            session, endpoint = self._require()
            self._polling = PollingChannel(
                url=lambda: self._url(TransportName.POLLING),
                listener=_Listener(self._feed),
                headers=self._headers(TransportName.POLLING),
                ssl=endpoint.ssl,
                timeout=endpoint.timeout,
                max_body=session.max_payload_size,
                cookie_jar=endpoint.cookie_jar,
                proxy=endpoint.proxy,
            )
            self._channels.append(self._polling)
        return self._polling

    def _open_websocket(self, transport: TransportName) -> WebSocketLike:
        session, endpoint = self._require()
        factory = self._websocket_factory
        if transport is TransportName.WEBTRANSPORT:
            # the webtransport extra (aioquic), imported only by sessions that use it
            from socketwire.io.client_webtransport import WebTransportChannel

            factory = WebTransportChannel
        channel = factory(
            url=self._url(transport),
            listener=_Listener(self._feed),
            headers=self._headers(TransportName.WEBSOCKET),
            ssl=endpoint.ssl,
            timeout=endpoint.timeout,
            # Text messages carry one more byte than their data: the packet type.
            max_size=session.max_message_size + 1,
            cookie_jar=endpoint.cookie_jar,
            proxy=endpoint.proxy,
            protocols=endpoint.protocols,
        )
        self._channels.append(channel)
        channel.open()
        return channel

    def _require(self) -> tuple[ClientSession, _Endpoint]:
        if self._session is None or self._endpoint is None:
            raise RuntimeError("not connected")
        return self._session, self._endpoint

    def _feed(self, call: Callable[[ClientSession, float], None]) -> None:
        if self._session is not None:
            call(self._session, asyncio.get_running_loop().time())
            self._pump()


@dataclass(frozen=True, slots=True)
class _Endpoint:
    secure: bool
    netloc: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    ssl: ssl_module.SSLContext | None
    timeout: float | None
    cookie_jar: AbstractCookieJar
    proxy: str | None = None
    protocols: tuple[str, ...] = ()
    timestamp_requests: bool | None = None
    per_transport: dict[TransportName, dict[str, dict[str, str]]] = field(default_factory=dict)


def parse_transport_options(
    options: Mapping[str, Mapping[str, Any]] | None,
) -> dict[TransportName, dict[str, dict[str, str]]]:
    """``transport_options`` by transport, checked.

    Raises:
        ValueError: an unknown transport, or an option not in
            [`TRANSPORT_OPTIONS`][TRANSPORT_OPTIONS].
    """
    result: dict[TransportName, dict[str, dict[str, str]]] = {}
    for name, values in (options or {}).items():
        try:
            transport = TransportName(name)
        except ValueError:
            raise ValueError(f"transport_options: unknown transport {name!r}") from None
        unknown = set(values) - TRANSPORT_OPTIONS
        if unknown:
            raise ValueError(
                f"transport_options[{name!r}]: unsupported {sorted(unknown)} "
                f"(supported: {sorted(TRANSPORT_OPTIONS)})"
            )
        result[transport] = {key: dict(value) for key, value in values.items()}
    return result


class _Listener:
    """Feeds what the channels observe into the session (PollingListener, WebSocketListener)."""

    __slots__ = ("_feed",)

    def __init__(self, feed: Callable[[Callable[[ClientSession, float], None]], None]) -> None:
        self._feed = feed

    def poll_response(self, body: bytes) -> None:
        self._feed(lambda s, now: s.receive_poll_response(body, now))

    def poll_failed(self, description: str) -> None:
        self._feed(lambda s, now: s.poll_failed(description))

    def post_done(self) -> None:
        self._feed(lambda s, now: s.post_done())

    def post_failed(self, description: str) -> None:
        self._feed(lambda s, now: s.post_failed(description))

    def websocket_opened(self) -> None:
        self._feed(lambda s, now: s.websocket_opened())

    def websocket_message(self, data: str | bytes) -> None:
        self._feed(lambda s, now: s.receive_websocket_message(data, now))

    def websocket_drained(self) -> None:
        self._feed(lambda s, now: s.websocket_drained())

    def websocket_closed(self, description: str) -> None:
        self._feed(lambda s, now: s.websocket_closed(description))

    def websocket_failed(self, description: str) -> None:
        self._feed(lambda s, now: s.websocket_failed(description))
