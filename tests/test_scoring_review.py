"""Review of the scoring core against docs/scoring.md: edge cases that were wrong once."""

from __future__ import annotations

import math
from typing import Any

import pytest
import redis.asyncio

from question_bank.ids import ContestId, MemberId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, DrawnQuestion
from scoring.errors import ScoringUsageError
from scoring.finalize import Finalizer
from scoring.live import LiveScoring
from scoring.profiles import Profile
from scoring.window import WindowScoring

C = ContestId("review")
ANN = MemberId("ann")
PROFILE = Profile(name="Ann", province=ProvinceId("hn"), unit=UnitId("u1"))
DRAW = [DrawnQuestion(id=QuestionId("q1"), points=10), DrawnQuestion(id=QuestionId("q2"), points=5)]
MINUTE = 60_000


async def snapshot(client: redis.asyncio.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key under *prefix* with its type and value (streams by their entries)."""
    out: dict[bytes, Any] = {}
    async for key in client.scan_iter(match=f"{prefix}:*"):
        kind = (await client.type(key)).decode()
        if kind == "hash":
            out[key] = await client.hgetall(key)
        elif kind == "zset":
            out[key] = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[key] = await client.smembers(key)
        elif kind == "stream":
            out[key] = await client.xrange(key)
        else:
            out[key] = await client.get(key)
    return out


# ------------------------------------------------------------ bad fractions change nothing


@pytest.mark.parametrize("fraction", [math.inf, -math.inf, math.nan])
async def test_live_non_finite_fraction_is_refused_and_changes_nothing(
    redis_client: redis.asyncio.Redis, key_prefix: str, fraction: float
) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    await live.configure(eliminate=True)
    await live.open_question(QuestionId("q1"), index=1, time_ms=MINUTE, points=1000)
    before = await snapshot(redis_client, key_prefix)
    with pytest.raises(ScoringUsageError):
        await live.accept(ANN, QuestionId("q1"), fraction, "a", province="hn", unit="u1")
    assert await snapshot(redis_client, key_prefix) == before
    ok = await live.accept(ANN, QuestionId("q1"), 0.0, "a", province="hn", unit="u1")
    assert ok.accepted and ok.points == 0


@pytest.mark.parametrize("fraction", [math.inf, -math.inf, math.nan])
async def test_window_non_finite_fraction_is_refused_and_changes_nothing(
    redis_client: redis.asyncio.Redis, key_prefix: str, fraction: float
) -> None:
    attempts = Attempts(redis_client, C, prefix=key_prefix)
    window = WindowScoring(redis_client, C, key_prefix, scripts=attempts.scripts)
    assert (await attempts.start(ANN, PROFILE, DRAW, duration_ms=MINUTE)).ok
    before = await snapshot(redis_client, key_prefix)
    with pytest.raises(ScoringUsageError):
        await window.answer(ANN, 1, QuestionId("q1"), fraction, "a", province="hn", unit="u1")
    assert await snapshot(redis_client, key_prefix) == before
    ok = await window.answer(ANN, 1, QuestionId("q1"), 0.0, "a", province="hn", unit="u1")
    assert ok.accepted and ok.points == 0


# ------------------------------------------------------------ predictions out of range


@pytest.mark.parametrize("prediction", [10**14, 123_456_789_012_345_678, 2**64])
async def test_huge_prediction_is_refused_and_finalize_still_works(
    redis_client: redis.asyncio.Redis, key_prefix: str, prediction: int
) -> None:
    attempts = Attempts(redis_client, C, prefix=key_prefix)
    assert (await attempts.start(ANN, PROFILE, DRAW, duration_ms=MINUTE)).ok
    before = await snapshot(redis_client, key_prefix)
    with pytest.raises(ScoringUsageError):
        await attempts.predict(ANN, prediction)
    with pytest.raises(ScoringUsageError):
        await attempts.submit(ANN, prediction)
    assert await snapshot(redis_client, key_prefix) == before
    # The largest prediction the wire allows is kept exactly, and finalize ranks it.
    assert (await attempts.submit(ANN, 10**12)).status == "submitted"
    final = Finalizer(redis_client, C, prefix=key_prefix)
    info = await final.finalize_window("participants")
    assert info.truth == 1
    standing = await final.standing(ANN)
    assert standing is not None
    assert (standing.prediction, standing.distance) == (10**12, 10**12 - 1)
