"""The chat demo in headless Chromium (Debian's, driven by Playwright), two people talking.

Each variant runs the demo app in-process on a free port, opens it in two browser contexts
(two people, separate storage), and checks what each one sees: messages, the typing
indicator, the online count, rooms with their history, the ``/echo`` namespace, and the
transport actually used. A screenshot of each variant goes to ``test-output/``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import JS_DIR
from integration._browser import OUTPUT, chromium, playwright_api
from socketwire import Server
from socketwire.demo import create_app
from socketwire.io.native import NativeServer

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.integration

expect = playwright_api().expect
DIST = JS_DIR / "node_modules" / "socket.io-client" / "dist"
# Bound on every wait for something to appear in a page (ms).
UI_WAIT = 10_000


@dataclass(frozen=True)
class Variant:
    """How the pages connect."""

    name: str
    transports: str | None  # the page's ?transports=
    parser: str
    expected_transport: str


VARIANTS = [
    Variant("default", None, "json", "websocket"),  # polling, then the upgrade
    Variant("polling", "polling", "json", "polling"),
    Variant("websocket", "websocket", "json", "websocket"),
    Variant("msgpack", None, "msgpack", "websocket"),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@dataclass
class Person:
    """One browser context with the demo open."""

    context: BrowserContext
    page: Page
    errors: list[str]


async def open_demo(browser: Browser, base: str, nickname: str, variant: Variant) -> Person:
    context = await browser.new_context(viewport={"width": 1100, "height": 720})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    query = f"?nickname={nickname}"
    if variant.transports:
        query += f"&transports={variant.transports}"
    await page.goto(base + "/" + query)
    await expect(page.locator("#status")).to_have_attribute(
        "data-state", "connected", timeout=UI_WAIT
    )
    await expect(page.locator("#room-title")).to_have_text("#lobby", timeout=UI_WAIT)
    return Person(context, page, errors)


def message(page: Page, text: str) -> object:
    return page.locator("#messages li.msg .text", has_text=text)


async def say(person: Person, text: str) -> None:
    box = person.page.locator("#message-input")
    await expect(box).to_be_enabled(timeout=UI_WAIT)
    await box.press_sequentially(text)
    await box.press("Enter")


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
async def test_two_people_chat_in_the_browser(browser: Browser, variant: Variant) -> None:
    sio: Server = create_app(parser=variant.parser, serve_client_dir=DIST)
    server = NativeServer(sio, host="127.0.0.1", port=0)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    people: list[Person] = []
    try:
        alice = await open_demo(browser, base, "alice", variant)
        people.append(alice)
        await expect(alice.page.locator("#online")).to_have_text("1 online", timeout=UI_WAIT)
        bob = await open_demo(browser, base, "bob", variant)
        people.append(bob)
        # the online count updates in the page that was already open
        await expect(alice.page.locator("#online")).to_have_text("2 online", timeout=UI_WAIT)
        await expect(bob.page.locator("#online")).to_have_text("2 online", timeout=UI_WAIT)

        # typing shows in the other page, then the message replaces it
        await bob.page.locator("#message-input").press_sequentially("hello from bob")
        await expect(alice.page.locator("#typing")).to_have_text("bob is typing…", timeout=UI_WAIT)
        await bob.page.locator("#message-input").press("Enter")
        for person in (alice, bob):
            await expect(message(person.page, "hello from bob")).to_be_visible(timeout=UI_WAIT)
        await expect(alice.page.locator("#typing")).to_have_text("", timeout=UI_WAIT)
        await say(alice, "hi bob")
        await expect(message(bob.page, "hi bob")).to_be_visible(timeout=UI_WAIT)

        # a nickname change is announced
        await alice.page.locator("#nickname-input").fill("Alice")
        await alice.page.locator("#nickname-form button").click()
        await expect(
            bob.page.locator("#messages li.notice", has_text="alice is now Alice")
        ).to_be_visible(timeout=UI_WAIT)

        # a new room: created by bob, listed for alice, joined by a click
        await bob.page.locator("#room-input").fill("games")
        await bob.page.locator("#join-form button").click()
        await expect(bob.page.locator("#room-title")).to_have_text("#games", timeout=UI_WAIT)
        games = alice.page.locator('#rooms li[data-room="games"]')
        await expect(games.locator(".count")).to_have_text("1", timeout=UI_WAIT)
        await say(bob, "anyone for chess?")
        await games.click()
        await expect(alice.page.locator("#room-title")).to_have_text("#games", timeout=UI_WAIT)
        # the session history is replayed to the newcomer
        await expect(message(alice.page, "anyone for chess?")).to_be_visible(timeout=UI_WAIT)
        await expect(message(alice.page, "hello from bob")).to_have_count(0)
        await say(alice, "me!")
        await expect(message(bob.page, "me!")).to_be_visible(timeout=UI_WAIT)

        # the /echo namespace answers its ack
        await alice.page.locator("#echo-button").click()
        await expect(alice.page.locator("#echo-result")).to_have_text(
            re.compile(r"round trip: \d+\.\d ms"), timeout=UI_WAIT
        )

        # the transport each page ended up on, as the page and the server see it
        for person in (alice, bob):
            await expect(person.page.locator("#status")).to_have_attribute(
                "data-transport", variant.expected_transport, timeout=UI_WAIT
            )
        transports = {conn.transport for conn in sio.engine.clients.values()}
        assert transports == {variant.expected_transport}

        OUTPUT.mkdir(exist_ok=True)
        await alice.page.screenshot(path=str(OUTPUT / f"browser-demo-{variant.name}.png"))

        # bob leaves: alice's count goes down
        await bob.context.close()
        people.remove(bob)
        await expect(alice.page.locator("#online")).to_have_text("1 online", timeout=UI_WAIT)
        assert alice.errors == []
        assert bob.errors == []
    finally:
        for person in people:
            await person.context.close()
        await server.close()


async def test_the_page_explains_a_missing_client_bundle(browser: Browser, tmp_path: Path) -> None:
    sio = create_app(serve_client_dir=tmp_path)  # an empty directory: no bundle
    server = NativeServer(sio, host="127.0.0.1", port=0)
    await server.start()
    try:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{server.port}/")
        banner = page.locator("#banner")
        await expect(banner).to_be_visible(timeout=UI_WAIT)
        await expect(banner).to_contain_text("make assets", timeout=UI_WAIT)
        await expect(banner).to_contain_text("npm install socket.io-client@4.8.4")
        await expect(page.locator("#status")).to_have_text("no client")
        await context.close()
    finally:
        await server.close()
