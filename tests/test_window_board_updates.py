"""A window round's ``board_updates`` (docs/scoring.md, "Board updates per attempt").

With ``answer`` (the default) every answer brings the member's best attempt, totals, times
and boards up to date; with ``attempt`` only an attempt's end does (submit, expiry, an
overdue attempt met by a start, resume or submit, a round's close cut). A property test
plays the same random histories on two contests of a real redis-server, one per setting,
under a clock the test sets (tests/test_window_answer_v1.py): whenever no attempt is open
every key of the two contests is equal (the attempt hashes but for their ``bu`` field), and
while attempts are open everything but the best attempts and boards is; after the round's
close cut and the last expiry the finalized standings are equal for every ranking rule, and
so are those of a finalize forced while attempts are open (``Attempts.settle_open``).
Then: while an attempt is open in ``attempt`` mode its answers do not move the boards;
its end does. The HTTP API takes and returns the setting, and a member's ``welcome`` says
it (over a real socket to a real gateway).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import redis.asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.core import messages as m
from engine.core.contest import Contest, LiveTiming, WindowTiming
from question_bank.ids import BankId, ContestId, MemberId, OrgId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.finalize import Finalizer
from scoring.keys import ContestKeys
from scoring.profiles import Profile
from scoring.ranking import Counts, TieBreak
from scoring.scripts import Scripts, script_source
from scoring.window import WindowScoring
from tests.contest_helpers import now_ms, window_spec
from tests.gateway_support import client, create_contest, make_settings, running_gateway, token
from tests.http_server import Api, serve_api
from tests.test_ranking_rules import CHAINS
from tests.test_window_answer_v1 import _TIME, PLACES, POINTS, ClockScripts, _contest_state

DURATION = 100
_serial = itertools.count()
MODES = ("answer", "attempt")
BOARD_KEYS = (":best", ":totals", ":times", ":lb")
"""Keys (by their name after the base) the two settings may differ in while attempts are
open: the best attempts, totals, times and every board (``:lb``, ``:lb:p:*``,
``:lb:u:*``)."""

step = st.tuples(
    st.sampled_from(
        ["start", "answer", "answer", "answer", "answer", "submit", "predict", "resume"]
    ),
    st.integers(0, 3),  # member
    st.integers(0, 3),  # question
    st.sampled_from([1.0, 0.0, 0.5, 1 / 3]),  # graded fraction
    st.sampled_from([0, 0, 1, 2, 7, 60]),  # ms the clock moves before the step
    st.booleans(),  # sweep after the step
)


SECOND_BEATS_FIRST = [
    ("start", 1, 0, 1.0, 0, False), ("answer", 1, 0, 0.5, 2, False),
    ("submit", 1, 0, 1.0, 1, False), ("start", 1, 0, 1.0, 3, False),
    ("answer", 1, 1, 1.0, 1, False), ("answer", 1, 2, 1.0, 7, False),
    ("predict", 1, 2, 1.0, 1, False), ("resume", 1, 0, 1.0, 60, True),
]  # fmt: skip


class AnyClockScripts(ClockScripts):
    """:class:`ClockScripts` that leaves the scripts without the prelude's clock as they are
    (finalize's)."""

    def script(self, name: str) -> Any:
        if _TIME in script_source(name):
            return super().script(name)
        return Scripts.script(self, name)


class Side:
    """One contest of the pair, with its setting in ``P:{C}:meta``."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str, clock: str, mode: str) -> None:
        contest = ContestId(f"{mode}{next(_serial)}")
        self.client = client
        self.scripts = AnyClockScripts(client, clock)
        self.attempts = Attempts(client, contest, prefix=prefix, scripts=self.scripts)
        self.window = WindowScoring(client, contest, prefix, scripts=self.scripts)
        self.finalizer = Finalizer(client, contest, prefix=prefix, scripts=self.scripts)
        self.keys = self.attempts.keys
        self.mode = mode

    async def setup(self) -> None:
        await self.client.hset(self.keys.meta, "board_updates", self.mode)

    async def state(self, *, boards: bool) -> dict[str, Any]:
        """Every key but meta and final:info, attempt hashes without ``bu``; without the
        best attempts and boards unless *boards*."""
        state = await _contest_state(self.client, self.keys.base)
        state.pop(":meta", None)
        state.pop(":final:info", None)  # its "at" is Redis's own clock (compared apart)
        for name, value in state.items():
            if name.startswith(":att:"):
                value.pop(b"bu", None)
        if not boards:
            state = {k: v for k, v in state.items() if not k.startswith(BOARD_KEYS)}
        return state

    async def open_attempts(self) -> int:
        return int(await self.client.zcard(self.keys.deadlines))


async def _play(side: Side, kind: str, member: MemberId, q: int, fraction: float) -> Any:
    """One step on one side; what the member is told, without the answer's best score
    (docs/scoring.md: in ``attempt`` mode it is the stored one)."""
    province, unit = PLACES[int(member[1:]) % len(PLACES)]
    attempts = side.attempts
    if kind == "start":
        profile = Profile(name=member, province=ProvinceId(province), unit=UnitId(unit))
        drawn = [DrawnQuestion(id=QuestionId(q), points=p) for q, p in POINTS.items()]
        started = await attempts.start(
            member, profile, drawn, duration_ms=DURATION, attempts_allowed=3
        )
        return (started.status, started.attempt)
    if kind == "answer":
        used = max((await attempts.resume_outcome(member)).attempts_used, 1)
        outcome = await side.window.answer(
            member, used, QuestionId(f"q{q}"), fraction, f"c{q}",
            province=province, unit=unit, choices=[f"c{q}"], given=f"c{q}",
        )  # fmt: skip
        return msgspec.structs.replace(outcome, best=0)
    if kind == "submit":
        submitted = await attempts.submit(member, q * 100 if q else None)
        return (submitted.status, submitted.attempt, submitted.best)
    if kind == "predict":
        predicted = await attempts.predict(member, q * 1000)
        return (predicted.status, predicted.attempt)
    return await attempts.resume(member)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(step, min_size=1, max_size=40),
    cut=st.integers(0, DURATION),
    counts=st.sampled_from(["best", "last", "first"]),
    tie_break=st.sampled_from(CHAINS),
    measure=st.sampled_from([None, "perfect_scores", "participants", "completed"]),
    force=st.booleans(),
)
@example(  # a second attempt beats the first, then the round's close cuts it short
    steps=SECOND_BEATS_FIRST,
    cut=3,
    counts="best",
    tie_break=(),
    measure="perfect_scores",
    force=True,
)
async def test_per_attempt_boards_end_as_per_answer_ones(
    redis_client: redis.asyncio.Redis,
    key_prefix: str,
    steps: list[tuple[str, int, int, float, int, bool]],
    cut: int,
    counts: Counts,
    tie_break: tuple[TieBreak, ...],
    measure: Any,
    force: bool,
) -> None:
    clock = f"{key_prefix}:clock:{next(_serial)}"
    now = 1_700_000_000_000
    await redis_client.set(clock, now)
    sides = [Side(redis_client, key_prefix, clock, mode) for mode in MODES]
    for side in sides:
        await side.setup()
    for kind, who, q, fraction, dt, sweep in steps:
        now += dt
        await redis_client.set(clock, now)
        seen = []
        for side in sides:
            told = [await _play(side, kind, MemberId(f"m{who}"), q, fraction)]
            if sweep:
                told.append(await side.attempts.close_due())
            seen.append(told)
        assert seen[0] == seen[1]
        open_now = [await side.open_attempts() for side in sides]
        assert open_now[0] == open_now[1]
        states = [await side.state(boards=not open_now[0]) for side in sides]
        assert states[0] == states[1]
    if force:  # a finalize forced while attempts are open ranks them as they stand
        forced = await _finalized(sides, measure, counts, tie_break, force=True)
        assert forced[0] == forced[1]
    # The round closes: open attempts are cut to the close, and expire once it has passed.
    for side in sides:
        await side.attempts.cut_to(now + cut)
    now += cut + 1
    await redis_client.set(clock, now)
    closed = [await side.attempts.close_due() for side in sides]
    assert closed[0] == closed[1]
    assert [await side.open_attempts() for side in sides] == [0, 0]
    states = [await side.state(boards=True) for side in sides]
    assert states[0] == states[1]
    final = await _finalized(sides, measure, counts, tie_break, force=False)
    assert final[0] == final[1]


async def _finalized(
    sides: list[Side],
    measure: Any,
    counts: Counts,
    tie_break: tuple[TieBreak, ...],
    *,
    force: bool,
) -> list[tuple[Any, ...]]:
    """Finalize each side: its figures (but the time) and standings."""
    out = []
    for side in sides:
        info = await side.finalizer.finalize_window(
            measure, counts=counts, tie_break=list(tie_break), force=force
        )
        standings = await side.finalizer.standings()
        out.append((info.mode, info.measure, info.truth, info.ranked, standings))
    return out


async def test_open_attempt_answers_leave_the_boards_until_it_ends(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    clock = f"{key_prefix}:clock"
    now = 1_700_000_000_000
    await redis_client.set(clock, now)
    side = Side(redis_client, key_prefix, clock, "attempt")
    await side.setup()
    k = side.keys
    member = MemberId("m1")  # PLACES[1]: province hn, unit u2
    boards = [k.leaderboard, f"{k.base}:lb:p:hn", f"{k.base}:lb:u:u2"]

    async def standing() -> list[Any]:
        scores = [await redis_client.zscore(board, member) for board in boards]
        best = await side.attempts.best(member)
        totals = await redis_client.hget(k.totals, member)
        return [scores, best and (best.n, best.score), totals]

    assert (await _play(side, "start", member, 0, 1.0))[0] == "started"
    # Counted as a participant of their unit at the start, on the boards at the end.
    assert await redis_client.hget(k.unit_participants, "u2") == b"1"
    now += 5
    await redis_client.set(clock, now)
    outcome = await _play(side, "answer", member, 0, 1.0)
    assert (outcome.accepted, outcome.total) == (True, 10)
    assert await standing() == [[None, None, None], None, None]
    submitted = await _play(side, "submit", member, 0, 1.0)
    assert submitted[0] == "submitted" and submitted[2].score == 10
    first = await standing()
    assert first[1:] == [(1, 10), b"10"] and None not in first[0]
    # A second attempt scores more: the boards keep the first until it ends.
    now += 1
    await redis_client.set(clock, now)
    assert (await _play(side, "start", member, 0, 1.0))[0] == "started"
    assert await redis_client.hget(k.unit_participants, "u2") == b"1"
    for q in (0, 1):
        now += 1
        await redis_client.set(clock, now)
        used = await side.window.answer(
            member, 2, QuestionId(f"q{q}"), 1.0, province="hn", unit="u2"
        )
        assert used.accepted and used.best == 10  # the stored best: the ended attempt
    await side.attempts.predict(member, 7)
    assert await standing() == first
    now += DURATION
    await redis_client.set(clock, now)
    assert await side.attempts.close_due() == [(member, 2)]  # expired: on the boards now
    ended = await standing()
    assert ended[1:] == [(2, 20), b"20"]
    assert all(s is not None and s > f for s, f in zip(ended[0], first[0], strict=True))
    best = await side.attempts.best(member)
    assert best is not None and best.prediction == 7


@pytest.fixture
async def api(redis_client: redis.asyncio.Redis, key_prefix: str) -> AsyncIterator[Api]:
    async with serve_api(redis_client, key_prefix) as served:
        yield served


async def test_board_updates_over_the_api(api: Api, key_prefix: str) -> None:
    now = await now_ms(api.redis)
    body: dict[str, Any] = msgspec.to_builtins(window_spec(now))
    for bad in ("question", 1, None):
        body["window"]["board_updates"] = bad
        response = await api.a.post("/api/contests", json=body)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "contest_invalid"
        assert [p["field"] for p in error["problems"]] == ["window.board_updates"]
    body["window"]["board_updates"] = "attempt"
    response = await api.a.post("/api/contests", json=body)
    assert response.status_code == 201, response.text
    cid = response.json()["id"]
    stored = (await api.a.get(f"/api/contests/{cid}")).json()
    assert stored["window"]["board_updates"] == "attempt"
    meta = ContestKeys(ContestId(cid), key_prefix).meta
    assert await api.redis.hget(meta, "board_updates") == b"attempt"
    # An edit of the draft rewrites it; a live contest's meta has none.
    body["window"]["board_updates"] = "answer"
    response = await api.a.put(f"/api/contests/{cid}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["window"]["board_updates"] == "answer"
    assert await api.redis.hget(meta, "board_updates") == b"answer"
    del body["window"]["board_updates"]
    created = (await api.a.post("/api/contests", json=body)).json()
    assert created["window"]["board_updates"] == "answer"  # the default: today's behaviour


async def test_welcome_says_a_window_round_s_board_updates(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    now = await now_ms(redis_client)
    window = window_spec(now).window
    assert window is not None
    per_attempt = await create_contest(
        redis_client, key_prefix, "window",
        window=msgspec.structs.replace(window, board_updates="attempt"),
    )  # fmt: skip
    per_answer = await create_contest(redis_client, key_prefix, "window", setup=False)
    show = await create_contest(redis_client, key_prefix, "live", setup=False)
    expected = {per_attempt.id: "attempt", per_answer.id: "answer", show.id: None}
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        for contest, says in expected.items():
            async with client(gw, contest, token(contest, "m1")) as ws:
                frame = await ws.recv()  # the first message: the welcome, as sent
                welcome = m.decode_server(frame)
                assert isinstance(welcome, m.Welcome)
                assert welcome.contest.board_updates == says, contest
                assert msgspec.json.decode(frame)["contest"]["board_updates"] == says


def test_meta_carries_the_setting() -> None:
    window = WindowTiming(opens_at=1, closes_at=2, board_updates="attempt")
    contest = Contest(
        id=ContestId("c"), org=OrgId("o"), title="t", mode="window", bank=BankId("b"),
        bank_version=1, draw=window_spec(0).draw, window=window,
    )  # fmt: skip
    assert contest.meta()["board_updates"] == "attempt"
    live = msgspec.structs.replace(contest, mode="live", window=None, live=LiveTiming(starts_at=1))
    assert "board_updates" not in live.meta()
