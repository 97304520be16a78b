"""A window member stores (and changes) the prediction during the attempt by answering the
round's prediction question, so an attempt that runs out ranks with it at finalize.

Real redis-server, real gateways on real ports, real WebSocket clients; the round is closed
and finalized by the real scheduler.
"""

from __future__ import annotations

import asyncio

import redis.asyncio

from engine.core import messages as m
from engine.scheduling.scheduler import Scheduler
from scoring.finalize import Finalizer
from tests.contest_helpers import now_ms
from tests.gateway_support import (
    client,
    create_contest,
    create_window,
    make_settings,
    recv_until,
    running_gateway,
    send,
    token,
)
from tests.utils import timeout


async def predict(ws: object, value: object, seq: int = 1) -> m.Ack:
    """Answer the prediction question ``pred`` and return its ``ack``."""
    await send(ws, m.Answer(question="pred", answer=value, seq=seq))  # type: ignore[arg-type]
    ack: m.Ack = await recv_until(ws, m.Ack)  # type: ignore[arg-type]
    assert ack.seq == seq and ack.question == "pred"
    return ack


async def test_prediction_is_stored_and_changed_during_the_attempt(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    contest = await create_contest(redis_client, key_prefix, "window")
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, "m1")) as ws:
            welcome = await recv_until(ws, m.Welcome)
            assert welcome.contest.prediction_question == "pred"
            assert (await predict(ws, 5)).reason == "no_attempt"
            await send(ws, m.StartAttempt())
            await recv_until(ws, m.AttemptState)
            ack = await predict(ws, 5, seq=2)
            assert (ack.accepted, ack.points, ack.total) == (True, 0, 0)
            ack = await predict(ws, 7, seq=3)  # a later one replaces it: no duplicate
            assert ack.accepted
            for seq, bad in enumerate((100_000_001, -1, 2.5, "7", True), start=4):
                ack = await predict(ws, bad, seq=seq)
                assert (ack.accepted, ack.reason) == (False, "bad_answer"), bad
            await send(ws, m.Resume())
            attempt = await recv_until(ws, m.AttemptState)
            assert (attempt.state, attempt.prediction) == ("open", 7)
            # a submit without a prediction takes the stored one (the round asks for one)
            await send(ws, m.Submit())
            done = await recv_until(ws, m.AttemptState)
            assert (done.state, done.prediction) == ("submitted", 7)
            ack = await predict(ws, 9, seq=20)
            assert (ack.accepted, ack.reason) == (False, "attempt_closed")
            await send(ws, m.Resume())
            assert (await recv_until(ws, m.AttemptState)).prediction == 7


async def test_a_round_without_prediction_question_refuses_one(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    contest = await create_window(
        redis_client, key_prefix, closes_in_ms=3_600_000, prediction_question=None
    )
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id, "m1")) as ws:
            welcome = await recv_until(ws, m.Welcome)
            assert welcome.contest.prediction_question is None
            await send(ws, m.StartAttempt())
            await recv_until(ws, m.AttemptState)
            assert (await predict(ws, 5)).reason == "not_in_attempt"
            await send(ws, m.Resume())
            assert (await recv_until(ws, m.AttemptState)).prediction is None


async def test_an_attempt_that_runs_out_ranks_by_its_stored_prediction(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    """Three members, nobody answers (all score 0; the true figure, perfect scores, is 0):
    ``near`` stores 0 and lets the attempt run out, ``far`` submits 40, ``none`` never
    predicts. Ranked by prediction distance: near, far, then none."""
    contest = await create_window(redis_client, key_prefix, closes_in_ms=int(timeout(3) * 1000))
    assert contest.window is not None
    closes_at = contest.window.closes_at
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with (
            client(gw, contest.id, token(contest.id, "near")) as near,
            client(gw, contest.id, token(contest.id, "far")) as far,
            client(gw, contest.id, token(contest.id, "none")) as none,
        ):
            for ws in (near, far, none):
                await recv_until(ws, m.Welcome)
                await send(ws, m.StartAttempt())
                assert (await recv_until(ws, m.AttemptState)).deadline == closes_at
            assert (await predict(near, 30)).accepted
            assert (await predict(near, 0, seq=2)).accepted
            await send(far, m.Submit(prediction=40))
            assert (await recv_until(far, m.AttemptState)).state == "submitted"
    while await now_ms(redis_client) <= closes_at:
        await asyncio.sleep(0.05)
    # the scheduler expires the open attempts at the close, closes and finalizes the round
    scheduler = Scheduler(redis_client, prefix=key_prefix)
    try:
        await scheduler.tick()
    finally:
        await scheduler.close()
    finalizer = Finalizer(redis_client, contest.id, prefix=key_prefix)
    info = await finalizer.info()
    assert info is not None and info.truth == 0
    standings = {str(member): s for member, s in await finalizer.standings()}
    assert [standings[k].rank for k in ("near", "far", "none")] == [1, 2, 3]
    assert (standings["near"].prediction, standings["near"].distance) == (0, 0)
    assert standings["near"].submitted == 0  # it ran out: never submitted
    assert (standings["far"].prediction, standings["none"].prediction) == (40, None)
