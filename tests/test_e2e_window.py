"""End to end: a whole window round on a real server, real WebSocket members, real Redis.

The round is open now and closes a few seconds later; each attempt has three questions of
10 points and a prediction ("how many members will answer every question right?"). The
scheduler opens the round, closes open attempts when the round closes, closes the round and
finalizes it; the members get their final standing.

* ana: answers two questions, loses her connection, reconnects and gets her attempt back
  (answers and remaining time), answers the third, submits with prediction 1; starts a
  second attempt, answers wrong, leaves it open (closed at the round's close: her first,
  better attempt counts);
* binh: answers all three right, never submits, no prediction (closed automatically);
* chi: all three right, submits with prediction 2; hands in an empty second attempt; a
  third is refused (two allowed);
* dung: one right, two wrong, submits with prediction 3.

Three members have every question right, so the true figure is 3. Final ranking: score,
then distance of the prediction (chi 1, ana 2, binh none: after everyone with one), so
chi 1, ana 2, binh 3, dung 4.
"""

from __future__ import annotations

import pytest

pytest.importorskip("question_bank.draws")  # contests need it (being written)

import redis.asyncio

from engine.contests.store import ContestStore
from engine.core import messages
from engine.core.contest import WindowTiming
from question_bank.ids import MemberId, OrgId, QuestionId
from scoring.attempts import Attempts
from tests.contest_helpers import make_bank, now_ms, setup_org, window_spec
from tests.e2e import Member, settings_for, worker
from tests.test_e2e_live import right, wrong

pytestmark = pytest.mark.slow

CONTEST = "window-e2e"


async def test_whole_window_round(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    bank = make_bank(questions=4)
    by_id = {q.id: q for q in bank.questions}
    await setup_org(redis_client, key_prefix, "central", bank=bank)
    store = ContestStore(redis_client, key_prefix)
    from question_bank.draws import DrawRules

    async with worker(settings_for(redis_url, key_prefix)) as settings:
        now = await now_ms(redis_client)
        closes_at = now + 9_000
        spec = window_spec(
            now,
            id=CONTEST,
            draw=DrawRules(count=3),
            window=WindowTiming(
                opens_at=now,
                closes_at=closes_at,
                attempt_seconds=60,
                attempts_allowed=2,
                prediction_question=QuestionId("pred"),
            ),
        )
        await store.create(OrgId("central"), spec)
        await store.apply(CONTEST, "schedule")  # the scheduler opens it (opens_at is now)
        ana, binh, chi, dung = (
            Member(settings, CONTEST, name) for name in ("ana", "binh", "chi", "dung")
        )
        members = (ana, binh, chi, dung)
        moved: Member | None = None
        try:
            for member in members:
                welcome = await member.connect()
                assert welcome.contest.mode == "window"
                assert welcome.contest.has_prediction
            # The scheduler opens the round within a second.
            for _ in range(40):
                if (await store.get(CONTEST)).state == "open":
                    break
                await ana.wait(messages.StateChanged, lambda m: m.state == "open", 5)
            assert (await store.get(CONTEST)).state == "open"

            # ana: two answers, a dropped connection, resume, the third, submit.
            await ana.send(messages.StartAttempt())
            first = await ana.wait(messages.AttemptState)
            assert (first.attempt, first.state, len(first.questions)) == (1, "open", 3)
            assert first.deadline == closes_at  # capped at the round's close
            qs = [q.id for q in first.questions]
            for qid in qs[:2]:
                ack = await ana.answer(qid, right(by_id[QuestionId(qid)]))
                assert (ack.accepted, ack.points) == (True, 10)
            await ana.drop()
            moved = Member(settings, CONTEST, "ana")
            await moved.connect()
            back = await moved.wait(messages.AttemptState)
            assert (back.attempt, back.state) == (1, "open")
            assert [q.id for q in back.questions] == qs  # the same draw, in the same order
            assert [[o.id for o in q.options] for q in back.questions] == [
                [o.id for o in q.options] for q in first.questions
            ]
            assert sorted(back.answers) == sorted(qs[:2])
            assert all(back.answers[q].points == 10 for q in qs[:2])
            assert back.score == 20 and back.answered == 2
            assert 0 < back.deadline - back.server_time <= closes_at - first.started
            again = await moved.answer(qs[0], right(by_id[QuestionId(qs[0])]))
            assert (again.accepted, again.reason) == (False, "duplicate")
            last = await moved.answer(qs[2], right(by_id[QuestionId(qs[2])]))
            assert (last.accepted, last.total) == (True, 30)
            await moved.send(messages.Submit(prediction=1))
            done = await moved.wait(messages.AttemptState, lambda m: m.state == "submitted")
            assert (done.score, done.prediction) == (30, 1)
            # A second attempt, worse, left open (starting again gives it back).
            await moved.send(messages.StartAttempt())
            second = await moved.wait(messages.AttemptState, lambda m: m.attempt == 2)
            q2 = second.questions[0].id
            assert (await moved.answer(q2, wrong(by_id[QuestionId(q2)]))).points == 0
            await moved.send(messages.StartAttempt())
            still = await moved.wait(messages.AttemptState, lambda m: m.attempt == 2)
            assert [q.id for q in still.questions] == [q.id for q in second.questions]
            assert (still.state, still.answered, still.best_score) == ("open", 1, 30)

            # binh, chi and dung.
            for member, plan, prediction in (
                (binh, (True, True, True), None),
                (chi, (True, True, True), 2),
                (dung, (True, False, False), 3),
            ):
                await member.send(messages.StartAttempt())
                state = await member.wait(messages.AttemptState)
                for question, good in zip(state.questions, plan, strict=True):
                    q = by_id[QuestionId(question.id)]
                    ack = await member.answer(question.id, right(q) if good else wrong(q))
                    assert ack.accepted
                if prediction is not None:
                    await member.send(messages.Submit(prediction=prediction))
                    await member.wait(messages.AttemptState, lambda m: m.state == "submitted")
            # chi hands in an empty second attempt; a third is refused (two allowed).
            await chi.send(messages.StartAttempt())
            await chi.wait(messages.AttemptState, lambda m: m.attempt == 2)
            await chi.send(messages.Submit(prediction=2))
            empty = await chi.wait(messages.AttemptState, lambda m: m.state == "submitted")
            assert (empty.attempt, empty.score, empty.best_score) == (2, 0, 30)
            await chi.send(messages.StartAttempt())
            assert (await chi.wait(messages.Error)).code == "attempts_exhausted"

            # The round closes on time, then is finalized; everyone gets a final standing.
            finals = {}
            for member in (moved, binh, chi, dung):
                final = await member.wait(messages.Closed, lambda m: m.final, seconds=20)
                finals[member.id] = (final.rank, final.score)
        finally:
            for member in (*members, *([moved] if moved else [])):
                await member.close()

    assert finals == {"chi": (1, 30), "ana": (2, 30), "binh": (3, 30), "dung": (4, 10)}
    contest = await store.get(CONTEST)
    assert contest.state == "finalized"
    assert [t.event for t in contest.history] == ["schedule", "open", "close", "finalize"]
    attempts = Attempts(redis_client, contest.id, prefix=key_prefix)
    states = {
        (member, n): attempt.state
        for member, n in (("ana", 1), ("ana", 2), ("binh", 1), ("chi", 1), ("chi", 2), ("dung", 1))
        if (attempt := await attempts.attempt(MemberId(member), n)) is not None
    }
    assert states == {
        ("ana", 1): "submitted",
        ("ana", 2): "expired",  # closed automatically at the round's close
        ("binh", 1): "expired",
        ("chi", 1): "submitted",
        ("chi", 2): "submitted",
        ("dung", 1): "submitted",
    }
    best = await attempts.best(MemberId("ana"))
    assert best is not None and (best.n, best.score) == (1, 30)
