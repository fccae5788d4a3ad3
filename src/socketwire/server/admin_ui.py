"""The admin UI's static files, served by the server it watches (``instrument(serve_ui=True)``).

The files are the build of the npm package ``@socket.io/admin-ui`` (``ui/dist``) and the icon
font it links (``@mdi/font``), which ``make assets`` copies into the package's ``_assets/``
directory (so a wheel carries them), as it does the browser client. The UI's ``index.html``
is changed in two ways when served:

* it loads the icon font from beside it instead of a CDN, and no web font from Google, so
  that it works on networks that reach neither;
* a few lines of script fill in the connection form (this server's origin, its Socket.IO
  path and the admin namespace) unless the browser already holds settings of its own.

Nothing else is served: a path that is not one of the files is a 404, so no request reads
outside the UI's directory.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from socketwire.io.http import HttpRequest, HttpResponse
from socketwire.static import StaticFile

__all__ = ["ADMIN_UI_ENV", "ADMIN_UI_VERSION", "PACKAGED_ASSETS", "AdminUI"]

logger = logging.getLogger("socketwire.server")

#: The ``@socket.io/admin-ui`` version ``make assets`` copies.
ADMIN_UI_VERSION: Final = "0.5.1"
#: The environment variable naming a directory holding ``@socket.io/admin-ui`` (and
#: ``@mdi/font``), e.g. a ``node_modules``.
ADMIN_UI_ENV: Final = "SOCKETWIRE_ADMIN_UI_DIR"
#: Where ``make assets`` puts the npm packages.
PACKAGED_ASSETS: Final = Path(__file__).resolve().parent.parent / "_assets"

_CDN_ICONS = "https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css"
_GOOGLE_FONTS = (
    '<link rel="stylesheet" href="https://fonts.googleapis.com/css?'
    'family=Roboto:100,300,400,500,700,900">'
)
_ICONS = "mdi/"
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
}
_TEXT_PLAIN = "text/plain; charset=utf-8"


def _prefill(path: str, namespace: str) -> str:
    """The script that fills in the UI's connection settings (the localStorage keys of its
    "connection" store) when the browser holds none, so a user's own choice is kept."""
    settings = json.dumps({"namespace": namespace, "path": path, "ws_only": "false"})
    settings = settings.replace("<", "\\u003c")  # never "</script>" inside the script
    return (
        "<script>(function(){try{var s=window.localStorage;"
        'if(!s.getItem("server_url")){s.setItem("server_url",window.location.origin);'
        "var o=" + settings + ";for(var k in o){s.setItem(k,o[k]);}}}catch(e){}})();</script>"
    )


class AdminUI:
    """An HTTP handler serving the admin UI under ``ui_path`` (a route of the server).

    Args:
        server_path: The Socket.IO path the UI connects to (``"/socket.io/"``).
        namespace: The admin namespace.
        ui_path: Where the UI is served (``"/admin/"``).
        directory: Where the npm packages are (holding ``@socket.io/admin-ui`` and
            ``@mdi/font``); default: ``$SOCKETWIRE_ADMIN_UI_DIR``, else the copy in the
            package.
        environ: The environment read for ``SOCKETWIRE_ADMIN_UI_DIR``.
    """

    def __init__(
        self,
        *,
        server_path: str,
        namespace: str,
        ui_path: str = "/admin/",
        directory: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        if directory is not None:
            root = Path(directory)
        elif env.get(ADMIN_UI_ENV):
            root = Path(env[ADMIN_UI_ENV])
        else:
            root = PACKAGED_ASSETS
        self.ui_path = ui_path
        self.dist = root / "@socket.io" / "admin-ui" / "ui" / "dist"
        self.icons = root / "@mdi" / "font"
        self._server_path = server_path.rstrip("/") or "/"
        self._namespace = namespace
        self._files: dict[str, StaticFile] = {}
        self._paths = self._listing()
        if "index.html" not in self._paths:
            logger.warning("%s", self.missing_message())

    @property
    def available(self) -> bool:
        """True when the UI's files were found."""
        return "index.html" in self._paths

    def missing_message(self) -> str:
        """What is sent (and logged) when the UI's files are missing."""
        return (
            f"The Socket.IO admin UI is not installed, so {self.ui_path} cannot be served.\n"
            f"Looked for @socket.io/admin-ui's ui/dist in {self.dist}.\n"
            "A socketwire wheel carries it; in a source checkout, `make assets` copies it "
            f"into the package. Or run `npm install @socket.io/admin-ui@{ADMIN_UI_VERSION} "
            f"@mdi/font` and point {ADMIN_UI_ENV} at that node_modules.\n"
        )

    def _listing(self) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for base, prefix in ((self.dist, ""), (self.icons, _ICONS)):
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                if path.is_file() and path.suffix in _TYPES:
                    paths[prefix + path.relative_to(base).as_posix()] = path
        return paths

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer a request under ``ui_path``."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, [("Allow", "GET, HEAD")])
        if request.path == self.ui_path.rstrip("/"):
            # relative links in index.html need the trailing slash
            return HttpResponse(301, [("Location", self.ui_path)])
        name = request.path[len(self.ui_path) :] or "index.html"
        file = self._file(name)
        if file is None:
            if not self.available:
                return HttpResponse(
                    404, [("Content-Type", _TEXT_PLAIN)], self.missing_message().encode()
                )
            return HttpResponse(404, [("Content-Type", _TEXT_PLAIN)], b"Not Found")
        return file.respond(request)

    def _file(self, name: str) -> StaticFile | None:
        file = self._files.get(name)
        if file is not None:
            return file
        path = self._paths.get(name)
        if path is None:
            return None
        try:
            body = path.read_bytes()
        except OSError:
            return None
        if name == "index.html":
            body = self._index(body.decode()).encode()
            # the page names this server: revalidate it every time
            file = StaticFile(body, _TYPES[".html"], cache_control="no-cache")
        else:
            file = StaticFile(body, _TYPES[path.suffix])
        self._files[name] = file
        return file

    def _index(self, page: str) -> str:
        page = page.replace(_GOOGLE_FONTS, "")
        if f"{_ICONS}css/materialdesignicons.min.css" in self._paths:
            page = page.replace(_CDN_ICONS, f"{_ICONS}css/materialdesignicons.min.css")
        script = _prefill(self._server_path, self._namespace)
        head_end = page.find("</head>")
        if head_end < 0:
            return script + page
        return page[:head_end] + script + page[head_end:]
