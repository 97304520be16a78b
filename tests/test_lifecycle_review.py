"""Review of the contest lifecycle and its timing: what an organiser hits running contests.

Manual closes with work in flight, finalize races, stale drafts being scheduled, and a
live show's conductor when the show is stopped under it. Real Redis, no timing asserts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio

from engine.contests.store import ContestStore
from engine.core.contest import Contest, LiveTiming, WindowTiming
from engine.core.errors import ContestInvalid, IllegalTransition
from engine.core.lifecycle import Event
from engine.core.show import Phase, ShowPlan
from engine.live.conductor import Conductor, read_show
from engine.live.runner import show_questions
from engine.scheduling.scheduler import Scheduler
from question_bank.draws import DrawRules
from question_bank.ids import ContestId, MemberId, OrgId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.finalize import Finalizer
from scoring.keys import ContestKeys
from scoring.live import LiveScoring
from scoring.profiles import Profile
from tests.contest_helpers import live_spec, now_ms, setup_org, window_spec
from tests.utils import timeout

ORG = OrgId("central")
PROFILE = Profile(name="An", province=ProvinceId("hanoi"), unit=UnitId("u1"))
DRAW = [
    DrawnQuestion(id=QuestionId("q1"), points=10),
    DrawnQuestion(id=QuestionId("q2"), points=10),
]


@pytest.fixture
async def store(redis_client: redis.asyncio.Redis, key_prefix: str) -> ContestStore:
    await setup_org(redis_client, key_prefix, ORG)
    return ContestStore(redis_client, key_prefix)


async def open_window(store: ContestStore, contest_id: str, **window: int) -> Contest:
    now = await now_ms(store.redis)
    timing = WindowTiming(
        opens_at=window.get("opens_at", now - 1_000),
        closes_at=window.get("closes_at", now + 3_600_000),
        attempt_seconds=600,
        prediction_question=QuestionId("pred"),
    )
    await store.create(ORG, window_spec(now, id=ContestId(contest_id), window=timing))
    await store.apply(contest_id, "schedule")
    return await store.apply(contest_id, "open")


async def start_attempt(store: ContestStore, contest: Contest, member: str) -> None:
    assert contest.window is not None
    outcome = await Attempts(store.redis, contest.id, prefix=store.prefix).start(
        MemberId(member),
        PROFILE,
        DRAW,
        duration_ms=contest.window.attempt_seconds * 1000,
        opens_at=contest.window.opens_at,
        closes_at=contest.window.closes_at,
    )
    assert outcome.ok


# ---------------------------------------------------------------------- window rounds


async def test_closing_a_window_by_hand_closes_its_open_attempts(store: ContestStore) -> None:
    contest = await open_window(store, "w-early")
    await start_attempt(store, contest, "m1")
    attempts = Attempts(store.redis, contest.id, prefix=store.prefix)
    closed = await store.apply(contest.id, "close")
    closed_at = closed.history[-1].at
    attempt = await attempts.resume(MemberId("m1"))
    assert attempt is not None and attempt.state == "expired"
    assert attempt.deadline <= closed_at  # the attempt ended when the round did
    # Nothing can be handed in after the close, so the final ranking stays final.
    submitted = await attempts.submit(MemberId("m1"), 3)
    assert submitted.status == "attempt_closed" and submitted.attempt is not None
    assert submitted.attempt.state == "expired"
    assert await store.redis.zcard(ContestKeys(contest.id, store.prefix).deadlines) == 0
    finalized = await store.finalize(contest.id)
    assert finalized.state == "finalized"
    standing = await Finalizer(store.redis, contest.id, prefix=store.prefix).standing(
        MemberId("m1")
    )
    assert standing is not None


async def test_concurrent_finalizes_finalize_once(store: ContestStore) -> None:
    contest = await open_window(store, "w-race")
    for i in range(5):
        await start_attempt(store, contest, f"m{i}")
    await store.apply(contest.id, "close")
    results = await asyncio.gather(
        store.finalize(contest.id), store.finalize(contest.id), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, Contest)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and won[0].state == "finalized"
    assert len(lost) == 1 and isinstance(lost[0], IllegalTransition), lost
    standings = await Finalizer(store.redis, contest.id, prefix=store.prefix).standings()
    assert sorted(m for m, _ in standings) == [f"m{i}" for i in range(5)]


async def test_finalize_never_runs_twice_at_once(
    store: ContestStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler finalizes a closed round at once; an organiser pressing finalize then
    must not compute the standings beside it (both write the same temporary keys)."""
    contest = await open_window(store, "w-overlap")
    await start_attempt(store, contest, "m1")
    await store.apply(contest.id, "close")
    real = ContestStore.finalize_standings
    running: list[int] = []
    most = 0

    async def slow(self: ContestStore, contest: Contest) -> None:
        nonlocal most
        running.append(1)
        most = max(most, len(running))
        await asyncio.sleep(0.05)  # a big round takes seconds here
        await real(self, contest)
        running.pop()

    monkeypatch.setattr(ContestStore, "finalize_standings", slow)
    scheduler = Scheduler(store.redis, prefix=store.prefix, holder="s1")
    results = await asyncio.gather(
        scheduler.tick(), store.finalize(contest.id), return_exceptions=True
    )
    await scheduler.close()
    assert most == 1
    assert (await store.get(contest.id)).state == "finalized"
    assert [t.event for t in (await store.get(contest.id)).history].count("finalize") == 1
    assert isinstance(results[0], int)  # the scheduler's tick went through either way
    assert isinstance(results[1], Contest | IllegalTransition), results[1]


async def test_scheduling_a_draft_whose_window_is_over_is_refused(store: ContestStore) -> None:
    now = await now_ms(store.redis)
    closes = now + int(timeout(1) * 1000)  # still ahead when it is created, on a busy box
    timing = WindowTiming(opens_at=now - 1_000, closes_at=closes)
    await store.create(ORG, window_spec(now, id=ContestId("w-stale"), window=timing))
    while await now_ms(store.redis) <= closes:
        await asyncio.sleep(0.02)
    with pytest.raises(ContestInvalid) as refused:
        await store.apply("w-stale", "schedule")
    assert [p["field"] for p in refused.value.problems] == ["window.closes_at"]
    assert (await store.get("w-stale")).state == "draft"


# ---------------------------------------------------------------------- live shows


async def running_show(store: ContestStore, contest_id: str) -> Contest:
    now = await now_ms(store.redis)
    timing = LiveTiming(starts_at=now, question_seconds=10)
    await store.create(ORG, live_spec(now, id=ContestId(contest_id), live=timing))
    await store.apply(contest_id, "schedule")
    return await store.apply(contest_id, "start")


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout())


async def in_question(store: ContestStore, contest_id: str, index: int) -> bool:
    view = await read_show(store.redis, ContestId(contest_id), store.prefix)
    return (
        view is not None
        and view.state.phase is Phase.QUESTION
        and view.state.index == index
        and view.state.entered
    )


@pytest.mark.parametrize("event", ["close", "cancel"])
async def test_stopping_a_live_show_mid_question_closes_the_question(
    store: ContestStore, event: Event
) -> None:
    contest = await running_show(store, f"show-{event}")
    scheduler = Scheduler(store.redis, prefix=store.prefix, holder="s1")
    try:
        await scheduler.tick()  # spawns the conductor, which opens question 0
        await until(lambda: in_question(store, contest.id, 0))
        view = await read_show(store.redis, contest.id, store.prefix)
        assert view is not None and view.question is not None
        await store.apply(contest.id, event)
        # No answer counts once the show is over, even before the question's deadline.
        live = LiveScoring(store.redis, contest.id, store.prefix)
        outcome = await live.accept(MemberId("m1"), view.question, 1.0, "a", choices=["a"])
        assert not outcome.accepted and outcome.reason == "closed"
        await scheduler.tick()  # the conductor is stopped; a closed show is finalized
    finally:
        await scheduler.close()
    expected = "finalized" if event == "close" else "cancelled"
    assert (await store.get(contest.id)).state == expected


async def test_a_conductor_stops_moving_a_show_that_was_stopped(store: ContestStore) -> None:
    """Between the organiser's cancel and the scheduler noticing it (up to a tick, in every
    process) the conductor must not release the next question to a cancelled show."""
    contest = await running_show(store, "show-stop")
    bank = await store.bank(contest)
    questions = show_questions(contest, bank)
    start = await now_ms(store.redis)
    plan = ShowPlan(
        starts_at=start,
        questions=[q.id for q in questions],
        # long enough that the cancel below lands inside question 0 on a busy box
        question_ms=[int(timeout(2) * 1000)] * len(questions),
        reveal_ms=50,
        leaderboard_ms=50,
    )
    ended: list[bool] = []

    async def on_end() -> None:
        ended.append(True)

    conductor = Conductor(
        store.redis,
        contest.id,
        plan,
        {q.id: q for q in questions},
        prefix=store.prefix,
        lease_ms=500,
        on_end=on_end,
    )
    task = asyncio.ensure_future(conductor.run())
    await until(lambda: in_question(store, contest.id, 0))
    await store.apply(contest.id, "cancel")
    await asyncio.wait_for(task, timeout(10))
    view = await read_show(store.redis, contest.id, store.prefix)
    assert view is not None and view.state.index == 0  # question 1 was never released
    keys = ContestKeys(contest.id, store.prefix)
    assert await store.redis.exists(keys.question(questions[1].id)) == 0
    assert ended == []


async def test_a_live_show_whose_start_passed_unattended_starts_late_from_question_0(
    store: ContestStore,
) -> None:
    """The documented choice: no scheduler ran at ``starts_at``; the first one to tick
    starts the show then, from question 0, with the full time to answer."""
    now = await now_ms(store.redis)
    timing = LiveTiming(starts_at=now - 60_000, question_seconds=10)
    await store.create(ORG, live_spec(now, id=ContestId("show-late"), live=timing))
    await store.apply("show-late", "schedule")
    scheduler = Scheduler(store.redis, prefix=store.prefix, holder="s1")
    try:
        await scheduler.tick()
        await until(lambda: in_question(store, "show-late", 0))
    finally:
        await scheduler.close()
    view = await read_show(store.redis, ContestId("show-late"), store.prefix)
    assert view is not None and view.state.since >= now
    assert view.state.ends - view.state.since == 10_000


async def test_a_one_question_show_where_everyone_is_eliminated_ends_and_finalizes(
    store: ContestStore,
) -> None:
    now = await now_ms(store.redis)
    timing = LiveTiming(starts_at=now, question_seconds=1, reveal_seconds=0, elimination=True)
    spec = live_spec(now, id=ContestId("show-one"), live=timing, draw=DrawRules(count=1))
    contest = await store.create(ORG, spec)
    await store.apply(contest.id, "schedule")
    live = LiveScoring(store.redis, contest.id, store.prefix)
    for member in ("m1", "m2"):  # they join and never answer: both are eliminated
        await live.join(MemberId(member))
    scheduler = Scheduler(store.redis, prefix=store.prefix, holder="s1", tick_ms=50)
    stop = asyncio.Event()
    task = asyncio.ensure_future(scheduler.run(stop))

    async def finalized() -> bool:
        return (await store.get(contest.id)).state == "finalized"

    try:
        await until(finalized)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout())
    history = [t.event for t in (await store.get(contest.id)).history]
    assert history == ["schedule", "start", "close", "finalize"]
    view = await read_show(store.redis, contest.id, store.prefix)
    assert view is not None and view.state.phase is Phase.DONE
    assert await store.redis.scard(ContestKeys(contest.id, store.prefix).eliminated) == 2
