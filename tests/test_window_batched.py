"""A window attempt's calls in the gateway's batches, and the round trips they no longer make.

Eighth session: joins (``member_join.lua``), starts, resumes and submits go through the
process's :class:`~scoring.batcher.AnswerBatcher` beside the answers; a start judges the
contest's state in its script instead of reading the contest first, and a submit returns
the best attempt with the attempt. Everything against a real redis-server.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import messages as m
from question_bank.ids import ContestId, MemberId, OptionId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion, decode_best
from scoring.batcher import AnswerBatcher
from scoring.keys import ContestKeys
from scoring.profiles import Profile, decode_profile, join_call
from scoring.scripts import Scripts
from scoring.window import WindowScoring
from tests.gateway_support import (
    client,
    create_window,
    make_settings,
    monitored,
    recv_until,
    running_gateway,
    send,
    sent_by_clients,
    token,
)

C = ContestId("batched")
PROFILE = Profile(name="An", province=ProvinceId("hn"), unit=UnitId("u1"))
DRAW = [
    DrawnQuestion(id=QuestionId(f"q{i}"), points=10, options=[OptionId("a"), OptionId("b")])
    for i in range(1, 5)
]
HOUR = 3_600_000


# ---------------------------------------------------------------------- scoring


async def test_only_open_starts_while_the_contest_state_is_open(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    att = Attempts(redis_client, C, prefix=key_prefix)
    keys = ContestKeys(C, key_prefix)
    member = MemberId("m1")

    async def start() -> str:
        outcome = await att.start(member, PROFILE, DRAW, duration_ms=HOUR, only_open=True)
        return outcome.status

    assert await start() == "not_open"  # no state at all
    await redis_client.hset(keys.meta, "state", "scheduled")
    assert await start() == "not_open"
    assert await redis_client.hget(keys.attempt_counts, member) is None
    await redis_client.hset(keys.meta, "state", "open")
    assert await start() == "started"
    assert await start() == "resumed"
    await redis_client.hset(keys.meta, "state", "closed")
    assert await start() == "not_open"  # not even the open attempt back
    # Without only_open the state is not looked at (scoring's own callers).
    plain = await att.start(member, PROFILE, DRAW, duration_ms=HOUR)
    assert plain.status == "resumed"


async def test_a_submit_answers_with_the_best_attempt_in_the_same_call(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    att = Attempts(redis_client, C, prefix=key_prefix)
    member = MemberId("m1")
    await att.start(member, PROFILE, DRAW, duration_ms=HOUR)
    window = WindowScoring(redis_client, C, key_prefix, scripts=att.scripts)
    await window.answer(member, 1, DRAW[0].id, 1.0, "a", province="hn", unit="u1")
    outcome = await att.submit(member, 7)
    assert outcome.status == "submitted" and outcome.best is not None
    stored = await redis_client.hget(ContestKeys(C, key_prefix).best, member)
    assert stored is not None
    assert outcome.best == decode_best(stored)
    assert (outcome.best.score, outcome.best.prediction) == (10, 7)
    again = await att.submit(member, 8)  # a refusal carries it too
    assert again.status == "attempt_closed" and again.best == outcome.best
    nobody = await att.submit(MemberId("nobody"))
    assert nobody.status == "no_attempt" and nobody.best is None


async def test_join_call_stores_the_profile_and_reads_the_attempt_count(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(redis_client)
    keys = ContestKeys(C, key_prefix)
    member = MemberId("m1")
    async with AnswerBatcher(scripts, window_ms=1, connections=2) as batcher:
        assert await batcher.submit(join_call(keys, member, PROFILE)) == 0
        att = Attempts(redis_client, C, prefix=key_prefix, scripts=scripts, batcher=batcher)
        await att.start(member, PROFILE, DRAW, duration_ms=HOUR)
        renamed = Profile(name="An B", province=PROFILE.province, unit=PROFILE.unit)
        assert await batcher.submit(join_call(keys, member, renamed)) == 1
    stored = await redis_client.hget(keys.profiles, member)
    assert stored is not None and decode_profile(stored) == renamed


_examples = itertools.count()
_plans = st.lists(
    st.tuples(
        st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=0, max_size=len(DRAW)),
        st.one_of(st.none(), st.integers(0, 1000)),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


async def _play(att: Attempts, window: WindowScoring, plans: list[Any]) -> list[Any]:
    """Each member (one per plan, all at once) joins nothing, starts, answers the first
    questions with the plan's fractions, predicts or not, and submits; what each call
    returned, without Redis's times."""

    async def member(i: int, fractions: list[float], prediction: int | None, require: bool):
        who = MemberId(f"m{i}")
        started = await att.start(who, PROFILE, DRAW, duration_ms=HOUR, drawn_for=1)
        acks = [
            await window.answer(who, 1, q.id, f, "a", province="hn", unit="u1")
            for q, f in zip(DRAW, fractions, strict=False)
        ]
        done = await att.submit(who, prediction, require_prediction=require)
        again = await att.resume_outcome(who)
        return (
            started.status,
            [(a.accepted, a.points, a.total) for a in acks],
            done.status,
            done.attempt and (done.attempt.state, done.attempt.score, done.attempt.prediction),
            done.best and (done.best.score, done.best.prediction, done.best.correct),
            again.status,
            again.attempts_used,
        )

    return await asyncio.gather(*(member(i, *plan) for i, plan in enumerate(plans)))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plans=_plans)
async def test_attempts_through_a_batcher_do_what_direct_calls_do(
    redis_client: redis.asyncio.Redis, key_prefix: str, plans: list[Any]
) -> None:
    """Members starting, answering and submitting at once through one batcher (their
    calls in shared pipelines) get exactly the outcomes of the same members calling Redis
    one request at a time, on another contest."""
    scripts = Scripts(redis_client)
    n = next(_examples)  # a fresh pair of contests per example
    direct_c, batched_c = ContestId(f"d{n}"), ContestId(f"b{n}")
    direct = Attempts(redis_client, direct_c, prefix=key_prefix, scripts=scripts)
    direct_window = WindowScoring(redis_client, direct_c, key_prefix, scripts=scripts)
    async with AnswerBatcher(scripts, window_ms=2, connections=2) as batcher:
        batched = Attempts(
            redis_client, batched_c, prefix=key_prefix, scripts=scripts, batcher=batcher
        )
        batched_window = WindowScoring(
            redis_client, batched_c, key_prefix, scripts=scripts, batcher=batcher
        )
        through_batcher = await _play(batched, batched_window, plans)
        sent = batcher.batches_sent
    assert through_batcher == await _play(direct, direct_window, plans)
    calls = sum(3 + len(fractions) for fractions, _, _ in plans)
    assert sent < calls or len(plans) == 1  # several members' calls shared a pipeline


# ---------------------------------------------------------------------- gateway


async def test_a_submit_is_one_redis_call(redis_url, key_prefix, redis_client):
    """The ``attempt`` after a submit comes from the submit script's reply alone: before
    the eighth session the gateway read the best attempt (HGET) after it."""
    contest = await create_window(redis_client, key_prefix, closes_in_ms=HOUR)
    member = "submitting-member-5"
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, member)) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.StartAttempt())
            assert (await recv_until(ws, m.AttemptState)).state == "open"
            async with monitored(redis_url) as seen:
                await send(ws, m.Submit(prediction=3))
                done = await recv_until(ws, m.AttemptState)
    assert done.state == "submitted" and done.best_score == 0 and done.prediction == 3
    assert sent_by_clients(seen, member) == ["EVALSHA"]


async def test_a_start_reads_no_contest_and_is_one_redis_call(redis_url, key_prefix, redis_client):
    """A start sends the start script and nothing else about the contest: before the
    eighth session every start read the contest again first (HGET of its definition, then
    its state and history)."""
    contest = await create_window(redis_client, key_prefix, closes_in_ms=HOUR)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        gw.presence_seconds = 3600  # no presence check of the contest during the test
        async with client(gw, contest.id, token(contest.id, "m1")) as ws:
            await recv_until(ws, m.Welcome)
            async with monitored(redis_url) as seen:
                await send(ws, m.StartAttempt())
                attempt = await recv_until(ws, m.AttemptState)
    assert attempt.state == "open"
    assert sent_by_clients(seen, contest.id) == ["EVALSHA"]


async def test_a_start_is_refused_once_redis_says_the_round_is_not_open(
    redis_url, key_prefix, redis_client
):
    """The gateway's cached contest still says ``open`` (no broadcast told it otherwise),
    but the state in Redis is ``closed``: the start script refuses, nothing starts."""
    contest = await create_window(redis_client, key_prefix, closes_in_ms=HOUR)
    keys = ContestKeys(contest.id, key_prefix)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, "m1")) as ws:
            await recv_until(ws, m.Welcome)  # the join cached the contest as open
            await redis_client.hset(keys.meta, "state", "closed")
            await send(ws, m.StartAttempt())
            error = await recv_until(ws, m.Error)
    assert error.code == "contest_not_open"
    assert await redis_client.hget(keys.attempt_counts, "m1") is None
