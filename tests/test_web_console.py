"""The organiser console (/console): its session and CSRF rules over real HTTP on a real
port, its catalogue, and its pages in a real Chromium against a real engine (gateway, HTTP
API, conductor) with real WebSocket members."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import msgspec
import openpyxl
import pytest
import redis.asyncio
from playwright.async_api import Dialog, Page, expect

from engine.core import messages
from engine.directory.orgs import OrgStore
from engine.http import console
from engine.web import i18n
from question_bank.ids import OrgId
from tests import browser as browser_support
from tests.browser import shoot
from tests.contest_helpers import live_spec, now_ms
from tests.e2e import Member, settings_for, worker
from tests.http_server import Api, serve_api
from tests.utils import timeout

browser, page, phone = browser_support.browser, browser_support.page, browser_support.phone

DATA = Path(__file__).parent / "data" / "banks"


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(redis_client, key_prefix) as served:
        yield served


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def signed_in(api: Api, key: str) -> tuple[httpx.AsyncClient, str]:
    """A cookie-only client (no Authorization header) signed in with *key*, and the
    session's CSRF token."""
    client = httpx.AsyncClient(base_url=str(api.anon.base_url), timeout=timeout(10))
    form = await client.get("/console/signin")
    answer = await client.post(
        "/console/signin", data={"key": key, "csrf": _csrf(form.text), "next": "/console"}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    home = await client.get("/console")
    assert home.status_code == 200
    return client, _csrf(home.text)


async def key_of(api: Api, org: str) -> str:
    """The API key of *org* (``central``: client ``a``; ``hanoi-org``: client ``b``)."""
    client = api.a if org == "central" else api.b
    return client.headers["authorization"].split()[1]


async def test_the_session_authorises_the_api_and_unsafe_requests_need_the_csrf_token(
    api: Api, redis_client: redis.asyncio.Redis
) -> None:
    client, csrf = await signed_in(api, await key_of(api, "central"))
    async with contextlib.aclosing(client):
        banks = await client.get("/api/banks")
        assert banks.status_code == 200
        assert [b["id"] for b in banks.json()["banks"]] == ["b1"]
        spec = live_spec(await now_ms(redis_client), id="s1")
        body = msgspec.json.encode(spec)
        refused = await client.post(
            "/api/contests", content=body, headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        wrong = await client.post(
            "/api/contests", content=body, headers={"X-CSRF-Token": csrf + "x"}
        )
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "csrf_failed"
        assert (await api.a.get("/api/contests")).json() == []  # nothing was created
        made = await client.post("/api/contests", content=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        assert made.json()["org"] == "central"
        # A bearer key needs no CSRF token: a browser never sends one by itself.
        assert (await api.a.post("/api/contests/s1/schedule")).status_code == 200


async def test_a_revoked_key_ends_the_console_session_at_once(api: Api, key_prefix: str) -> None:
    key = await key_of(api, "central")
    client, _ = await signed_in(api, key)
    async with contextlib.aclosing(client):
        assert (await client.get("/api/contests")).status_code == 200
        assert await OrgStore(api.redis, key_prefix).revoke_key(key)
        gone = await client.get("/api/contests")
        assert gone.status_code == 401
        assert gone.json()["error"]["code"] == "unauthorized"
        page = await client.get("/console")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/console/signin")
        # The session was cleared: a new key for the same organisation does not revive it.
        await OrgStore(api.redis, key_prefix).install_key(OrgId("central"), key)
        assert (await client.get("/api/contests")).status_code == 401


async def test_one_organisation_s_session_cannot_see_another_s_contest(
    api: Api, redis_client: redis.asyncio.Redis
) -> None:
    spec = live_spec(await now_ms(redis_client), id="theirs")
    made = await api.a.post("/api/contests", content=msgspec.json.encode(spec))
    assert made.status_code == 201
    client, csrf = await signed_in(api, await key_of(api, "hanoi-org"))
    async with contextlib.aclosing(client):
        assert (await client.get("/api/contests")).json() == []
        assert (await client.get("/api/contests/theirs")).status_code == 403
        start = await client.post("/api/contests/theirs/schedule", headers={"X-CSRF-Token": csrf})
        assert start.status_code == 403
        assert start.json()["error"]["code"] == "forbidden"
        page = await client.get("/console/contests/theirs")
        assert page.status_code == 403
        assert "forbidden" in page.text
        assert "theirs" not in (await client.get("/console/contests")).text
        # The contest is unchanged.
        assert (await api.a.get("/api/contests/theirs")).json()["state"] == "draft"


async def test_sign_in_refuses_a_wrong_key_and_a_missing_token_and_sign_out_ends_it(
    api: Api,
) -> None:
    async with httpx.AsyncClient(base_url=str(api.anon.base_url), timeout=timeout(10)) as client:
        form = await client.get("/console/signin")
        token = _csrf(form.text)
        wrong = await client.post("/console/signin", data={"key": "ce_nope", "csrf": token})
        assert wrong.status_code == 401
        assert 'id="signin-error"' in wrong.text
        key = await key_of(api, "central")
        no_token = await client.post("/console/signin", data={"key": key})
        assert no_token.status_code == 403
        assert (await client.get("/api/banks")).status_code == 401
    client, csrf = await signed_in(api, await key_of(api, "central"))
    async with contextlib.aclosing(client):
        refused = await client.post("/console/signout", data={})
        assert refused.status_code == 403
        assert (await client.get("/api/banks")).status_code == 200
        out = await client.post("/console/signout", data={"csrf": csrf})
        assert out.status_code == 303
        assert (await client.get("/api/banks")).status_code == 401


async def test_sign_in_goes_only_to_console_pages(api: Api) -> None:
    async with httpx.AsyncClient(base_url=str(api.anon.base_url), timeout=timeout(10)) as client:
        token = _csrf((await client.get("/console/signin")).text)
        key = await key_of(api, "central")
        answer = await client.post(
            "/console/signin", data={"key": key, "csrf": token, "next": "//evil.example/console"}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console"


async def test_the_console_speaks_vietnamese_first_and_english_on_request(
    api: Api, redis_client: redis.asyncio.Redis
) -> None:
    # live_spec starts a minute after the time given: 19:30 on 2 January 2030, in Vietnam.
    spec = live_spec(1_893_587_400_000 - 60_000, id="s1")
    assert (await api.a.post("/api/contests", content=msgspec.json.encode(spec))).is_success
    async with httpx.AsyncClient(base_url=str(api.anon.base_url), timeout=timeout(10)) as client:
        plain = await client.get("/console/signin")
        assert '<html lang="vi">' in plain.text and "Đăng nhập" in plain.text
        english = await client.get("/console/signin", headers={"Accept-Language": "en-US,en"})
        assert '<html lang="en">' in english.text and ">Sign in<" in english.text
        preferred = await client.get(
            "/console/signin", headers={"Accept-Language": "fr;q=1, vi;q=0.5, en;q=0.2"}
        )
        assert '<html lang="vi">' in preferred.text
    client, _ = await signed_in(api, await key_of(api, "central"))
    async with contextlib.aclosing(client):
        page = await client.get("/console/contests/s1")
        assert "19:30 02/01/2030" in page.text and "Bắt đầu lúc" in page.text
        switched = await client.get("/console/lang/en?next=/console/contests/s1")
        assert switched.headers["location"] == "/console/contests/s1"
        page = await client.get("/console/contests/s1", headers={"Accept-Language": "vi"})
        assert '<html lang="en">' in page.text  # the choice wins over the browser's
        assert "2 Jan 2030, 19:30" in page.text and "Starts at" in page.text
        away = await client.get("/console/lang/vi?next=https://evil.example/")
        assert away.headers["location"] == "/console"


def test_every_console_text_has_a_vietnamese_translation_and_an_english_entry() -> None:
    texts = console.console_texts()
    assert len(texts) > 150  # the extraction finds the templates' and the script's texts
    assert "Sign in" in texts and "Members online" in texts and "Uploading…" in texts
    vi = i18n.messages("console", "vi")
    missing = sorted(t for t in texts if not vi.get(t))
    assert not missing, f"texts without a Vietnamese translation: {missing}"
    same = sorted(t for t in texts if vi[t] == t)
    assert not same, f"texts 'translated' as themselves: {same}"
    en = (i18n.LOCALE_DIR / "en" / "LC_MESSAGES" / "console.po").read_text(encoding="utf-8")
    quoted = {t: t.replace("\\", "\\\\").replace('"', '\\"') for t in texts}
    absent = sorted(t for t in texts if f'msgid "{quoted[t]}"' not in en)
    assert not absent, f"texts missing from the English catalogue: {absent}"


# In a real browser, against a real engine.


def workbook() -> bytes:
    """A bank as an Excel workbook (the engine's template's columns): six single-choice
    questions in two topics and three difficulties, option A always right."""
    from question_bank.formats.xlsx import TEMPLATE

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(TEMPLATE[0]))
    levels = ("dễ", "trung bình", "khó")
    for i in range(6):
        topic = "Địa lý" if i % 2 == 0 else "Lịch sử"
        sheet.append(
            [i + 1, "single", f"Câu hỏi số {i + 1}?", "Đúng", "Sai", "Không", "Có lẽ", "A", 10]
            + [topic, levels[i % 3]]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def accept_dialogs(page: Page) -> None:
    """Confirm every confirmation the console asks for."""

    def on_dialog(dialog: Dialog) -> None:
        asyncio.ensure_future(dialog.accept())

    page.on("dialog", on_dialog)


async def sign_in_page(page: Page, base: str, key: str) -> None:
    await page.goto(f"{base}/console")
    await expect(page).to_have_url(re.compile(r"/console/signin"))
    # The browser asks for English (Chromium's default): the switch chooses Vietnamese.
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_role("link", name="Tiếng Việt").click()
    await expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    await page.get_by_label("Khóa API").fill(key)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page).to_have_url(f"{base}/console")


async def drop_file(page: Page, selector: str, name: str, text: str) -> None:
    """Drop a file on *selector* as a person dragging it from their desktop would."""
    transfer = await page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "text/plain"}));
            return transfer;
        }""",
        [name, text],
    )
    await page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


async def upload_workbook(page: Page) -> None:
    """Upload :func:`workbook` as bank ``do-vui`` with the file input of the banks page."""
    await page.get_by_role("link", name="Ngân hàng câu hỏi", exact=True).click()
    await page.get_by_label("Thả tệp vào đây, hoặc chọn tệp").set_input_files(
        {"name": "Đố vui.xlsx", "mimeType": "application/octet-stream", "buffer": workbook()}
    )
    await page.get_by_label("Mã ngân hàng (không bắt buộc: lấy từ tên tệp)").fill("do-vui")
    await page.get_by_role("button", name="Tải lên", exact=True).click()
    await expect(page.locator("#upload-result")).to_contain_text("Đã lưu")
    await expect(page.locator("#upload-result")).to_contain_text("6 câu hỏi")


async def create_show(
    page: Page,
    base: str,
    contest: str,
    *,
    question_seconds: int,
    reveal_seconds: int = 5,
    quota: bool = False,
) -> None:
    """Create a two-question live show from bank ``do-vui`` with the console's form (to
    start on 2 January 2030 at 19:30, Vietnam's time) and open its page."""
    await page.goto(f"{base}/console/contests/new?bank=do-vui")
    await expect(page.locator("#drawable")).to_have_text("6")
    await page.get_by_label("Tiêu đề", exact=True).fill("Đố vui trực tiếp")
    await page.get_by_label("Mã cuộc thi (không bắt buộc)").fill(contest)
    await page.get_by_label("Số câu hỏi mỗi thí sinh").fill("2")
    await expect(page.locator("#available")).to_contain_text("Lịch sử")
    if quota:
        await page.get_by_label("Chủ đề 1").select_option(label="Địa lý")
        await page.get_by_label("Số câu 1").fill("1")
    await page.get_by_label("Bắt đầu lúc").fill("2030-01-02T19:30")
    await page.get_by_label("Số giây mỗi câu hỏi").fill(str(question_seconds))
    await page.get_by_label("Số giây công bố đáp án").fill(str(reveal_seconds))
    await page.get_by_role("button", name="Tạo cuộc thi (bản nháp)").click()
    await expect(page).to_have_url(f"{base}/console/contests/{contest}")


async def fill_window_round(page: Page, title: str, contest: str, opens: str, closes: str) -> None:
    """Fill the new-contest form for a window round of three questions: *title*, id
    *contest*, opening and closing at the local times *opens* and *closes*."""
    await page.get_by_label("Vòng thi tự do (làm bài có giới hạn thời gian").check()
    await page.get_by_label("Tiêu đề", exact=True).fill(title)
    await page.get_by_label("Mã cuộc thi (không bắt buộc)").fill(contest)
    await page.get_by_label("Số câu hỏi mỗi thí sinh").fill("3")
    await page.get_by_label("Mở lúc").fill(opens)
    await page.get_by_label("Đóng lúc").fill(closes)


@pytest.fixture
async def engine(  # tests ask for it before their pages: it stops after they close
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> AsyncIterator[tuple[str, str, object]]:
    """A whole engine (gateway, HTTP API, conductor) on free ports; the base URL of its
    HTTP API, the key of organisation ``central`` (which has bank ``b1``), its settings."""
    from tests.contest_helpers import setup_org

    key = await setup_org(redis_client, key_prefix, "central")
    async with worker(settings_for(redis_url, key_prefix)) as settings:
        yield f"http://{settings.host}:{settings.http_port}", key, settings


async def test_an_organiser_uploads_a_bank_and_runs_a_live_show_in_the_console(
    engine: tuple[str, str, object], page: Page, phone: Page
) -> None:
    base, key, settings = engine
    accept_dialogs(page)
    await sign_in_page(page, base, key)
    await expect(page.get_by_role("heading", name="Central")).to_be_visible()

    # Banks: an Excel file with the file input; an Aiken file dropped; a broken one.
    await upload_workbook(page)
    await page.get_by_label("Định dạng").select_option("aiken")
    await drop_file(page, "#dropzone", "aiken.txt", (DATA / "aiken.txt").read_text())
    await expect(page.locator("#upload-result")).to_contain_text("Đã lưu")
    await drop_file(page, "#dropzone", "hong.txt", (DATA / "aiken-errors.txt").read_text())
    problems = page.locator("#upload-result table.problems tbody tr")
    await expect(page.locator("#upload-result")).to_contain_text("bank_invalid")
    assert await problems.count() >= 3
    assert re.fullmatch(r"\d+", (await problems.first.locator("td").first.inner_text()).strip())
    await shoot(page, "console-banks-desktop")
    await page.reload()
    await expect(page.locator("#bank-list")).to_contain_text("do-vui")
    await expect(page.locator("#bank-list")).to_contain_text("aiken")

    # Browse with filters, and preview a question as a member sees it.
    await page.get_by_role("link", name="Đố vui").click()
    await expect(page.locator("#question-count")).to_contain_text("6 / 6")
    await page.get_by_label("Độ khó").select_option("hard")
    await page.get_by_role("button", name="Lọc", exact=True).click()
    await expect(page.locator("#question-count")).to_contain_text("2 / 6")
    await page.get_by_label("Chủ đề").select_option(label="Lịch sử")
    await page.get_by_role("button", name="Lọc", exact=True).click()
    await expect(page.locator("#question-count")).to_contain_text("1 / 6")
    await page.locator("#questions tbody a").first.click()
    await expect(page.locator("#preview-text")).to_have_text("Câu hỏi số 6?")
    await expect(page.locator(".preview")).to_contain_text("Đúng")

    # Create a live show from the bank: available counts shown, timing in Vietnam's time.
    await create_show(page, base, "show-1", question_seconds=60, quota=True)
    await expect(page.locator("#starts-at")).to_have_text("19:30 02/01/2030")
    created = await page.evaluate("fetch('/api/contests/show-1').then(r => r.json())")
    assert created["live"]["starts_at"] == 1_893_587_400_000  # 2030-01-02 12:30 UTC
    [quota] = created["draw"]["quotas"]
    assert (quota["topic"], quota["count"], created["draw"]["count"]) == ("dia-ly", 1, 2)

    await page.get_by_role("button", name="Lên lịch").click()
    await expect(page.locator("#contest-state")).to_have_text("Đã lên lịch")

    # Three members wait for the show; the organiser starts it.
    members = [Member(settings, "show-1", f"m{i}") for i in range(1, 4)]  # type: ignore[arg-type]
    for member in members:
        await member.connect()
    try:
        await page.get_by_role("button", name="Bắt đầu ngay").click()
        await expect(page.locator("#contest-state")).to_have_text("Đang diễn ra")
        questions = [await m.wait(messages.Question, seconds=15) for m in members]
        first = questions[0]
        assert all(q.id == first.id for q in questions)
        right = next(o.id for o in first.options if o.text == "Đúng")
        wrong = next(o.id for o in first.options if o.text == "Sai")
        assert (await members[0].answer(first.id, right)).accepted
        assert (await members[1].answer(first.id, wrong)).accepted
        # members[2] does not answer.

        await page.get_by_role("link", name="Trực tiếp").first.click()
        await expect(page.locator("#answers")).to_have_text("2", timeout=15_000)
        await expect(page.locator("#online")).to_have_text("3", timeout=20_000)
        chart = page.locator("#questions-chart")
        await expect(chart).to_contain_text(f"{first.text} — đã trả lời: 2 (hiện tại)")
        # Protocol 2 applies answers in bulk when the question closes (docs/scoring.md):
        # while it is open the answers count live; totals, the board and the distribution
        # come with its close (checked below, after the organiser closes the show).
        stats = await page.evaluate("fetch('/api/contests/show-1/stats').then(r => r.json())")
        assert stats["answers"] == 2
        await shoot(page, "console-live-desktop")

        await sign_in_page(phone, base, key)
        await phone.goto(f"{base}/console/contests/show-1/live")
        await expect(phone.locator("#answers")).to_have_text("2", timeout=15_000)
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
        await shoot(phone, "console-live-phone")
    finally:
        for member in members:
            await member.close()

    # Close and finalize (each confirmed), then the results: search, units, CSV, English.
    await page.get_by_role("link", name="Tổng quan").click()
    await page.get_by_role("button", name="Đóng", exact=True).click()
    await expect(page.locator("#contest-state")).to_have_text("Đã đóng")
    # The close applied the open question's answers: the live page's figures and chart.
    await page.goto(f"{base}/console/contests/show-1/live")
    await expect(page.locator("#participants")).to_have_text("2", timeout=15_000)
    bars = page.locator("#questions-chart figure").first.locator("li")
    await expect(bars).to_have_count(2)
    assert sorted(await bars.all_inner_texts()) == ["Sai\n1 (50 %)", "Đúng\n1 (50 %)"]
    board = page.locator("#board tbody tr")
    await expect(board).to_have_count(2)
    await expect(board.first).to_contain_text("M1")
    stats = await page.evaluate("fetch('/api/contests/show-1/stats').then(r => r.json())")
    assert stats["answers"] == 2 and stats["participants"] == 2
    # The scheduler finalizes a closed contest at once: by the time the page loads it may
    # be done (the page offers no "finalize" then), and a click may find it done (409).
    # Either way it ends finalized: wait for that in the API, then see it on the page.
    await page.goto(f"{base}/console/contests/show-1")
    finalize = page.get_by_role("button", name="Chốt kết quả")
    if await finalize.count():
        await finalize.click()
        # its answer: the page loads again finalized, or the API's 409 is shown
        done = page.locator("#contest-state", has_text="Đã chốt kết quả")
        await expect(page.locator("#action-result .error").or_(done)).to_be_visible()
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=timeout(10)
    ) as api:
        for _ in range(150):
            if (await api.get("/api/contests/show-1")).json()["state"] == "finalized":
                break
            await asyncio.sleep(0.1)
    await page.goto(f"{base}/console/contests/show-1")
    await expect(page.locator("#contest-state")).to_have_text("Đã chốt kết quả")
    await page.get_by_role("link", name="Kết quả").click()
    rows = page.locator("#standings tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("M1")
    await expect(page.locator("#standing-count")).to_have_text("2 / 2 thí sinh")
    await page.get_by_label("Tìm theo tên, mã thí sinh, đơn vị hoặc tỉnh").fill("m2")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("M2")
    units = page.locator("#units tbody tr")
    await expect(units).to_have_count(1)
    await expect(units.first).to_contain_text("u1")
    csv = await page.evaluate(
        "fetch('/api/contests/show-1/results?format=csv').then(r => r.text())"
    )
    assert "M1" in csv and "M2" in csv
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Tải xuống (CSV)").click()
    assert (await download.value).suggested_filename == "show-1.csv"
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Tải xuống (Excel)").click()
    saved = await (await download.value).path()
    sheet = openpyxl.load_workbook(io.BytesIO(Path(saved).read_bytes())).worksheets[0]
    api_rows = await page.evaluate("fetch('/api/contests/show-1/results').then(r => r.json())")
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0][:6] == ["rank", "member", "name", "unit", "province", "score"]
    assert [r[:6] for r in table[1:]] == [
        [r["rank"], r["member"], r["name"], r["unit"], r["province"], r["score"]] for r in api_rows
    ]
    await expect(page.locator("#provinces tbody tr")).to_have_text(
        ["(không có trong danh sách đơn vị)02—"]
    )
    await shoot(page, "console-results-desktop")
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name="Final standings")).to_be_visible()
    await expect(page.locator("#standing-count")).to_have_text("2 / 2 members")
    await page.get_by_role("link", name="Tiếng Việt").click()

    # Sign out: the API no longer answers the page.
    await page.get_by_role("button", name="Đăng xuất").click()
    await expect(page).to_have_url(re.compile(r"/console/signin"))
    status = await page.evaluate("fetch('/api/contests').then(r => r.status)")
    assert status == 401


async def test_the_live_page_of_a_window_round_counts_attempts_started_and_finished(
    engine: tuple[str, str, object], page: Page, redis_client: redis.asyncio.Redis
) -> None:
    from tests.contest_helpers import window_spec

    base, key, settings = engine
    now = await now_ms(redis_client)  # the Redis clock, as the contest store reads it
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout(10)) as api:
        spec = msgspec.json.encode(window_spec(now, id="week-1"))
        assert (await api.post("/api/contests", content=spec)).status_code == 201
        assert (await api.post("/api/contests/week-1/schedule")).status_code == 200
        # The scheduler may open it first (its opening time is past): 409 then.
        assert (await api.post("/api/contests/week-1/start")).status_code in (200, 409)
    ana, bao = (Member(settings, "week-1", m) for m in ("ana", "bao"))  # type: ignore[arg-type]
    try:
        for member in (ana, bao):
            await member.connect()
            await member.send(messages.StartAttempt())
            await member.wait(messages.AttemptState)
        await ana.send(messages.Submit(prediction=3))
        await ana.wait(messages.AttemptState, lambda m: m.state == "submitted")

        await sign_in_page(page, base, key)
        await page.goto(f"{base}/console/contests/week-1/live")
        row = page.locator("#series tbody tr").first
        await expect(row).to_be_visible(timeout=10_000)
        cells = row.locator("td")
        await expect(cells.nth(1)).to_have_text("2")  # members who started
        await expect(cells.nth(2)).to_have_text("1")  # members who finished an attempt
        await expect(page.locator("#participants")).to_have_text("2")
        await shoot(page, "console-window-live-desktop")
    finally:
        for member in (ana, bao):
            await member.close()


@pytest.fixture
async def players(browser: object) -> AsyncIterator[tuple[Page, Page]]:
    """Two more members' pages (desktop and mid-sized), each in its own context; no
    JavaScript error allowed."""
    sizes = ({"width": 1024, "height": 768}, {"width": 800, "height": 900})
    generators = [browser_support._page(browser, viewport=size) for size in sizes]
    pages = [await anext(g) for g in generators]
    assert all(isinstance(p, Page) for p in pages)
    try:
        yield pages[0], pages[1]  # type: ignore[return-value]
    finally:
        for g in generators:
            with contextlib.suppress(StopAsyncIteration):
                await anext(g)


async def test_a_live_show_run_from_the_console_and_played_in_three_player_pages(
    engine: tuple[str, str, object],
    page: Page,
    phone: Page,
    players: tuple[Page, Page],
) -> None:
    """The organiser creates and starts a live show in the console; three members play it
    in the player (/play): right, wrong, no answer; their reveals and ranks are the API's,
    and the console's live page shows the counts."""
    from engine.directory import tokens
    from engine.http.play import link
    from tests.e2e import SECRET
    from tests.test_web_player import choose, question_text, revealed, shown, standing

    base, key, settings = engine
    accept_dialogs(page)
    await sign_in_page(page, base, key)
    await upload_workbook(page)
    await create_show(page, base, "final", question_seconds=8, reveal_seconds=4)
    await page.get_by_role("button", name="Lên lịch").click()
    await expect(page.locator("#contest-state")).to_have_text("Đã lên lịch")

    alice, bob, carol = phone, *players
    names = {alice: "alice", bob: "bob", carol: "carol"}
    ws = f"ws://{settings.host}:{settings.ws_port}/ws/final"  # type: ignore[attr-defined]
    for member_page, member in names.items():
        token = tokens.issue(
            SECRET,
            contest="final",
            member=member,
            name=member.title(),
            province="hanoi",
            unit="hn-01",
        )
        await member_page.goto(link(base, ws, token))
    for member_page in names:
        await expect(member_page.locator("#status")).to_have_text("Đã kết nối", timeout=20_000)

    await page.get_by_role("button", name="Bắt đầu ngay").click()
    await expect(page.locator("#contest-state")).to_have_text("Đang diễn ra")
    text = await question_text(alice, 0, 2)
    assert await question_text(bob, 0, 2) == await question_text(carol, 0, 2) == text
    await choose(alice, "Đúng")
    await choose(bob, "Sai", keyboard=True)
    # carol does not answer.

    assert await revealed(alice) == ("✓ Bạn trả lời đúng. Bạn chọn: Đúng", "+10", "10", "1/2")
    assert await revealed(bob) == ("✗ Bạn trả lời sai. Bạn chọn: Sai", "+0", "0", "2/2")
    assert await revealed(carol) == ("– Bạn không trả lời.", "+0", "0", "chưa được xếp hạng")
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=timeout(10)
    ) as api:
        a, b, c = [await standing(api, "final", m) for m in ("alice", "bob", "carol")]
        stats = (await api.get("/api/contests/final/stats")).json()
    assert a["size"] == 2
    assert (a["member"]["rank"], a["member"]["score"]) == (1, 10)
    assert (b["member"]["rank"], b["member"]["score"]) == (2, 0)
    assert c["member"] is None
    assert (stats["answers"], stats["participants"]) == (2, 2)

    # The console's live page shows the same counts.
    await page.get_by_role("link", name="Trực tiếp").first.click()
    await expect(page.locator("#answers")).to_have_text("2", timeout=15_000)
    await expect(page.locator("#participants")).to_have_text("2")
    await expect(page.locator("#online")).to_have_text("3", timeout=20_000)
    first = page.locator("#questions-chart figure").first
    await expect(first).to_contain_text(f"1. {text} — đã trả lời: 2")
    assert sorted(await first.locator("li").all_inner_texts()) == [
        "Sai\n1 (50 %)",
        "Đúng\n1 (50 %)",
    ]
    board = page.locator("#board tbody tr")
    await expect(board).to_have_count(2)
    await expect(board.first).to_contain_text("Alice")
    await shoot(page, "console-with-players-live-desktop")

    # Nobody answers question 2; each page's final standing is the API's.
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=timeout(10)
    ) as api:
        for member_page, member in names.items():
            # Question 2 and its reveal pass first (8 + 4 s).
            await expect(member_page.locator("#final-rank")).to_be_visible(timeout=40_000)
            final = await shown(member_page, "#final-rank")
            body = await standing(api, "final", member)
            if body["member"] is None:
                assert member == "carol"
                continue
            assert final == f"Hạng {body['member']['rank']}/{body['size']}"
            assert await shown(member_page, "#final-score") == f"Điểm: {body['member']['score']}"
    await shoot(alice, "console-with-players-final-phone")


_UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((el) => el.type !== "hidden")
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                    && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map((el) => el.outerHTML.slice(0, 80))"""


async def test_every_console_page_labels_its_controls_and_fits_a_phone(
    engine: tuple[str, str, object], phone: Page, redis_client: redis.asyncio.Redis
) -> None:
    """Signed in from the keyboard (the key typed, Enter); then every page: each control
    has a label (or is a button with text), the page says its language, has one h1, and
    fits 360 px."""
    base, key, _ = engine
    spec = msgspec.json.encode(live_spec(await now_ms(redis_client), id="s1"))
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=timeout(10)
    ) as api:
        assert (await api.post("/api/contests", content=spec)).status_code == 201
        made = await api.post("/api/campaigns", json={"title": "Tìm hiểu luật", "id": "luat"})
        assert made.status_code == 201, made.text
        rounds = {"rule": {"weeks": 2, "starting": "2031-01-06"}, "bank": "b1"}
        rounds |= {"draw": {"count": 3}}
        made = await api.post("/api/campaigns/luat/rounds", json=rounds)
        assert made.status_code == 201, made.text
        round_ids = [r["id"] for r in made.json()["rounds"]]
    await phone.goto(f"{base}/console/lang/vi?next=/console")
    await expect(phone.get_by_label("Khóa API")).to_be_focused()  # autofocus
    await phone.keyboard.type(key)
    await phone.keyboard.press("Enter")
    await expect(phone).to_have_url(f"{base}/console")
    pages = [
        "/console",
        "/console/banks",
        "/console/banks/b1",
        "/console/banks/b1/questions/q1",
        "/console/banks/b1/questions/tf",
        "/console/contests",
        "/console/contests/new",
        "/console/contests/s1",
        "/console/contests/s1/live",
        "/console/contests/s1/results",
        "/console/campaigns/new",
        "/console/campaigns/luat",
    ]
    for path in pages:
        await phone.goto(base + path)
        if (
            path == "/console/campaigns/luat"
        ):  # its owner's schedule form comes with the API's answer
            await expect(phone.locator("#schedule-form")).to_be_visible()
        assert await phone.evaluate(_UNLABELLED) == [], path
        assert await phone.get_attribute("html", "lang") == "vi"
        await expect(phone.locator("h1")).to_have_count(1)
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide on a 360-px phone"
        if path.endswith("/new"):
            await shoot(phone, f"console-new-{path.split('/')[2][:-1]}-phone")
    # The campaign's rounds, as the API lists them, linked to their contests' pages.
    rows = phone.locator("#rounds tbody tr")
    await expect(rows).to_have_count(2)
    await expect(phone.locator("#campaign-title")).to_have_text("Tìm hiểu luật")
    await expect(rows.first).to_contain_text("Đã lên lịch")
    await expect(rows.first).to_contain_text("06/01/2031")
    href = await rows.first.get_by_role("link").get_attribute("href")
    assert href == f"/console/contests/{round_ids[0]}"
    await phone.goto(f"{base}/console/contests")
    await expect(phone.locator("#campaigns tbody")).to_contain_text("Tìm hiểu luật")

    # A window round from the form, on the phone: its own fieldset, its times.
    await phone.goto(f"{base}/console/contests/new")
    await phone.get_by_label("Vòng thi tự do (làm bài có giới hạn thời gian").check()
    await expect(phone.get_by_label("Mở lúc")).to_be_visible()
    await expect(phone.get_by_label("Bắt đầu lúc")).to_be_hidden()
    await fill_window_round(phone, "Tuần 1", "w1", "2031-03-02T08:00", "2031-03-09T20:00")
    await phone.get_by_label("Câu hỏi dự đoán").select_option("pred")
    await phone.get_by_label("Lượt thi được tính").select_option("last")
    await phone.get_by_role("button", name="Tạo cuộc thi (bản nháp)").click()
    await expect(phone).to_have_url(f"{base}/console/contests/w1")
    await expect(phone.locator("#main")).to_contain_text("08:00 02/03/2031")
    await expect(phone.locator("#main")).to_contain_text("20:00 09/03/2031")
    made = await phone.evaluate("fetch('/api/contests/w1').then(r => r.json())")
    window = made["window"]
    vietnam = ZoneInfo("Asia/Ho_Chi_Minh")
    opens, closes = (
        datetime(2031, 3, 2, 8, tzinfo=vietnam),
        datetime(2031, 3, 9, 20, tzinfo=vietnam),
    )
    assert (window["opens_at"], window["closes_at"]) == (
        int(opens.timestamp()) * 1000,
        int(closes.timestamp()) * 1000,
    )
    assert (window["prediction_question"], window["ranking"]["counts"]) == ("pred", "last")
    # A refused definition lists its problems by field and creates nothing.
    await phone.goto(f"{base}/console/contests/new")
    await phone.get_by_label("Vòng thi tự do (làm bài có giới hạn thời gian").check()
    await phone.get_by_label("Tiêu đề", exact=True).fill("Sai giờ")
    await phone.get_by_label("Mở lúc").fill("2031-03-09T08:00")
    await phone.get_by_label("Đóng lúc").fill("2031-03-02T08:00")
    await phone.get_by_role("button", name="Tạo cuộc thi (bản nháp)").click()
    await expect(phone.locator("#form-result")).to_contain_text("contest_invalid")
    await expect(phone.locator("#form-result")).to_contain_text("window.closes_at")
