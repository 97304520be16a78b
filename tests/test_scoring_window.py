"""Window answers (attempt_answer.lua) on a real Redis: refusals, best attempt, boards."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring import points
from scoring.batcher import AnswerBatcher
from scoring.keys import ContestKeys
from scoring.leaderboard import Leaderboard
from scoring.scripts import Scripts
from scoring.window import WindowScoring

C = ContestId("week1")
ANN = MemberId("ann")


async def redis_ms(client: redis.asyncio.Redis) -> int:
    sec, usec = await client.time()
    return int(sec) * 1000 + int(usec) // 1000


async def make_attempt(
    client: redis.asyncio.Redis,
    keys: ContestKeys,
    member: MemberId,
    n: int,
    *,
    started: int,
    deadline: int,
    questions: dict[str, int],
    **fields: str | int,
) -> None:
    """An attempt hash as rule 4 of docs/scoring.md lays it out (attempt_start.lua's job)."""
    mapping: dict[str, str | int] = {
        "started": started,
        "deadline": deadline,
        "state": "open",
        "qs": json.dumps(list(questions)),
        "opt": "{}",
        "score": 0,
        "correct": 0,
        "answered": 0,
        **{f"pts:{q}": p for q, p in questions.items()},
        **fields,
    }
    await client.hset(keys.attempt(member, n), mapping=mapping)
    await client.hset(keys.attempt_counts, member, n)


async def test_answers_refusals_and_best(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    window = WindowScoring(redis_client, C, key_prefix)
    keys = window.keys
    q1, q2, q3 = QuestionId("q1"), QuestionId("q2"), QuestionId("q3")
    none = await window.answer(ANN, 1, q1, 1.0)
    assert (none.accepted, none.reason) == (False, "no_attempt")

    now = await redis_ms(redis_client)
    await make_attempt(
        redis_client,
        keys,
        ANN,
        1,
        started=now - 2000,
        deadline=now + 60_000,
        questions={"q1": 10, "q2": 20, "q3": 7},
    )
    out = await window.answer(ANN, 1, q1, 1.0, "a", province="hn", unit="u1", choices=["a"])
    assert out.accepted and (out.points, out.total, out.best) == (10, 10, 10)
    assert out.t >= 2000 and out.time_used == out.t
    third = await window.answer(
        ANN, 1, q3, 0.5, "b,c", province="hn", unit="u1", choices=["b", "c"]
    )
    assert third.points == points.fixed_points(7, 0.5) == 4
    assert (third.total, third.best) == (14, 14)
    dup = await window.answer(ANN, 1, q1, 0.0, "b", choices=["b"])
    assert (dup.accepted, dup.reason, dup.total) == (False, "duplicate", 14)
    other = await window.answer(ANN, 1, QuestionId("q9"), 1.0)
    assert (other.accepted, other.reason) == (False, "not_in_attempt")

    stored = await redis_client.hgetall(keys.attempt(ANN, 1))
    assert json.loads(stored[b"a:q1"]) == {"c": "a", "f": 1, "p": 10, "t": out.t}
    assert (stored[b"score"], stored[b"correct"], stored[b"answered"]) == (b"14", b"1", b"2")
    best = json.loads(await redis_client.hget(keys.best, ANN))
    assert best["n"] == 1 and best["score"] == 14 and best["nq"] == 3 and best["correct"] == 1
    assert best["time_used"] == int(stored[b"last"]) - (now - 2000)
    board = Leaderboard(redis_client, C, key_prefix)
    mine = await board.rank(ANN, unit="u1")
    assert mine is not None and (mine.score, mine.time_used) == (14, best["time_used"])

    await redis_client.hset(keys.attempt(ANN, 1), "deadline", now - 1)
    late = await window.answer(ANN, 1, q2, 1.0)
    assert (late.accepted, late.reason) == (False, "late")
    await redis_client.hset(keys.attempt(ANN, 1), mapping={"deadline": now + 60_000})
    await redis_client.hset(keys.attempt(ANN, 1), "state", "submitted")
    closed = await window.answer(ANN, 1, q2, 1.0, "a", choices=["a"])
    assert (closed.accepted, closed.reason) == (False, "attempt_closed")
    # Accepted answers only count in the distribution (choice keys, as live) and answered.
    assert await redis_client.hgetall(keys.distribution(q1)) == {b"a": b"1"}
    assert await redis_client.hgetall(keys.distribution(q3)) == {b"b": b"1", b"c": b"1"}
    assert await redis_client.exists(keys.distribution(q2)) == 0
    assert await redis_client.hgetall(keys.answered) == {b"q1": b"1", b"q3": b"1"}
    audit = await redis_client.xrange(keys.audit)
    assert [(f[b"q"], f[b"n"], f[b"p"]) for _, f in audit] == [
        (b"q1", b"1", b"10"),
        (b"q3", b"1", b"4"),
    ]


async def test_best_attempt_can_move_back(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """Equal score, less time wins; an attempt that then slows down loses the best again."""
    window = WindowScoring(redis_client, C, key_prefix)
    keys = window.keys
    now = await redis_ms(redis_client)
    # Attempt 1: submitted, score 10 in 1500 ms.
    await make_attempt(
        redis_client,
        keys,
        ANN,
        1,
        started=now - 90_000,
        deadline=now - 30_000,
        questions={"q1": 10, "q2": 10},
        state="submitted",
        submitted=now - 88_500,
        score=10,
    )
    await make_attempt(
        redis_client,
        keys,
        ANN,
        2,
        started=now - 500,
        deadline=now + 60_000,
        questions={"q1": 10, "q2": 10},
    )
    first = await window.answer(ANN, 2, QuestionId("q1"), 1.0)
    assert first.accepted and first.time_used < 1500
    assert json.loads(await redis_client.hget(keys.best, ANN))["n"] == 2
    # Attempt 2 started long ago: its next (wrong) answer puts its time past attempt 1's.
    await redis_client.hset(keys.attempt(ANN, 2), "started", now - 50_000)
    second = await window.answer(ANN, 2, QuestionId("q2"), 0.0)
    assert second.accepted and second.total == 10 and second.time_used > 1500
    best = json.loads(await redis_client.hget(keys.best, ANN))
    assert (best["n"], best["score"], best["time_used"]) == (1, 10, 1500)
    assert int(await redis_client.hget(keys.times, ANN)) == 1500


async def test_window_answers_through_the_batcher(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    scripts = Scripts(redis_client)
    async with AnswerBatcher(scripts, window_ms=2, connections=2) as batcher:
        window = WindowScoring(redis_client, C, key_prefix, batcher=batcher, scripts=scripts)
        now = await redis_ms(redis_client)
        members = [MemberId(f"m{i}") for i in range(200)]
        for m in members:
            await make_attempt(
                redis_client,
                window.keys,
                m,
                1,
                started=now,
                deadline=now + 60_000,
                questions={"q1": 5},
            )
        outs = await asyncio.gather(
            *(window.answer(m, 1, QuestionId("q1"), 1.0) for m in members for _ in range(3))
        )
    assert sum(o.accepted for o in outs) == len(members)
    assert await Leaderboard(redis_client, C, key_prefix).size() == len(members)
    # Answers without choice keys count as answered, and in no distribution bucket.
    assert await redis_client.hget(window.keys.answered, "q1") == str(len(members)).encode()
    assert await redis_client.exists(window.keys.distribution(QuestionId("q1"))) == 0


def test_answer_calls_share_their_keys_across_members() -> None:
    """The KEYS of an answer depend on (question, province, unit) only, one tuple for every
    member and attempt (the script builds the attempt key from base), and every argument
    is text: the batch encoder's cached EVALSHA head and tail serve every member."""
    window = WindowScoring(redis.asyncio.Redis(), C, "p")
    q1 = QuestionId("q1")
    place = {"province": "hn", "unit": "u1", "choices": ["a"], "given": ["a", 3]}
    ann = window.answer_call(ANN, 1, q1, 1.0, "a", **place)  # type: ignore[arg-type]
    bob = window.answer_call(MemberId("bob"), 2, q1, 0.0, "b", **place)  # type: ignore[arg-type]
    assert ann.keys is bob.keys
    assert not any(window.keys.attempt(m, n) in ann.keys for m in (ANN, "bob") for n in (1, 2))
    assert all(type(a) is str for a in [*ann.args, *bob.args])
    assert ann.args[8] == '["a",3]'
