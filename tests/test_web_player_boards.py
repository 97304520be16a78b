"""The player says when a window attempt reaches the leaderboards (docs/player.md, "Window round").

A round with ``window.board_updates`` ``attempt`` puts an attempt on the boards only when it
ends (docs/scoring.md, "Board updates per attempt"); the member's ``welcome`` says so
(``contest.board_updates``) and the player tells them, beside the attempt and the score, in
Vietnamese and in English. A round with ``answer``, and a server older than the field (a
``welcome`` without it), get no such note. Debian's Chromium through Playwright, against the
real engine (``contest serve``'s worker) on real ports with a real Redis.
"""

from __future__ import annotations

import json

import pytest
import redis.asyncio
from playwright.async_api import Page, WebSocketRoute

from engine.contests.store import ContestStore
from engine.core.contest import BoardUpdates, WindowTiming
from question_bank.draws import DrawRules
from question_bank.ids import OrgId
from tests import browser as browser_support
from tests.browser import shoot
from tests.contest_helpers import now_ms, setup_org, window_spec
from tests.e2e import settings_for, worker
from tests.test_web_player import RIGHT, choose, leave, player_link, says, shown, trivia_bank

browser, page, phone = browser_support.browser, browser_support.page, browser_support.phone

pytestmark = pytest.mark.slow

NOTE_VI = "ⓘ Điểm của bạn lên bảng xếp hạng khi lượt thi kết thúc (khi nộp bài hoặc hết giờ)."
NOTE_EN = (
    "ⓘ Your score appears on the leaderboards when your attempt ends (handed in or out of time)."
)


async def open_round(store: ContestStore, now: int, id: str, board_updates: BoardUpdates) -> None:
    """An open window round of two questions, two attempts of five minutes."""
    window = WindowTiming(
        opens_at=now - 1000,
        closes_at=now + 3_600_000,
        attempt_seconds=300,
        attempts_allowed=2,
        board_updates=board_updates,
    )
    spec = window_spec(now, id=id, draw=DrawRules(count=2), window=window)
    contest = await store.create(OrgId("central"), spec)
    for event in ("schedule", "open"):
        await store.apply(contest.id, event)


async def note_shown(page: Page, note: str | None, within: str = "#screen") -> None:
    """The page shows the board note *note* in *within*, or no note at all."""
    if note is None:
        assert await page.locator(".board-note").count() == 0
    else:
        assert await shown(page, f"{within} .board-note") == note


async def hand_in_one(page: Page, note: str | None, shot: str) -> None:
    """Start an attempt, answer its first question right, hand it in; before the start, in
    the attempt and with its score the page shows *note* (or no note)."""
    assert await shown(page, "#start") == "Bắt đầu làm bài"  # the welcome is in
    await note_shown(page, note)
    await page.click("#start")
    await choose(page, RIGHT[await shown(page, ".qtext")])
    await note_shown(page, note, ".attempt")
    await shoot(page, f"{shot}-attempt")
    await page.click("#submit")
    await page.click("#confirm")
    assert await shown(page, ".verdict") == "Lượt 1 đã nộp: 100 điểm."
    await note_shown(page, note)


async def test_the_player_says_when_an_attempt_reaches_the_boards(
    phone: Page, page: Page, redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    await setup_org(redis_client, key_prefix, "central", bank=trivia_bank())
    now = await now_ms(redis_client)
    store = ContestStore(redis_client, key_prefix)
    await open_round(store, now, "per-attempt", "attempt")
    await open_round(store, now, "per-answer", "answer")

    # A server older than the field: the same per-attempt round, its welcome without it.
    stripped: list[dict[str, object]] = []

    def older_server(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            body = json.loads(message)
            if body.get("type") == "welcome":
                body["contest"].pop("board_updates")
                stripped.append(body["contest"])
                message = json.dumps(body, ensure_ascii=False)
            ws.send(message)

        server.on_message(from_server)

    async with worker(settings_for(redis_url, key_prefix)) as settings:
        # board_updates "attempt": the note before the start, in the attempt, with the score,
        # in both languages.
        await phone.goto(player_link(settings, "per-attempt", "an", "Nguyễn Văn An"))
        await hand_in_one(phone, NOTE_VI, "player-window-boards-phone")
        await phone.click("#lang")
        await says(phone, ".board-note", NOTE_EN)
        await shoot(phone, "player-window-boards-submitted-phone-en")

        # board_updates "answer": the boards take every answer, and the page says nothing.
        await page.goto(player_link(settings, "per-answer", "binh", "Trần Thị Bình"))
        await hand_in_one(page, None, "player-window-boards-answer-desktop")

        # No board_updates in the welcome (an older server): as "answer".
        await leave(page)
        await page.route_web_socket(lambda url: url.startswith("ws://"), older_server)
        await page.goto(player_link(settings, "per-attempt", "cuong", "Lê Văn Cường"))
        await hand_in_one(page, None, "player-window-boards-older-desktop")
        assert stripped and stripped[0]["id"] == "per-attempt"
        await leave(phone, page)
