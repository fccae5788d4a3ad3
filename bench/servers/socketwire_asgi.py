"""socketwire's ASGI app (``socketwire.ASGIApp``) under uvicorn."""

from __future__ import annotations

from typing import Any

from _common import parse_args, run_uvicorn
from socketwire_native import make_server

import socketwire
from socketwire.io.asgi import ASGIApp


def with_cluster_start(sio: socketwire.Server, app: ASGIApp) -> Any:
    """``app``, whose lifespan startup first joins the cluster (``sio.start()``).

    A cluster node subscribes before its first client; ``ASGIApp`` alone would start lazily
    on the first request.

    Args:
        sio: the server behind ``app``.
        app: the ASGI application.
    """

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await sio.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await sio.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return lifespan_app


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    sio = make_server(args.redis, validated=args.validated)
    app = ASGIApp(sio, ws_compression=False)  # run_uvicorn turns uvicorn's compression off
    if args.redis:
        run_uvicorn(with_cluster_start(sio, app), args, lifespan=True)
    else:
        run_uvicorn(app, args)
