"""python-socketio's Flask example, ported (examples/python_socketio/flask_app.py), in
headless Chromium: Flask serves the page, socketwire serves the browser client and the
Socket.IO events, on one port (socketwire.WSGIApp under uvicorn).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import JS_DIR, start_uvicorn
from integration._browser import OUTPUT, chromium, playwright_api

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.integration

expect = playwright_api().expect
DIST = JS_DIR / "node_modules" / "socket.io-client" / "dist"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python_socketio" / "flask_app.py"
UI_WAIT = 10_000


@pytest.fixture
async def base(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    # the browser client from the interop packages: no dependency on `make assets`
    monkeypatch.setenv("SOCKETWIRE_CLIENT_DIST", str(DIST))
    spec = importlib.util.spec_from_file_location("ported_flask_browser", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        module.BACKGROUND_INTERVAL = 0.2
        port, stop = await start_uvicorn(module.app)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            if module.background is not None:
                module.background.cancel()
            await stop()
    finally:
        del sys.modules[spec.name]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


def entry(page: Page, text: str) -> object:
    return page.locator("#log .entry", has_text=text)


async def submit(page: Page, form: str, **fields: str) -> None:
    for name, value in fields.items():
        await page.locator(f"#{name}").fill(value)
    await page.locator(f"form#{form} input[type=submit]").click()


async def test_the_flask_page_talks_to_socketwire(base: str, browser: Browser) -> None:
    one = await browser.new_page()
    two = await browser.new_page()
    errors: list[str] = []
    for page in (one, two):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(base + "/")
        # the connect handler's message, then the page's own first event echoed
        await expect(entry(page, "Received: Connected")).to_be_visible(timeout=UI_WAIT)
        await expect(entry(page, "Received: I'm connected!")).to_be_visible(timeout=UI_WAIT)

    await submit(one, "emit", emit_data="echo this")
    await expect(entry(one, "Received: echo this")).to_be_visible(timeout=UI_WAIT)
    await submit(one, "broadcast", broadcast_data="to everyone")
    await expect(entry(two, "Received: to everyone")).to_be_visible(timeout=UI_WAIT)

    await submit(two, "join", join_room="lobby")
    await expect(entry(two, "Received: Entered room: lobby")).to_be_visible(timeout=UI_WAIT)
    await submit(one, "send_room", room_name="lobby", room_data="for the lobby")
    await expect(entry(two, "Received: for the lobby")).to_be_visible(timeout=UI_WAIT)
    await expect(entry(one, "Received: for the lobby")).to_have_count(0)
    await submit(one, "close", close_room="lobby")
    await expect(entry(two, "Received: Room lobby is closing.")).to_be_visible(timeout=UI_WAIT)

    # the background task's events reach every page
    await expect(entry(one, "Server generated event").first).to_be_visible(timeout=UI_WAIT)

    await submit(two, "disconnect")
    await expect(entry(two, "Disconnected: io server disconnect")).to_be_visible(timeout=UI_WAIT)
    OUTPUT.mkdir(exist_ok=True)
    await one.screenshot(path=str(OUTPUT / "python-socketio-flask-port.png"))
    assert errors == []
