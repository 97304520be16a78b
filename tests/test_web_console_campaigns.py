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


VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def _shown(local_iso: str | None) -> str:
    """The API's ``*_local`` time as the console writes it in Vietnamese."""
    if local_iso is None:
        return "—"
    return datetime.fromisoformat(local_iso).strftime("%H:%M %d/%m/%Y")


async def test_an_organiser_creates_a_campaign_and_schedules_its_weekly_rounds(
    api: Api, page: Page
) -> None:
    base = _base(api)
    await sign_in_page(page, base, await key_of(api, "central"))
    await page.goto(f"{base}/console/contests")
    await page.get_by_role("link", name="Tạo cuộc thi nhiều vòng").click()
    await expect(page).to_have_url(f"{base}/console/campaigns/new")
    zone = page.get_by_label("Múi giờ của các vòng thi (tên IANA)")
    await expect(zone).to_have_value("Asia/Ho_Chi_Minh")  # the organisation's

    # A refused campaign (a bad id): said in Vietnamese, the field named; nothing made.
    await page.get_by_label("Tiêu đề", exact=True).fill("Tìm hiểu pháp luật")
    campaign_id = page.get_by_label("Mã cuộc thi nhiều vòng (không bắt buộc)")
    await campaign_id.fill("sai mã!")
    create = page.get_by_role("button", name="Tạo cuộc thi nhiều vòng")
    await create.click()
    result = page.locator("#campaign-result")
    await expect(result).to_contain_text("Cuộc thi nhiều vòng hoặc các vòng thi có lỗi")
    await expect(result).to_contain_text("campaign_invalid")
    await expect(result.locator("table.problems td").nth(2)).to_have_text("id")
    assert (await api.a.get("/api/campaigns")).json() == []

    await campaign_id.fill("phap-luat")
    await page.get_by_label("Mô tả").fill("Cuộc thi trực tuyến hằng tuần.")
    await page.get_by_label("Thể lệ (hiển thị cho thí sinh)").fill("Mỗi tuần ba lượt thi.")
    await page.get_by_label("Tỉnh (mã, cách nhau bởi dấu phẩy").fill("hanoi, hue")
    await page.get_by_label("Số người đoạt giải 1").fill("10")
    await page.get_by_label("Xếp hạng 1").select_option("province")
    await page.get_by_label("Giải thưởng 1").fill("Giấy khen")
    await create.click()
    await expect(page).to_have_url(f"{base}/console/campaigns/phap-luat")
    made = (await api.a.get("/api/campaigns/phap-luat")).json()["campaign"]
    assert (made["title"], made["rules"], made["zone"]) == (
        "Tìm hiểu pháp luật",
        "Mỗi tuần ba lượt thi.",
        "Asia/Ho_Chi_Minh",
    )
    assert made["eligibility"]["provinces"] == ["hanoi", "hue"]
    assert made["prizes"] == [
        {"top": 10, "per": "round", "scope": "province", "prize": "Giấy khen"}
    ]
    await expect(page.locator("#campaign-facts")).to_contain_text("Asia/Ho_Chi_Minh")

    # Schedule: a rule whose rounds would close in the past is refused, nothing made.
    form = page.locator("#schedule-form")
    await expect(page.get_by_role("heading", name="Lên lịch các vòng")).to_be_visible()
    await form.get_by_label("Số câu hỏi mỗi lượt thi").fill("3")
    await form.get_by_label("Số tuần").fill("3")
    await form.get_by_label("Tuần đầu tiên: từ ngày").fill("2020-01-06")
    check = page.get_by_role("button", name="Kiểm tra các vòng")
    await check.click()
    out = page.locator("#schedule-result")
    await expect(out).to_contain_text("Cuộc thi nhiều vòng hoặc các vòng thi có lỗi")
    await expect(out).to_contain_text("rule.starting")
    assert (await api.a.get("/api/contests")).json() == []

    # Three weekly rounds, Monday 08:00 to Sunday 22:00 Vietnam's time, and a live final
    # on four member shards.
    await form.get_by_label("Tuần đầu tiên: từ ngày").fill("2031-01-06")
    await form.get_by_label("Mở vào").select_option(label="Thứ Hai")
    await form.get_by_label("Mở lúc (giờ địa phương)").fill("08:00")
    await form.get_by_label("Đóng vào").select_option(label="Chủ Nhật")
    await form.get_by_label("Đóng lúc (giờ địa phương)").fill("22:00")
    await form.get_by_label("Số lượt thi cho phép (0: không giới hạn)").fill("3")
    await form.get_by_label("Có vòng chung kết trực tiếp sau vòng cuối").check()
    await form.get_by_label("Chung kết bắt đầu lúc").fill("2031-01-30T20:00")
    await form.get_by_label("Số phân mảnh thí sinh của vòng chung kết (1-32)").fill("4")
    await check.click()
    # The confirmation step: the rounds as they would be, nothing created yet.
    preview = page.locator("#preview tbody tr")
    await expect(preview).to_have_count(4)
    await expect(page.locator("#preview-title")).to_be_focused()
    await expect(page.locator("#preview-title")).to_contain_text("Các vòng sẽ được tạo: 4")
    await expect(preview.first).to_contain_text("08:00 06/01/2031")
    await expect(preview.first).to_contain_text("22:00 12/01/2031")
    assert (await api.a.get("/api/contests")).json() == []
    await shoot(page, "console-campaign-preview-desktop")
    # Back to the form, and again; then confirm.
    await page.get_by_role("button", name="Sửa lịch").click()
    await expect(form).to_be_visible()
    await check.click()
    await expect(preview).to_have_count(4)
    await page.get_by_role("button", name="Tạo các vòng này").click()
    await expect(out).to_have_text("Đã tạo các vòng: 4")
    rows = page.locator("#rounds tbody tr")
    await expect(rows).to_have_count(4)

    # The console's times are the API's, in the campaign's zone; the rounds are scheduled.
    rounds = (await api.a.get("/api/campaigns/phap-luat")).json()["rounds"]
    assert [r["id"] for r in rounds] == [
        "phap-luat-r01",
        "phap-luat-r02",
        "phap-luat-r03",
        "phap-luat-final",
    ]
    await page.reload()
    await expect(rows).to_have_count(4)
    for row, shown in zip(await rows.all(), rounds, strict=True):
        cells = await row.locator("td").all_inner_texts()
        assert cells[2] == "Đã lên lịch", cells
        assert cells[3:] == [_shown(shown["opens_local"]), _shown(shown["closes_local"])], cells
    first = datetime(2031, 1, 6, 8, tzinfo=VIETNAM)
    assert rounds[0]["opens_at"] == int(first.timestamp()) * 1000
    final = datetime(2031, 1, 30, 20, tzinfo=VIETNAM)
    assert rounds[-1]["opens_at"] == int(final.timestamp()) * 1000
    contest = (await api.a.get("/api/contests/phap-luat-r02")).json()
    assert contest["window"]["attempts_allowed"] == 3
    assert contest["shards"] == 1
    assert (await api.a.get("/api/contests/phap-luat-final")).json()["shards"] == 4
    assert contest["eligibility"]["provinces"] == ["hanoi", "hue"]
    await shoot(page, "console-campaign-desktop")


async def test_the_schedule_form_sets_every_round_s_prediction_and_ranking_rules(
    api: Api, page: Page
) -> None:
    """The schedule form's round rules (prediction question of the chosen bank, the attempt
    that counts, a further tie-break, minutes between attempts, leaderboard updates) are
    shown in the confirmation step and are every round's; a bad one is the API's problem,
    located in the schedule, and nothing is made."""
    base = _base(api)
    created = await api.a.post("/api/campaigns", json={"title": "Dự đoán", "id": "du-doan"})
    assert created.status_code == 201, created.text
    await sign_in_page(page, base, await key_of(api, "central"))
    await page.goto(f"{base}/console/campaigns/du-doan")
    form = page.locator("#schedule-form")
    prediction = form.get_by_label("Câu hỏi dự đoán")
    await expect(prediction.locator("option")).to_have_count(2)  # none, and the bank's "pred"
    await form.get_by_label("Số câu hỏi mỗi lượt thi").fill("3")
    await form.get_by_label("Số tuần").fill("2")
    await form.get_by_label("Tuần đầu tiên: từ ngày").fill("2031-01-06")
    await form.get_by_label("Số lượt thi cho phép (0: không giới hạn)").fill("3")
    gap = form.get_by_label(
        "Số phút phải chờ giữa hai lượt thi của một thí sinh (0: không phải chờ)"
    )
    await gap.fill("60")
    await prediction.select_option("pred")
    await form.get_by_label("Lượt thi được tính", exact=True).select_option(label="Lượt cuối cùng")
    await form.get_by_label("Lượt thi được tính bắt đầu sớm hơn").check()
    await form.get_by_label("Cập nhật bảng xếp hạng").select_option(label="Khi lượt thi kết thúc")

    # A delay the week is not longer than: the contest check's problem, at the schedule's
    # field; nothing made.
    await gap.fill("10080")
    check = page.get_by_role("button", name="Kiểm tra các vòng")
    await check.click()
    out = page.locator("#schedule-result")
    await expect(out).to_contain_text("Cuộc thi nhiều vòng hoặc các vòng thi có lỗi")
    await expect(out.locator("table.problems td").nth(2)).to_have_text(
        "min_seconds_between_attempts"
    )
    assert (await api.a.get("/api/contests")).json() == []

    await gap.fill("60")
    await check.click()
    rules = page.locator("#preview-rules")
    for shown in (
        "Câu hỏi dự đoánpred",
        "Lượt thi được tínhLượt cuối cùng",
        "Lượt thi được tính bắt đầu sớm hơn",
        "Khi lượt thi kết thúc",
    ):
        await expect(rules).to_contain_text(shown)
    await expect(rules.locator("dd").nth(2)).to_have_text("60")
    await expect(page.locator("#preview tbody tr")).to_have_count(2)
    await shoot(page, "console-campaign-rules-preview-desktop")
    assert (await api.a.get("/api/contests")).json() == []
    await page.get_by_role("button", name="Tạo các vòng này").click()
    await expect(out).to_have_text("Đã tạo các vòng: 2")
    for round_id in ("du-doan-r01", "du-doan-r02"):
        window = (await api.a.get(f"/api/contests/{round_id}")).json()["window"]
        assert window["prediction_question"] == "pred"
        assert window["ranking"] == {"counts": "last", "tie_break": ["earliest_start"]}
        assert (window["attempts_allowed"], window["min_seconds_between_attempts"]) == (3, 3600)
        assert window["board_updates"] == "attempt"
