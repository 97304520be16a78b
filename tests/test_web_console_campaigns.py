"""The organiser console in a real Chromium against the real HTTP API on a real port: the
organisation's time zone (set in the console, every time shown and read in it), and a
campaign created and its weekly rounds scheduled from the console, the times on the page
agreeing with the API's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio
from playwright.async_api import Page, expect

from tests import browser as browser_support
from tests.browser import shoot
from tests.http_server import Api, serve_api
from tests.test_web_console import fill_window_round, key_of, sign_in_page

browser, page, phone = browser_support.browser, browser_support.page, browser_support.phone

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(redis_client, key_prefix) as served:
        yield served


def _base(api: Api) -> str:
    return str(api.anon.base_url).rstrip("/")


async def test_the_console_shows_and_reads_times_in_the_organisation_s_zone(
    api: Api, page: Page
) -> None:
    base = _base(api)
    await sign_in_page(page, base, await key_of(api, "central"))
    zone = page.get_by_label("Múi giờ của đơn vị tổ chức (tên IANA, ví dụ Asia/Ho_Chi_Minh)")
    await expect(zone).to_have_value("Asia/Ho_Chi_Minh")

    # A zone that is not one: told in Vietnamese, nothing changes.
    await zone.fill("Sao/Hoa")
    await zone.press("Enter")  # the keyboard submits the form
    result = page.locator("#zone-result")
    await expect(result).to_contain_text("Đây không phải là múi giờ")
    await expect(result).to_contain_text("org_invalid")
    await expect(zone).to_have_attribute("aria-invalid", "true")
    assert (await api.a.get("/api/org")).json()["zone"] == "Asia/Ho_Chi_Minh"

    await zone.fill("Europe/Paris")
    await page.get_by_role("button", name="Lưu múi giờ").click()
    await expect(result).to_have_text("Đã lưu múi giờ.")
    assert (await api.a.get("/api/org")).json()["zone"] == "Europe/Paris"
    assert await page.get_attribute("body", "data-zone") == "Europe/Paris"

    # A window round from the form: its times read in Paris, shown in Paris.
    await page.goto(f"{base}/console/contests/new")
    await fill_window_round(page, "Tuần Paris", "paris-1", "2031-03-02T08:00", "2031-03-09T20:00")
    await expect(page.locator("#main")).to_contain_text("múi giờ: Europe/Paris")
    await page.get_by_role("button", name="Tạo cuộc thi (bản nháp)").click()
    await expect(page).to_have_url(f"{base}/console/contests/paris-1")
    await expect(page.locator("#main")).to_contain_text("08:00 02/03/2031")
    await expect(page.locator("#main")).to_contain_text("20:00 09/03/2031")
    window = (await api.a.get("/api/contests/paris-1")).json()["window"]
    opens = datetime(2031, 3, 2, 8, tzinfo=PARIS)
    closes = datetime(2031, 3, 9, 20, tzinfo=PARIS)
    assert (window["opens_at"], window["closes_at"]) == (
        int(opens.timestamp()) * 1000,
        int(closes.timestamp()) * 1000,
    )
    # The list shows the same time; Vietnam's would be 14:00.
    await page.goto(f"{base}/console/contests")
    row = page.locator("tr", has_text="Tuần Paris")
    await expect(row).to_contain_text("08:00 02/03/2031")
    await shoot(page, "console-zone-desktop")
    await page.get_by_role("link", name="English").click()
    await expect(row).to_contain_text("2 Mar 2031, 08:00")
    assert re.search(r"\b14:00\b", await row.inner_text()) is None
