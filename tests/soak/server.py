"""The soak test's server: a socketwire Server with the bounds set low, and a /stats route.

Run by ``tests/soak/run.py`` (``make soak``) in a process of its own, so that its resident
set is the server's alone. It prints ``PORT <n>`` once it listens and serves until stdin
closes. ``GET /stats`` answers JSON: sessions, sockets, tasks, what is queued, and the close
and disconnect reasons seen so far.

Usage: python tests/soak/server.py [--plumbing native|asgi]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import socket as socket_module
import sys
from typing import Any

from socketwire import Server, Socket
from socketwire.io.http import HttpRequest, HttpResponse
from socketwire.io.native import NativeServer, install_uvloop

HOST = "127.0.0.1"
#: The bounds, set low so that the soak crosses each of them often.
OPTIONS: dict[str, Any] = {
    "ping_interval": 10.0,
    "ping_timeout": 10.0,
    "connect_timeout": 10.0,
    "max_buffered_bytes": 1024 * 1024,
    "max_pending_events": 100,
    "pending_events_timeout": 5.0,
    "attachment_timeout": 5.0,
    "serve_client": False,
}
#: The broadcast to the "big" room: its readers keep up, its slow consumers do not.
BIG_PAYLOAD = "x" * 256 * 1024
BIG_EVERY = 0.5


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class SoakApp:
    """The application: chat with acks and room broadcasts, a slow event, big broadcasts."""

    def __init__(self) -> None:
        self.sio = Server(**OPTIONS)
        self.close_reasons: collections.Counter[str] = collections.Counter()
        self.disconnect_reasons: collections.Counter[str] = collections.Counter()
        self.events = 0
        sio = self.sio
        sio.engine.on_close(lambda _sock, reason: self.close_reasons.update([reason]))
        sio.engine.fallback = self.stats
        sio.on("connection", self.on_connection)

    def on_connection(self, socket: Socket) -> None:
        """Register the handlers of one socket."""

        @socket.on("join")
        async def join(room: str) -> None:
            self.events += 1
            socket.join(room)

        @socket.on("chat")
        async def chat(n: int, text: str) -> str:
            self.events += 1
            if n % 10 == 0:
                socket.to("chat").emit("chat", text)
            return "ok"

        @socket.on("slow")
        async def slow() -> None:
            self.events += 1
            await asyncio.sleep(0.5)

        @socket.on("bin")
        async def binary(*blobs: bytes) -> int:
            self.events += 1
            return sum(len(b) for b in blobs)

        @socket.on("disconnect")
        async def disconnect(reason: str) -> None:
            self.disconnect_reasons.update([reason])

    async def big_broadcasts(self) -> None:
        """A large broadcast to the "big" room, twice a second."""
        while True:
            await asyncio.sleep(BIG_EVERY)
            self.sio.to("big").emit("big", BIG_PAYLOAD)

    async def stats(self, request: HttpRequest) -> HttpResponse:
        """``GET /stats``: what the soak runner samples."""
        sockets = [s for nsp in self.sio.namespaces.values() for s in nsp.sockets.values()]
        body = {
            "rss": rss_bytes(),
            "sessions": self.sio.engine.clients_count,
            "clients": len(self.sio._clients),
            "sockets": len(sockets),
            "tasks": len(asyncio.all_tasks()),
            "queued_events": sum(s.pending_events for s in sockets),
            "paused": sum(1 for c in self.sio.engine.clients.values() if c.reading_paused),
            "events": self.events,
            "close_reasons": dict(self.close_reasons),
            "disconnect_reasons": dict(self.disconnect_reasons),
        }
        return HttpResponse(200, [("Content-Type", "application/json")], json.dumps(body).encode())


async def serve_native(app: SoakApp) -> tuple[int, Any]:
    """Serve on a free port with the native server; returns (port, stop)."""
    server = NativeServer(app.sio, HOST, 0, backlog=4096)
    await server.start()
    return int(server.port), server.close


async def serve_asgi(app: SoakApp) -> tuple[int, Any]:
    """Serve the ASGI app under uvicorn (compression off, as the app); (port, stop)."""
    import uvicorn

    from socketwire.io.asgi import ASGIApp

    async def other(scope: Any, receive: Any, send: Any) -> None:
        # /stats, outside the Socket.IO path, through the same handler
        response = await app.stats(None)  # type: ignore[arg-type]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(response.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    sock = socket_module.create_server((HOST, 0), backlog=4096)
    config = uvicorn.Config(
        ASGIApp(app.sio, other_app=other, ws_compression=False),
        lifespan="off",
        log_level="warning",
        ws_per_message_deflate=False,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers nothing to await
        await asyncio.sleep(0.05)

    async def stop() -> None:
        server.should_exit = True
        await task

    return int(sock.getsockname()[1]), stop


async def main(plumbing: str) -> None:
    """Serve until stdin closes."""
    app = SoakApp()
    port, stop = await (serve_native(app) if plumbing == "native" else serve_asgi(app))
    broadcasts = asyncio.ensure_future(app.big_broadcasts())
    print(f"PORT {port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    broadcasts.cancel()
    await app.sio.shutdown()
    await stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plumbing", choices=("native", "asgi"), default="native")
    args = parser.parse_args()
    install_uvloop()
    asyncio.run(main(args.plumbing))
