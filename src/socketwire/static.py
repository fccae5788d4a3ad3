"""Static files: the official browser client bundle, and small in-memory files.

`ClientBundle` serves the ``socket.io-client`` dist files at ``<path>/socket.io.js``
(and ``.min.js``, ``.esm.min.js``, ``.msgpack.min.js``, with their ``.map`` files) as the JS
``socket.io`` server's ``serveClient`` option does (``Server.serve`` and ``sendFile`` in
``socket.io/dist/index.js``): ``ETag`` is the quoted client version, a matching
``If-None-Match`` (strong or weak) answers 304, ``Cache-Control: public, max-age=0``, and the
body is compressed when the client accepts it.

The dist comes from npm at build time: ``make assets`` (run by ``make serve``, ``make test``
and ``make dist``) copies the pinned ``socket.io-client`` files into the package's
``_assets/`` directory, with their license, so a wheel carries them. See
`ClientBundle.locate` for where they are looked
for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from socketwire.engineio.http import compress, negotiate_encoding
from socketwire.io.http import HttpRequest, HttpResponse

__all__ = [
    "CLIENT_DIST_ENV",
    "CLIENT_FILES",
    "CLIENT_VERSION",
    "PACKAGED_CLIENT",
    "ClientBundle",
    "StaticFile",
    "etag_matches",
]

logger = logging.getLogger("socketwire.static")

#: The socket.io-client version ``make assets`` copies (the one the interop tests pin).
CLIENT_VERSION = "4.8.4"
#: The environment variable naming the client dist directory.
CLIENT_DIST_ENV = "SOCKETWIRE_CLIENT_DIST"
#: The files served (JS ``CLIENT_FILES``).
CLIENT_FILES = frozenset(
    {
        "socket.io.esm.min.js",
        "socket.io.esm.min.js.map",
        "socket.io.js",
        "socket.io.js.map",
        "socket.io.min.js",
        "socket.io.min.js.map",
        "socket.io.msgpack.min.js",
        "socket.io.msgpack.min.js.map",
    }
)
#: Where ``make assets`` puts the npm package (a wheel holds it there too).
PACKAGED_CLIENT = Path(__file__).resolve().parent / "_assets" / "socket.io-client"
_TEXT_PLAIN = "text/plain; charset=utf-8"
# Warnings already logged, so that a process creating many servers warns once.
_warned: set[tuple[str, ...]] = set()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` header matches ``etag`` (weak comparison, RFC 7232 §3.2).

    ``*`` matches; a list of entity tags matches when one of them does.
    """
    if not if_none_match:
        return False
    strong = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == strong:
            return True
    return False


@dataclass(slots=True)
class StaticFile:
    """One file held in memory, with its compressed forms made on first use.

    Attributes:
        body: The file's bytes.
        content_type: The ``Content-Type`` header value.
        etag: The quoted entity tag (``'"4.8.4"'``); empty: one derived from the content.
        cache_control: The ``Cache-Control`` header value.
    """

    body: bytes
    content_type: str
    etag: str = ""
    cache_control: str = "public, max-age=0"
    _encoded: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.etag:
            self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:27] + '"'

    def respond(
        self, request: HttpRequest, headers: Iterable[tuple[str, str]] = ()
    ) -> HttpResponse:
        """The response to ``request``: 304 when its ``If-None-Match`` matches, else 200.

        Args:
            request: The request (its ``If-None-Match`` and ``Accept-Encoding`` are read).
            headers: Extra headers (CORS, for instance).
        """
        common = [
            *headers,
            ("Cache-Control", self.cache_control),
            ("ETag", self.etag),
            # the body depends on Accept-Encoding: shared caches must key on it
            ("Vary", "Accept-Encoding"),
        ]
        if etag_matches(request.headers.get("if-none-match"), self.etag):
            return HttpResponse(304, common)
        common.append(("Content-Type", self.content_type))
        coding = negotiate_encoding(request.headers.get("accept-encoding"))
        if coding is None:
            return HttpResponse(200, common, self.body)
        body = self._encoded.get(coding)
        if body is None:
            body = self._encoded[coding] = compress(self.body, coding)
        return HttpResponse(200, [*common, ("Content-Encoding", coding)], body)


def _dist_in(directory: Path) -> Path | None:
    """The dist directory ``directory`` is or holds (a dist, a package, or a project)."""
    for candidate in (
        directory,
        directory / "dist",
        directory / "node_modules" / "socket.io-client" / "dist",
    ):
        if (candidate / "socket.io.js").is_file():
            return candidate
    return None


def _read_version(dist: Path) -> str | None:
    try:
        meta = json.loads((dist.parent / "package.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


class ClientBundle:
    """The browser client files, found on disk (or known to be missing).

    Build it with `locate()`. A missing dist is not an error: requests for the bundle
    then get a 404 that says how to install it.
    """

    def __init__(self, dist: Path | None, tried: Iterable[Path] = ()) -> None:
        """Serve the files of ``dist`` (None: missing; ``tried`` lists where we looked)."""
        self.dist = dist
        self.tried = tuple(tried)
        self.version = _read_version(dist) if dist is not None else None
        self._files: dict[str, StaticFile] = {}

    @classmethod
    def locate(
        cls,
        directory: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientBundle:
        """Find the ``socket.io-client`` dist.

        Looks in one place: ``directory`` when given, else the directory named by
        ``$SOCKETWIRE_CLIENT_DIST``, else the copy inside the package
        ([`PACKAGED_CLIENT`][socketwire.static.PACKAGED_CLIENT], put there by ``make
        assets`` and shipped in the wheel). A directory given may name the dist itself, the
        npm package, or a directory holding ``node_modules``. Logs a warning (once per
        process) when it is missing.
        """
        env = os.environ if environ is None else environ
        if directory is not None:
            candidates = [Path(directory)]
        elif env.get(CLIENT_DIST_ENV):
            candidates = [Path(env[CLIENT_DIST_ENV])]
        else:
            candidates = [PACKAGED_CLIENT]
        for candidate in candidates:
            dist = _dist_in(candidate)
            if dist is not None:
                return cls(dist, candidates)
        bundle = cls(None, candidates)
        key = tuple(str(path) for path in candidates)
        if key not in _warned:
            _warned.add(key)
            logger.warning("%s", bundle.missing_message())
        return bundle

    @property
    def available(self) -> bool:
        """True when the dist was found."""
        return self.dist is not None

    @staticmethod
    def match(request_path: str, prefix: str) -> str | None:
        """The client file ``request_path`` asks for under ``prefix`` (the server path), or
        None when it is not one (JS ``extractFilename`` then ``CLIENT_FILES.has``)."""
        base = prefix.rstrip("/") + "/"
        if not request_path.startswith(base):
            return None
        name = request_path[len(base) :]
        return name if name in CLIENT_FILES else None

    def missing_message(self, url: str = "/socket.io/socket.io.js") -> str:
        """The explanation sent (and logged) when the dist is missing."""
        tried = "\n".join(f"  {path}" for path in self.tried) or "  (nowhere)"
        return (
            f"The Socket.IO browser client is not installed, so {url} cannot be served.\n"
            f"Looked for socket.io-client's dist in:\n{tried}\n"
            "A socketwire wheel carries it; in a source checkout, `make assets` copies it "
            f"into the package. Or run `npm install socket.io-client@{CLIENT_VERSION}` and point "
            "socketwire at node_modules/socket.io-client/dist with "
            f"Server(serve_client_dir=...) or the {CLIENT_DIST_ENV} environment variable.\n"
        )

    def respond(
        self,
        filename: str,
        request: HttpRequest,
        headers: Iterable[tuple[str, str]] = (),
    ) -> HttpResponse:
        """Answer a request for ``filename`` (one of [`CLIENT_FILES`][CLIENT_FILES]).

        Args:
            filename: What [`match()`][match] returned.
            request: The request.
            headers: Extra headers (CORS).
        """
        file = self._file(filename)
        if file is None:
            return HttpResponse(
                404,
                [*headers, ("Content-Type", _TEXT_PLAIN)],
                self.missing_message(request.path).encode(),
            )
        return file.respond(request, headers)

    def _file(self, filename: str) -> StaticFile | None:
        file = self._files.get(filename)
        if file is not None or self.dist is None:
            return file
        try:
            body = (self.dist / filename).read_bytes()
        except OSError:
            return None
        kind = "json" if filename.endswith(".map") else "javascript"
        # JS: the ETag is the quoted package version, the same for every file
        etag = f'"{self.version}"' if self.version else ""
        file = StaticFile(body, f"application/{kind}; charset=utf-8", etag)
        self._files[filename] = file
        return file
