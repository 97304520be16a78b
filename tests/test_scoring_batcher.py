"""AnswerBatcher: thousands of concurrent callers over a bounded pool, each its own result."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.batcher import AnswerBatcher
from scoring.errors import BatcherClosed, RedisUnavailable, ScriptError
from scoring.live import LiveScoring
from scoring.outcomes import decode_outcome
from scoring.redis_server import free_port
from scoring.scripts import ScriptCall, Scripts
from tests.utils import timeout

C = ContestId("storm")
Q1 = QuestionId("q1")
K = 4


@pytest.fixture
async def small_pool_client(redis_url: str) -> redis.asyncio.Redis:
    # A non-blocking pool of K: one connection more than K raises MaxConnectionsError.
    pool = redis.asyncio.ConnectionPool.from_url(redis_url, max_connections=K)
    client = redis.asyncio.Redis(connection_pool=pool)
    yield client
    await client.aclose()
    await pool.disconnect()


async def test_naive_calls_exhaust_the_pool(
    small_pool_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """The failure the batcher exists for: one connection per call in flight."""
    live = LiveScoring(small_pool_client, C, key_prefix)
    await live.open_question(Q1, index=1, time_ms=60_000, points=10)
    results = await asyncio.gather(
        *(live.accept(MemberId(f"m{i}"), Q1, 1.0) for i in range(200)), return_exceptions=True
    )
    assert any(isinstance(r, RedisUnavailable) for r in results)


async def test_ten_thousand_in_flight_same_member_one_accepted(
    small_pool_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(small_pool_client)
    async with AnswerBatcher(scripts, window_ms=1, max_batch=500, connections=K) as batcher:
        live = LiveScoring(small_pool_client, C, key_prefix, batcher=batcher, scripts=scripts)
        await live.open_question(Q1, index=1, time_ms=60_000, points=10)
        member = MemberId("ann")
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(live.accept(member, Q1, 1.0, str(i), choices=["a"]) for i in range(10_000))
            ),
            timeout(60),
        )
        assert batcher.in_flight == 0
    accepted = [o for o in outcomes if o.accepted]
    assert len(accepted) == 1
    assert {o.reason for o in outcomes if not o.accepted} == {"duplicate"}
    assert all(o.total == 10 for o in outcomes)
    assert batcher.batches_sent >= 20 and batcher.largest_batch <= 500
    await live.close_question(Q1)
    assert await live.distribution(Q1) == {"a": 1}
    assert await small_pool_client.xlen(live.keys.audit) == 1


async def test_many_members_each_get_their_own_result(
    small_pool_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(small_pool_client)
    async with AnswerBatcher(scripts, window_ms=2, max_batch=256, connections=K) as batcher:
        live = LiveScoring(small_pool_client, C, key_prefix, batcher=batcher, scripts=scripts)
        await live.open_question(Q1, index=1, time_ms=60_000, points=100, speed=False)
        n = 3000
        outcomes = await asyncio.gather(
            *(live.accept(MemberId(f"m{i}"), Q1, (i % 5) / 4) for i in range(n))
        )
    assert [o.points for o in outcomes] == [round((i % 5) * 25) for i in range(n)]
    assert all(o.accepted for o in outcomes)


async def test_error_fails_only_its_caller(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(redis_client)
    live = LiveScoring(redis_client, C, key_prefix)
    await live.open_question(Q1, index=1, time_ms=60_000, points=10)
    bad_live = LiveScoring(redis_client, ContestId("broken"), key_prefix)
    await redis_client.set(bad_live.keys.question(Q1), "not a hash")
    async with AnswerBatcher(scripts, window_ms=5, connections=2) as batcher:
        good = [batcher.submit(live.answer_call(MemberId(f"m{i}"), Q1, 1.0)) for i in range(50)]
        bad = batcher.submit(bad_live.answer_call(MemberId("x"), Q1, 1.0))
        results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert isinstance(results[-1], ScriptError)
    assert all(decode_outcome(r).accepted for r in results[:-1])


async def test_cancelled_before_sending_is_dropped(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(redis_client)
    live = LiveScoring(redis_client, C, key_prefix)
    await live.open_question(Q1, index=1, time_ms=60_000, points=10)
    async with AnswerBatcher(scripts, window_ms=200, connections=2) as batcher:
        tasks = [
            asyncio.create_task(batcher.submit(live.answer_call(MemberId(f"m{i}"), Q1, 1.0)))
            for i in range(10)
        ]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in done[::2])
    assert all(decode_outcome(r).accepted for r in done[1::2])
    answered = await redis_client.hkeys(live.keys.answers(Q1))
    assert sorted(answered) == sorted(f"m{i}".encode() for i in range(1, 10, 2))


async def test_closed_batcher_refuses() -> None:
    client = redis.asyncio.Redis(port=free_port())
    batcher = AnswerBatcher(Scripts(client))
    await batcher.close()
    with pytest.raises(BatcherClosed):
        await batcher.submit(ScriptCall("open_question", ["k", "m"], []))
    await client.aclose()


async def test_redis_down_fails_the_batch_typed() -> None:
    client = redis.asyncio.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    async with AnswerBatcher(Scripts(client), window_ms=1) as batcher:
        results = await asyncio.gather(
            *(batcher.submit(ScriptCall("open_question", ["k", "m"], [])) for _ in range(5)),
            return_exceptions=True,
        )
    assert all(isinstance(r, RedisUnavailable) for r in results)
    assert all(isinstance(r.__cause__, redis.exceptions.ConnectionError) for r in results)
    await client.aclose()


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        AnswerBatcher(Scripts(redis.asyncio.Redis()), connections=0)
