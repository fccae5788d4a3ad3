"""Scenario server: socketwire's own Server, driven like tests/interop/js/sio_server.js.

It speaks the same protocol as sio_server.js (read that file's header: the arguments, the
JSON events on stdout, the commands on stdin), so that one set of client scenarios runs
against both servers (tests/client_scenarios.py). Extra argument:

    "plumbing": "native" | "asgi"    (NativeServer, or the ASGI app under uvicorn)

"tls" ({"key": PEM, "cert": PEM}) is supported on the native plumbing; "log_requests" is not.

Messages are recorded as they arrive on the wire: the Engine.IO connection's ``on_message``
is wrapped, and a second decoder turns what the client sent into packets, so "acked" is
whether the client asked for an ack. "drop_acks" removes the ack id before the server sees
the packet (re-encoded), so the server never answers it.

Usage: python sio_server.py '<json args>'
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import re
import socket as socket_module
import ssl
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from socketwire import ConnectionRefusedError, RecoveryOptions, Server, Socket
from socketwire.io.engine import EngineSocket
from socketwire.socketio import Packet, PacketType, ProtocolError

HOST = "127.0.0.1"


def out(**event: Any) -> None:
    """One JSON event on stdout."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def to_json(value: Any) -> Any:
    """Python values -> JSON, bytes as {"$bin": base64}."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any) -> Any:
    """JSON -> Python values (bytes back)."""
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if list(value) == ["$bin"]:
            return base64.b64decode(value["$bin"])
        return {k: from_json(v) for k, v in value.items()}
    return value


def ack_list(value: Any) -> list[Any]:
    """An awaited ack's value (None, one value, or a tuple) back to its argument list."""
    if value is None:
        return []
    if isinstance(value, tuple):
        return list(value)
    return [value]


class Scenario:
    """The scenario server's state and behaviour."""

    def __init__(self, args: dict[str, Any]) -> None:
        options = args.get("options") or {}
        engine: dict[str, Any] = {}
        if "pingInterval" in options:
            engine["ping_interval"] = options["pingInterval"] / 1000
        if "pingTimeout" in options:
            engine["ping_timeout"] = options["pingTimeout"] / 1000
        if "maxHttpBufferSize" in options:
            engine["max_http_buffer_size"] = options["maxHttpBufferSize"]
        if "transports" in options:
            engine["transports"] = tuple(options["transports"])
        if "cookie" in options:
            engine["cookie"] = options["cookie"]
        if "allowEIO3" in options:
            engine["allow_eio3"] = bool(options["allowEIO3"])
        recovery = (
            RecoveryOptions(max_disconnection_duration=60, skip_middlewares=True)
            if args.get("recovery")
            else None
        )
        self.sio = Server(
            parser=args.get("parser") or "json",
            connection_state_recovery=recovery,
            serve_client=False,
            **engine,
        )
        self.drop_acks = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.sio.engine.on_connection(self._on_engine_connection)
        dynamic = self.sio.of(re.compile(r"^/.*"))
        for nsp in (self.sio.sockets, dynamic):
            nsp.use(self._refuse)
            nsp.on("connection", self._on_connection)

    # -- connections -------------------------------------------------------------------
    def _on_engine_connection(self, conn: EngineSocket) -> None:
        # Runs after the Server's own callback: conn.on_message is the Socket.IO client's.
        conn.on_upgrade = lambda: out(event="upgrade", engine=conn.sid, transport="websocket")
        deliver = conn.on_message
        assert deliver is not None
        decoder = self.sio.parser.decoder()
        held: list[str | bytes] = []

        def on_message(data: str | bytes) -> None:
            held.append(data)
            try:
                packet = decoder.feed(data)
            except ProtocolError:
                packet = None  # the server's own decoder sees it too, and reports it
            else:
                if packet is None:
                    return  # waiting for binary attachments
            messages = list(held)
            held.clear()
            if packet is not None:
                messages = self._observe(conn, packet, messages)
            for message in messages:
                deliver(message)

        conn.on_message = on_message

    def _observe(
        self, conn: EngineSocket, packet: Packet, messages: list[str | bytes]
    ) -> list[str | bytes]:
        if packet.type not in (PacketType.EVENT, PacketType.BINARY_EVENT):
            return messages
        name, *rest = packet.data
        acked = packet.id is not None
        socket = self._find(conn, packet.nsp)
        out(
            event="message",
            nsp=packet.nsp,
            id=socket.id if socket is not None else None,
            name=name,
            args=to_json(rest),
            acked=acked,
        )
        if acked and self.drop_acks > 0:
            self.drop_acks -= 1
            out(event="dropped_ack", nsp=packet.nsp, name=name, args=to_json(rest))
            stripped = dataclasses.replace(packet, id=None)
            return list(self.sio.parser.encode(stripped))
        return messages

    def _find(self, conn: EngineSocket, nsp: str) -> Socket | None:
        namespace = self.sio.namespaces.get(nsp)
        if namespace is None:
            return None
        return next((s for s in namespace.sockets.values() if s.conn.sid == conn.sid), None)

    async def _refuse(self, socket: Socket) -> None:
        auth = socket.handshake.auth or {}
        if socket.nsp.name == "/refuse" or auth.get("refuse") is True:
            raise ConnectionRefusedError(
                "refused", data={"reason": "not allowed", "auth": to_json(auth)}
            )

    async def _on_connection(self, socket: Socket) -> None:
        room = socket.handshake.query.get("room")
        if isinstance(room, list):
            room = room[0] if room else None
        out(
            event="connection",
            nsp=socket.nsp.name,
            id=socket.id,
            engine=socket.conn.sid,
            auth=to_json(socket.handshake.auth),
            query={"room": room},
            query_keys=list(socket.handshake.query),
            handshake_transport=socket.handshake.query.get("transport"),
            headers=dict(socket.handshake.headers),
            recovered=socket.recovered,
            transport=str(socket.conn.transport),
            protocol=socket.conn.protocol,
        )
        known: set[str] = set()

        def echo_handler(name: str) -> Callable[..., Awaitable[Any]]:
            async def handle(*args: Any) -> Any:
                if name == "emit_back" and args:
                    socket.emit(args[0], *args[1:])
                if name == "join" and args:
                    socket.join(args[0])
                return tuple(args)  # the ack, when one was asked for: the same arguments

            return handle

        async def register(event: str, args: list[Any]) -> None:
            # Every event has a handler, so that every asked-for ack is answered.
            if event not in known:
                known.add(event)
                socket.on(event, echo_handler(event))

        socket.use(register)

        async def on_disconnect(reason: str) -> None:
            out(event="disconnect", nsp=socket.nsp.name, id=socket.id, reason=reason)

        socket.on("disconnect", on_disconnect)

    # -- commands ----------------------------------------------------------------------
    def _targets(self, cmd: dict[str, Any]) -> list[Socket]:
        nsp = self.sio.of(cmd.get("nsp") or "/")
        sockets = list(nsp.sockets.values())
        to = cmd.get("to")
        return [s for s in sockets if s.id == to] if to else sockets

    def run(self, cmd: dict[str, Any]) -> bool:
        """Run one command; False for "exit"."""
        kind = cmd["cmd"]
        if kind == "emit":
            payload = from_json(cmd.get("args") or [])
            if not cmd.get("to"):
                nsp = self.sio.of(cmd.get("nsp") or "/")
                target = nsp.to(cmd["room"]) if cmd.get("room") else nsp
                target.emit(cmd["event"], *payload)
            else:
                for socket in self._targets(cmd):
                    if cmd.get("ref") is None:
                        socket.emit(cmd["event"], *payload)
                    else:
                        self._spawn(self._ask(socket, cmd, payload))
        elif kind == "disconnect":
            for socket in self._targets(cmd):
                socket.disconnect()
        elif kind == "close_transport":
            for socket in self._targets(cmd):
                socket.conn.close()
        elif kind == "raw":
            for socket in self._targets(cmd):
                socket.conn.send(cmd["data"])
        elif kind == "drop_acks":
            self.drop_acks = int(cmd["count"])
        elif kind == "exit":
            return False
        else:
            raise ValueError(f"unknown command {kind}")
        if "id" in cmd:
            out(event="ack", id=cmd["id"])
        return True

    async def _ask(self, socket: Socket, cmd: dict[str, Any], payload: list[Any]) -> None:
        seconds = (cmd.get("timeout") or 5000) / 1000
        try:
            reply = await socket.timeout(seconds).emit_with_ack(cmd["event"], *payload)
        except Exception as exc:
            out(event="client_ack", ref=cmd["ref"], error=str(exc))
        else:
            out(event="client_ack", ref=cmd["ref"], args=to_json(ack_list(reply)))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def tls_context(tls: dict[str, str]) -> ssl.SSLContext:
    """A server TLS context from PEM text (``key`` and ``cert``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        for name in ("key", "cert"):
            Path(folder, f"{name}.pem").write_text(tls[name], encoding="ascii")
        context.load_cert_chain(Path(folder, "cert.pem"), Path(folder, "key.pem"))
    return context


async def serve_native(
    sio: Server, port: int, tls: dict[str, str] | None = None
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Serve with NativeServer (over TLS with ``tls``: PEM key and cert); (port, stop)."""
    from socketwire.io.native import NativeServer

    context = tls_context(tls) if tls else None
    server = NativeServer(sio, host=HOST, port=port, ssl=context)
    await server.start()
    return int(server.port), server.close


async def serve_asgi(sio: Server, port: int) -> tuple[int, Callable[[], Awaitable[None]]]:
    """Serve the ASGI app under uvicorn; (port, stop)."""
    import uvicorn

    from socketwire import ASGIApp

    sock = socket_module.socket(socket_module.AF_INET, socket_module.SOCK_STREAM)
    sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    deflate = sio.per_message_deflate  # uvicorn's own default is on
    config = uvicorn.Config(
        ASGIApp(sio, ws_compression=deflate),
        host=HOST,
        port=port,
        lifespan="on",
        log_level="warning",
        ws_per_message_deflate=deflate,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:  # uvicorn offers nothing to await
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited during startup")
            await asyncio.sleep(0.01)

    async def stop() -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 10)
        finally:
            sock.close()

    return int(sock.getsockname()[1]), stop


async def main() -> None:
    """Serve until "exit" or the end of stdin."""
    args = json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")
    scenario = Scenario(args)
    port_arg = int(args.get("port") or 0)
    if args.get("plumbing") == "asgi":
        port, stop = await serve_asgi(scenario.sio, port_arg)
    else:
        port, stop = await serve_native(scenario.sio, port_arg, args.get("tls"))
    out(event="listening", port=port)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if not line.strip():
            continue
        try:
            if not scenario.run(json.loads(line)):
                break
        except Exception as exc:
            out(event="fatal", message=repr(exc))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(scenario.sio.shutdown(), 5)
    await asyncio.wait_for(stop(), 10)


if __name__ == "__main__":
    asyncio.run(main())
