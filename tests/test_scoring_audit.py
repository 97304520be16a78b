"""The audit stream: rebuilding the boards from it gives exactly the live ones."""

from __future__ import annotations

import json

import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.audit import AuditEntry, compare, entries, fold, rebuild
from scoring.keys import ContestKeys
from scoring.live import LiveScoring
from scoring.window import WindowScoring

PLACES = [("hn", "u1"), ("hn", "u2"), ("hcm", "u3"), ("", "")]

answers_strategy = st.lists(
    st.tuples(
        st.integers(0, 11),  # member
        st.integers(0, 3),  # question
        st.sampled_from([0.0, 0.25, 0.5, 1.0, 1 / 3]),
    ),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answers=answers_strategy, speed=st.booleans())
async def test_rebuild_equals_live(
    redis_client: redis.asyncio.Redis,
    key_prefix: str,
    answers: list[tuple[int, int, float]],
    speed: bool,
) -> None:
    contest = ContestId(f"live{abs(hash((tuple(answers), speed))) % 10**12}")
    keys = ContestKeys(contest, key_prefix)
    await redis_client.delete(
        *[k async for k in redis_client.scan_iter(match=keys.pattern())] or ["x"]
    )
    live = LiveScoring(redis_client, contest, key_prefix)
    await live.configure(streak_step=3, streak_cap=2)
    questions = [QuestionId(f"q{i}") for i in range(4)]
    for i, q in enumerate(questions, start=1):
        await live.open_question(q, index=i, time_ms=10_000, points=10 * i, speed=speed)
    for m, qi, f in answers:
        province, unit = PLACES[m % len(PLACES)]
        await live.accept(MemberId(f"m{m}"), questions[qi], f, province=province, unit=unit)
    assert await compare(redis_client, contest, key_prefix) == []  # nothing applied yet
    for q in questions:
        await live.close_question(q, chunk=7)  # applied in bulk, 7 entries a call
    assert await compare(redis_client, contest, key_prefix) == []

    fresh = ContestId(contest + "-rebuilt")
    result = await rebuild(redis_client, contest, fresh, key_prefix)
    assert result.answers == len({(m, qi) for m, qi, _ in answers})
    new = ContestKeys(fresh, key_prefix)
    for old_key, new_key in [
        (keys.leaderboard, new.leaderboard),
        (keys.province_board("hn"), new.province_board("hn")),  # type: ignore[arg-type]
        (keys.unit_board("u3"), new.unit_board("u3")),  # type: ignore[arg-type]
    ]:
        assert await redis_client.zrange(old_key, 0, -1, withscores=True) == (
            await redis_client.zrange(new_key, 0, -1, withscores=True)
        )
    for old_key, new_key in [
        (keys.totals, new.totals),
        (keys.times, new.times),
        (keys.unit_participants, new.unit_participants),
    ]:
        assert await redis_client.hgetall(old_key) == await redis_client.hgetall(new_key)


async def test_compare_finds_tampering(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    contest = ContestId("tamper")
    live = LiveScoring(redis_client, contest, key_prefix)
    await live.open_question(QuestionId("q1"), index=1, time_ms=10_000, points=10)
    await live.accept(MemberId("ann"), QuestionId("q1"), 1.0, province="hn", unit="u1")
    await live.accept(MemberId("bob"), QuestionId("q1"), 0.5, province="hn", unit="u1")
    await live.close_question(QuestionId("q1"))
    assert await compare(redis_client, contest, key_prefix) == []
    await redis_client.hincrby(live.keys.totals, "bob", 100)
    await redis_client.zadd(live.keys.province_board("hn"), {"ann": 1})  # type: ignore[arg-type]
    diffs = await compare(redis_client, contest, key_prefix)
    assert {(d.key, d.member) for d in diffs} == {
        (live.keys.totals, "bob"),
        (live.keys.province_board("hn"), "ann"),  # type: ignore[arg-type]
    }
    with pytest.raises(ValueError):
        await rebuild(redis_client, contest, contest, key_prefix)


async def test_window_rebuild_equals_live(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    contest = ContestId("win")
    window = WindowScoring(redis_client, contest, key_prefix)
    keys = window.keys
    sec, usec = await redis_client.time()
    now = int(sec) * 1000 + int(usec) // 1000
    for m in range(6):
        member = MemberId(f"m{m}")
        for n in (1, 2):
            await redis_client.hset(
                keys.attempt(member, n),
                mapping={
                    "started": now - 1000 * (m + n),
                    "deadline": now + 60_000,
                    "state": "open",
                    "qs": json.dumps(["a", "b", "c"]),
                    "pts:a": 10,
                    "pts:b": 20,
                    "pts:c": 5,
                    "score": 0,
                },
            )
            await redis_client.hset(keys.attempt_counts, member, n)
            province, unit = PLACES[m % len(PLACES)]
            for q, f in zip("abc", [(m + n) % 2, 1.0, 0.5 * (n - 1)], strict=True):
                await window.answer(member, n, QuestionId(q), f, province=province, unit=unit)
    assert await compare(redis_client, contest, key_prefix) == []
    listed = [e async for e in entries(redis_client, contest, key_prefix, page=7)]
    assert len(listed) == 6 * 2 * 3
    assert len({e.id for e in listed}) == len(listed)


def entry(member: str, n: int, points: int, t: int, event: str = "") -> AuditEntry:
    return AuditEntry(
        id="0-0",
        member=MemberId(member),
        question=QuestionId("q"),
        attempt=n,
        choice="",
        fraction=1.0,
        points=points,
        t=t,
        at=0,
        province="p",
        unit="u",
        event=event,
    )


def test_fold_window_events() -> None:
    result = fold(
        [
            entry("a", 1, 0, 0, "start"),
            entry("a", 1, 10, 100),
            entry("a", 1, 0, 900, "close"),  # submitted at 900 ms
            entry("a", 2, 0, 0, "start"),
            entry("a", 2, 10, 500),  # open attempt: time is its last answer's
            entry("b", 1, 0, 0, "start"),  # no answer yet: on the board with 0
        ]
    )
    assert result.totals == {"a": 10, "b": 0}
    assert result.times == {"a": 500, "b": 0}
    assert result.unit_participants == {"u": 2}
    assert result.answers == 2
