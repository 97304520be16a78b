"""Review of the scoring core against docs/scoring.md: edge cases that were wrong once."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
import redis
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.ids import ContestId, MemberId, ProvinceId, QuestionId, UnitId
from scoring import points
from scoring.attempts import Attempts, DrawnQuestion
from scoring.audit import entries
from scoring.errors import ScoringUsageError
from scoring.finalize import Finalizer
from scoring.live import LiveScoring
from scoring.profiles import Profile
from scoring.scripts import LUA_DIR
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


# ------------------------------------------------------------ Python and Lua agree exactly

_AGREE = """
local out = {}
for i = 1, #ARGV, 4 do
  local p, f, t, T = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3])
  out[#out + 1] = speed_points(p, f, t, T)
  out[#out + 1] = plain_points(p, f)
end
return out
"""

_fractions = st.one_of(
    st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 1 / 3, 2 / 3, 0.1, 0.7, 0.35, 0.45]),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cases=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=100_000),
            _fractions,
            st.integers(min_value=-10, max_value=70_000),
            st.integers(min_value=1, max_value=60_000),
        ),
        min_size=1,
        max_size=200,
    )
)
def test_points_in_lua_equal_python_bit_for_bit(
    redis_sync: redis.Redis, cases: list[tuple[int, float, int, int]]
) -> None:
    """Halves round up the same way (``floor(x + 0.5)``) in both languages, speed points
    included, at t = 0, t = T and everywhere between."""
    cases = [*cases, (5, 0.5, 0, 10), (5, 1.0, 10, 10), (3, 0.5, 0, 1), (1000, 1.0, 5000, 10_000)]
    lib = (LUA_DIR / "_lib.lua").read_text(encoding="utf-8")
    args = [x for p, f, t, T in cases for x in (str(p), repr(f), str(t), str(T))]
    got = redis_sync.eval(lib + _AGREE, 0, *args)
    want = [
        x
        for p, f, t, T in cases
        for x in (points.speed_points(p, f, t, T), points.fixed_points(p, f))
    ]
    assert got == want


# ------------------------------------------------------------ recorded answers keep the fraction

_NEARLY_ONE = 1 - 2**-52  # not fully correct: not counted in correct / ok:<qid>


async def test_window_record_keeps_the_exact_fraction(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """Resume returns exactly the state so far: cjson's 14 digits stored 1 - 2**-52 as 1.0
    (shown fully correct while ``correct`` stayed 0) and 1/3 as 0.33333333333333."""
    attempts = Attempts(redis_client, C, prefix=key_prefix)
    window = WindowScoring(redis_client, C, key_prefix, scripts=attempts.scripts)
    assert (await attempts.start(ANN, PROFILE, DRAW, duration_ms=MINUTE)).ok
    q1, q2 = QuestionId("q1"), QuestionId("q2")
    assert (await window.answer(ANN, 1, q1, _NEARLY_ONE, 'say "đúng"/\\')).accepted
    assert (await window.answer(ANN, 1, q2, 1 / 3, "b")).accepted
    state = await attempts.resume(ANN)
    assert state is not None and state.correct == 0
    assert state.answers[q1].f == _NEARLY_ONE and state.answers[q1].c == 'say "đúng"/\\'
    assert state.answers[q2].f == 1 / 3
    assert (state.answers[q1].p, state.answers[q2].p) == (10, 2)
    audited = {e.question: e.fraction async for e in entries(redis_client, C, key_prefix)}
    assert audited[q1] == state.answers[q1].f and audited[q2] == state.answers[q2].f


async def test_live_record_keeps_the_exact_fraction(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    q1 = QuestionId("q1")
    await live.open_question(q1, index=1, time_ms=MINUTE, points=10, speed=False)
    out = await live.accept(ANN, q1, _NEARLY_ONE, "a")
    assert out.accepted and out.points == 10
    state = await live.member_state(ANN, [q1])
    assert state.answers[q1].f == _NEARLY_ONE
    assert (await live.close_question(q1)).correct == 0


# ------------------------------------------------------------ the sweeper's limit


@pytest.mark.parametrize("limit", [0, -1])
async def test_expire_due_refuses_a_limit_below_one(
    redis_client: redis.asyncio.Redis, key_prefix: str, limit: int
) -> None:
    """``LIMIT 0 0`` takes nothing and ``LIMIT 0 -1`` everything, so ``removed < limit``
    never held and expire_due looped forever."""
    attempts = Attempts(redis_client, C, prefix=key_prefix)
    assert (await attempts.start(ANN, PROFILE, DRAW, duration_ms=MINUTE)).ok
    async with asyncio.timeout(10):
        with pytest.raises(ScoringUsageError):
            await attempts.expire_due(limit)
    assert await attempts.expire_due() == 0
