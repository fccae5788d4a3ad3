"""The demo's web page: ``/`` (index.html), ``/app.js`` and ``/style.css``.

The files are package data (``socketwire/demo/static``). The page is told the Socket.IO
path and which browser bundle to load (the msgpack one when the server uses msgpack).
"""

from __future__ import annotations

import html
from importlib import resources

from socketwire.io.http import HttpRequest, HttpResponse
from socketwire.static import StaticFile

__all__ = ["DemoPages"]

_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_ROUTES = {
    "/": "index.html",
    "/index.html": "index.html",
    "/app.js": "app.js",
    "/style.css": "style.css",
}


def _read(name: str) -> bytes:
    return resources.files("socketwire.demo").joinpath("static", name).read_bytes()


class DemoPages:
    """An HTTP handler for the page (an Engine.IO ``fallback``).

    Args:
        path: The Socket.IO path the page connects to (``"/socket.io/"``).
        parser: ``"json"`` or ``"msgpack"``: which client bundle the page loads.
    """

    def __init__(self, *, path: str, parser: str = "json") -> None:
        base = path.rstrip("/")
        bundle = "socket.io.msgpack.min.js" if parser == "msgpack" else "socket.io.min.js"
        index = (
            _read("index.html")
            .decode()
            .replace("%CLIENT_SCRIPT%", html.escape(f"{base}/{bundle}"))
            .replace("%IO_PATH%", html.escape(base + "/"))
            .replace("%PARSER%", html.escape(parser))
        )
        # The page changes with the package: revalidate every time (cheap, with the ETag).
        self.files = {
            name: StaticFile(
                index.encode() if name == "index.html" else _read(name),
                content_type,
                cache_control="no-cache",
            )
            for name, content_type in _TYPES.items()
        }

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer ``request``: a page file, 405 for other methods, 404 for other paths."""
        name = _ROUTES.get(request.path)
        if name is None:
            return HttpResponse(404, [("Content-Type", "text/plain; charset=utf-8")], b"Not Found")
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, [("Allow", "GET, HEAD")])
        return self.files[name].respond(request)
