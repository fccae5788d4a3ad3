"""socketwire on its native server (asyncio + uvloop + httptools + websockets' sans-I/O)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from _common import parse_args, raise_nofile, run_loop

import socketwire
from socketwire.io.native import NativeServer


def make_server(
    redis: str | None = None,
    metrics: bool = False,
    *,
    validated: bool = False,
    webtransport: bool = False,
) -> socketwire.Server:
    """The benchmark application: ``echo`` with ack, ``broadcast`` to everyone.

    Args:
        redis: join a cluster through this Redis server (the classic pub/sub adapter, the
            format of ``@socket.io/redis-adapter``); None for a single node.
        metrics: enable ``socketwire.metrics`` (every connection counts what it does).
        validated: typed handlers (``data: Payload``), validated with pydantic, instead of
            untyped ones; the same answers.
        webtransport: accept WebTransport sessions too (S1-WT).
    """
    options: dict[str, Any] = {}
    if webtransport:
        options["transports"] = ("polling", "websocket", "webtransport")
    if redis:
        from socketwire.adapters.redis import create_adapter

        options["adapter"] = create_adapter(redis)
    # validate_outgoing is off in production; the variant measures what production pays.
    sio = socketwire.Server(max_http_buffer_size=10_000_000, validate_outgoing=False, **options)

    if validated:
        from _validated import add_typed_handlers  # needs pydantic

        add_typed_handlers(sio)
    else:

        @sio.on("connection")
        async def connection(socket: socketwire.Socket) -> None:
            @socket.on("echo")
            async def echo(*args: Any) -> Any:
                # S1, S4 (text) and S5 (binary): the return value is the acknowledgement.
                return args[0] if args else None

            @socket.on("broadcast")
            async def broadcast(*args: Any) -> None:
                # S2: send the payload to every connected client (S6: of the cluster).
                sio.emit("bcast", *args)

    if metrics:
        from socketwire.metrics import enable

        enable(sio)
    return sio


def __getattr__(name: str) -> Any:
    # `socketwire serve socketwire_native:bench_app --workers N` (S7): each worker builds the
    # app when it imports it, after its inter-worker adapter is set.
    if name == "bench_app":
        return make_server()
    raise AttributeError(name)


def serve_workers(args: argparse.Namespace) -> None:
    """S7: the same app from ``--workers N`` processes (``socketwire serve``), in place of
    this process."""
    raise_nofile()
    os.chdir(Path(__file__).resolve().parent)
    command = [sys.executable, "-m", "socketwire", "serve", "socketwire_native:bench_app"]
    command += ["--workers", str(args.workers), "--host", args.host, "--port", str(args.port)]
    os.execv(sys.executable, [*command, "--log-level", "warning"])


async def main(args: argparse.Namespace) -> None:
    """Serve until SIGTERM or SIGINT."""
    raise_nofile()
    webtransport = None
    if args.webtransport_cert:
        from socketwire.io.webtransport import WebTransportOptions

        webtransport = WebTransportOptions(
            args.webtransport_cert, args.webtransport_key, max_payload=10_000_000
        )
    sio = make_server(
        args.redis,
        args.metrics,
        validated=args.validated,
        webtransport=webtransport is not None,
    )
    server = NativeServer(sio, args.host, args.port, backlog=4096, webtransport=webtransport)
    await server.start()
    if args.redis:
        # A cluster node subscribes before its first client (see docs/topics/clusters.md).
        await asyncio.wait_for(sio.start(), 10)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close(timeout=1.0)


if __name__ == "__main__":
    if "--workers" in sys.argv and sys.argv[sys.argv.index("--workers") + 1] != "1":
        serve_workers(parse_args(__doc__ or ""))
    run_loop(main)
