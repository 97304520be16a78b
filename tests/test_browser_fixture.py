"""The browser fixture itself: it drives a real Chromium against a real server on a real port,
and it fails a test whose page logs a JavaScript error."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.async_api import Page

from tests import browser as browser_support
from tests.browser import shoot

browser, page, phone = browser_support.browser, browser_support.page, browser_support.phone

_HTML = b"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>th\xe1\xbb\xad</title>
</head><body><button id="b"
 onclick="this.textContent='\xc4\x91\xc3\xa3 b\xe1\xba\xa5m'">b\xe1\xba\xa5m</button>
</body></html>"""


@pytest.fixture
def served() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(_HTML)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_click_in_a_real_chromium(page: Page, served: str) -> None:
    await page.goto(served)
    await page.click("#b")
    assert await page.text_content("#b") == "đã bấm"
    assert (await shoot(page, "fixture-desktop")).stat().st_size > 0


async def test_the_phone_page_is_360_wide(phone: Page, served: str) -> None:
    await phone.goto(served)
    assert await phone.evaluate("window.innerWidth") == 360


async def test_a_javascript_error_fails_the_page_fixture(browser: object, served: str) -> None:
    pages = browser_support._page(browser)
    p = await anext(pages)
    assert isinstance(p, Page)
    await p.goto(served)
    await p.evaluate("setTimeout(() => { throw new Error('boom') }, 0)")
    await asyncio.sleep(0.2)
    with pytest.raises(AssertionError, match="boom"):
        await anext(pages)
