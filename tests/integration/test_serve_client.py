"""The browser client bundle at ``<path>/socket.io.js`` and the demo's pages, over real HTTP.

The bundle comes from the socket.io-client the interop tests install (the same pinned
version ``make assets`` copies into the package), named explicitly in most tests; one test
checks the packaged copy itself.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import socketwire.static
from conftest import JS_DIR, WAIT, HttpResult, build_request, http_request
from socketwire import ASGIApp, Server
from socketwire.demo import create_app
from socketwire.io.http import HttpApp
from socketwire.io.native import NativeServer
from socketwire.static import CLIENT_FILES, CLIENT_VERSION, ClientBundle

pytestmark = pytest.mark.integration

DIST = JS_DIR / "node_modules" / "socket.io-client" / "dist"
ETAG = f'"{CLIENT_VERSION}"'


@pytest.fixture(autouse=True)
def _needs_dist() -> None:
    if not (DIST / "socket.io.js").is_file():
        pytest.fail(f"{DIST} is missing: run `make npm` (the interop packages)")


@asynccontextmanager
async def serving(app: HttpApp) -> AsyncIterator[int]:
    """Serve ``app`` on a free port of 127.0.0.1; yields the port."""
    server = NativeServer(app, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server.port
    finally:
        await server.close()


async def get(port: int, target: str, **headers: str) -> HttpResult:
    return await http_request(
        port, "GET", target, {k.replace("_", "-"): v for k, v in headers.items()}
    )


# -- the bundle ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CLIENT_FILES))
async def test_every_client_file_is_served_with_its_type_etag_and_cache_headers(
    name: str,
) -> None:
    async with serving(Server(serve_client_dir=DIST)) as port:
        result = await get(port, f"/socket.io/{name}")
    assert result.status == 200
    kind = "json" if name.endswith(".map") else "javascript"
    assert result.header("content-type") == f"application/{kind}; charset=utf-8"
    assert result.header("etag") == ETAG
    assert result.header("cache-control") == "public, max-age=0"
    assert result.header("content-encoding") is None
    assert result.body == (DIST / name).read_bytes()


@pytest.mark.parametrize(
    ("coding", "decode"),
    [("gzip", gzip.decompress), ("deflate", zlib.decompress)],
)
async def test_the_bundle_is_compressed_when_accepted(
    coding: str, decode: Callable[[bytes], bytes]
) -> None:
    async with serving(Server(serve_client_dir=DIST)) as port:
        result = await get(port, "/socket.io/socket.io.min.js", accept_encoding=coding)
        again = await get(port, "/socket.io/socket.io.min.js", accept_encoding=coding)
    assert result.status == 200
    assert result.header("content-encoding") == coding
    assert result.header("vary") == "Accept-Encoding"
    assert decode(result.body) == (DIST / "socket.io.min.js").read_bytes()
    assert again.body == result.body  # the cached compressed form


@pytest.mark.parametrize("tag", [ETAG, f"W/{ETAG}", f'"other", {ETAG}', "*"])
async def test_a_matching_if_none_match_answers_304_without_body(tag: str) -> None:
    async with serving(Server(serve_client_dir=DIST)) as port:
        result = await get(port, "/socket.io/socket.io.js", if_none_match=tag)
    assert result.status == 304
    assert result.body == b""
    assert result.header("etag") == ETAG


async def test_a_stale_etag_gets_the_file() -> None:
    async with serving(Server(serve_client_dir=DIST)) as port:
        result = await get(port, "/socket.io/socket.io.js", if_none_match='"4.0.0"')
    assert result.status == 200
    assert result.body == (DIST / "socket.io.js").read_bytes()


async def test_a_query_string_is_ignored_and_head_has_no_body() -> None:
    async with serving(Server(serve_client_dir=DIST)) as port:
        with_query = await get(port, "/socket.io/socket.io.js?v=1")
        async with asyncio.timeout(WAIT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(build_request("HEAD", "/socket.io/socket.io.js", port))
            head = await reader.readuntil(b"\r\n\r\n")
            rest = await reader.read()  # Connection: close, so up to EOF
            writer.close()
    assert with_query.status == 200
    assert with_query.body == (DIST / "socket.io.js").read_bytes()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert f"Content-Length: {len(with_query.body)}\r\n".encode() in head
    assert rest == b""


@pytest.mark.parametrize("target", ["/socket.io/socket.io.foo.js", "/socket.io/dist/socket.io.js"])
async def test_other_names_under_the_path_go_to_engine_io(target: str) -> None:
    async with serving(Server(serve_client_dir=DIST)) as port:
        result = await get(port, target)
    # what JS answers too: engine.io sees an unknown transport
    assert result.status == 400
    assert result.json() == {"code": 0, "message": "Transport unknown"}


async def test_the_bundle_follows_the_server_path() -> None:
    async with serving(Server(path="/live", serve_client_dir=DIST)) as port:
        served = await get(port, "/live/socket.io.esm.min.js")
        elsewhere = await get(port, "/socket.io/socket.io.esm.min.js")
    assert served.status == 200
    assert served.body == (DIST / "socket.io.esm.min.js").read_bytes()
    assert elsewhere.status == 404


async def test_cors_headers_and_preflight_as_js() -> None:
    sio = Server(serve_client_dir=DIST, cors={"origin": "https://example.com"})
    async with serving(sio) as port:
        result = await get(port, "/socket.io/socket.io.js", origin="https://example.com")
        preflight = await http_request(
            port,
            "OPTIONS",
            "/socket.io/socket.io.js",
            {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
        )
    assert result.status == 200
    assert result.header("access-control-allow-origin") == "https://example.com"
    assert preflight.status == 204
    assert preflight.header("access-control-allow-origin") == "https://example.com"


async def test_serve_client_false_leaves_the_name_to_engine_io() -> None:
    async with serving(Server(serve_client=False)) as port:
        result = await get(port, "/socket.io/socket.io.js")
    assert result.status == 400
    assert result.json() == {"code": 0, "message": "Transport unknown"}
    assert b"function" not in result.body


async def test_serve_client_false_keeps_the_demo_fallback() -> None:
    async with serving(create_app(serve_client=False)) as port:
        bundle = await get(port, "/socket.io/socket.io.min.js")
        page = await get(port, "/")
    assert bundle.status == 400
    assert page.status == 200


# -- where the dist comes from ------------------------------------------------------------


async def test_a_missing_dist_answers_404_saying_how_to_install_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="socketwire.static"):
        sio = Server(serve_client_dir=tmp_path)
    warnings = [r for r in caplog.records if r.name == "socketwire.static"]
    assert len(warnings) == 1
    assert "not installed" in warnings[0].getMessage()
    assert sio.client_bundle is not None
    assert not sio.client_bundle.available
    async with serving(sio) as port:
        result = await get(port, "/socket.io/socket.io.min.js")
    assert result.status == 404
    assert result.header("content-type") == "text/plain; charset=utf-8"
    text = result.text
    assert "/socket.io/socket.io.min.js cannot be served" in text
    assert "make assets" in text
    assert f"npm install socket.io-client@{CLIENT_VERSION}" in text
    assert "serve_client_dir" in text
    assert "SOCKETWIRE_CLIENT_DIST" in text
    assert str(tmp_path) in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="socketwire.static"):
        Server(serve_client_dir=tmp_path)
    assert not [r for r in caplog.records if r.name == "socketwire.static"], "warned twice"


@pytest.mark.parametrize(
    "given",
    [DIST, DIST.parent, JS_DIR],
    ids=["dist", "package", "project"],
)
def test_the_directory_may_be_the_dist_the_package_or_a_project(given: Path) -> None:
    bundle = ClientBundle.locate(given)
    assert bundle.dist == DIST
    assert bundle.version == CLIENT_VERSION


def test_the_environment_variable_names_the_dist(tmp_path: Path) -> None:
    found = ClientBundle.locate(environ={"SOCKETWIRE_CLIENT_DIST": str(DIST)})
    assert found.dist == DIST
    missing = ClientBundle.locate(environ={"SOCKETWIRE_CLIENT_DIST": str(tmp_path)})
    assert not missing.available
    assert missing.tried == (tmp_path,)


def test_the_packaged_copy_is_the_default(tmp_path: Path) -> None:
    # `make assets` (a prerequisite of `make test`) copied the npm files into the package
    bundle = ClientBundle.locate(environ={})
    assert bundle.tried == (socketwire.static.PACKAGED_CLIENT,)
    assert bundle.dist == socketwire.static.PACKAGED_CLIENT / "dist"
    assert bundle.version == CLIENT_VERSION
    for name in CLIENT_FILES:
        assert (bundle.dist / name).read_bytes() == (DIST / name).read_bytes()
    license_text = (socketwire.static.PACKAGED_CLIENT / "LICENSE").read_text()
    assert "socket.io-client 4.8.4" in license_text
    assert "engine.io-client" in license_text


def test_a_directory_without_package_json_gets_a_content_etag(tmp_path: Path) -> None:
    dist = tmp_path / "node_modules" / "socket.io-client" / "dist"
    dist.mkdir(parents=True)
    (dist / "socket.io.js").write_text("// stand-in")
    bundle = ClientBundle.locate(tmp_path)
    assert bundle.dist == dist
    # no package.json: the ETag comes from the content
    assert bundle.version is None


# -- through the ASGI app -----------------------------------------------------------------


async def test_the_bundle_is_served_through_asgi() -> None:
    app = ASGIApp(Server(serve_client_dir=DIST))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/socket.io/socket.io.msgpack.min.js",
        "raw_path": b"/socket.io/socket.io.msgpack.min.js",
        "query_string": b"",
        "headers": [(b"host", b"example")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    assert headers["etag"] == ETAG
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert body == (DIST / "socket.io.msgpack.min.js").read_bytes()


# -- the demo's pages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parser", "bundle"),
    [("json", "socket.io.min.js"), ("msgpack", "socket.io.msgpack.min.js")],
)
async def test_the_demo_page_loads_the_bundle_of_its_parser(parser: str, bundle: str) -> None:
    async with serving(create_app(parser=parser, serve_client_dir=DIST)) as port:
        page = await get(port, "/")
        script = await get(port, f"/socket.io/{bundle}")
    assert page.status == 200
    assert page.header("content-type") == "text/html; charset=utf-8"
    assert f'<script src="/socket.io/{bundle}"' in page.text
    assert f'data-parser="{parser}"' in page.text
    assert script.status == 200


async def test_the_demo_files_types_revalidation_and_unknown_paths() -> None:
    async with serving(create_app(path="/rt/", serve_client_dir=DIST)) as port:
        page = await get(port, "/index.html")
        js = await get(port, "/app.js")
        css = await get(port, "/style.css", accept_encoding="gzip")
        cached = await get(port, "/app.js", if_none_match=js.header("etag") or "")
        missing = await get(port, "/nope")
        post = await http_request(port, "POST", "/", body="x")
    assert 'data-io-path="/rt/"' in page.text
    assert '<script src="/rt/socket.io.min.js"' in page.text
    assert js.header("content-type") == "text/javascript; charset=utf-8"
    assert js.header("cache-control") == "no-cache"
    assert b"socketwireDemo" in js.body
    assert css.header("content-type") == "text/css; charset=utf-8"
    assert css.header("content-encoding") == "gzip"
    assert b".messages" in gzip.decompress(css.body)
    assert cached.status == 304
    assert missing.status == 404
    assert post.status == 405
