"""The admin UI's static files served by the server it watches (``serve_ui=True``), over
HTTP: pre-filled, working without a CDN, and nothing outside the UI's files."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from conftest import http_request, start_native
from socketwire import Server
from socketwire.server.admin_ui import PACKAGED_ASSETS

pytestmark = pytest.mark.integration

if not (PACKAGED_ASSETS / "@socket.io" / "admin-ui" / "ui" / "dist" / "index.html").is_file():
    pytest.skip("the admin UI is not in the package (`make assets`)", allow_module_level=True)


@pytest.fixture
async def port() -> AsyncIterator[int]:
    sio = Server(path="/sio/")
    sio.instrument(auth=False, serve_ui=True, namespace="/watch", ui_path="/ui/")
    port, stop = await start_native(sio)
    yield port
    await sio.shutdown()
    await stop()


async def test_index_is_prefilled_and_needs_no_cdn(port: int) -> None:
    page = await http_request(port, "GET", "/ui/")
    assert page.status == 200
    assert page.header("content-type") == "text/html; charset=utf-8"
    html = page.body.decode()
    assert "fonts.googleapis.com" not in html
    assert "cdn.jsdelivr.net" not in html
    assert 'href="mdi/css/materialdesignicons.min.css"' in html
    assert '"namespace": "/watch"' in html
    assert '"path": "/sio"' in html
    for link in ("js/app.", "js/chunk-vendors.", "css/app."):
        start = html.index(link)
        target = html[start : html.index('"', start)]
        asset = await http_request(port, "GET", "/ui/" + target)
        assert asset.status == 200, target
    css = await http_request(port, "GET", "/ui/mdi/css/materialdesignicons.min.css")
    assert css.status == 200
    assert b"materialdesignicons-webfont.woff2" in css.body
    font = await http_request(port, "GET", "/ui/mdi/fonts/materialdesignicons-webfont.woff2")
    assert (font.status, font.header("content-type")) == (200, "font/woff2")
    cached = await http_request(
        port,
        "GET",
        "/ui/mdi/css/materialdesignicons.min.css",
        {"If-None-Match": css.header("etag") or ""},
    )
    assert cached.status == 304


async def test_only_the_ui_files(port: int) -> None:
    redirect = await http_request(port, "GET", "/ui")
    assert (redirect.status, redirect.header("location")) == (301, "/ui/")
    for path in (
        "/ui/nope.js",
        "/ui/../pyproject.toml",
        "/ui/%2e%2e/setup.py",
        "/ui/mdi/package.json",
    ):
        assert (await http_request(port, "GET", path)).status == 404, path
    assert (await http_request(port, "POST", "/ui/")).status == 405
    # the rest of the server is untouched
    assert (await http_request(port, "GET", "/sio/socket.io.js")).status == 200
    assert (await http_request(port, "GET", "/elsewhere")).status == 404
