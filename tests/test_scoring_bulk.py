"""Accept only what must be atomic, apply the rest in bulk at close: the same figures as
the per-answer path.

Each example plays the same random answers (sequential questions, duplicates, several
places, distributions of one or several keys, with or without a streak bonus and the
elimination rule) on two contests of a real redis-server: one through the fourth
session's per-answer scripts (tests/reference_lua: every board written as each answer is
accepted), one through the engine's (accept records and audits; close applies in chunks
of a random size). After every close, every key the show's standings, reveal and
elimination read is equal, each outcome the member was acked is equal, and each member's
rank computed from the reveal's score histogram is their shared rank by total.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import messages
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.audit import compare
from scoring.keys import ContestKeys
from scoring.live import LiveScoring
from scoring.outcomes import decode_outcome
from scoring.scripts import LUA_DIR, PRELUDE
from tests.utils import open_alike

REFERENCE = Path(__file__).parent / "reference_lua"
PLACES = [("hn", "u1"), ("hn", "u2"), ("hcm", "u3"), ("", "")]
_serial = itertools.count()

answer = st.tuples(
    st.integers(0, 7),  # member
    st.sampled_from([0.0, 0.5, 1.0, 1 / 3]),  # graded fraction
    st.sampled_from(["a", "b", "a,c", ""]),  # bucket ("" = no distribution key)
)
show = st.lists(st.lists(answer, max_size=14), min_size=1, max_size=4)


def _reference(client: redis.asyncio.Redis, name: str) -> Any:
    prelude = (LUA_DIR / f"{PRELUDE}.lua").read_text(encoding="utf-8")
    return client.register_script(prelude + "\n" + (REFERENCE / f"{name}.lua").read_text())


def _choices(bucket: str) -> list[str]:
    return bucket.split(",") if bucket else []


async def _state(client: redis.asyncio.Redis, k: ContestKeys, qid: QuestionId) -> dict[str, Any]:
    """Everything standings, reveal and elimination read, contest name taken out."""
    out: dict[str, Any] = {}
    for name, key in [
        ("totals", k.totals),
        ("times", k.times),
        ("units", k.unit_participants),
        ("dist", k.distribution(qid)),
        ("streak", k.streaks),
    ]:
        out[name] = await client.hgetall(key)
    boards = [k.leaderboard] + [
        f"{k.base}:lb:{s}" for s in ("p:hn", "p:hcm", "u:u1", "u:u2", "u:u3")
    ]
    for i, key in enumerate(boards):
        out[f"board{i}"] = await client.zrange(key, 0, -1, withscores=True)
    for name, key in [
        ("ok", k.correct(qid)),
        ("players", k.players),
        ("out", k.eliminated),
        ("out_q", k.eliminated_at(qid)),
    ]:
        out[name] = await client.smembers(key)
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rounds=show,
    streak_step=st.sampled_from([0, 2]),
    eliminate=st.booleans(),
    chunk=st.integers(1, 5),
)
async def test_bulk_at_close_equals_per_answer(
    redis_client: redis.asyncio.Redis,
    key_prefix: str,
    rounds: list[list[tuple[int, float, str]]],
    streak_step: int,
    eliminate: bool,
    chunk: int,
) -> None:
    serial = next(_serial)
    ref = LiveScoring(redis_client, ContestId(f"ref{serial}"), key_prefix)
    new = LiveScoring(redis_client, ContestId(f"new{serial}"), key_prefix)
    accept_v1 = _reference(redis_client, "accept_answer_v1")
    close_v1 = _reference(redis_client, "close_question_v1")
    for side in (ref, new):
        await side.configure(streak_step=streak_step, streak_cap=2, eliminate=eliminate)
    rk = ref.keys
    for index, answers in enumerate(rounds):
        qid = QuestionId(f"q{index}")
        await open_alike((ref, new), qid, index)
        for member, fraction, bucket in answers:
            province, unit = PLACES[member % len(PLACES)]
            mid = MemberId(f"m{member}")
            keys = [
                rk.question(qid), rk.answers(qid), rk.distribution(qid), rk.meta, rk.totals,
                rk.times, rk.leaderboard, f"{rk.base}:lb:p:{province}",
                f"{rk.base}:lb:u:{unit}", rk.audit, rk.unit_participants, rk.correct(qid),
                rk.players, rk.eliminated, rk.streaks,
            ]  # fmt: skip
            args = [mid, qid, repr(fraction), bucket, province, unit, "", *_choices(bucket)]
            want = decode_outcome(await accept_v1(keys=keys, args=args), window=False)
            got = await new.accept(
                mid, qid, fraction, bucket, province=province, unit=unit,
                choices=_choices(bucket),
            )  # fmt: skip
            assert (got.accepted, got.reason, got.points, got.total, got.streak, got.t) == (
                want.accepted, want.reason, want.points, want.total, want.streak, want.t,
            ), (index, member)  # fmt: skip
            assert got.time_used == want.time_used or got.reason == "duplicate"
        close_keys = [
            rk.question(qid), rk.distribution(qid), rk.meta, rk.correct(qid), rk.players,
            rk.eliminated, rk.eliminated_at(qid),
        ]  # fmt: skip
        closed_now, eliminated, left, correct, _ = await close_v1(keys=close_keys, args=[])
        closed = await new.close_question(qid, chunk=chunk)
        assert closed.closed and closed_now == 1
        assert (closed.eliminated, closed.players_left, closed.correct) == (
            eliminated, left, correct,
        )  # fmt: skip
        assert await _state(redis_client, new.keys, qid) == await _state(redis_client, rk, qid)
        # closing again applies nothing twice
        again = await new.close_question(qid, chunk=chunk)
        assert not again.closed and again.distribution == closed.distribution
        assert await _state(redis_client, new.keys, qid) == await _state(redis_client, rk, qid)
        # each member's rank from the reveal's histogram is their shared rank by total
        totals = {m.decode(): int(v) for m, v in (await redis_client.hgetall(rk.totals)).items()}
        scores = messages.encode_scores(Counter(totals.values()))
        for member, total in totals.items():
            above = sum(1 for other in totals.values() if other > total)
            assert messages.rank_of(scores, total) == above + 1, member
        assert await compare(redis_client, new.contest, key_prefix) == []


async def test_open_question_answers_wait_for_the_close(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """Until its question closes an accepted answer is recorded and audited only; the ack's
    total already counts it; the audit compare leaves it out until it is applied."""
    live = LiveScoring(redis_client, ContestId("waits"), key_prefix)
    k = live.keys
    q1, q2 = QuestionId("q1"), QuestionId("q2")
    await live.open_question(q1, index=0, time_ms=60_000, points=10, speed=False)
    first = await live.accept(MemberId("ann"), q1, 1.0, "a", province="hn", unit="u1",
                              choices=["a"])  # fmt: skip
    assert (first.points, first.total) == (10, 10)
    assert await redis_client.hget(k.answers(q1), "ann") is not None
    assert await redis_client.xlen(k.audit) == 1
    for key in (k.totals, k.times, k.distribution(q1), k.unit_participants):
        assert await redis_client.hlen(key) == 0, key
    assert await redis_client.zcard(k.leaderboard) == 0
    assert await compare(redis_client, live.contest, key_prefix) == []
    duplicate = await live.accept(MemberId("ann"), q1, 0.0, "b", choices=["b"])
    assert (duplicate.accepted, duplicate.reason, duplicate.total) == (False, "duplicate", 10)
    await live.close_question(q1)
    assert await redis_client.hget(k.totals, "ann") == b"10"
    assert await redis_client.hgetall(k.distribution(q1)) == {b"a": b"1"}
    await live.open_question(q2, index=1, time_ms=60_000, points=10, speed=False)
    second = await live.accept(MemberId("ann"), q2, 0.5, "b", choices=["b"])
    assert (second.points, second.total) == (5, 15)
    assert await redis_client.hget(k.totals, "ann") == b"10"
