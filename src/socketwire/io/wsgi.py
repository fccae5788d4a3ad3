"""Serve a WSGI application (Flask, Django's WSGI handler, Bottle...) beside a socketwire
server, on one port: python-socketio's ``socketio.WSGIApp``, for ASGI servers.

Usage::

    flask_app = Flask(__name__)
    sio = socketwire.Server()
    app = socketwire.WSGIApp(sio, flask_app)   # then: uvicorn module:app

Paths the server owns (``/socket.io/``) go to it; every other request goes to the WSGI
application through a2wsgi's ``WSGIMiddleware`` (the ``wsgi`` extra), which runs it in a
pool of worker threads, so a blocking view never holds up the event loop. WebSocket
requests to other paths are closed (WSGI has no WebSocket).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .asgi import ASGIApp
from .http import HttpApp

__all__ = ["WSGIApp"]

#: ``app(environ, start_response) -> body`` (PEP 3333).
WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WSGIApp(ASGIApp):
    """An ASGI application serving ``http_app`` and, for every other path, ``wsgi_app``.

    Args:
        http_app: The socketwire server (or any ``HttpApp``).
        wsgi_app: The WSGI application (a Flask app, ``django.core.wsgi.get_wsgi_application()``).
        workers: Threads running WSGI requests at once (a2wsgi's ``workers``).
        body_timeout: See [`ASGIApp`][socketwire.ASGIApp].
        ws_compression: See [`ASGIApp`][socketwire.ASGIApp].

    Raises:
        ImportError: a2wsgi is not installed (socketwire's ``wsgi`` extra).
    """

    def __init__(
        self,
        http_app: HttpApp,
        wsgi_app: WSGIApplication,
        *,
        workers: int = 10,
        body_timeout: float = 30.0,
        ws_compression: bool | None = None,
    ) -> None:
        try:
            from a2wsgi import WSGIMiddleware
        except ImportError as exc:
            raise ImportError(
                "socketwire.WSGIApp needs a2wsgi: install socketwire's 'wsgi' extra"
            ) from exc
        super().__init__(
            http_app,
            WSGIMiddleware(wsgi_app, workers=workers),  # type: ignore[arg-type]
            body_timeout=body_timeout,
            ws_compression=ws_compression,
        )
        #: The WSGI application.
        self.wsgi_app = wsgi_app
