"""The long-polling floor: a bare HTTP server (httptools on uvloop) that speaks only as much
Engine.IO and Socket.IO as the lite polling client needs, with no checks.

What it measures: the cost of the HTTP requests of long-polling on asyncio + uvloop (the
parsing of each request, one write per response, the kernel's loopback TCP) and nothing else,
as ``raw_websockets.py`` measures WebSocket framing for the WebSocket scenarios. Per session a
list of packets to send and at most one parked ``GET``; a ``POST``'s packets are answered with
string operations: ``40`` with the namespace's ``40{"sid":...}``, ``42<id>["echo",X]`` with
``43<id>[X]``; anything else is dropped. No ping timer, no CORS, no limits, no session ends:
it is not a server, only the floor under one.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from typing import cast

import httptools
from _common import raise_nofile, run_loop

_ids = itertools.count(1)
_ECHO = '["echo",'


class _Session:
    __slots__ = ("out", "parked")

    def __init__(self) -> None:
        self.out: list[str] = []
        #: the connection whose GET waits for packets, and whether it stays open after it
        self.parked: tuple[_Connection, bool] | None = None


_sessions: dict[str, _Session] = {}


def _respond(conn: _Connection, body: bytes, keep_alive: bool) -> None:
    transport = conn.transport
    if transport is None or transport.is_closing():
        return
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: %d\r\n"
    if not keep_alive:
        head += b"Connection: close\r\n"
    transport.write(head % len(body) + b"\r\n" + body)
    if not keep_alive:
        transport.close()


def _answer(session: _Session, packet: str) -> None:
    if packet == "40":
        session.out.append(f'40{{"sid":"n{next(_ids)}"}}')
    elif packet.startswith("42"):
        bracket = packet.find("[", 2)
        if bracket > 0 and packet.startswith(_ECHO, bracket):
            session.out.append(f"43{packet[2:bracket]}[{packet[bracket + len(_ECHO) : -1]}]")


class _Connection(asyncio.Protocol):
    __slots__ = ("body", "parser", "transport", "url")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep_alive = self.parser.should_keep_alive()
        url = self.url.decode("latin-1")
        at = url.find("sid=")
        if at < 0:  # the handshake
            sid = f"s{next(_ids)}"
            _sessions[sid] = _Session()
            opened = (
                f'0{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
                '"maxPayload":1000000}'
            )
            _respond(self, opened.encode(), keep_alive)
            return
        session = _sessions.get(url[at + 4 :].partition("&")[0])
        if session is None:
            if self.transport is not None:
                self.transport.close()
            return
        if self.parser.get_method() == b"POST":
            for packet in b"".join(self.body).decode().split("\x1e"):
                _answer(session, packet)
            _respond(self, b"ok", keep_alive)
            if session.out and session.parked is not None:
                (conn, conn_keep_alive), session.parked = session.parked, None
                _respond(conn, "\x1e".join(session.out).encode(), conn_keep_alive)
                session.out.clear()
        elif session.out:
            _respond(self, "\x1e".join(session.out).encode(), keep_alive)
            session.out.clear()
        else:
            session.parked = (self, keep_alive)


async def main(args: argparse.Namespace) -> None:
    """Serve until terminated."""
    raise_nofile()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, args.host, args.port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    run_loop(main)
