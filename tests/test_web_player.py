"""The member player (/play) in a real Chromium against the real engine on real ports.

Three player pages join a live show and answer (right, wrong, none); their reveals show the
points, totals and ranks the organiser's API gives. A window attempt survives a page reload
with an answer the network dropped on its way. Every text the player's JavaScript shows has
a Vietnamese translation. Screenshots at phone and desktop sizes go to the browser artefacts;
the page fixtures fail a test whose page logged a JavaScript error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from playwright.async_api import Page, WebSocketRoute, expect

from engine.contests.store import ContestStore
from engine.core import messages as protocol_messages
from engine.core.contest import LiveTiming, ScoringRules, WindowTiming
from engine.core.settings import Settings
from engine.directory import tokens
from engine.http.play import PLAYER_DIR
from engine.web.i18n import messages
from question_bank.draws import DrawRules
from question_bank.ids import BankId, OptionId, OrgId, QuestionId
from question_bank.models import (
    Bank,
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    ShortText,
    SingleChoice,
    TextAnswer,
    TrueFalse,
)
from tests import browser as browser_support
from tests.browser import shoot
from tests.contest_helpers import live_spec, now_ms, setup_org, window_spec
from tests.e2e import SECRET, pause_scheduler, settings_for, worker
from tests.utils import timeout

browser, page, phone = browser_support.browser, browser_support.page, browser_support.phone

pytestmark = pytest.mark.slow

_TRIVIA = [
    ("Thủ đô của Việt Nam là?", ["Huế", "Hà Nội", "Đà Nẵng"], 1),
    ("Đỉnh núi cao nhất Việt Nam là?", ["Bà Đen", "Langbiang", "Fansipan"], 2),
    ("Vịnh nào là di sản thiên nhiên thế giới?", ["Hạ Long", "Cam Ranh", "Xuân Đài"], 0),
    ("Một cộng một bằng mấy?", ["Ba", "Hai", "Mười một"], 1),
]
RIGHT = {text: options[good] for text, options, good in _TRIVIA}
WRONG = {text: options[good - 1] for text, options, good in _TRIVIA}


def trivia_bank() -> Bank:
    """Four single-choice questions of 100 points and the prediction question ``pred``."""
    questions: list[SingleChoice | Prediction] = [
        SingleChoice(
            id=QuestionId(f"q{i}"),
            text=text,
            points=100,
            options=[
                Option(id=OptionId(chr(97 + n)), text=o, weight=1.0 if n == good else 0.0)
                for n, o in enumerate(options)
            ],
        )
        for i, (text, options, good) in enumerate(_TRIVIA, start=1)
    ]
    questions.append(Prediction(id=QuestionId("pred"), text="Bao nhiêu người đúng hết?"))
    return Bank(id=BankId("b1"), title="Đố vui", questions=list(questions))


def player_link(settings: Settings, contest: str, member: str, name: str) -> str:
    token = tokens.issue(
        SECRET, contest=contest, member=member, name=name, province="hanoi", unit="hn-01"
    )
    ws = f"ws://{settings.host}:{settings.ws_port}/ws/{contest}"
    return f"http://{settings.host}:{settings.http_port}/play#ws={ws}&token={token}"


@pytest.fixture
async def third(browser: object) -> AsyncIterator[Page]:
    """A third member's page: a mid-sized window, its own context, no JavaScript error."""
    async for p in browser_support._page(browser, viewport={"width": 800, "height": 900}):
        assert isinstance(p, Page)
        yield p


async def standing(api: httpx.AsyncClient, contest: str, member: str) -> dict[str, Any]:
    reply = await api.get(f"/api/contests/{contest}/leaderboard", params={"member": member})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def shown(page: Page, selector: str) -> str:
    element = await page.wait_for_selector(selector, timeout=timeout(20) * 1000)
    assert element is not None
    return (await element.text_content() or "").strip()


async def leave(*pages: Page) -> None:
    """Close the players before the engine stops: a player whose server went away retries,
    and the browser logs each refused connection as an error."""
    for p in pages:
        await p.goto("about:blank")


async def says(page: Page, selector: str, text: str | re.Pattern[str]) -> None:
    """Wait until the element at *selector* (one that is always there) shows *text*."""
    await expect(page.locator(selector)).to_have_text(text, timeout=timeout(20) * 1000)


async def question_text(page: Page, index: int, count: int) -> str:
    """Wait for live question *index* (0-based) on *page*; its text."""
    await page.get_by_role("heading", name=f"Câu {index + 1}/{count}", exact=True).wait_for(
        timeout=timeout(20) * 1000
    )
    return (await page.locator(".qtext").text_content() or "").strip()


async def choose(page: Page, option: str, *, keyboard: bool = False) -> None:
    button = page.get_by_role("button", name=re.compile(re.escape(option)))
    if keyboard:  # the options are real buttons: focus and Enter work as a tap does
        await button.focus()
        await page.keyboard.press("Enter")
    else:
        await button.click()
    assert await shown(page, ".ack.accepted") == "✓ Đã nhận câu trả lời."


async def revealed(page: Page) -> tuple[str, str, str, str]:
    """The reveal's verdict, points, total and rank, once the rank is in."""
    rank = await shown(page, "#my-rank")
    return (
        await shown(page, ".verdict"),
        await shown(page, "#my-points"),
        await shown(page, "#my-total"),
        rank,
    )


async def test_three_members_play_a_live_show(
    phone: Page,
    page: Page,
    third: Page,
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
) -> None:
    key = await setup_org(redis_client, key_prefix, "central", bank=trivia_bank())
    now = await now_ms(redis_client)
    contest = await ContestStore(redis_client, key_prefix).create(
        OrgId("central"),
        live_spec(
            now,
            id="show-web",
            draw=DrawRules(count=2),
            live=LiveTiming(starts_at=now + 8000, question_seconds=6, reveal_seconds=6),
            scoring=ScoringRules(speed=False),
        ),
    )
    await ContestStore(redis_client, key_prefix).apply(contest.id, "schedule")
    async with (
        worker(settings_for(redis_url, key_prefix)) as settings,
        httpx.AsyncClient(
            base_url=f"http://{settings.host}:{settings.http_port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout(10),
        ) as api,
    ):
        alice, bob, carol = phone, page, third
        names = {alice: "alice", bob: "bob", carol: "carol"}
        await asyncio.gather(
            *(p.goto(player_link(settings, "show-web", m, m.title())) for p, m in names.items())
        )
        # Before the start: the show's start time, the Vietnamese way, and a countdown.
        assert re.fullmatch(
            r"Cuộc thi bắt đầu lúc \d\d:\d\d \d\d/\d\d/\d{4}", await shown(alice, "h2")
        )
        assert re.fullmatch(r"0:0\d", await shown(alice, ".clock"))
        await says(alice, "#status", "Đã kết nối")
        # The page speaks the server's protocol version (2 sends the rank's histogram in the
        # reveal, 1 a result to each member; see docs/player.md).
        protocol = getattr(protocol_messages, "PROTOCOL_VERSION", 1)
        assert await alice.evaluate("document.documentElement.dataset.protocol") == str(protocol)
        await shoot(alice, "player-live-waiting-phone")

        # Question 1: alice right, bob wrong, carol nothing.
        text = await question_text(alice, 0, 2)
        assert await question_text(bob, 0, 2) == await question_text(carol, 0, 2) == text
        await shoot(alice, "player-live-question-phone")
        await choose(alice, RIGHT[text])
        await choose(bob, WRONG[text], keyboard=True)
        await shoot(bob, "player-live-answered-desktop")

        assert await revealed(alice) == (
            "✓ Bạn trả lời đúng. Bạn chọn: " + RIGHT[text],
            "+100",
            "100",
            "1/2",
        )
        assert await revealed(bob) == (
            "✗ Bạn trả lời sai. Bạn chọn: " + WRONG[text],
            "+0",
            "0",
            "2/2",
        )
        assert await revealed(carol) == ("– Bạn không trả lời.", "+0", "0", "chưa được xếp hạng")
        # The correct option is marked in words, not only in colour; the counts are there.
        assert await shown(alice, ".distribution li.good .label") == f"✓ {RIGHT[text]} (đúng)"
        assert await shown(alice, ".distribution li.good .count") == "1 người (50%)"
        # The API agrees.
        a, b, c = [await standing(api, "show-web", m) for m in ("alice", "bob", "carol")]
        assert a["size"] == 2
        assert (a["member"]["rank"], a["member"]["score"]) == (1, 100)
        assert (b["member"]["rank"], b["member"]["score"]) == (2, 0)
        assert c["member"] is None
        await shoot(alice, "player-live-reveal-phone")
        await shoot(bob, "player-live-reveal-desktop")

        # Question 2: alice and carol right, bob nothing.
        text = await question_text(alice, 1, 2)
        await question_text(carol, 1, 2)
        await choose(alice, RIGHT[text])
        await choose(carol, RIGHT[text])
        assert (await revealed(alice))[1:] == ("+100", "200", "1/3")
        assert (await revealed(carol))[1:] == ("+100", "100", "2/3")
        assert (await revealed(bob))[1:] == ("+0", "0", "3/3")
        # The board: the top rows, the member's own marked in words.
        # (Protocol 1 broadcasts it after the reveal, protocol 2 inside it.)
        await expect(alice.locator(".board .rows li")).to_have_text(
            ["1Alice (bạn)200 điểm", "2Carol100 điểm", "3Bob0 điểm"], timeout=timeout(10) * 1000
        )

        # The end: each page's standing is the API's.
        for p, member in names.items():
            final = await shown(p, "#final-rank")
            body = await standing(api, "show-web", member)
            row = body["member"]
            assert final == f"Hạng {row['rank']}/{body['size']}"
            assert await shown(p, "#final-score") == f"Điểm: {row['score']}"
        await shoot(alice, "player-live-final-phone")
        await shoot(bob, "player-live-final-desktop")
        await leave(alice, bob, carol)


async def test_a_window_attempt_survives_a_reload(
    phone: Page, redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    await setup_org(redis_client, key_prefix, "central", bank=trivia_bank())
    now = await now_ms(redis_client)
    store = ContestStore(redis_client, key_prefix)
    spec = window_spec(
        now,
        id="round-web",
        draw=DrawRules(count=3),
        window=WindowTiming(
            opens_at=now - 1000,
            closes_at=now + 3_600_000,
            attempt_seconds=300,
            attempts_allowed=2,
            prediction_question=QuestionId("pred"),
        ),
    )
    contest = await store.create(OrgId("central"), spec)
    for event in ("schedule", "open"):
        await store.apply(contest.id, event)  # type: ignore[arg-type]

    # The page's WebSocket goes through Playwright, which can drop its answers on the way
    # (a network that loses what the member sent) or cut it (a network that goes down).
    drop = {"answers": False, "network": False}
    dropped: list[str] = []
    sockets: list[WebSocketRoute] = []

    async def route(ws: WebSocketRoute) -> None:
        if drop["network"]:
            await ws.close(code=4000, reason="the network is down (test)")
            return
        server = ws.connect_to_server()
        sockets.append(ws)

        def from_page(message: str | bytes) -> None:
            if drop["answers"] and '"answer"' in str(message):
                dropped.append(str(message))
                return
            server.send(message)

        ws.on_message(from_page)

    await phone.route_web_socket(re.compile(r"^ws://"), route)
    async with worker(settings_for(redis_url, key_prefix)) as settings:
        await phone.goto(player_link(settings, "round-web", "dung", "Phạm Quốc Dũng"))
        await says(phone, "#who", "Phạm Quốc Dũng")
        assert await shown(phone, "#start") == "Bắt đầu làm bài"
        await shoot(phone, "player-window-start-phone")
        await phone.click("#start")

        # Question 1, right; question 2, right, but the network drops the answer.
        text1 = await shown(phone, ".qtext")
        await choose(phone, RIGHT[text1])
        await phone.get_by_role("button", name="Câu sau →").click()
        text2 = await shown(phone, ".qtext")
        assert text2 != text1
        drop["answers"] = True
        await phone.get_by_role("button", name=re.compile(re.escape(RIGHT[text2]))).click()
        assert await shown(phone, ".ack.sending") == "Đang gửi câu trả lời…"
        async with asyncio.timeout(timeout(10)):
            while not dropped:  # Playwright hands the frame over to this process
                await asyncio.sleep(0.05)
        assert len(dropped) == 1 and RIGHT[text2] not in dropped[0]  # an option id, not text
        await phone.fill("#prediction", "7")
        await shoot(phone, "player-window-attempt-phone")

        # Reload mid-attempt, on a network that works again: the page rejoins, the server
        # sends the attempt with question 1's answer, and the page sends question 2's again.
        drop["answers"] = False
        await phone.reload()
        assert await shown(phone, ".ack.accepted") == "✓ Đã nhận câu trả lời."
        assert await shown(phone, ".qtext") == text2  # where the member was
        assert "(bạn chọn)" in await shown(phone, ".option.chosen")
        assert await phone.input_value("#prediction") == "7"
        jump = await phone.locator(".jump button").all_text_contents()
        assert [j.strip() for j in jump] == ["1 ✓", "2 ✓", "3"]

        # The network goes down; question 3 is answered meanwhile, and sent once it is back.
        drop["network"] = True
        await sockets[-1].close(code=4000, reason="the network is down (test)")
        await says(phone, "#status", re.compile("^Mất kết nối: thử lại sau"))
        await phone.get_by_role("button", name="Câu sau →").click()
        text3 = await shown(phone, ".qtext")
        assert text3 not in (text1, text2)
        await phone.get_by_role("button", name=re.compile(re.escape(RIGHT[text3]))).click()
        assert await shown(phone, ".ack.sending") == "Đang gửi câu trả lời…"
        await shoot(phone, "player-window-offline-phone")
        drop["network"] = False
        await says(phone, ".ack", "✓ Đã nhận câu trả lời.")
        await says(phone, "#status", "Đã kết nối")
        await expect(phone.locator(".jump button")).to_have_text(["1 ✓", "2 ✓", "3 ✓"])

        # Hand in with the prediction (two steps: a confirmation first).
        await phone.click("#submit")
        await phone.click("#confirm")
        assert await shown(phone, ".verdict") == "Lượt 1 đã nộp: 300 điểm."
        assert await shown(phone, "#start") == "Thi lượt mới"  # a second attempt is allowed
        await shoot(phone, "player-window-submitted-phone")

        # The organiser closes, then finalizes the round: the standing, provisional then final.
        # The scheduler finalizes a closed round at its next tick, which can come before the
        # page shows the provisional standing: this test holds the scheduler's lease from
        # here on (and lets a tick under way end) so that the finalize is the organiser's.
        await pause_scheduler(settings, redis_client)
        await store.apply(contest.id, "close")
        await says(phone, "#fhead", "Kết quả tạm thời (chính thức khi kết quả được xác nhận)")
        await says(phone, "#final-rank", "Hạng 1/1")
        await store.finalize(contest.id)  # as the API's finalize does: standings, then the state
        await says(phone, "#fhead", "Kết quả chung cuộc")
        await says(phone, "#final-score", "Điểm: 300")
        await shoot(phone, "player-window-final-phone")
        await leave(phone)


def _msgids_in_javascript() -> tuple[set[str], int]:
    """The msgids of every ``t("...")`` call in the player's JavaScript (comments left out),
    and how many calls to ``t(`` there are in all."""
    found: set[str] = set()
    calls = 0
    for path in sorted((PLAYER_DIR / "js").glob("*.js")):
        code = "\n".join(
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith(("//", "*", "/*"))
        )
        code = code.replace("export function t(", "")  # the definition is not a use
        calls += len(re.findall(r"(?<![\w.])t\(", code))
        found |= {
            m.group(1).replace('\\"', '"')
            for m in re.finditer(r'(?<![\w.])t\(\s*"((?:[^"\\]|\\.)*)"', code)
        }
    return found, calls


def test_every_text_of_the_player_has_a_vietnamese_translation() -> None:
    used, calls = _msgids_in_javascript()
    # Every call has a literal msgid (a computed one would escape this check).
    assert len(used) > 50 and calls >= len(used)
    literal_calls = sum(
        len(re.findall(r'(?<![\w.])t\(\s*"', p.read_text(encoding="utf-8")))
        for p in (PLAYER_DIR / "js").glob("*.js")
    )
    assert calls <= literal_calls
    vi = messages("player", "vi")
    missing = sorted(used - set(vi))
    assert not missing, f"texts without a Vietnamese translation in player.po: {missing}"
    stale = sorted(set(vi) - used)
    assert not stale, f"player.po has texts the player no longer uses: {stale}"
    # Placeholders survive translation.
    for msgid in used:
        assert set(re.findall(r"\{\w+\}", msgid)) == set(re.findall(r"\{\w+\}", vi[msgid])), msgid
    # The English catalogue lists the same texts (English is the msgid itself).
    en_po = Path(PLAYER_DIR.parent / "locale/en/LC_MESSAGES/player.po").read_text(encoding="utf-8")
    assert {m for m in re.findall(r'^msgid "(.+)"$', en_po, re.M)} == {
        m.replace('"', '\\"') for m in used
    }


async def test_the_demo_prints_player_links_that_play(
    phone: Page, page: Page, redis_url: str, key_prefix: str
) -> None:
    from engine.cli.demo import render, set_up
    from engine.cli.serve import ServeInfo

    async with worker(settings_for(redis_url, key_prefix)) as settings:
        info = ServeInfo(settings, redis_url)
        demo = await set_up(redis_url, settings, info.ws_url, info.http_url, members=3)
        text = render(demo)
        assert f"Console        {info.http_url}/console" in text
        window = re.findall(r"play window  (\S+)", text)
        live = re.findall(r"play live    (\S+)", text)
        assert len(window) == len(live) == 3
        assert all(link.startswith(f"{info.http_url}/play#ws=ws://") for link in window + live)

        await phone.goto(window[0])
        await says(phone, "#who", "Nguyễn Văn An")
        await says(phone, "#title", "Vòng thi tuần (demo)")
        assert await shown(phone, "#start") == "Bắt đầu làm bài"
        await page.goto(live[1])
        await says(page, "#who", "Trần Thị Bình")
        assert (await shown(page, "h2")).startswith("Cuộc thi bắt đầu lúc ")
        # The member may switch to English; numbers and times follow the language.
        number = "import('/play/js/i18n.js').then((m) => m.num(1234567.5))"
        assert await page.evaluate(number) == "1.234.567,5"
        await page.click("#lang")
        await says(page, "h2", re.compile("^The show starts at "))
        assert await page.evaluate("document.documentElement.lang") == "en"
        assert await page.evaluate(number) == "1,234,567.5"
        await shoot(page, "player-demo-live-desktop-en")
        await leave(phone, page)


async def test_the_player_routes(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    from engine.http.app import create_app
    from tests.http_server import serve_app

    app = create_app(Settings(key_prefix=key_prefix), redis_client)
    async with serve_app(app) as base, httpx.AsyncClient(base_url=base) as http:
        page = await http.get("/play")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert '<script type="module" src="/play/js/app.js">' in page.text
        module = await http.get("/play/js/app.js")
        assert module.status_code == 200
        # Browsers run a module only with a JavaScript media type.
        assert module.headers["content-type"].startswith("text/javascript")
        assert (await http.get("/play/player.css")).headers["content-type"].startswith("text/css")
        vi = await http.get("/play/i18n/vi.json")
        assert vi.status_code == 200 and vi.json()["Leaderboard"] == "Bảng xếp hạng"
        assert (await http.get("/play/i18n/en.json")).json() == {}  # English is the msgid
        other = await http.get("/play/i18n/fr.json")
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "http_404"
        missing = await http.get("/play/js/missing.js")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "http_404"


def test_a_player_link_keeps_the_token_in_the_fragment() -> None:
    from engine.http.play import link

    url = link("http://127.0.0.1:8080", "ws://127.0.0.1:8765/ws/show-1", "a.b-c_d.e", "en")
    assert url == (
        "http://127.0.0.1:8080/play#ws=ws://127.0.0.1:8765/ws/show-1&token=a.b-c_d.e&lang=en"
    )
    assert "?" not in url  # nothing a server would log


def kinds_bank() -> Bank:
    """A question of each kind a member answers in the player (100 points each), and ``pred``."""
    text, options, good = _TRIVIA[0]
    return Bank(
        id=BankId("b1"),
        title="Đủ loại câu hỏi",
        questions=[
            SingleChoice(
                id=QuestionId("single"),
                text=text,
                points=100,
                options=[
                    Option(id=OptionId(chr(97 + n)), text=o, weight=1.0 if n == good else 0.0)
                    for n, o in enumerate(options)
                ],
            ),
            MultipleChoice(
                id=QuestionId("multiple"),
                text="Những thành phố nào ở Việt Nam?",
                points=100,
                options=[
                    Option(id=OptionId("a"), text="Huế", weight=0.5),
                    Option(id=OptionId("b"), text="Bangkok", weight=0.0),
                    Option(id=OptionId("c"), text="Cần Thơ", weight=0.5),
                ],
            ),
            TrueFalse(id=QuestionId("tf"), text="Hà Nội là thủ đô?", points=100, answer=True),
            Numeric(
                id=QuestionId("numeric"),
                text="Số pi, hai chữ số thập phân?",
                points=100,
                answers=[NumericAnswer(value=3.14, tolerance=0.001)],
            ),
            ShortText(
                id=QuestionId("text"),
                text="Thành phố lớn nhất Việt Nam?",
                points=100,
                answers=[TextAnswer(text="Thành phố Hồ Chí Minh")],
            ),
            Prediction(id=QuestionId("pred"), text="Bao nhiêu người đúng hết?"),
        ],
    )


async def test_every_kind_of_question_in_a_window_attempt(
    phone: Page, redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    await setup_org(redis_client, key_prefix, "central", bank=kinds_bank())
    now = await now_ms(redis_client)
    store = ContestStore(redis_client, key_prefix)
    contest = await store.create(
        OrgId("central"), window_spec(now, id="kinds", draw=DrawRules(count=5))
    )
    for event in ("schedule", "open"):
        await store.apply(contest.id, event)  # type: ignore[arg-type]
    async with worker(settings_for(redis_url, key_prefix)) as settings:
        await phone.goto(player_link(settings, "kinds", "an", "Nguyễn Văn An"))
        await phone.click("#start")
        send = phone.get_by_role("button", name="Gửi câu trả lời")
        for n in range(5):
            await phone.get_by_role("button", name=re.compile(f"^Câu {n + 1}(,|$)")).click()
            text = await shown(phone, ".qtext")
            if text == _TRIVIA[0][0]:
                await phone.get_by_role("button", name=re.compile(RIGHT[text])).click()
            elif text == "Những thành phố nào ở Việt Nam?":
                await phone.get_by_label("Huế").check()
                await phone.get_by_label("Cần Thơ").focus()  # by keyboard, too
                await phone.keyboard.press("Space")
                await send.click()
            elif text == "Hà Nội là thủ đô?":
                await phone.get_by_role("button", name="Đúng", exact=True).click()
            elif text == "Số pi, hai chữ số thập phân?":
                await phone.get_by_label("Câu trả lời của bạn (một số)").fill("3,14")
                await send.click()
            else:
                assert text == "Thành phố lớn nhất Việt Nam?"
                await phone.get_by_label("Câu trả lời của bạn").fill("thành phố hồ chí minh")
                await phone.keyboard.press("Enter")  # the form sends on Enter
            await says(phone, ".ack", "✓ Đã nhận câu trả lời.")
        await shoot(phone, "player-window-kinds-phone")
        await phone.fill("#prediction", "1.200")  # a thousands separator is fine
        await phone.click("#submit")
        await phone.click("#confirm")
        assert await shown(phone, ".verdict") == "Lượt 1 đã nộp: 500 điểm."
        await leave(phone)


async def test_an_eliminated_member_keeps_watching(
    phone: Page,
    page: Page,
    third: Page,
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
) -> None:
    await setup_org(redis_client, key_prefix, "central", bank=trivia_bank())
    now = await now_ms(redis_client)
    store = ContestStore(redis_client, key_prefix)
    timing = LiveTiming(
        starts_at=now + 6000, question_seconds=8, reveal_seconds=4, elimination=True
    )
    contest = await store.create(
        OrgId("central"),
        live_spec(
            now,
            id="knockout",
            draw=DrawRules(count=2),
            live=timing,
            scoring=ScoringRules(speed=False),
        ),
    )
    await store.apply(contest.id, "schedule")
    async with worker(settings_for(redis_url, key_prefix)) as settings:
        alice, bob = phone, page
        await alice.goto(player_link(settings, "knockout", "alice", "Alice"))
        await bob.goto(player_link(settings, "knockout", "bob", "Bob"))
        text = await question_text(alice, 0, 2)
        await question_text(bob, 0, 2)
        await choose(alice, RIGHT[text])
        await choose(bob, WRONG[text])
        notice = "ⓘ Bạn đã bị loại: bạn vẫn có thể tiếp tục theo dõi."
        await says(bob, ".notice", notice)
        assert await alice.locator(".notice").count() == 0

        # The next question: bob sees it, and cannot answer.
        text = await question_text(bob, 1, 2)
        options = bob.locator(".options button")
        assert await options.count() == 3
        for i in range(3):
            assert await options.nth(i).is_disabled()
        await says(bob, ".notice", notice)
        await shoot(bob, "player-live-eliminated-desktop")
        await question_text(alice, 1, 2)
        await choose(alice, RIGHT[text])
        # Alice moves to another device (no memory of her acks) while the question is open:
        # her total comes back from the server (her board row and her recorded answer).
        link = player_link(settings, "knockout", "alice", "Alice")
        await leave(alice)
        alice = third
        await alice.goto(link)
        assert "(bạn chọn)" in await shown(alice, ".option.chosen")
        assert (await revealed(alice))[1:] == ("+100", "200", "1/2")
        assert await revealed(bob) == ("– Bạn không trả lời.", "+0", "0", "2/2")
        await says(bob, "#final-rank", "Hạng 2/2")
        await leave(alice, bob)
