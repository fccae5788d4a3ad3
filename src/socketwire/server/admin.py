"""The server side of the official Socket.IO admin UI (``@socket.io/admin-ui`` 0.5).

[`Server.instrument()`][socketwire.Server.instrument] builds an [`Admin`][Admin], which does
what the JS package's ``instrument(io, opts)`` does (``dist/index.js``), message for message:

* the admin namespace (``/admin``) with its authentication: none, or ``basic`` with a bcrypt
  hash of the password (a client that logs in is sent a ``session`` id it may present
  instead of the password later), or a function of the UI's ``auth``;
* ``config {supportedFeatures}`` to each UI that connects, then, in development mode,
  ``all_sockets`` (every socket of every namespace, across the cluster, through
  ``fetch_sockets``);
* ``server_stats`` every two seconds, emitted on the admin namespace: through a cluster
  adapter it reaches the UIs connected to every server, so one UI shows the whole cluster,
  Node servers included (each reports its own, with its ``serverId``);
* in development mode, ``socket_connected``, ``socket_updated`` (transport upgrades),
  ``socket_disconnected``, ``room_joined``, ``room_left``, ``event_received`` and
  ``event_sent`` as they happen; production mode sends statistics only, no socket detail;
* the UI's operations (unless ``read_only``): ``join``, ``leave``, ``_disconnect`` and
  ``emit``, each applied through the namespace's adapter, so they reach the sockets of
  every server.

As in JS, each socket's ``data`` holds an ``_admin`` entry (``clientId``, ``transport``) in
development mode, which other servers read through ``fetch_sockets``; it is left out of the
data the UI is shown.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import inspect
import logging
import os
import platform
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from socketwire.adapters.types import Handshake
from socketwire.errors import ConnectionRefusedError
from socketwire.server.counters import add_upgrade_listener

if TYPE_CHECKING:
    from socketwire.io.engine import EngineSocket
    from socketwire.server.admin_ui import AdminUI
    from socketwire.server.namespace import Namespace
    from socketwire.server.server import Server
    from socketwire.server.socket import Socket

__all__ = [
    "MAX_SESSIONS",
    "SESSION_DURATION",
    "Admin",
    "AdminAuth",
    "AdminOptions",
    "Feature",
    "serialize_socket",
]

logger = logging.getLogger("socketwire.server")

#: Session ids kept at once (the oldest is forgotten past this; JS keeps them all).
MAX_SESSIONS: Final = 1000
#: Seconds a session id stays valid (as the JS ``RedisStore``'s default).
SESSION_DURATION: Final = 86400.0
# bcrypt hashes as bcryptjs' getRounds() accepts them: $2$, $2a$, $2b$ (and $2x$, $2y$).
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$")
# bcryptjs uses the first 72 bytes of a password (bcrypt 5 refuses longer ones).
_BCRYPT_MAX_BYTES: Final = 72
_STARTED = time.monotonic()

#: ``auth`` of [`Server.instrument()`][socketwire.Server.instrument].
AdminAuth = (
    Literal[False]
    | None
    | Mapping[str, str]
    | Callable[[Mapping[str, Any]], bool | Awaitable[bool]]
)


class Feature(enum.Enum):
    """What the UI may offer (JS ``Feature``)."""

    EMIT = "EMIT"
    JOIN = "JOIN"
    LEAVE = "LEAVE"
    DISCONNECT = "DISCONNECT"
    MJOIN = "MJOIN"
    MLEAVE = "MLEAVE"
    MDISCONNECT = "MDISCONNECT"
    AGGREGATED_EVENTS = "AGGREGATED_EVENTS"
    ALL_EVENTS = "ALL_EVENTS"


_OPERATIONS: Final = (
    Feature.EMIT,
    Feature.JOIN,
    Feature.LEAVE,
    Feature.DISCONNECT,
    Feature.MJOIN,
    Feature.MLEAVE,
    Feature.MDISCONNECT,
)


@dataclass(frozen=True)
class AdminOptions:
    """The options of [`Server.instrument()`][socketwire.Server.instrument] (see there)."""

    auth: AdminAuth
    namespace: str = "/admin"
    read_only: bool = False
    server_id: str | None = None
    mode: str = "development"
    serve_ui: bool = False
    ui_path: str = "/admin/"
    stats_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.mode not in ("development", "production"):
            raise ValueError(f"mode is 'development' or 'production', not {self.mode!r}")
        if not self.namespace.startswith("/"):
            raise ValueError(f"the admin namespace starts with '/', not {self.namespace!r}")
        if not (self.ui_path.startswith("/") and self.ui_path.endswith("/")):
            raise ValueError(f"ui_path starts and ends with '/', not {self.ui_path!r}")
        if not self.stats_interval > 0:
            raise ValueError("stats_interval must be positive")
        auth = self.auth
        if auth is None or auth is False or callable(auth):
            return
        if not isinstance(auth, Mapping):
            raise ValueError("auth is False, a {'type': 'basic', ...} mapping or a function")
        if auth.get("type", "basic") != "basic":
            raise ValueError(f"unknown auth type {auth.get('type')!r} (only 'basic')")
        if not isinstance(auth.get("username"), str):
            raise ValueError("basic auth needs a 'username'")
        password = auth.get("password")
        if not isinstance(password, str) or not _BCRYPT_HASH.match(password):
            raise ValueError("the `password` field must be a valid bcrypt hash")

    @property
    def development(self) -> bool:
        """True in development mode."""
        return self.mode == "development"


class _Sessions:
    """The session ids handed to UIs that logged in (JS ``InMemoryStore``), bounded in
    number and in time."""

    def __init__(self, limit: int = MAX_SESSIONS, duration: float = SESSION_DURATION) -> None:
        self.limit = limit
        self.duration = duration
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def create(self) -> str:
        """A new session id (16 hex characters, as JS ``randomBytes(8)``)."""
        session_id = secrets.token_hex(8)
        self._expiry[session_id] = time.monotonic() + self.duration
        while len(self._expiry) > self.limit:
            self._expiry.popitem(last=False)
        return session_id

    def valid(self, session_id: str) -> bool:
        """True for a session id handed out and not expired."""
        expiry = self._expiry.get(session_id)
        if expiry is None:
            return False
        if expiry < time.monotonic():
            del self._expiry[session_id]
            return False
        return True


class _EventBuffer:
    """Counts per second and type, sent with the next ``server_stats`` (JS
    ``EventBuffer``)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str, str | None], int] = {}

    def push(self, kind: str, sub_type: str | None = None, count: int = 1) -> None:
        """Add ``count`` to this second's ``kind`` (and ``sub_type``)."""
        if count <= 0:
            return
        key = (int(time.time()) * 1000, kind, sub_type)
        self._counts[key] = self._counts.get(key, 0) + count

    def take(self) -> list[dict[str, Any]]:
        """Every count, as the UI reads them; the buffer is emptied."""
        values = []
        for (timestamp, kind, sub_type), count in self._counts.items():
            value: dict[str, Any] = {"timestamp": timestamp, "type": kind, "count": count}
            if sub_type is not None:
                value["subType"] = sub_type
            values.append(value)
        self._counts.clear()
        return values


class _SocketLike(Protocol):
    """A local [`Socket`][socketwire.Socket] or a
    [`RemoteSocket`][socketwire.server.operators.RemoteSocket]."""

    @property
    def id(self) -> str: ...
    @property
    def handshake(self) -> Handshake: ...
    @property
    def rooms(self) -> set[str]: ...
    @property
    def data(self) -> dict[str, Any]: ...


def _now() -> str:
    """Now, as JSON.stringify(new Date()) writes it."""
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def serialize_socket(socket: _SocketLike, nsp: str) -> dict[str, Any]:
    """A socket as the UI reads it (JS ``serialize``): no ``auth``, no ``_admin`` in
    ``data``."""
    data = socket.data if isinstance(socket.data, dict) else {}
    admin = data.get("_admin")
    admin = admin if isinstance(admin, dict) else {}
    handshake = socket.handshake
    headers = dict(handshake.headers)
    address = headers.get("cf-connecting-ip") or headers.get("x-forwarded-for")
    return {
        "id": socket.id,
        "clientId": admin.get("clientId"),
        "transport": admin.get("transport"),
        "nsp": nsp,
        "data": {key: value for key, value in data.items() if key != "_admin"},
        "handshake": {
            "address": address or handshake.address,
            "headers": headers,
            "query": dict(handshake.query),
            "issued": handshake.issued,
            "secure": handshake.secure,
            "time": handshake.time,
            "url": handshake.url,
            "xdomain": handshake.xdomain,
        },
        "rooms": sorted(socket.rooms),
    }


def _check_password(password: str, hashed: str) -> bool:
    import bcrypt

    secret = password.encode()[:_BCRYPT_MAX_BYTES]
    try:
        return bool(bcrypt.checkpw(secret, hashed.encode()))
    except ValueError:
        return False


def _require_bcrypt() -> None:
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "basic authentication of the admin UI needs bcrypt: install socketwire's "
            "'admin' extra (pip install 'socketwire[admin]')"
        ) from None


class Admin:
    """What [`Server.instrument()`][socketwire.Server.instrument] set up on a server.

    Attributes:
        server: The server.
        options: Its options.
        namespace: The admin namespace.
        server_id: This server's name in the UI.
        features: What the UIs connected to this server are told they may do.
        ui: The UI's static files (None without ``serve_ui``).
    """

    def __init__(self, server: Server, options: AdminOptions) -> None:
        self.server = server
        self.options = options
        self.server_id = options.server_id or f"{platform.node()}#{os.getpid()}"
        basic = options.auth if isinstance(options.auth, Mapping) else None
        if basic is not None:
            _require_bcrypt()
        self._basic = basic
        self._sessions = _Sessions()
        self._events = _EventBuffer()
        self._counters = server.enable_counters()
        self._last: tuple[int, int, int, int] = (0, 0, 0, 0)
        features = [] if options.read_only else list(_OPERATIONS)
        features.append(Feature.AGGREGATED_EVENTS)
        if options.development:
            features.append(Feature.ALL_EVENTS)
        self.features: list[Feature] = features
        self.namespace: Namespace = server.of(options.namespace)
        self.namespace.use(self._authenticate)
        self.namespace.on("connection", self._on_admin_connection)
        server.engine.on_connection(self._on_engine_connection)
        server.engine.on_close(self._on_engine_close)
        if options.development:
            server.watch_namespaces(self._watch)
        server.add_task(self._send_stats)
        self.ui: AdminUI | None = None
        if options.serve_ui:
            from socketwire.server.admin_ui import AdminUI

            self.ui = AdminUI(
                server_path=server.engine.options.path,
                namespace=options.namespace,
                ui_path=options.ui_path,
            )
            server.route(options.ui_path, self.ui)
        if options.auth is None or options.auth is False:
            where = f" and its UI is served at {options.ui_path}" if options.serve_ui else ""
            logger.warning(
                "the admin namespace %s has no authentication%s: anyone who reaches this "
                "server can watch%s its sockets",
                options.namespace,
                where,
                "" if options.read_only else " and disconnect",
            )

    # -- authentication ----------------------------------------------------------------------

    async def _authenticate(self, socket: Socket) -> None:
        auth = self.options.auth
        if auth is None or auth is False:
            return
        credentials = socket.handshake.auth
        session_id = credentials.get("sessionId")
        if isinstance(session_id, str) and self._sessions.valid(session_id):
            return
        basic = self._basic
        if basic is not None:
            password = credentials.get("password")
            if (
                credentials.get("username") == basic["username"]
                and isinstance(password, str)
                # bcrypt is slow on purpose: not on the event loop
                and await asyncio.to_thread(_check_password, password, basic["password"])
            ):
                socket.emit("session", self._sessions.create())
                return
        elif callable(auth):
            allowed = auth(credentials)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if allowed:
                return
        logger.info("admin UI refused: invalid credentials")
        raise ConnectionRefusedError("invalid credentials")

    # -- the UI's connection -----------------------------------------------------------------

    async def _on_admin_connection(self, socket: Socket) -> None:
        features = self.features
        if Feature.EMIT in features:
            socket.on("emit", self._op_emit)
        if Feature.JOIN in features:
            socket.on("join", self._op_join)
        if Feature.LEAVE in features:
            socket.on("leave", self._op_leave)
        if Feature.DISCONNECT in features:
            socket.on("_disconnect", self._op_disconnect)
        socket.emit("config", {"supportedFeatures": [feature.value for feature in features]})
        if self.options.development:
            socket.emit("all_sockets", await self.all_sockets())

    async def all_sockets(self) -> list[dict[str, Any]]:
        """Every socket of every namespace, on every server of the cluster."""
        found: list[dict[str, Any]] = []
        for name, nsp in self.server.namespaces.items():
            try:
                sockets = await nsp.fetch_sockets()
            except Exception as exc:
                # a server that does not answer: show what the others said
                logger.warning("admin UI: fetching the sockets of %s failed: %s", name, exc)
                continue
            found.extend(serialize_socket(socket, name) for socket in sockets)
        return found

    def _target(self, nsp: Any, filter_: Any) -> Namespace | None:
        if not isinstance(nsp, str) or not nsp.startswith("/"):
            return None
        if filter_ is not None and not isinstance(filter_, str):
            return None
        return self.server.of(nsp)

    async def _op_emit(
        self, nsp: Any = None, filter_: Any = None, event: Any = None, *args: Any
    ) -> None:
        target = self._target(nsp, filter_)
        if target is None or not isinstance(event, str):
            return
        try:
            (target.to(filter_) if filter_ else target).emit(event, *args)
        except ValueError as exc:  # a reserved event name
            logger.info("admin UI: emit refused: %s", exc)

    async def _op_join(self, nsp: Any = None, room: Any = None, filter_: Any = None) -> None:
        target = self._target(nsp, filter_)
        if target is not None and isinstance(room, str):
            await (target.in_(filter_).sockets_join(room) if filter_ else target.sockets_join(room))

    async def _op_leave(self, nsp: Any = None, room: Any = None, filter_: Any = None) -> None:
        target = self._target(nsp, filter_)
        if target is not None and isinstance(room, str):
            await (
                target.in_(filter_).sockets_leave(room) if filter_ else target.sockets_leave(room)
            )

    async def _op_disconnect(
        self, nsp: Any = None, close: Any = False, filter_: Any = None
    ) -> None:
        target = self._target(nsp, filter_)
        if target is not None:
            close = close is True
            await (
                target.in_(filter_).disconnect_sockets(close)
                if filter_
                else target.disconnect_sockets(close)
            )

    # -- statistics --------------------------------------------------------------------------

    def _on_engine_connection(self, _conn: EngineSocket) -> None:
        self._events.push("rawConnection")

    def _on_engine_close(self, _conn: EngineSocket, reason: str) -> None:
        self._events.push("rawDisconnection", reason)

    def stats(self) -> dict[str, Any]:
        """This server's ``server_stats`` (the counts since the previous call)."""
        counters = self._counters
        now = (
            sum(counters.packets_in),
            sum(counters.packets_out),
            counters.bytes_in,
            counters.bytes_out,
        )
        for kind, value, last in zip(
            ("packetsIn", "packetsOut", "bytesIn", "bytesOut"), now, self._last, strict=True
        ):
            self._events.push(kind, None, value - last)
        self._last = now
        engine = self.server.engine
        return {
            "serverId": self.server_id,
            "hostname": platform.node(),
            "pid": os.getpid(),
            "uptime": time.monotonic() - _STARTED,
            "clientsCount": engine.clients_count,
            "pollingClientsCount": engine.polling_clients_count,
            "aggregatedEvents": self._events.take(),
            "namespaces": [
                {"name": name, "socketsCount": len(nsp.sockets)}
                for name, nsp in self.server.namespaces.items()
            ],
        }

    async def _send_stats(self) -> None:
        failing = False
        while True:
            try:
                self.namespace.emit("server_stats", self.stats())
                failing = False
            except Exception as exc:
                # the cluster's broker is down: say so once, keep trying
                if not failing:
                    logger.warning("admin UI: sending the server stats failed: %s", exc)
                failing = True
            await asyncio.sleep(self.options.stats_interval)

    # -- development mode: every socket, room and event --------------------------------------

    def _emit(self, event: str, *args: Any) -> None:
        try:
            self.namespace.emit(event, *args)
        except Exception as exc:
            logger.debug("admin UI: %s not sent: %s", event, exc)

    def _watch(self, nsp: Namespace) -> None:
        nsp.on("connection", self._on_socket)
        name = nsp.name
        adapter = nsp.adapter

        def joined(room: str, sid: str) -> None:
            self._emit("room_joined", name, room, sid, _now())

        def left(room: str, sid: str) -> None:
            # JS: on the next tick, after the leave completed
            asyncio.get_running_loop().call_soon(self._emit, "room_left", name, room, sid, _now())

        adapter.on("join-room", joined)
        adapter.on("leave-room", left)

    async def _on_socket(self, socket: Socket) -> None:
        nsp = socket.nsp.name
        sid = socket.id
        admin = {"clientId": socket.client.id[:12], "transport": socket.conn.transport}
        socket.data["_admin"] = admin
        self._emit("socket_connected", serialize_socket(socket, nsp), _now())

        def upgraded() -> None:
            admin["transport"] = "websocket"
            self._emit("socket_updated", {"id": sid, "nsp": nsp, "transport": "websocket"})

        if admin["transport"] == "polling":
            add_upgrade_listener(socket.conn, upgraded)
        if socket.nsp is not self.namespace:

            def received(event: str, *args: Any) -> None:
                self._emit("event_received", nsp, sid, [event, *args], _now())

            def sent(event: str, *args: Any) -> None:
                self._emit("event_sent", nsp, sid, [event, *args], _now())

            socket.on_any(received)
            socket.on_any_outgoing(sent)

        async def disconnected(reason: str, *_details: Any) -> None:
            self._emit("socket_disconnected", nsp, sid, reason, _now())

        socket.on("disconnect", disconnected)
