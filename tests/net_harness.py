"""What stands between a client and its server in the client's network tests.

* :class:`HttpProxy`: a forward HTTP proxy, as a corporate one: ``CONNECT host:port``
  tunnels (the WebSocket, and anything over TLS) and plain requests in absolute form
  (``GET http://host:port/path``: polling without TLS). It can require Basic credentials.
* :class:`PinningBalancer`: a reverse proxy in front of several servers that pins a client
  to one of them by a cookie it inserts (``lb=<n>``, as HAProxy's ``cookie ... insert`` or
  AWS's ``AWSALB``); a request without it goes to the next server in turn. A client that
  does not send cookies back is spread over every server, which breaks Socket.IO sessions.
* :func:`make_tls_files`: a certificate authority made for the test and a server
  certificate it signed for 127.0.0.1 and localhost, with the ``openssl`` command.

Both proxies listen on 127.0.0.1 (a free port), parse only what they need of HTTP/1.1, use
one upstream connection per request (``Connection: close``) so a request is never answered
by the wrong upstream, and record what they saw for the tests' asserts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Self

__all__ = ["HttpProxy", "PinningBalancer", "Seen", "TlsFiles", "make_tls_files"]

HOST = "127.0.0.1"
_MAX_HEAD = 65536
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization"}


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def head(self, target: str, drop: set[str], extra: list[tuple[str, str]]) -> bytes:
        lines = [f"{self.method} {target} {self.version}"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in drop]
        lines += [f"{k}: {v}" for k, v in extra]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @property
    def upgrade(self) -> bool:
        return (self.header("upgrade") or "").lower() == "websocket"


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    if len(head) > _MAX_HEAD:
        return None
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ", 2)
    headers = []
    for line in lines:
        if line:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
    request = _Request(method, target, version, headers, b"")
    length = int(request.header("content-length") or 0)
    if length:
        request.body = await reader.readexactly(length)
    return request


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError):
        if writer.can_write_eof():
            writer.write_eof()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


class _Listener:
    """A TCP server on 127.0.0.1 whose connection handlers are tracked and ended on close."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The work runs in a task of its own, cancelled by close(): the connection's own
        # task then ends normally (Python 3.11's streams log a cancelled one as an error).
        task = asyncio.create_task(self.serve(reader, writer))
        self._tasks.add(task)
        try:
            await task
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            await _close(writer)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


@dataclass(frozen=True)
class Seen:
    """A request a proxy handled."""

    method: str
    target: str
    cookie: str | None = None
    upstream: int = 0


class HttpProxy(_Listener):
    """A forward proxy (``CONNECT`` tunnels and absolute-form requests).

    Args:
        credentials: ``"user:password"`` the client must send (``Proxy-Authorization:
            Basic``); without them the proxy answers 407.
    """

    def __init__(self, credentials: str | None = None) -> None:
        super().__init__()
        self.credentials = credentials
        #: Every request, in order (refused ones included, with ``upstream`` 407).
        self.seen: list[Seen] = []

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without credentials."""
        return f"http://{HOST}:{self.port}"

    def url_with_credentials(self) -> str:
        """The proxy URL carrying :attr:`credentials`."""
        return f"http://{self.credentials}@{HOST}:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_request(reader)
        if request is None:
            return
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
            if request.header("proxy-authorization") != expected:
                self.seen.append(Seen(request.method, request.target, upstream=407))
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\n'
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                await writer.drain()
                return
        self.seen.append(Seen(request.method, request.target, request.header("cookie")))
        if request.method == "CONNECT":
            host, _, port = request.target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                await _close(up_writer)
            return
        # An absolute-form request: forward it in origin form, one request per connection.
        rest = request.target.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port or 80))
        try:
            up_writer.write(
                request.head("/" + path, _HOP_BY_HOP, [("Connection", "close")]) + request.body
            )
            await up_writer.drain()
            await _pipe(up_reader, writer)
        finally:
            await _close(up_writer)


class PinningBalancer(_Listener):
    """A reverse proxy pinning each client to one upstream by an inserted cookie.

    Args:
        upstreams: the ``(host, port)`` of each server.
        cookie: the name of the cookie it inserts (``lb``).
    """

    def __init__(self, upstreams: list[tuple[str, int]], cookie: str = "lb") -> None:
        super().__init__()
        self.upstreams = upstreams
        self.cookie = cookie
        self._turn = itertools.cycle(range(len(upstreams)))
        #: Every request, in order, with the upstream it went to.
        self.seen: list[Seen] = []

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    def _pinned(self, cookies: str | None) -> int | None:
        for part in (cookies or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie and value.isdigit() and int(value) < len(self.upstreams):
                return int(value)
        return None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_request(reader)
        if request is None:
            return
        cookies = request.header("cookie")
        pinned = self._pinned(cookies)
        index = next(self._turn) if pinned is None else pinned
        self.seen.append(Seen(request.method, request.target, cookies, index))
        host, port = self.upstreams[index]
        up_reader, up_writer = await asyncio.open_connection(host, port)
        try:
            if request.upgrade:
                # A WebSocket: forward the handshake as it is, then both ways until the end.
                up_writer.write(request.head(request.target, set(), []) + request.body)
                await up_writer.drain()
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                return
            up_writer.write(
                request.head(request.target, _HOP_BY_HOP, [("Connection", "close")]) + request.body
            )
            await up_writer.drain()
            head = await up_reader.readuntil(b"\r\n\r\n")
            if pinned is None:
                insert = f"Set-Cookie: {self.cookie}={index}; Path=/\r\n".encode()
                head = head[:-2] + insert + b"\r\n"
            writer.write(head)
            await writer.drain()
            await _pipe(up_reader, writer)
        finally:
            await _close(up_writer)


@dataclass
class TlsFiles:
    """A test certificate authority and a server certificate it signed (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    def server_args(self) -> dict[str, str]:
        """The scenario servers' ``tls`` argument: the key and the certificate, as PEM."""
        return {"key": self.key.read_text(), "cert": self.cert.read_text()}


def make_tls_files(folder: Path) -> TlsFiles:
    """Create a CA and a server certificate for 127.0.0.1 and localhost in ``folder``.

    Uses the ``openssl`` command (Debian's ``openssl`` package); EC P-256 keys, valid for
    one day.
    """
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command is missing (apt-get install openssl)"

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=socketwire test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "server.ext",
    )  # fmt: skip
    return TlsFiles(ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server.key")
