"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests.

Playwright is imported lazily, so that collection works without it: a module that needs a
browser calls :func:`playwright_api` at import time, which skips the module with a reason
when playwright or Chromium is missing (and, under CI, tests/ci_skips.py turns that skip
into a failure).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

__all__ = ["CHROMIUM", "LAUNCH_ARGS", "OUTPUT", "chromium", "playwright_api"]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's hosts at start,
# which this machine's closed network refuses.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots go here.
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


def playwright_api() -> ModuleType:
    """``playwright.async_api``, or a module-level skip saying what is missing."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"{CHROMIUM} is not installed (Debian package chromium: `make system-deps`)",
            allow_module_level=True,
        )
    return pytest.importorskip(
        "playwright.async_api", reason="the playwright package (`make install`)"
    )


@contextlib.asynccontextmanager
async def chromium(*, quic: bool = False) -> AsyncIterator[Browser]:
    """A headless Chromium, closed on exit.

    Args:
        quic: leave QUIC on (WebTransport needs it; the other tests keep it off).
    """
    api = playwright_api()
    args = [a for a in LAUNCH_ARGS if not (quic and a == "--disable-quic")]
    async with api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=args, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
