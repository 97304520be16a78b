"""Window attempts (scoring.attempts) on a real redis-server: the whole lifecycle."""

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.ids import ContestId, MemberId, OptionId, ProvinceId, QuestionId, UnitId
from scoring.attempts import (
    Attempts,
    AttemptState,
    DrawnQuestion,
    decode_attempt,
    decode_best,
)
from scoring.errors import CorruptData, ScoringUsageError, ScriptError
from scoring.outcomes import AnswerOutcome
from scoring.profiles import Profile, decode_profile
from scoring.window import WindowScoring
from tests.utils import timeout

C = ContestId("round1")
ALICE = MemberId("alice")
PROFILE = Profile(name="Alice", province=ProvinceId("hn"), unit=UnitId("u1"))
DRAW = [
    DrawnQuestion(id=QuestionId("q1"), points=10, options=[OptionId("b"), OptionId("a")]),
    DrawnQuestion(id=QuestionId("q2"), points=20, options=[OptionId("c"), OptionId("a")]),
    DrawnQuestion(id=QuestionId("q3"), points=5),
]
MINUTE = 60_000


@pytest.fixture
def attempts(redis_client: redis.asyncio.Redis, key_prefix: str) -> Attempts:
    return Attempts(redis_client, C, prefix=key_prefix)


async def answer(
    att: Attempts,
    member: str,
    n: int,
    qid: str,
    fraction: float,
    choice: str = "x",
    profile: Profile = PROFILE,
) -> AnswerOutcome:
    """Answer through engineer A's WindowScoring (attempt_answer.lua), as the gateway will."""
    window = WindowScoring(att.client, att.keys.contest, att.keys.prefix, scripts=att.scripts)
    return await window.answer(
        MemberId(member),
        n,
        QuestionId(qid),
        fraction,
        choice,
        province=profile.province,
        unit=profile.unit,
    )


async def hget(client: redis.asyncio.Redis, key: str, field: str) -> bytes:
    value = await client.hget(key, field)
    assert isinstance(value, bytes), (key, field)
    return value


async def redis_now(client: redis.asyncio.Redis) -> int:
    secs, micros = await client.time()
    return int(secs) * 1000 + int(micros) // 1000


async def wait_past(client: redis.asyncio.Redis, ms: int) -> None:
    async with asyncio.timeout(timeout()):
        while await redis_now(client) <= ms:
            await asyncio.sleep(0.005)


async def start(att: Attempts, member: MemberId = ALICE, **kw: Any) -> AttemptState:
    kw.setdefault("duration_ms", MINUTE)
    outcome = await att.start(member, PROFILE, DRAW, **kw)
    assert outcome.status == "started", outcome
    assert outcome.attempt is not None
    return outcome.attempt


async def test_start_stores_the_draw_and_counts_the_participant(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    a = await start(attempts, duration_ms=5 * MINUTE)
    assert a.number == 1 and a.state == "open"
    assert a.deadline == a.started + 5 * MINUTE
    assert a.questions == ["q1", "q2", "q3"]
    assert a.options == {"q1": ["b", "a"], "q2": ["c", "a"], "q3": []}
    assert a.points == {"q1": 10, "q2": 20, "q3": 5}
    assert a.answers == {} and a.score == 0 and a.answered == 0 and a.last is None
    assert 0 < a.remaining_ms <= 5 * MINUTE
    k = attempts.keys
    assert await redis_client.zscore(k.deadlines, "alice:1") == a.deadline
    assert decode_profile(await hget(redis_client, k.profiles, "alice")) == PROFILE
    assert await redis_client.hget(k.unit_participants, "u1") == b"1"
    assert await redis_client.hget(k.attempt_counts, "alice") == b"1"
    best = await attempts.best(ALICE)
    assert best is not None and (best.n, best.score, best.nq) == (1, 0, 3)
    assert await redis_client.zscore(k.leaderboard, "alice") is not None
    assert await redis_client.zscore(k.province_board(ProvinceId("hn")), "alice") is not None


async def test_start_again_resumes_the_open_attempt(attempts: Attempts) -> None:
    first = await start(attempts)
    other = [DrawnQuestion(id=QuestionId("z"), points=1)]
    again = await attempts.start(ALICE, PROFILE, other, duration_ms=MINUTE, attempts_allowed=3)
    assert again.status == "resumed" and again.ok
    assert again.attempt is not None
    assert again.attempt.number == 1
    assert again.attempt.questions == first.questions
    assert again.attempt.started == first.started


async def test_resume_returns_exactly_the_state_so_far(attempts: Attempts) -> None:
    assert await attempts.resume(ALICE) is None
    a = await start(attempts)
    ok1 = await answer(attempts, "alice", 1, "q2", 1.0, "c")
    ok2 = await answer(attempts, "alice", 1, "q1", 0.5, "a")
    assert ok1.accepted and ok1.points == 20
    assert ok2.accepted and ok2.points == 5
    state = await attempts.resume(ALICE)
    assert state is not None
    assert state.state == "open" and state.number == 1
    assert state.questions == a.questions and state.options == a.options
    assert set(state.answers) == {"q2", "q1"}
    assert (state.answers[QuestionId("q2")].c, state.answers[QuestionId("q2")].p) == ("c", 20)
    assert state.answers[QuestionId("q1")].f == 0.5
    assert state.answers[QuestionId("q1")].t == ok2.t
    assert (state.score, state.correct, state.answered) == (25, 1, 2)
    assert state.last == a.started + ok2.t
    assert state.time_used == ok2.t
    assert 0 < state.remaining_ms <= MINUTE
    assert state.remaining_ms == state.deadline - state.now
    # Reading it again directly gives the same stored fields.
    again = await attempts.attempt(ALICE, 1)
    assert again is not None
    assert msgspec_fields(again) == msgspec_fields(state)


def msgspec_fields(state: AttemptState) -> dict[str, Any]:
    fields = {f: getattr(state, f) for f in state.__struct_fields__}
    fields.pop("now")
    return fields


async def test_answers_refused_in_attempt(attempts: Attempts) -> None:
    await start(attempts)
    assert (await answer(attempts, "alice", 1, "q1", 1.0)).accepted
    dup = await answer(attempts, "alice", 1, "q1", 1.0)
    assert (dup.accepted, dup.reason) == (False, "duplicate")
    other = await answer(attempts, "alice", 1, "nope", 1.0)
    assert other.reason == "not_in_attempt"
    assert (await answer(attempts, "bob", 1, "q1", 1.0)).reason == "no_attempt"


async def test_submit_closes_counts_and_keeps_the_prediction(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    a = await start(attempts)
    await answer(attempts, "alice", 1, "q1", 1.0)
    out = await attempts.submit(ALICE, 1234)
    assert out.status == "submitted" and out.ok
    s = out.attempt
    assert s is not None and s.state == "submitted"
    assert s.submitted is not None and s.time_used == s.submitted - a.started
    assert s.prediction == 1234 and s.remaining_ms == 0
    k = attempts.keys
    assert await redis_client.zscore(k.deadlines, "alice:1") is None
    assert await redis_client.hget(k.unit_completed, "u1") == b"1"
    best = await attempts.best(ALICE)
    assert best is not None
    assert (best.score, best.prediction, best.submitted, best.correct) == (10, 1234, s.submitted, 1)
    assert best.time_used == s.time_used
    assert int(await hget(redis_client, k.times, "alice")) == s.time_used
    # Closed: a second submit, an answer and a start (one attempt allowed) are refused.
    assert (await attempts.submit(ALICE, 1)).status == "attempt_closed"
    assert (await answer(attempts, "alice", 1, "q2", 1.0)).reason == "attempt_closed"
    assert (await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE)).status == (
        "attempts_used"
    )
    assert (await attempts.submit(MemberId("bob"))).status == "no_attempt"
    latest = await attempts.resume(ALICE)
    assert latest is not None and latest.state == "submitted" and latest.prediction == 1234


async def test_prediction_required_and_predict_before_submit(attempts: Attempts) -> None:
    await start(attempts)
    refused = await attempts.submit(ALICE, require_prediction=True)
    assert refused.status == "prediction_required" and not refused.ok
    assert refused.attempt is not None and refused.attempt.state == "open"
    assert (await attempts.predict(ALICE, 7)).status == "predicted"
    assert (await attempts.predict(ALICE, 8)).attempt.prediction == 8  # type: ignore[union-attr]
    done = await attempts.submit(ALICE, require_prediction=True)
    assert done.status == "submitted"
    assert done.attempt is not None and done.attempt.prediction == 8
    with pytest.raises(ScoringUsageError):
        await attempts.predict(ALICE, -1)


async def test_several_attempts_best_counts(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    await start(attempts, attempts_allowed=3)
    await answer(attempts, "alice", 1, "q2", 1.0)  # 20
    await attempts.submit(ALICE, 5)
    second = await start(attempts, attempts_allowed=3)
    assert second.number == 2
    await answer(attempts, "alice", 2, "q1", 1.0)  # 10
    await attempts.submit(ALICE, 6)
    best = await attempts.best(ALICE)
    assert best is not None and (best.n, best.score, best.prediction) == (1, 20, 5)
    k = attempts.keys
    assert await redis_client.hget(k.totals, "alice") == b"20"
    third = await start(attempts, attempts_allowed=3)
    await answer(attempts, "alice", 3, "q2", 1.0)
    await answer(attempts, "alice", 3, "q1", 1.0)  # 30: the new best, while still open
    best = await attempts.best(ALICE)
    assert best is not None and (best.n, best.score) == (3, 30)
    assert await redis_client.hget(k.totals, "alice") == b"30"
    assert third.number == 3
    await attempts.submit(ALICE)
    refused = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=3)
    assert (refused.status, refused.attempts_used, refused.attempt) == ("attempts_used", 3, None)
    # The participant and completion counts count the member once.
    assert await redis_client.hget(k.unit_participants, "u1") == b"1"
    assert await redis_client.hget(k.unit_completed, "u1") == b"1"


async def test_equal_score_less_time_replaces_best(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    first = await start(attempts, attempts_allowed=0)
    await answer(attempts, "alice", 1, "q3", 1.0)
    await wait_past(redis_client, first.started + 40)  # make attempt 1 slower
    await attempts.submit(ALICE)
    await start(attempts, attempts_allowed=0)
    await answer(attempts, "alice", 2, "q3", 1.0)
    out = await attempts.submit(ALICE)
    assert out.attempt is not None
    one = await attempts.attempt(ALICE, 1)
    assert one is not None and one.time_used >= 40 and one.score == out.attempt.score == 5
    best = await attempts.best(ALICE)
    assert best is not None
    assert best.n == (2 if out.attempt.time_used < one.time_used else 1)


async def test_round_bounds(attempts: Attempts, redis_client: redis.asyncio.Redis) -> None:
    now = await redis_now(redis_client)
    closed = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, closes_at=now - 1)
    assert closed.status == "round_closed" and closed.attempt is None
    early = await attempts.start(
        ALICE, PROFILE, DRAW, duration_ms=MINUTE, opens_at=now + MINUTE, closes_at=now + 2 * MINUTE
    )
    assert early.status == "not_open"
    capped = await start(attempts, duration_ms=10 * MINUTE, closes_at=now + MINUTE)
    assert capped.deadline == now + MINUTE
    with pytest.raises(ScoringUsageError):
        await attempts.start(ALICE, PROFILE, [], duration_ms=MINUTE)
    with pytest.raises(ScoringUsageError):
        await attempts.start(ALICE, PROFILE, DRAW, duration_ms=0)
    with pytest.raises(ScoringUsageError):
        await attempts.start(ALICE, PROFILE, DRAW + DRAW[:1], duration_ms=MINUTE)


async def test_automatic_expiry_at_the_deadline(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    a = await start(attempts, duration_ms=100)
    await answer(attempts, "alice", 1, "q1", 1.0)
    b = await start(attempts, member=MemberId("bob"), duration_ms=MINUTE)
    await wait_past(redis_client, a.deadline)
    late = await answer(attempts, "alice", 1, "q2", 1.0)
    assert late.reason == "late"
    assert await attempts.expire_due() == 1
    assert await attempts.expire_due() == 0  # idempotent
    s = await attempts.attempt(ALICE, 1)
    assert s is not None and s.state == "expired"
    assert s.time_used == a.deadline - a.started == 100
    assert s.score == 10
    best = await attempts.best(ALICE)
    assert best is not None and (best.score, best.time_used, best.submitted) == (10, 100, 0)
    assert int(await hget(redis_client, attempts.keys.times, "alice")) == 100
    k = attempts.keys
    assert await redis_client.zrange(k.deadlines, 0, -1) == [b"bob:1"]
    assert await redis_client.hget(k.unit_completed, "u1") is None  # 1 of 3 answered
    assert (await attempts.submit(ALICE)).status == "attempt_closed"
    bob = await attempts.attempt(MemberId("bob"), 1)
    assert bob is not None and bob.state == "open" and bob.started == b.started


async def test_expired_with_every_answer_counts_as_completed(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    a = await start(attempts, duration_ms=100)
    for q in DRAW:
        assert (await answer(attempts, "alice", 1, q.id, 1.0)).accepted
    await wait_past(redis_client, a.deadline)
    # Not swept yet: resume closes it itself, and a late submit is refused.
    state = await attempts.resume(ALICE)
    assert state is not None and state.state == "expired" and state.remaining_ms == 0
    assert (await attempts.submit(ALICE, 3)).status == "attempt_closed"
    assert await redis_client.hget(attempts.keys.unit_completed, "u1") == b"1"
    assert await attempts.expire_due() == 0


async def test_late_submit_expires_and_drops_the_prediction(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    a = await start(attempts, duration_ms=60)
    await wait_past(redis_client, a.deadline)
    out = await attempts.submit(ALICE, 99)
    assert out.status == "late"
    assert out.attempt is not None and out.attempt.state == "expired"
    assert out.attempt.prediction is None and out.attempt.time_used == 60


async def test_start_after_an_overdue_attempt_starts_the_next(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    a = await start(attempts, duration_ms=60, attempts_allowed=2)
    await wait_past(redis_client, a.deadline)
    b = await start(attempts, duration_ms=MINUTE, attempts_allowed=2)
    assert b.number == 2
    first = await attempts.attempt(ALICE, 1)
    assert first is not None and first.state == "expired"
    assert await redis_client.zrange(attempts.keys.deadlines, 0, -1) == [b"alice:2"]


async def test_sweepers_running_at_once_close_each_attempt_once(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    main = Attempts(redis_client, C, prefix=key_prefix)
    last = 0
    for i in range(60):
        a = await start(main, member=MemberId(f"m:{i}"), duration_ms=50)  # ':' in an id is fine
        await answer(main, f"m:{i}", 1, "q1", 1.0)
        last = max(last, a.deadline)
    await wait_past(redis_client, last)
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(4)]
    try:
        sweepers = [Attempts(c, C, prefix=key_prefix) for c in clients]
        counts = await asyncio.gather(*(s.expire_due(limit=7) for s in sweepers))
    finally:
        for c in clients:
            await c.aclose()
    assert sum(counts) == 60
    raw = await redis_client.hgetall(main.keys.best)
    assert len(raw) == 60
    assert {decode_best(v).time_used for v in raw.values()} == {50}
    assert await redis_client.zcard(main.keys.deadlines) == 0


async def test_sweep_forever_closes_attempts(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    a = await start(attempts, duration_ms=30)
    task = asyncio.create_task(attempts.sweep_forever(0.01))
    try:
        async with asyncio.timeout(timeout()):
            while (await redis_client.hget(attempts.keys.attempt("alice", 1), "state")) != (
                b"expired"
            ):
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await redis_now(redis_client) > a.deadline


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=4))
async def test_best_is_the_best_of_all_attempts(
    redis_client: redis.asyncio.Redis, plan: list[list[bool]]
) -> None:
    await redis_client.flushdb()
    att = Attempts(redis_client, C, prefix="prop")
    summaries = []
    for n, correct in enumerate(plan, start=1):
        await start(att, attempts_allowed=0)
        for q, ok in zip(DRAW, correct, strict=True):
            assert (await answer(att, "alice", n, q.id, 1.0 if ok else 0.0)).accepted
        out = await att.submit(ALICE, n)
        assert out.attempt is not None
        summaries.append((out.attempt.score, out.attempt.time_used, n))
    best = await att.best(ALICE)
    expected = min(summaries, key=lambda s: (-s[0], s[1], s[2]))
    assert best is not None and (best.score, best.time_used, best.n) == expected
    stored = json.loads(await hget(redis_client, att.keys.best, "alice"))
    assert stored["n"] == expected[2]
    assert await redis_client.hget(att.keys.totals, "alice") == str(expected[0]).encode()


async def test_boards_rebuild_from_the_audit_stream(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    """Start and close events let A's audit fold rebuild window boards exactly."""
    from scoring.audit import compare

    await start(attempts, attempts_allowed=2)  # submitted
    await answer(attempts, "alice", 1, "q1", 1.0)
    await attempts.submit(ALICE, 3)
    bob = await start(attempts, member=MemberId("bob"), duration_ms=60)  # expires
    await answer(attempts, "bob", 1, "q2", 0.5)
    await start(attempts, member=MemberId("cat"))  # started, never answered
    await start(attempts, attempts_allowed=2)  # second attempt, worse, still open
    await wait_past(redis_client, bob.deadline)
    assert await attempts.expire_due() == 1
    k = attempts.keys
    assert await compare(redis_client, k.contest, k.prefix) == []


async def test_corrupt_data_is_a_typed_error(
    attempts: Attempts, redis_client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(CorruptData):
        decode_best(b"not json")
    with pytest.raises(CorruptData):
        decode_profile(b"{")
    with pytest.raises(CorruptData):
        decode_attempt(ALICE, 1, 0, [b"state", b"weird", b"started", b"1", b"deadline", b"2"])
    with pytest.raises(CorruptData):
        decode_attempt(ALICE, 1, 0, [b"state", b"open"])  # no started
    assert await attempts.attempt(ALICE, 9) is None
    # A sweeper meeting a broken queue logs and goes on sweeping.
    await redis_client.set(attempts.keys.deadlines, "not a zset")
    with pytest.raises(ScriptError):
        await attempts.expire_due()
    task = asyncio.create_task(attempts.sweep_forever(0.01))
    try:
        async with asyncio.timeout(timeout()):
            while len([r for r in caplog.records if "sweeping attempts" in r.message]) < 2:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_start_answers_with_the_best_attempt_in_the_same_call(attempts: Attempts) -> None:
    first = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=2)
    assert first.status == "started" and first.attempts_used == 1
    assert first.best == await attempts.best(ALICE)
    assert first.best is not None and first.best.n == 1
    await answer(attempts, ALICE, 1, "q1", 1.0)
    await attempts.submit(ALICE)
    second = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=2)
    assert second.status == "started" and second.best == await attempts.best(ALICE)
    assert second.best is not None and second.best.n == 1 and second.best.score == 10
    resumed = await attempts.resume_outcome(ALICE)
    assert resumed.status == "latest" and resumed.best == second.best
    assert resumed.attempts_used == 2
    nobody = await attempts.resume_outcome(MemberId("bob"))
    assert (nobody.status, nobody.best, nobody.attempts_used) == ("no_attempt", None, 0)


async def test_a_draw_made_for_another_number_is_refused_redraw(attempts: Attempts) -> None:
    stale = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, drawn_for=2)
    assert (stale.status, stale.attempts_used, stale.attempt) == ("redraw", 0, None)
    assert await attempts.client.hget(attempts.keys.attempt_counts, ALICE) is None
    assert await attempts.client.hget(attempts.keys.totals, ALICE) is None  # not a participant
    ok = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, drawn_for=1)
    assert ok.status == "started" and ok.attempts_used == 1
    # the open attempt comes back whatever number the draw was for
    again = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, drawn_for=5)
    assert again.status == "resumed" and again.attempt is not None and ok.attempt is not None
    assert again.attempt.questions == ok.attempt.questions
    assert again.attempt.number == 1 and again.attempts_used == 1


async def test_min_gap_refuses_a_start_too_soon_after_a_submit(attempts: Attempts) -> None:
    gap = 2_000
    first = await attempts.start(
        ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=3, min_gap_ms=gap
    )
    assert first.status == "started"
    submitted = await attempts.submit(ALICE)
    assert submitted.attempt is not None and submitted.attempt.submitted is not None
    ended = submitted.attempt.submitted
    early = await attempts.start(
        ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=3, min_gap_ms=gap
    )
    assert early.status == "too_soon" and early.attempt is None
    assert early.wait_ms == ended + gap - early.now and 0 < early.wait_ms <= gap
    assert early.attempts_used == 1
    assert await hget(attempts.client, attempts.keys.attempt_counts, ALICE) == b"1"
    await asyncio.sleep(early.wait_ms / 1000 + 0.5)
    later = await attempts.start(
        ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=3, min_gap_ms=gap
    )
    assert later.status == "started" and later.attempts_used == 2


async def test_min_gap_counts_from_the_deadline_of_an_expired_attempt(
    attempts: Attempts,
) -> None:
    first = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=500, attempts_allowed=2)
    assert first.attempt is not None
    await asyncio.sleep(1.0)  # past the deadline: the next start expires it first
    early = await attempts.start(
        ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=2, min_gap_ms=MINUTE
    )
    assert early.status == "too_soon"
    assert early.wait_ms == first.attempt.deadline + MINUTE - early.now
    latest = await attempts.resume(ALICE)
    assert latest is not None and latest.state == "expired"
    free = await attempts.start(ALICE, PROFILE, DRAW, duration_ms=MINUTE, attempts_allowed=2)
    assert free.status == "started"  # no gap asked: starts at once


async def test_cut_to_ends_open_attempts_at_an_early_close(
    attempts: Attempts, redis_client: redis.asyncio.Redis
) -> None:
    """attempt_cut.lua: a round closed before its closes_at gives every attempt still due
    later the close as its deadline, open ones in their hash too; idempotent."""
    for member in ("a", "b"):
        await attempts.start(MemberId(member), PROFILE, DRAW, duration_ms=MINUTE)
    await attempts.submit(MemberId("b"))
    now = await redis_now(redis_client)
    cut, at = await attempts.cut_to(now)
    assert cut == 1 and at >= now
    assert await redis_client.zscore(attempts.keys.deadlines, "a:1") == now
    assert await redis_client.hget(attempts.keys.attempt(MemberId("a"), 1), "deadline") == (
        str(now).encode()
    )
    again, _ = await attempts.cut_to(now)
    assert again == 0
