"""Shared fixtures: running Engine.IO servers, JS drivers, raw HTTP and raw WebSocket peers.

Everything binds 127.0.0.1 on a free port, waits on conditions with a bound, and tears down
cleanly: every fixture checks at teardown that what it started has stopped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    # Imported lazily at run time, so that collection works while the server is missing.
    from socketwire.engineio import EngineOptions
    from socketwire.io.engine import EngineServer, EngineSocket
    from socketwire.io.http import HttpApp

__all__ = [
    "JS_DIR",
    "WAIT",
    "EngineFactory",
    "EngineHarness",
    "HttpResult",
    "NodeDriver",
    "NodeFactory",
    "RawWebSocket",
    "SessionRecord",
    "build_request",
    "count_calls",
    "free_port",
    "from_js",
    "http_request",
    "raw_connection",
    "read_response",
    "start_asgi",
    "start_native",
    "start_uvicorn",
    "to_js",
    "wait_until",
]

JS_DIR = Path(__file__).parent / "interop" / "js"
HOST = "127.0.0.1"
#: The default bound for any condition wait in these tests.
WAIT = 5.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that passes options to the ``engine_server`` fixture."""
    config.addinivalue_line(
        "markers",
        "engine_options(**kwargs): EngineOptions for the engine_server fixture",
    )


# ---------------------------------------------------------------------------------------
# Generic helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (prefer binding port 0 directly)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[tuple[Any, ...]]:
    """Record the arguments of every call of ``owner.name`` (a method: ``self`` first) for
    the rest of the test; the method still runs."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(owner, name)

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(owner, name, counting)
    return calls


async def wait_until(predicate: Callable[[], bool], message: str = "condition") -> bool:
    """Wait until ``predicate()`` is true; fail the test after :data:`WAIT` seconds.

    For conditions nothing signals (counters); events are awaited directly elsewhere.
    """
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT} s waiting for {message}")
        await asyncio.sleep(0.01)
    return True


# ---------------------------------------------------------------------------------------
# Raw HTTP over asyncio streams


@dataclass
class HttpResult:
    """A parsed HTTP/1.1 response."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive)."""
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


async def read_response(reader: asyncio.StreamReader) -> HttpResult:
    """Read one HTTP/1.1 response (Content-Length, chunked, or until EOF)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    _version, status, *reason = lines[0].split(" ", 2)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
    result = HttpResult(int(status), reason[0] if reason else "", headers, b"")
    if result.status in (101, 204, 304):
        return result
    length = result.header("content-length")
    if result.header("transfer-encoding") == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        result.body = b"".join(chunks)
    elif length is not None:
        result.body = await reader.readexactly(int(length))
    else:
        result.body = await reader.read()
    return result


def build_request(
    method: str,
    target: str,
    port: int,
    headers: Mapping[str, str] | None = None,
    body: bytes | str = b"",
    *,
    content_length: int | None = None,
) -> bytes:
    """Serialise a request head and body; ``content_length`` overrides the real length."""
    if isinstance(body, str):
        body = body.encode()
    all_headers = {"Host": f"{HOST}:{port}", "Connection": "close"}
    if body or method in ("POST", "PUT", "PATCH") or content_length is not None:
        all_headers["Content-Length"] = str(len(body) if content_length is None else content_length)
    all_headers.update(headers or {})
    head = f"{method} {target} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
    return head.encode("latin-1") + b"\r\n" + body


async def http_request(
    port: int,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | str = b"",
) -> HttpResult:
    """Send one request on a new connection and return the parsed response (within WAIT)."""
    async with asyncio.timeout(WAIT):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(build_request(method, target, port, headers, body))
            await writer.drain()
            return await read_response(reader)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A TCP connection to 127.0.0.1:``port`` for hand-written requests, closed on exit."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# ---------------------------------------------------------------------------------------
# Raw WebSocket: for bytes no WebSocket library would send


class RawWebSocket:
    """A hand-rolled RFC 6455 client over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, target: str) -> tuple[RawWebSocket, HttpResult]:
        """Open a connection and send the upgrade request; returns the handshake response."""
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(request.encode())
        async with asyncio.timeout(WAIT):
            response = await read_response(reader)
        return cls(reader, writer), response

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Write one masked frame."""
        header = bytearray([(0x80 if fin else 0) | opcode])
        length = len(payload)
        if length < 126:
            header.append(0x80 | length)
        elif length < 65536:
            header.append(0x80 | 126)
            header += length.to_bytes(2, "big")
        else:
            header.append(0x80 | 127)
            header += length.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes(header) + mask + masked)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (garbage, broken frames)."""
        self.writer.write(data)

    async def recv_frame(self) -> tuple[int, bytes]:
        """Read one (unmasked, server) frame: ``(opcode, payload)``, within WAIT."""
        async with asyncio.timeout(WAIT):
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            mask = await self.reader.readexactly(4) if second & 0x80 else b""
            payload = await self.reader.readexactly(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            return first & 0x0F, payload

    async def recv_until_close(self) -> int | None:
        """Read frames until a close frame (returns its code, None if absent) or EOF (-1).

        A close frame is answered with a close frame, so the server can end the connection.
        """
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    opcode, payload = await self.recv_frame()
                except asyncio.IncompleteReadError:
                    return -1
                if opcode == 0x8:
                    # Complete the closing handshake, as a client must (RFC 6455 5.5.1).
                    self.send_frame(0x8, payload[:2])
                    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None

    async def wait_eof(self) -> None:
        """Wait until the server closes the TCP connection (within WAIT)."""
        async with asyncio.timeout(WAIT):
            while await self.reader.read(65536):
                pass

    async def close(self) -> None:
        """Drop the TCP connection."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def __aenter__(self) -> RawWebSocket:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# ---------------------------------------------------------------------------------------
# Engine.IO server under either plumbing


@dataclass
class SessionRecord:
    """What the harness saw of one Engine.IO session."""

    sock: EngineSocket
    sid: str
    opened_at: float
    messages: list[str | bytes] = field(default_factory=list)
    close_reason: str | None = None
    closed_at: float | None = None
    upgraded: bool = False


class EngineHarness:
    """A running EngineServer: records sessions, their messages and close reasons.

    ``echo``: send every received message back (tests that need other behaviour set it False
    or replace ``sock.on_message`` on the socket they get from :meth:`next_session`).
    """

    def __init__(self, kind: str, engine: EngineServer, port: int, options: EngineOptions) -> None:
        self.kind = kind
        self.engine = engine
        self.port = port
        self.options = options
        self.echo = True
        self.sessions: list[SessionRecord] = []
        self._by_sid: dict[str, SessionRecord] = {}
        self._changed = asyncio.Event()
        self._taken = 0
        engine.on_connection(self._on_connection)

    @property
    def url(self) -> str:
        """The server origin, ``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def path(self) -> str:
        """The Engine.IO path (``/engine.io/``)."""
        return self.options.path

    def target(self, transport: str = "polling", sid: str | None = None, eio: str = "4") -> str:
        """A request target for this server's Engine.IO path."""
        query = f"EIO={eio}&transport={transport}"
        if sid is not None:
            query += f"&sid={sid}"
        return f"{self.path}?{query}"

    def ws_url(self, sid: str | None = None) -> str:
        """A ``ws://`` URL for a WebSocket connection (new, or upgrading ``sid``)."""
        return f"ws://{HOST}:{self.port}{self.target('websocket', sid)}"

    def _on_connection(self, sock: EngineSocket) -> None:
        record = SessionRecord(sock=sock, sid=sock.sid, opened_at=time.monotonic())
        self.sessions.append(record)
        self._by_sid[sock.sid] = record

        def on_message(data: str | bytes) -> None:
            record.messages.append(data)
            self._changed.set()
            if self.echo:
                sock.send(data)

        def on_close(reason: str) -> None:
            record.close_reason = str(reason)
            record.closed_at = time.monotonic()
            self._changed.set()

        def on_upgrade() -> None:
            record.upgraded = True
            self._changed.set()

        sock.on_message = on_message
        sock.on_close = on_close
        sock.on_upgrade = on_upgrade
        self._changed.set()

    async def _wait(self, predicate: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(WAIT):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"[{self.kind}] timed out after {WAIT} s waiting for {what}")

    def session(self, sid: str) -> SessionRecord:
        """The record of session ``sid`` (it must have connected)."""
        return self._by_sid[sid]

    async def next_session(self) -> SessionRecord:
        """The next session not yet returned by this method, waiting for it to connect."""
        await self._wait(lambda: len(self.sessions) > self._taken, "a new session")
        record = self.sessions[self._taken]
        self._taken += 1
        return record

    async def wait_session(self, sid: str) -> SessionRecord:
        """The record of session ``sid``, waiting for it to connect."""
        await self._wait(lambda: sid in self._by_sid, f"session {sid}")
        return self._by_sid[sid]

    async def wait_message(self, record: SessionRecord, count: int = 1) -> list[str | bytes]:
        """Wait until ``record`` has received ``count`` messages; return them all."""
        await self._wait(
            lambda: len(record.messages) >= count, f"{count} message(s) on {record.sid}"
        )
        return record.messages

    async def wait_closed(self, record: SessionRecord) -> str:
        """Wait until ``record``'s session closed; return the close reason."""
        await self._wait(lambda: record.close_reason is not None, f"close of session {record.sid}")
        assert record.close_reason is not None
        return record.close_reason

    async def wait_upgraded(self, record: SessionRecord) -> None:
        """Wait until ``record``'s session upgraded to WebSocket."""
        await self._wait(lambda: record.upgraded, f"upgrade of session {record.sid}")

    async def wait_poll_pending(self, record: SessionRecord) -> None:
        """Wait until a polling GET of ``record`` is held by the server (JS ``writable``)."""
        await wait_until(lambda: record.sock.writable, f"a pending poll on {record.sid}")

    async def wait_no_clients(self) -> None:
        """Wait until the engine counts no session at all."""
        await wait_until(
            lambda: self.engine.clients_count == 0,
            f"[{self.kind}] clients_count == 0 (is {self.engine.clients_count})",
        )

    # -- raw HTTP conveniences --------------------------------------------------------

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
    ) -> HttpResult:
        """One raw HTTP request to this server."""
        return await http_request(self.port, method, target, headers, body)

    async def handshake(
        self, headers: Mapping[str, str] | None = None
    ) -> tuple[str, dict[str, Any], HttpResult]:
        """A polling handshake: ``(sid, open packet data, response)``."""
        response = await self.request("GET", self.target(), headers)
        assert response.status == 200, (response.status, response.body)
        assert response.body[:1] == b"0", response.body
        # The open packet may be followed by others (an initial packet).
        data = json.loads(response.body.split(b"\x1e")[0][1:])
        return data["sid"], data, response

    async def poll(self, sid: str) -> HttpResult:
        """One polling GET for ``sid``."""
        return await self.request("GET", self.target(sid=sid))

    async def post(
        self, sid: str, body: bytes | str, headers: Mapping[str, str] | None = None
    ) -> HttpResult:
        """One polling POST for ``sid``."""
        all_headers = {"Content-Type": "text/plain;charset=UTF-8"}
        all_headers.update(headers or {})
        return await self.request("POST", self.target(sid=sid), all_headers, body)


#: Options every harness gets unless the test overrides them: slow heartbeats, so only the
#: tests about heartbeats see pings.
DEFAULT_ENGINE_OPTIONS: dict[str, Any] = {"ping_interval": 5.0, "ping_timeout": 5.0}

EngineFactory = Callable[..., Awaitable[EngineHarness]]


async def start_native(
    app: HttpApp, plumbing: dict[str, Any] | None = None
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Serve ``app`` with the native server on a free port: ``(port, stop)``."""
    from socketwire.io.native import NativeServer

    server = NativeServer(app, host=HOST, port=0, **(plumbing or {}))
    await server.start()

    async def stop() -> None:
        await server.close()

    return int(server.port), stop


async def start_asgi(
    app: HttpApp, plumbing: dict[str, Any] | None = None
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Serve ``ASGIApp(app)`` under uvicorn, in this loop, on a free port: ``(port, stop)``.

    uvicorn negotiates WebSocket compression as the app's ``per_message_deflate`` says (its
    own default is on), and the ASGI app is told so.
    """
    from socketwire.io.asgi import ASGIApp

    deflate = bool(getattr(app, "per_message_deflate", False))
    asgi = ASGIApp(app, **{"ws_compression": deflate, **(plumbing or {})})
    return await start_uvicorn(asgi, per_message_deflate=deflate)


async def start_uvicorn(
    asgi: Any, *, per_message_deflate: bool = False
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Serve the ASGI application ``asgi`` under uvicorn, in this loop, on a free port:
    ``(port, stop)``; uvicorn offers WebSocket compression only with
    ``per_message_deflate``."""
    import uvicorn

    deflate = per_message_deflate
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        asgi,
        host=HOST,
        port=port,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=5,
        ws_per_message_deflate=deflate,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{port}")
    try:
        await wait_until(lambda: server.started or task.done(), "uvicorn to start")
        if task.done():
            task.result()
            pytest.fail("uvicorn exited during startup")
    except BaseException:
        sock.close()
        raise

    async def stop() -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 15)
        finally:
            sock.close()

    return port, stop


@pytest.fixture
def free_tcp_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (racy: prefer binding port 0)."""
    return free_port()


@pytest.fixture(params=["native", "asgi"])
def plumbing(request: pytest.FixtureRequest) -> str:
    """Which plumbing serves the engine: the native server or the ASGI app under uvicorn."""
    param: str = request.param
    return param


def _other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


@pytest.fixture
async def engine_factory(plumbing: str) -> AsyncIterator[EngineFactory]:
    """An async factory ``(plumbing_options=None, **engine_options) -> EngineHarness``.

    Every server it starts is stopped at teardown; teardown fails if a session, a task or
    a server is left behind.
    """
    from socketwire.engineio import EngineOptions
    from socketwire.io.engine import EngineServer

    tasks_before = _other_tasks()
    running: list[tuple[EngineHarness, Callable[[], Awaitable[None]]]] = []

    async def start(
        plumbing_options: dict[str, Any] | None = None, **options: Any
    ) -> EngineHarness:
        engine_options = EngineOptions(**{**DEFAULT_ENGINE_OPTIONS, **options})
        engine = EngineServer(engine_options)
        starter = start_native if plumbing == "native" else start_asgi
        port, stop = await starter(engine, plumbing_options or {})
        harness = EngineHarness(plumbing, engine, port, engine_options)
        running.append((harness, stop))
        return harness

    yield start

    problems = []
    for harness, stop in reversed(running):
        try:
            await asyncio.wait_for(stop(), 20)
        except Exception as exc:  # report every server's failure, not just the first
            problems.append(f"[{harness.kind}] stopping the server failed: {exc!r}")
        if harness.engine.clients_count != 0:
            problems.append(
                f"[{harness.kind}] {harness.engine.clients_count} session(s) left after stop"
            )
            await harness.engine.shutdown()
    with contextlib.suppress(TimeoutError):
        # Tasks finishing their last step after the servers stopped get a bounded grace.
        async with asyncio.timeout(WAIT):
            while left := _other_tasks() - tasks_before:
                await asyncio.wait(left)
    left = _other_tasks() - tasks_before
    if left:
        problems.append(f"tasks left running: {sorted(t.get_name() for t in left)}")
        for task in left:
            task.cancel()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
async def engine_server(
    engine_factory: EngineFactory, request: pytest.FixtureRequest
) -> EngineHarness:
    """An EngineServer behind the native server or the ASGI app (see ``plumbing``).

    Options come from ``@pytest.mark.engine_options(...)`` on the test or module.
    """
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("engine_options"))):
        options.update(marker.kwargs)
    return await engine_factory(**options)


# ---------------------------------------------------------------------------------------
# Node drivers


def to_js(value: Any) -> Any:
    """Python value -> the driver's JSON (bytes as {"$bin": base64})."""
    if isinstance(value, bytes | bytearray):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [to_js(v) for v in value]
    if isinstance(value, dict):
        return {k: to_js(v) for k, v in value.items()}
    return value


def from_js(value: Any) -> Any:
    """The driver's JSON -> Python values (bytes back)."""
    if isinstance(value, list):
        return [from_js(v) for v in value]
    if isinstance(value, dict):
        if list(value) == ["$bin"]:
            return base64.b64decode(value["$bin"])
        return {k: from_js(v) for k, v in value.items()}
    return value


class NodeDriver:
    """A JS driver script run with node: JSON events out (stdout), JSON commands in (stdin).

    Events are kept in arrival order; :meth:`expect` consumes the first unconsumed event that
    matches, so a test can wait for events in any order it likes.
    """

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.events: list[dict[str, Any]] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Event()
        self._eof = False
        self._stderr = b""
        self._next_id = 0
        self._reader = asyncio.create_task(self._read_stdout(), name=f"node-stdout:{name}")
        self._err_reader = asyncio.create_task(self._read_stderr(), name=f"node-stderr:{name}")

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "noise", "line": line.decode(errors="replace")}
            self.events.append(event)
            self._changed.set()
        self._eof = True
        self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._stderr += chunk

    def describe(self) -> str:
        """The events so far and stderr, for failure messages."""
        events = "\n  ".join(json.dumps(e)[:300] for e in self.events)
        return f"events:\n  {events}\nstderr: {self._stderr.decode(errors='replace')[-2000:]}"

    def _find(self, event: str, fields: Mapping[str, Any]) -> int | None:
        for i, item in enumerate(self.events):
            if i in self._consumed or item.get("event") != event:
                continue
            if all(item.get(k) == v for k, v in fields.items()):
                return i
        return None

    async def expect(self, event: str, within: float = WAIT, **fields: Any) -> dict[str, Any]:
        """Wait (up to ``within`` seconds) for, and consume, the first event ``event`` whose
        fields match."""
        deadline = time.monotonic() + within
        while True:
            index = self._find(event, fields)
            if index is not None:
                self._consumed.add(index)
                return self.events[index]
            for item in self.events:
                if item.get("event") in ("fatal", "noise"):
                    pytest.fail(f"{self.name}: driver problem: {item}\n{self.describe()}")
            remaining = deadline - time.monotonic()
            if self._eof or remaining <= 0:
                why = "driver exited" if self._eof else f"timed out after {within} s"
                pytest.fail(f"{self.name}: {why} waiting for {event} {fields}\n{self.describe()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def seen(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        """Every event so far named ``event`` with matching fields (consumed or not)."""
        return [
            e
            for e in self.events
            if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
        ]

    async def command(self, cmd: str, **fields: Any) -> None:
        """Send a command and wait until the driver has executed it."""
        self._next_id += 1
        ident = self._next_id
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, "id": ident, **fields}).encode() + b"\n")
        await self.proc.stdin.drain()
        await self.expect("ack", id=ident)

    async def send_text(self, data: str) -> None:
        """Make the client send a text message."""
        await self.command("send", data=data)

    async def send_binary(self, data: bytes) -> None:
        """Make the client send a binary message."""
        await self.command("send", binary=base64.b64encode(data).decode())

    async def stop(self) -> int:
        """Close stdin (the driver closes its client and exits); kill it if it does not."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), WAIT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await asyncio.wait_for(asyncio.gather(self._reader, self._err_reader), WAIT)
        returncode = self.proc.returncode
        assert returncode is not None
        return returncode


NodeFactory = Callable[[str, dict[str, Any]], Awaitable[NodeDriver]]


@pytest.fixture
async def node() -> AsyncIterator[NodeFactory]:
    """A factory ``(script, args) -> NodeDriver`` for scripts in tests/interop/js.

    Every driver is stopped at teardown; teardown fails if one had to be killed or failed.
    """
    node_bin = shutil.which("node")
    if node_bin is None or not (JS_DIR / "node_modules").is_dir():
        pytest.skip("node or tests/interop/js/node_modules is missing (run `make npm`)")
    drivers: list[NodeDriver] = []

    async def start(script: str, args: dict[str, Any]) -> NodeDriver:
        proc = await asyncio.create_subprocess_exec(
            node_bin,
            str(JS_DIR / script),
            json.dumps(args),
            cwd=str(JS_DIR),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        driver = NodeDriver(proc, f"{script}#{len(drivers)}")
        drivers.append(driver)
        return driver

    yield start

    problems = []
    for driver in drivers:
        code = await driver.stop()
        if code != 0:
            problems.append(f"{driver.name} exited with {code}\n{driver.describe()}")
    if problems:
        pytest.fail("\n".join(problems))
