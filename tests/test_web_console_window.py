"""A window round's board updates (``window.board_updates``, docs/scoring.md "Board updates
per attempt") chosen in the console's new-contest form, in a real Chromium against the real
HTTP API on a real port: the choice reaches the API as the form's other window fields do,
and the contest's page shows it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from playwright.async_api import Page, expect

from tests import browser as browser_support
from tests.browser import shoot
from tests.http_server import Api, serve_api
from tests.test_web_console import fill_window_round, key_of, sign_in_page

browser, page, phone = browser_support.browser, browser_support.page, browser_support.phone


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(redis_client, key_prefix) as served:
        yield served


async def test_a_window_round_s_board_updates_come_from_the_form(api: Api, page: Page) -> None:
    base = str(api.anon.base_url).rstrip("/")
    await sign_in_page(page, base, await key_of(api, "central"))
    await page.goto(f"{base}/console/contests/new")
    await fill_window_round(page, "Tuần 1", "w-attempt", "2031-03-02T08:00", "2031-03-09T20:00")
    updates = page.get_by_label("Cập nhật bảng xếp hạng", exact=True)
    await expect(updates).to_be_visible()
    await expect(updates).to_have_value("answer")  # the API's default
    # Its help says what each choice means for the live board.
    help_id = await updates.get_attribute("aria-describedby")
    assert help_id
    await expect(page.locator(f"#{help_id}")).to_contain_text("Khi lượt thi kết thúc")
    await updates.select_option(label="Khi lượt thi kết thúc")
    await shoot(page, "console-new-window-desktop")
    await page.get_by_role("button", name="Tạo cuộc thi (bản nháp)").click()
    await expect(page).to_have_url(f"{base}/console/contests/w-attempt")
    await expect(page.locator("#board-updates")).to_have_text("Khi lượt thi kết thúc")
    stored = (await api.a.get("/api/contests/w-attempt")).json()
    assert stored["window"]["board_updates"] == "attempt"
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("#board-updates")).to_have_text("When an attempt ends")

    # Left as it is, the round takes the default.
    await page.goto(f"{base}/console/lang/vi?next=/console/contests/new")
    await fill_window_round(page, "Tuần 2", "w-answer", "2031-03-09T08:00", "2031-03-16T20:00")
    await page.get_by_role("button", name="Tạo cuộc thi (bản nháp)").click()
    await expect(page).to_have_url(f"{base}/console/contests/w-answer")
    await expect(page.locator("#board-updates")).to_have_text("Sau mỗi câu trả lời")
    stored = (await api.a.get("/api/contests/w-answer")).json()
    assert stored["window"]["board_updates"] == "answer"
