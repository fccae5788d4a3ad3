"""What every Python benchmark server shares: its command line, file limits, the event loop."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["parse_args", "raise_nofile", "run_loop", "run_uvicorn"]


def parse_args(description: str) -> argparse.Namespace:
    """Parse the options every benchmark server takes (``--port``, ``--host``, ``--loop``...).

    Args:
        description: the server's one-line description for ``--help``.

    Returns:
        The parsed options.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop (servers that run their own loop)",
    )
    parser.add_argument(
        "--uvicorn-ws",
        default="auto",
        help="uvicorn's WebSocket implementation (ASGI servers only): auto, websockets, "
        "websockets-sansio, wsproto",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="join a cluster through this Redis server (S6); default: a single node",
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="socketwire only: count with socketwire.metrics enabled (served at /metrics)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="serve from this many worker processes (S7; servers that support it)",
    )
    parser.add_argument(
        "--validated",
        action="store_true",
        help="socketwire servers: typed handlers whose payloads pydantic validates",
    )
    parser.add_argument(
        "--webtransport-cert",
        metavar="PEM",
        help="also serve WebTransport (S1-WT; socketwire's native server only), this certificate",
    )
    parser.add_argument("--webtransport-key", metavar="PEM", help="its private key")
    return parser.parse_args()


def raise_nofile() -> None:
    """Raise the soft open-file limit to the hard one: S3 holds thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_uvicorn(app: Any, args: argparse.Namespace, *, lifespan: bool = False) -> None:
    """Serve an ASGI app the way a production deployment would: uvloop, httptools, one worker.

    Args:
        app: the ASGI application.
        args: the options from :func:`parse_args`.
        lifespan: send the app lifespan events (a cluster node joins its cluster at startup).
    """
    import uvicorn

    raise_nofile()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=args.uvicorn_ws,
        # The load generator offers no permessage-deflate, so no contender compresses; this
        # only keeps uvicorn from advertising it.
        ws_per_message_deflate=False,
        lifespan="on" if lifespan else "off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
    uvicorn.Server(config).run()


def run_loop(main: Callable[[argparse.Namespace], Coroutine[Any, Any, None]]) -> None:
    """Parse the command line and run ``main(args)`` on the event loop it names.

    Args:
        main: the server's coroutine function; it is given the parsed options.
    """
    args = parse_args(sys.modules["__main__"].__doc__ or "")
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args))
    else:
        asyncio.run(main(args))
