"""Live shows on a real Redis: refusals, points == scoring.points, streaks, elimination."""

from __future__ import annotations

import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring import points
from scoring.live import LiveScoring

C = ContestId("show")


def M(name: str) -> MemberId:
    return MemberId(name)


def Q(name: str) -> QuestionId:
    return QuestionId(name)


async def redis_ms(client: redis.asyncio.Redis) -> int:
    sec, usec = await client.time()
    return int(sec) * 1000 + int(usec) // 1000


async def test_accept_then_refusals(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    q = Q("q1")
    unknown = await live.accept(M("ann"), q, 1.0, "a", choices=["a"])
    assert (unknown.accepted, unknown.reason) == (False, "not_open")

    opened = await live.open_question(q, index=1, time_ms=10_000, points=100, speed=False)
    assert opened.opened and opened.deadline == opened.opens + 10_000
    again = await live.open_question(q, index=1, time_ms=10_000, points=100)
    assert not again.opened and again.opens == opened.opens

    first = await live.accept(M("ann"), q, 1.0, "a", province="hn", unit="u1", choices=["a"])
    assert first.accepted and first.reason is None
    assert (first.points, first.total) == (100, 100)
    dup = await live.accept(M("ann"), q, 0.0, "b", choices=["b"])
    assert (dup.accepted, dup.reason, dup.points, dup.total) == (False, "duplicate", 0, 100)
    half = await live.accept(M("bob"), q, 0.5, "c", choices=["c"])
    assert (half.points, half.total) == (50, 50)

    closed = await live.close_question(q)
    assert closed.closed and closed.exists
    assert closed.distribution == {"a": 1, "c": 1}
    assert closed.correct == 1
    assert (await live.close_question(q)).closed is False
    after = await live.accept(M("cat"), q, 1.0, "a", choices=["a"])
    assert (after.accepted, after.reason) == (False, "closed")
    assert await live.distribution(q) == {"a": 1, "c": 1}
    missing = await live.close_question(Q("nope"))
    assert not missing.exists


async def test_not_open_before_opens(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    await live.open_question(Q("q1"), index=1, time_ms=1000, points=10, delay_ms=60_000)
    early = await live.accept(M("ann"), Q("q1"), 1.0)
    assert (early.accepted, early.reason) == (False, "not_open")


async def test_deadline_judged_by_redis_clock(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    q = Q("q1")
    await live.open_question(q, index=1, time_ms=10_000, points=10)
    key = live.keys.question(q)
    # Deadline 1 ms before Redis's clock at the time we read it: always late.
    now = await redis_ms(redis_client)
    await redis_client.hset(key, mapping={"opens": now - 5000, "deadline": now - 1})
    late = await live.accept(M("a"), q, 1.0)
    assert (late.accepted, late.reason) == (False, "late")
    assert late.at > now - 1
    # Deadline well ahead: accepted, t measured from opens by Redis.
    await redis_client.hset(key, "deadline", now + 60_000)
    ok = await live.accept(M("b"), q, 1.0)
    assert ok.accepted and ok.t >= 5000
    # At the edge: whatever ms the script runs at, accepted iff now <= deadline.
    seen = set()
    for i in range(300):
        now = await redis_ms(redis_client)
        await redis_client.hset(key, "deadline", now + (i % 3) - 1)
        out = await live.accept(M(f"edge{i}"), q, 1.0)
        assert out.accepted == (out.at <= now + (i % 3) - 1), out
        seen.add((out.accepted, out.at - (now + (i % 3) - 1)))
        if {True, False} <= {a for a, _ in seen} and any(d == 0 for _, d in seen):
            break
    assert {a for a, _ in seen} == {True, False}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    p=st.integers(min_value=0, max_value=100_000),
    fraction=st.one_of(st.sampled_from([0.0, 1.0, 0.5, 1 / 3, 2 / 3]), st.floats(0, 1)),
    elapsed=st.integers(min_value=0, max_value=40_000),
    time_ms=st.integers(min_value=1, max_value=30_000),
    speed=st.booleans(),
)
async def test_lua_points_equal_python_reference(
    redis_client: redis.asyncio.Redis,
    key_prefix: str,
    p: int,
    fraction: float,
    elapsed: int,
    time_ms: int,
    speed: bool,
) -> None:
    live = LiveScoring(redis_client, ContestId(f"pts{p}-{elapsed}-{time_ms}"), key_prefix)
    q = Q("q")
    await redis_client.delete(live.keys.question(q), live.keys.answers(q))
    await live.open_question(q, index=1, time_ms=time_ms, points=p, speed=speed)
    now = await redis_ms(redis_client)
    await redis_client.hset(
        live.keys.question(q), mapping={"opens": now - elapsed, "deadline": now + 60_000}
    )
    out = await live.accept(M("m"), q, fraction)
    assert out.accepted
    assert out.t == min(time_ms, max(0, out.at - (now - elapsed)))
    expected = points.question_points(p, fraction, speed=speed, elapsed_ms=out.t, time_ms=time_ms)
    assert out.points == expected


async def test_streak_bonus(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    await live.configure(streak_step=5, streak_cap=2)
    fractions = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    streak = 0
    for i, f in enumerate(fractions, start=1):
        q = Q(f"q{i}")
        await live.open_question(q, index=i, time_ms=10_000, points=10, speed=False)
        out = await live.accept(M("ann"), q, f)
        streak = points.next_streak(streak, streak > 0, f)
        assert out.streak == streak
        assert out.points == points.fixed_points(10, f) + (
            points.streak_bonus(streak, 5, 2) if f == 1.0 else 0
        )
        await live.close_question(q)
    # A missed question breaks the streak.
    await live.open_question(Q("q8"), index=8, time_ms=10_000, points=10, speed=False)
    await live.close_question(Q("q8"))
    await live.open_question(Q("q9"), index=9, time_ms=10_000, points=10, speed=False)
    out = await live.accept(M("ann"), Q("q9"), 1.0)
    assert (out.streak, out.points) == (1, 10)


async def test_elimination(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    await live.configure(eliminate=True)
    for m in ["ann", "bob", "cat", "dan"]:
        assert await live.join(M(m))
    q1 = Q("q1")
    await live.open_question(q1, index=1, time_ms=10_000, points=10)
    await live.accept(M("ann"), q1, 1.0, "a", choices=["a"])
    await live.accept(M("bob"), q1, 0.0, "b", choices=["b"])
    await live.accept(M("cat"), q1, 0.5, "a,b", choices=["a", "b"])
    # dan does not answer
    closed = await live.close_question(q1)
    assert (closed.eliminated, closed.players_left, closed.correct) == (3, 1, 1)
    assert closed.distribution == {"a": 2, "b": 2}
    assert await live.eliminated_by(q1) == {"bob", "cat", "dan"}

    q2 = Q("q2")
    await live.open_question(q2, index=2, time_ms=10_000, points=10)
    out = await live.accept(M("bob"), q2, 1.0)
    assert (out.accepted, out.reason) == (False, "eliminated")
    late_joiner = await live.accept(M("eve"), q2, 1.0)
    assert (late_joiner.accepted, late_joiner.reason) == (False, "eliminated")
    assert not await live.join(M("fay"))
    assert (await live.accept(M("ann"), q2, 1.0)).accepted
    closed2 = await live.close_question(q2)
    assert (closed2.eliminated, closed2.players_left) == (0, 1)
    state = await live.member_state(M("bob"), [q1, q2])
    assert state.eliminated and set(state.answers) == {q1}


async def test_member_state_for_resume(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    live = LiveScoring(redis_client, C, key_prefix)
    qs = [Q("q1"), Q("q2")]
    for i, q in enumerate(qs, start=1):
        await live.open_question(q, index=i, time_ms=10_000, points=10, speed=False)
    await live.accept(M("ann"), qs[0], 1.0, "a")
    await live.accept(M("bob"), qs[0], 1.0, "a")
    await live.accept(M("bob"), qs[1], 1.0, "c")
    for q in qs:
        await live.close_question(q)  # totals and boards are applied at the close
    ann = await live.member_state(M("ann"), qs)
    bob = await live.member_state(M("bob"), qs)
    nobody = await live.member_state(M("zed"), qs)
    assert (bob.total, bob.rank) == (20, 1)
    assert (ann.total, ann.rank) == (10, 2)
    assert ann.current == "q2" and ann.answers[qs[0]].c == "a" and qs[1] not in ann.answers
    assert bob.answers[qs[1]].p == 10
    assert (nobody.total, nobody.rank, nobody.answers) == (0, None, {})
