"""Finalize (scoring.finalize) on a real redis-server: the tie-break chain, truth, idempotence."""

import asyncio
from typing import Any

import msgspec
import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.ids import ContestId, MemberId, ProvinceId, QuestionId, UnitId
from scoring.attempts import Attempts, BestAttempt, DrawnQuestion
from scoring.errors import CorruptData, ScoringUsageError
from scoring.finalize import Entry, Finalizer, Standing, rank_entries
from scoring.profiles import Profile
from scoring.window import WindowScoring
from tests.utils import timeout

C = ContestId("r1")
INF = float("inf")


def plain_order(best: dict[str, BestAttempt], truth: int | None) -> list[tuple[str, int]]:
    """The tie-break chain as a plain Python sort, and ranks as 1 + members strictly ahead."""

    def chain(m: str) -> tuple[Any, ...]:
        b = best[m]
        if truth is None:
            dist: float = 0
        else:
            dist = INF if b.prediction is None else abs(b.prediction - truth)
        return (-b.score, dist, b.time_used, b.submitted or INF)

    order = sorted(best, key=lambda m: (chain(m), m))
    return [(m, 1 + sum(1 for o in best if chain(o) < chain(m))) for m in order]


async def store_bests(
    client: redis.asyncio.Redis, f: Finalizer, best: dict[str, BestAttempt]
) -> None:
    if best:
        await client.hset(f.keys.best, mapping={m: msgspec.json.encode(b) for m, b in best.items()})


def best_attempts(alphabet: str = "abcé:1", max_size: int = 25) -> st.SearchStrategy[Any]:
    """Members (ids drawn from *alphabet*) and their best attempts, ties likely."""
    return st.dictionaries(
        st.text(alphabet=alphabet, min_size=1, max_size=4),
        st.builds(
            BestAttempt,
            n=st.integers(1, 3),
            score=st.integers(0, 4),
            time_used=st.integers(0, 4),
            submitted=st.one_of(st.just(0), st.integers(1, 4)),
            prediction=st.one_of(st.none(), st.integers(0, 8)),
            correct=st.integers(0, 2),
            nq=st.just(2),
        ),
        max_size=max_size,
    )


BESTS = best_attempts()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(BESTS, st.one_of(st.none(), st.integers(0, 8)), st.sampled_from([2, 3, 1000]))
async def test_any_set_of_attempts_ranks_like_a_plain_sort(
    redis_client: redis.asyncio.Redis,
    best: dict[str, BestAttempt],
    truth: int | None,
    chunk: int,
) -> None:
    await redis_client.flushdb()
    f = Finalizer(redis_client, C, prefix="prop", chunk=chunk)
    await store_bests(redis_client, f, best)
    if truth is None:
        info = await f.finalize_window(None)
    else:
        info = await f.finalize_window("perfect_scores", truth=truth)
    assert info.truth == truth and info.ranked == len(best)
    expected = plain_order(best, truth)
    got = await f.standings()
    assert [(m, s.rank) for m, s in got] == expected
    for m, s in got:
        b = best[m]
        assert (s.score, s.prediction, s.time_used, s.submitted, s.attempt) == (
            b.score,
            b.prediction,
            b.time_used,
            b.submitted,
            b.n,
        )
        assert s.distance == (
            None if truth is None or b.prediction is None else abs(b.prediction - truth)
        )
        assert await f.standing(MemberId(m)) == s
    # the batch read agrees with the one-member read, in small chunks and with a stranger
    members = [MemberId(m) for m, _ in got] + [MemberId("nobody")]
    assert await f.standings_of(members, chunk=3) == [s for _, s in got] + [None]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2, 2**31]),
            st.one_of(st.none(), st.sampled_from([0, 3, 5, 10**12])),
            st.sampled_from([0, 1, 2, 2**40, 2**50]),  # 2**50: out of range, clamped
            st.sampled_from([0, 1, 2, 2**42]),
        ),
        max_size=40,
    ),
    st.one_of(st.none(), st.integers(0, 6)),
)
def test_rank_entries_matches_a_plain_sort(
    figures: list[tuple[int, int | None, int, int]], truth: int | None
) -> None:
    best = {
        f"m{i:02d}"[::-1]: BestAttempt(n=1, score=s, prediction=p, time_used=t, submitted=u)
        for i, (s, p, t, u) in enumerate(figures)
    }
    entries = [
        Entry(
            member=m,
            score=b.score,
            prediction=b.prediction,
            time_used=b.time_used,
            submitted=b.submitted,
        )
        for m, b in best.items()
    ]
    got = [(e.member, r) for e, r in rank_entries(entries, truth)]
    assert got == plain_order(best, truth)


def test_rank_entries_examples() -> None:
    e = [
        Entry(member="d", score=5, time_used=9, prediction=None, submitted=5),
        Entry(member="a", score=5, time_used=9, prediction=12, submitted=5),
        Entry(member="c", score=5, time_used=9, prediction=8, submitted=5),
        Entry(member="b", score=7, time_used=99, prediction=None, submitted=0),
        Entry(member="e", score=5, time_used=9, prediction=8, submitted=0),
        Entry(member="f", score=5, time_used=9, prediction=8, submitted=0),
    ]
    ranked = [(x.member, r) for x, r in rank_entries(e, 10)]
    # b: best score; a and c: distance 2 (share rank); e, f: never submitted (share); d: none.
    assert ranked == [("b", 1), ("a", 2), ("c", 2), ("e", 4), ("f", 4), ("d", 6)]
    no_question = [(x.member, r) for x, r in rank_entries(e, None)]
    assert no_question == [("b", 1), ("a", 2), ("c", 2), ("d", 2), ("e", 5), ("f", 5)]


PROFILE = Profile(name="N", province=ProvinceId("hn"), unit=UnitId("u1"))
DRAW = [DrawnQuestion(id=QuestionId(f"q{i}"), points=10) for i in range(3)]


async def wait_past(client: redis.asyncio.Redis, ms: int) -> None:
    async with asyncio.timeout(timeout()):
        while True:
            secs, micros = await client.time()
            if int(secs) * 1000 + int(micros) // 1000 > ms:
                return
            await asyncio.sleep(0.005)


async def play(
    att: Attempts, win: WindowScoring, member: str, right: int, *, duration: int = 60_000
) -> int:
    out = await att.start(MemberId(member), PROFILE, DRAW, duration_ms=duration)
    assert out.attempt is not None
    for i, q in enumerate(DRAW):
        fraction = 1.0 if i < right else 0.0
        ok = await win.answer(MemberId(member), 1, q.id, fraction, province="hn", unit="u1")
        assert ok.accepted
    return out.attempt.deadline


async def test_finalize_after_real_attempts(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    att = Attempts(redis_client, C, prefix=key_prefix)
    win = WindowScoring(redis_client, C, key_prefix, scripts=att.scripts)
    f = Finalizer(redis_client, C, prefix=key_prefix)
    await play(att, win, "ann", 3)
    await att.submit(MemberId("ann"), 9)
    await play(att, win, "bob", 3)
    await att.submit(MemberId("bob"), 2)  # closer to the truth (2 perfect scores)
    await play(att, win, "cat", 1)
    await att.submit(MemberId("cat"), 2)
    deadline = await play(att, win, "dan", 3, duration=80)  # never submits: expires
    with pytest.raises(ScoringUsageError):
        await f.finalize_window("perfect_scores")  # dan's attempt is still open
    await wait_past(redis_client, deadline)
    info = await f.finalize_window("perfect_scores")
    assert (info.mode, info.measure, info.truth, info.ranked) == ("window", "perfect_scores", 3, 4)
    order = [(m, s.rank, s.score, s.distance) for m, s in await f.standings()]
    # ann, bob and dan have 30 (truth: 3 perfect scores); dan has no prediction; cat 10.
    assert order == [
        ("bob", 1, 30, 1),  # |2 - 3| < |9 - 3|
        ("ann", 2, 30, 6),
        ("dan", 3, 30, None),
        ("cat", 4, 10, 1),
    ]
    assert (await f.finalize_window("participants")).truth == 4
    assert (await f.finalize_window("completed")).truth == 4  # dan answered every question
    stored = await f.info()
    assert stored is not None and stored.measure == "completed"


async def test_finalize_is_idempotent(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    f = Finalizer(redis_client, C, prefix=key_prefix, chunk=3)
    best = {
        f"m{i}": BestAttempt(
            n=1, score=i % 4, time_used=i % 3, submitted=1000 + i % 2, prediction=i % 5, nq=2
        )
        for i in range(20)
    }
    await store_bests(redis_client, f, best)
    first = await f.finalize_window("perfect_scores")
    rows = await redis_client.hgetall(f.keys.final)
    order = await redis_client.zrange(f.keys.final_order, 0, -1, withscores=True)
    second = await f.finalize_window("perfect_scores")
    assert msgspec.structs.replace(second, at=0) == msgspec.structs.replace(first, at=0)
    assert await redis_client.hgetall(f.keys.final) == rows
    assert await redis_client.zrange(f.keys.final_order, 0, -1, withscores=True) == order
    assert len(rows) == 20
    assert not await redis_client.exists(f"{f.keys.final}:tmp", f"{f.keys.final_order}:tmp")


async def test_finalize_force_ranks_open_attempts(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    att = Attempts(redis_client, C, prefix=key_prefix)
    win = WindowScoring(redis_client, C, key_prefix, scripts=att.scripts)
    await play(att, win, "ann", 2)
    f = Finalizer(redis_client, C, prefix=key_prefix)
    info = await f.finalize_window(None, force=True)
    assert info.ranked == 1 and info.truth is None
    (member, standing), *_ = await f.standings()
    assert member == "ann" and standing.score == 20 and standing.submitted == 0


async def test_finalize_empty_contest(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    f = Finalizer(redis_client, C, prefix=key_prefix)
    await redis_client.zadd(f.keys.final_order, {"old": 1})  # a previous finalize's leftovers
    info = await f.finalize_window("participants")
    assert (info.ranked, info.truth) == (0, 0)
    assert await f.standings() == []
    assert await f.standing(MemberId("old")) is None
    assert await f.standings_of([MemberId("old")]) == [None]


async def test_finalize_live_show(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    f = Finalizer(redis_client, C, prefix=key_prefix)
    k = f.keys
    await redis_client.hset(k.totals, mapping={"a": 30, "b": 50, "c": 30, "d": 30, "e": 0})
    await redis_client.hset(k.times, mapping={"a": 900, "b": 5000, "c": 700, "d": 900})
    assert await f.standings_of([MemberId("a")]) == [None]  # not finalized yet
    info = await f.finalize_live()
    assert (info.mode, info.truth, info.ranked) == ("live", None, 5)
    got = [(m, s.rank, s.score, s.time_used) for m, s in await f.standings()]
    assert got == [
        ("b", 1, 50, 5000),
        ("c", 2, 30, 700),
        ("a", 3, 30, 900),
        ("d", 3, 30, 900),
        ("e", 5, 0, 0),
    ]
    assert await f.standings(1, 2) == (await f.standings())[1:3]
    assert await f.standing(MemberId("d")) == Standing(
        rank=3, score=30, prediction=None, distance=None, time_used=900, submitted=0, attempt=0
    )
    assert await f.standings_of([]) == []
    assert [s and s.rank for s in await f.standings_of([MemberId(x) for x in "edzb"])] == [
        5,
        3,
        None,
        1,
    ]


async def test_corrupt_data_is_a_typed_error(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    f = Finalizer(redis_client, C, prefix=key_prefix)
    await redis_client.hset(f.keys.best, "m1", b'{"n": 1, "score": "x"}')
    with pytest.raises(CorruptData):
        await f.finalize_window(None)
    await redis_client.hset(f.keys.totals, "m1", "lots")
    with pytest.raises(CorruptData):
        await f.finalize_live()
    await redis_client.zadd(f.keys.final_order, {"ghost": 1})
    with pytest.raises(CorruptData):
        await f.standings()


async def test_window_entries(redis_client: redis.asyncio.Redis, key_prefix: str) -> None:
    f = Finalizer(redis_client, C, prefix=key_prefix)
    assert await f.window_entries() == []
    b = BestAttempt(n=2, score=7, time_used=5, submitted=9, prediction=3, correct=1, nq=2)
    await store_bests(redis_client, f, {"m": b})
    assert await f.window_entries() == [
        Entry(
            member="m", score=7, time_used=5, prediction=3, submitted=9, attempt=2, correct=1, nq=2
        )
    ]
