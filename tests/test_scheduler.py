"""engine.scheduling.scheduler on a real Redis: timed transitions under a lease, catch-up, plans."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from prometheus_client import REGISTRY

from engine.contests.store import ContestStore
from engine.core.contest import LiveTiming, WindowTiming
from engine.live.runner import live_plan, show_questions
from engine.scheduling.scheduler import Scheduler
from question_bank.draws import DrawRules
from question_bank.ids import ContestId, OrgId, QuestionId
from question_bank.models import SingleChoice
from scoring.keys import GlobalKeys
from tests.contest_helpers import live_spec, make_bank, now_ms, setup_org, window_spec
from tests.utils import timeout

ORG = OrgId("central")


async def window_round(
    client: redis.asyncio.Redis, prefix: str, contest_id: str, opens: int, closes: int
) -> None:
    store = ContestStore(client, prefix)
    now = await now_ms(client)
    spec = window_spec(
        now,
        id=ContestId(contest_id),
        window=WindowTiming(
            opens_at=now + opens,
            closes_at=now + closes,
            attempt_seconds=60,
            prediction_question=QuestionId("pred"),
        ),
    )
    await store.create(ORG, spec)
    await store.apply(contest_id, "schedule")


async def test_one_tick_catches_up_a_whole_window(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    await setup_org(redis_client, key_prefix, "central")
    await window_round(redis_client, key_prefix, "w-past", 0, 200)
    await window_round(redis_client, key_prefix, "w-later", 60_000, 120_000)
    await asyncio.sleep(0.25)  # w-past's whole window is over
    scheduler = Scheduler(redis_client, prefix=key_prefix, holder="s1")
    await scheduler.tick()
    store = ContestStore(redis_client, key_prefix)
    past = await store.get("w-past")
    assert past.state == "finalized"
    assert [t.event for t in past.history] == ["schedule", "open", "close", "finalize"]
    assert (await store.get("w-later")).state == "scheduled"
    await scheduler.close()


def ticks(lease: str) -> float:
    """Scheduler rounds ended so far in this process (``contest_scheduler_ticks_total``)."""
    return REGISTRY.get_sample_value("contest_scheduler_ticks_total", {"lease": lease}) or 0.0


async def test_only_the_lease_holder_fires(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    await setup_org(redis_client, key_prefix, "central")
    await window_round(redis_client, key_prefix, "w1", 0, 60_000)
    other = Scheduler(redis_client, prefix=key_prefix, holder="other")
    await redis_client.set(GlobalKeys(key_prefix).lease("scheduler"), "other", px=60_000)
    mine = Scheduler(redis_client, prefix=key_prefix, holder="mine")
    held, standby = ticks("held"), ticks("standby")
    await mine.tick()
    store = ContestStore(redis_client, key_prefix)
    assert (await store.get("w1")).state == "scheduled"
    assert (ticks("held"), ticks("standby")) == (held, standby + 1)
    await other.tick()
    assert (await store.get("w1")).state == "open"
    assert (ticks("held"), ticks("standby")) == (held + 1, standby + 1)
    await mine.close()
    await other.close()
    assert await redis_client.exists(GlobalKeys(key_prefix).lease("scheduler")) == 0


async def test_run_stops_on_request_and_releases(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scheduler = Scheduler(redis_client, prefix=key_prefix, tick_ms=50)
    stop = asyncio.Event()
    task = asyncio.ensure_future(scheduler.run(stop))

    async def until_held() -> None:  # polled, not a fixed sleep that a slow box could outrun
        while await scheduler.lease.current_holder() != scheduler.holder:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(until_held(), timeout())
    assert await scheduler.lease.current_holder() == scheduler.holder
    stop.set()
    await asyncio.wait_for(task, timeout())
    assert await scheduler.lease.current_holder() is None


async def test_live_plan_from_the_contest_and_its_draw(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    bank = make_bank(questions=6)
    await setup_org(redis_client, key_prefix, "central", bank=bank)
    store = ContestStore(redis_client, key_prefix)
    now = await now_ms(redis_client)
    spec = live_spec(
        now,
        id=ContestId("show"),
        draw=DrawRules(count=4),
        live=LiveTiming(
            starts_at=now + 5_000, question_seconds=7, reveal_seconds=3, elimination=True
        ),
    )
    contest = await store.create(ORG, spec)
    questions = show_questions(contest, bank)
    assert len(questions) == 4 and len({q.id for q in questions}) == 4
    assert show_questions(contest, bank) == questions  # one reproducible draw for everyone
    assert all(isinstance(q, SingleChoice) or q.id == "tf" for q in questions)
    plan = live_plan(contest, questions)
    assert plan.starts_at == now + 5_000 and plan.questions == [q.id for q in questions]
    assert plan.question_ms == [7_000] * 4 and plan.reveal_ms == 3_000 and plan.elimination
    window = await store.create(ORG, window_spec(now, id=ContestId("w")))
    with pytest.raises(ValueError):
        live_plan(window, questions)


async def test_a_shows_reveals_are_in_words_of_its_banks_language(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    """The scheduler's conductor writes ``correct_text`` in the bank's language, numbers as
    written: an English bank's true/false says ``True``, a numeric answer ``3143``."""
    from engine.core import messages
    from engine.core.contest import ScoringRules
    from question_bank.ids import BankId
    from question_bank.models import Bank, Numeric, NumericAnswer, TrueFalse

    bank = Bank(
        id=BankId("b1"),
        title="English",
        language="en",
        questions=[
            TrueFalse(id=QuestionId("tf"), text="Is Hanoi the capital?", answer=True),
            Numeric(
                id=QuestionId("year"),
                text="How many metres high is Fansipan?",
                answers=[NumericAnswer(value=3143)],
            ),
        ],
    )
    await setup_org(redis_client, key_prefix, "central", bank=bank)
    now = await now_ms(redis_client)
    spec = live_spec(
        now,
        id=ContestId("en-show"),
        draw=DrawRules(count=2, shuffle_questions=False),
        live=LiveTiming(starts_at=now, question_seconds=1, reveal_seconds=1),
        scoring=ScoringRules(),
    )
    store = ContestStore(redis_client, key_prefix)
    await store.create(ORG, spec)
    await store.apply("en-show", "schedule")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(GlobalKeys(key_prefix).channel(ContestId("en-show")))
    scheduler = Scheduler(redis_client, prefix=key_prefix, holder="s1", tick_ms=200)
    stop = asyncio.Event()
    running = asyncio.ensure_future(scheduler.run(stop))
    reveals: list[messages.Reveal] = []
    try:
        async with asyncio.timeout(timeout(20)):
            while len(reveals) < 2:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if item is not None:
                    message = messages.decode_server(item["data"])
                    if isinstance(message, messages.Reveal):
                        reveals.append(message)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout(10))
        await pubsub.aclose()
    assert [(r.question, r.correct_text) for r in reveals] == [("tf", "True"), ("year", "3143")]


def test_next_due_wakes_for_starts_and_closes_never_spins() -> None:
    from engine.core.contest import Contest
    from engine.scheduling.scheduler import next_due_ms
    from question_bank.ids import BankId

    def contest(state: str, mode: str, at: int, closes: int = 0) -> Contest:
        timing = (
            {"live": LiveTiming(starts_at=at)}
            if mode == "live"
            else {"window": WindowTiming(opens_at=at, closes_at=closes)}
        )
        return Contest(
            id=ContestId("c"),
            org=ORG,
            title="t",
            mode=mode,  # type: ignore[arg-type]
            bank=BankId("b"),
            bank_version=1,
            draw=DrawRules(count=1),
            state=state,  # type: ignore[arg-type]
            **timing,  # type: ignore[arg-type]
        )

    now = 100_000
    assert next_due_ms([], now, 1000) == 1000
    assert next_due_ms([contest("scheduled", "live", now + 250)], now, 1000) == 250
    assert next_due_ms([contest("scheduled", "live", now + 5000)], now, 1000) == 1000
    assert next_due_ms([contest("open", "window", 0, now + 40)], now, 1000) == 40
    assert next_due_ms([contest("running", "live", now + 40)], now, 1000) == 1000
    # Past due (another process holds the lease, or the transition failed): no spinning.
    assert next_due_ms([contest("scheduled", "live", now - 5)], now, 1000) == 1000
