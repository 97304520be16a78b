"""A real browser for the web pages' tests: Playwright for Python driving Debian's Chromium.

Playwright's own browser download is not available on every machine, so the fixtures launch
the ``chromium`` binary found on PATH (``scripts/ensure-chromium``, run by ``make test``,
installs Debian's package as root) with ``executable_path``. Where there is none, every test
that uses them is skipped, saying why.

Fixtures (bind them in a test module, as with tests/cluster.py)::

    from tests import browser as browser_support

    browser, page, phone = browser_support.browser, browser_support.page, browser_support.phone

    async def test_console_signs_in(page: Page, served: str) -> None:
        await page.goto(f"{served}/console")
        ...

``page`` is a desktop-sized page (1280x800), ``phone`` a 360x740 touch page, both in their own
fresh context (no shared cookies). Each fails its test at teardown if the page logged a
JavaScript error (``console.error`` or an uncaught exception): no page may. ``shoot(page, name)``
writes a full-page screenshot to ``$BROWSER_ARTIFACTS`` (default ``.artifacts/browser``, not
committed) for people to look at; tests never compare pixels.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARTIFACTS", "browser", "chromium_path", "page", "phone", "shoot"]

ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ".artifacts/browser"))

# As root, Chromium needs --no-sandbox; the rest keep it off this machine's closed network
# (without them it tries Google's hosts at every start and logs refused connections).
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium binary to drive: ``$CHROMIUM`` if set, else chromium on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """A headless Chromium (a ``playwright.async_api.Browser``), closed after the test."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on PATH (scripts/ensure-chromium installs Debian's as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


_REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d\b")


async def _page(browser: object, **context: object) -> AsyncIterator[object]:
    from playwright.async_api import Browser

    assert isinstance(browser, Browser)
    ctx = await browser.new_context(**context)  # type: ignore[arg-type]
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def console(msg: Any) -> None:
        # The browser's own favicon fetch is not the page's doing (it may be cut off when
        # a test's server stops first), and Chromium logs every 4xx answer of the engine's
        # API (a typed refusal the page shows: a bank's problems, a missing key) as an
        # error; every other failed load or error counts.
        url = msg.location.get("url", "")
        refusal = "/api/" in url and _REFUSED.match(msg.text) is not None
        if msg.type == "error" and not url.endswith("/favicon.ico") and not refusal:
            errors.append(f"console.error: {msg.text} ({msg.location.get('url')})")

    page.on("console", console)
    try:
        yield page
    finally:
        await ctx.close()
    assert not errors, f"the page logged JavaScript errors: {errors}"


@pytest.fixture
async def page(browser: object) -> AsyncIterator[object]:
    """A desktop-sized page (1280x800) in a fresh context; no JavaScript error allowed."""
    async for p in _page(browser, viewport={"width": 1280, "height": 800}):
        yield p


@pytest.fixture
async def phone(browser: object) -> AsyncIterator[object]:
    """A phone-sized touch page (360x740, the narrowest phone the player supports)."""
    async for p in _page(
        browser,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ):
        yield p


async def shoot(page: object, name: str) -> Path:
    """A full-page screenshot at ``ARTIFACTS/<name>.png`` (a test artefact, not committed)."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
