"""Whole flows through two gateway instances sharing one Redis: the relay, a window attempt
resumed on the other instance after a dropped connection, a short live show with a resume
mid-question, per-member results after a reveal, closing standings, members online."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from engine.contests.presence import members_online
from engine.contests.store import ContestStore
from engine.core import messages as m
from engine.core.contest import WindowTiming
from engine.core.errors import CloseCode
from engine.core.show import ShowPlan
from engine.live.conductor import Conductor
from question_bank.ids import QuestionId
from scoring.keys import GlobalKeys
from scoring.live import LiveScoring
from tests.contest_helpers import make_bank, now_ms
from tests.gateway_support import (
    client,
    create_contest,
    make_settings,
    recv,
    recv_until,
    running_gateway,
    send,
    token,
)
from tests.utils import timeout


async def test_relay_reaches_members_on_both_instances_byte_for_byte(
    redis_url, key_prefix, redis_client
):
    contest = await create_contest(redis_client, key_prefix, "live")
    settings = make_settings(redis_url, key_prefix)
    frame = m.encode(m.StateChanged(state="running", at=123))
    async with running_gateway(settings) as one, running_gateway(settings) as two:
        async with (
            client(one, contest.id, token(contest.id, "a")) as a,
            client(two, contest.id, token(contest.id, "b")) as b,
            client(two, contest.id, token(contest.id, "c")) as c,
        ):
            for ws in (a, b, c):
                await recv_until(ws, m.Welcome)
            receivers = await redis_client.publish(
                GlobalKeys(key_prefix).channel(contest.id), frame
            )
            assert receivers == 2  # one subscription per gateway process
            for ws in (a, b, c):
                assert await asyncio.wait_for(ws.recv(decode=False), timeout(5)) == frame
            # another contest's broadcast reaches nobody here
            await redis_client.publish(GlobalKeys(key_prefix).channel("other"), frame)
            await send(a, m.Ping(t=9))
            assert isinstance(await recv(a), m.Pong)
            # members online, counted across both processes
            await one._report_presence()
            await two._report_presence()
            assert (
                await members_online(
                    redis_client, contest.id, await now_ms(redis_client), key_prefix
                )
                == 3
            )


async def test_window_attempt_resumes_on_another_instance(redis_url, key_prefix, redis_client):
    contest = await create_contest(redis_client, key_prefix, "window")
    settings = make_settings(redis_url, key_prefix)
    tok = token(contest.id, "m1")
    async with running_gateway(settings) as one, running_gateway(settings) as two:
        async with client(one, contest.id, tok) as ws:
            welcome = await recv_until(ws, m.Welcome)
            assert welcome.contest.has_prediction and welcome.contest.attempts_allowed == 2
            await send(ws, m.Answer(question="q1", answer="a", seq=1))
            assert (await recv_until(ws, m.Ack)).reason == "no_attempt"
            await send(ws, m.StartAttempt())
            attempt = await recv_until(ws, m.AttemptState)
            assert attempt.attempt == 1 and attempt.state == "open"
            assert len(attempt.questions) == 5 and attempt.answers == {}
            assert attempt.deadline - attempt.started == 600_000
            drawn = [q.id for q in attempt.questions]
            # the draw is seeded per member: pick two choice questions and one left out
            first, second = [q for q in attempt.questions if q.kind == "single"][:2]
            outside = sorted({"q1", "q2", "q3", "q4", "q5", "q6", "tf"} - set(drawn))[0]
            assert first.attempt == 1 and {o.id for o in first.options} == {"a", "b"}
            assert "weight" not in m.encode(first).decode()
            await send(ws, m.Answer(question=first.id, answer="a", seq=1))
            ack = await recv_until(ws, m.Ack)
            assert (ack.accepted, ack.points, ack.total) == (True, 10, 10)
            await send(ws, m.Answer(question=first.id, answer="b", seq=2))
            assert (await recv_until(ws, m.Ack)).reason == "duplicate"
            await send(
                ws, m.Answer(question=outside, answer=True if outside == "tf" else "a", seq=3)
            )
            assert (await recv_until(ws, m.Ack)).reason == "not_in_attempt"
        # the connection dropped; the member comes back through the other process
        async with client(two, contest.id, tok) as ws:
            await recv_until(ws, m.Welcome)
            resumed = await recv_until(ws, m.AttemptState)
            assert resumed.attempt == 1 and resumed.state == "open"
            assert [q.id for q in resumed.questions] == drawn
            assert resumed.questions[drawn.index(first.id)].yours == resumed.answers[first.id]
            assert [q for q in resumed.questions if q.id != first.id] == [
                msgspec.structs.replace(q, sent_at=resumed.server_time)
                for q in attempt.questions
                if q.id != first.id
            ]
            assert set(resumed.answers) == {first.id}
            assert resumed.answers[first.id].answer == "a" and resumed.score == 10
            await send(ws, m.StartAttempt())  # the open attempt comes back, none starts
            assert (await recv_until(ws, m.AttemptState)).attempt == 1
            await send(ws, m.Answer(question=second.id, answer="b", seq=4))
            ack = await recv_until(ws, m.Ack)
            assert (ack.accepted, ack.points, ack.total) == (True, 0, 10)
            await send(ws, m.Submit())
            error = await recv_until(ws, m.Error)
            assert error.code == "bad_answer"  # the round has a prediction question
            await send(ws, m.Submit(prediction=7))
            done = await recv_until(ws, m.AttemptState)
            assert (done.state, done.score, done.prediction) == ("submitted", 10, 7)
            await send(ws, m.Answer(question=second.id, answer="a", seq=5))
            assert (await recv_until(ws, m.Ack)).reason in ("no_attempt", "attempt_closed")
            await send(ws, m.StartAttempt())
            assert (await recv_until(ws, m.AttemptState)).attempt == 2
            await send(ws, m.Submit(prediction=3))
            assert (await recv_until(ws, m.AttemptState)).state == "submitted"
            await send(ws, m.StartAttempt())
            assert (await recv_until(ws, m.Error)).code == "attempts_exhausted"
            await send(ws, m.LeaderboardRequest(scope="unit"))
            board = await recv_until(ws, m.Leaderboard)
            assert board.key == "hn-01" and board.you is not None and board.you.score == 10
        # closing the round sends each member their standing
        async with client(one, contest.id, tok) as ws:
            await recv_until(ws, m.Welcome)
            await recv_until(ws, m.AttemptState)
            await ContestStore(redis_client, key_prefix).apply(contest.id, "close")
            assert (await recv_until(ws, m.StateChanged)).state == "closed"
            closed = await recv_until(ws, m.Closed)
            assert (closed.rank, closed.score, closed.final) == (1, 10, False)


@pytest.mark.slow
async def test_live_show_results_and_resume_mid_question(redis_url, key_prefix, redis_client):
    contest = await create_contest(redis_client, key_prefix, "live")
    bank = {q.id: q for q in make_bank().questions}
    start = await now_ms(redis_client) + int(timeout(1) * 1000)
    question_ms = int(timeout(3) * 1000)
    plan = ShowPlan(
        starts_at=start,
        questions=[QuestionId("q1"), QuestionId("q2")],
        question_ms=[question_ms, question_ms],
        reveal_ms=200,
    )
    conductor = Conductor(redis_client, contest.id, plan, bank, prefix=key_prefix, speed=False)
    settings = make_settings(redis_url, key_prefix)
    async with running_gateway(settings) as one, running_gateway(settings) as two:
        async with (
            client(one, contest.id, token(contest.id, "a")) as a,
            client(two, contest.id, token(contest.id, "b")) as b,
        ):
            await recv_until(a, m.Welcome)
            await recv_until(b, m.Welcome)
            show = asyncio.create_task(conductor.run())
            try:
                qa = await recv_until(a, m.Question)
                qb = await recv_until(b, m.Question)
                assert qa == qb and qa.id == "q1" and qa.index == 0 and qa.count == 2
                await send(a, m.Answer(question="q1", answer="a", seq=1))
                assert (await recv_until(a, m.Ack)).points == 10
                # b answers wrong, drops, and comes back on the other process mid-question
                await send(b, m.Answer(question="q1", answer="b", seq=1))
                assert (await recv_until(b, m.Ack)).accepted
                await b.close()
                async with client(one, contest.id, token(contest.id, "b")) as b2:
                    await recv_until(b2, m.Welcome)
                    again = await recv_until(b2, m.Question)
                    assert again.id == "q1" and again.deadline == qa.deadline
                    assert again.yours == m.AnswerRecord(answer="b", points=0, at=again.yours.at)
                    reveal = await recv_until(b2, m.Reveal)
                    assert reveal.correct == "a" and reveal.distribution == {"a": 1, "b": 1}
                    # Protocol 2: each member's rank from the reveal's score histogram
                    # and the total its ack gave (a: 10, b: 0), on either process.
                    assert reveal == await recv_until(a, m.Reveal)
                    assert reveal.of == 2 and reveal.scores == [10, 1, 10, 1]
                    assert m.rank_of(reveal.scores, 10) == 1
                    assert m.rank_of(reveal.scores, 0) == 2
                    assert [(s.member, s.score) for s in reveal.top] == [("a", 10), ("b", 0)]
            finally:
                show.cancel()
                await asyncio.gather(show, return_exceptions=True)


async def test_elimination_show_sends_a_result_to_the_eliminated_only(
    redis_url, key_prefix, redis_client
):
    """Protocol 2: after a reveal in a show with elimination, the member the question
    eliminated (a wrong answer) gets ``result`` ``eliminated: true``; the one still in
    play gets none (their ack and the reveal's board tell them their standing)."""
    contest = await create_contest(redis_client, key_prefix, "live")
    bank = {q.id: q for q in make_bank().questions}
    plan = ShowPlan(
        starts_at=await now_ms(redis_client) + int(timeout(1) * 1000),
        questions=[QuestionId("q1"), QuestionId("q2")],
        question_ms=[int(timeout(2) * 1000)] * 2,
        reveal_ms=200,
        elimination=True,
    )
    conductor = Conductor(redis_client, contest.id, plan, bank, prefix=key_prefix, speed=False)
    async with (
        running_gateway(make_settings(redis_url, key_prefix)) as gw,
        contextlib.AsyncExitStack() as stack,
    ):
        a, b = [await stack.enter_async_context(client(gw, contest.id, token(contest.id, who)))
                for who in ("a", "b")]  # fmt: skip
        for ws in (a, b):
            await recv_until(ws, m.Welcome)
        show = asyncio.create_task(conductor.run())
        try:
            for ws, choice in ((a, "a"), (b, "b")):  # a right, b wrong
                await recv_until(ws, m.Question)
                await send(ws, m.Answer(question="q1", answer=choice, seq=1))
                assert (await recv_until(ws, m.Ack)).accepted
            await recv_until(b, m.Reveal)
            result = await recv_until(b, m.Result)
            assert (result.question, result.eliminated, result.total) == ("q1", True, 0)
            # a, still in play, gets the reveal and then the next question, no result
            await recv_until(a, m.Reveal)
            following = await recv(a)
            assert isinstance(following, m.Question) and following.id == "q2"
        finally:
            show.cancel()
            await asyncio.gather(show, return_exceptions=True)


async def test_reveal_never_precedes_the_close(redis_url, key_prefix, redis_client):
    """An answer right at a question's release is acked without the correct answer."""
    contest = await create_contest(redis_client, key_prefix, "live")
    await LiveScoring(redis_client, contest.id, key_prefix).open_question(
        QuestionId("q1"), index=0, time_ms=60_000, points=10
    )
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id)) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.Answer(question="q1", answer="b", seq=1))
            ack = await recv_until(ws, m.Ack)
            assert ack.accepted and ack.points == 0
            assert set(m.encode(ack).decode().split('"')) & {"correct", "weight"} == set()


async def test_relay_resubscribes_after_losing_its_redis_connection(
    redis_url, key_prefix, redis_client
):
    contest = await create_contest(redis_client, key_prefix, "live")
    channel = GlobalKeys(key_prefix).channel(contest.id)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id)) as ws:
            await recv_until(ws, m.Welcome)
            killed = await redis_client.client_kill_filter(_type="pubsub")
            assert killed >= 1
            async with asyncio.timeout(timeout(10)):
                while gw.relay.subscriptions < 2:  # broadcasts meanwhile are lost (documented)
                    await asyncio.sleep(0.05)
            frame = m.encode(m.StateChanged(state="running", at=1))
            assert await redis_client.publish(channel, frame) == 1
            assert await asyncio.wait_for(ws.recv(decode=False), timeout(5)) == frame


async def test_members_of_a_cancelled_contest_are_closed(redis_url, key_prefix, redis_client):
    contest = await create_contest(redis_client, key_prefix, "live")
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id)) as ws:
            await recv_until(ws, m.Welcome)
            await ContestStore(redis_client, key_prefix).apply(contest.id, "cancel")
            assert (await recv_until(ws, m.StateChanged)).state == "cancelled"
            with pytest.raises(ConnectionClosed):
                await recv(ws)
            assert ws.close_code == CloseCode.CONTEST_NOT_FOUND
        async with client(gw, contest.id, token(contest.id)) as ws:  # and cannot rejoin
            assert (await recv(ws)).code == "contest_not_found"  # type: ignore[union-attr]


async def test_after_a_lost_subscription_live_members_get_the_open_question_again(
    redis_url, key_prefix, redis_client
):
    contest = await create_contest(redis_client, key_prefix, "live")
    bank = {q.id: q for q in make_bank().questions}
    plan = ShowPlan(
        starts_at=await now_ms(redis_client) + 200,
        questions=[QuestionId("q1")],
        question_ms=[int(timeout(30) * 1000)],
    )
    conductor = Conductor(redis_client, contest.id, plan, bank, prefix=key_prefix)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, contest.id, token(contest.id)) as ws:
            await recv_until(ws, m.Welcome)
            show = asyncio.create_task(conductor.run())
            try:
                first = await recv_until(ws, m.Question)
                await redis_client.client_kill_filter(_type="pubsub")
                again = await recv_until(ws, m.Question)  # resent after resubscribing
                assert gw.relay.subscriptions >= 2
                assert (again.id, again.deadline, again.yours) == (first.id, first.deadline, None)
            finally:
                show.cancel()
                await asyncio.gather(show, return_exceptions=True)


async def test_after_finalize_every_member_gets_a_final_closed(redis_url, key_prefix, redis_client):
    """Once finalized, ``closed`` is final for everyone: a member with no accepted answer
    (so no final standing) gets ``final: true`` with no rank, on the broadcast and on
    joining afterwards, like a ranked member."""
    contest = await create_contest(redis_client, key_prefix, "live", events=("schedule", "start"))
    live = LiveScoring(redis_client, contest.id, key_prefix)
    await live.open_question(QuestionId("q1"), index=0, time_ms=60_000, points=10, speed=False)
    store = ContestStore(redis_client, key_prefix)
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with (
            client(gw, contest.id, token(contest.id, "ranked")) as ranked,
            client(gw, contest.id, token(contest.id, "silent")) as silent,
        ):
            for ws in (ranked, silent):
                await recv_until(ws, m.Welcome)
            await send(ranked, m.Answer(question="q1", answer="a", seq=1))
            assert (await recv_until(ranked, m.Ack)).accepted
            await live.close_question(QuestionId("q1"))
            await store.apply(contest.id, "close")
            for ws in (ranked, silent):
                assert not (await recv_until(ws, m.Closed)).final
            await store.finalize(contest.id)
            final_ranked = await recv_until(ranked, m.Closed)
            final_silent = await recv_until(silent, m.Closed)
        async with client(gw, contest.id, token(contest.id, "silent")) as again:
            await recv_until(again, m.Welcome)
            rejoined = await recv_until(again, m.Closed)
    assert (final_ranked.state, final_ranked.rank, final_ranked.score) == ("finalized", 1, 10)
    assert final_ranked.final and final_ranked.of == 1
    for closed in (final_silent, rejoined):
        assert (closed.state, closed.final, closed.rank) == ("finalized", True, None)
        assert (closed.score, closed.of) == (0, 1)


async def test_members_join_a_scheduled_contest_and_wait(redis_url, key_prefix, redis_client):
    """docs/lifecycle.md: a scheduled contest can be joined (welcome with its state); a
    window round's attempts are refused until it opens."""
    live = await create_contest(redis_client, key_prefix, "live")
    now = await now_ms(redis_client)
    later = WindowTiming(opens_at=now + 3_600_000, closes_at=now + 7_200_000, attempt_seconds=60)
    window = await create_contest(
        redis_client, key_prefix, "window", events=("schedule",), setup=False, window=later
    )
    async with running_gateway(make_settings(redis_url, key_prefix)) as gw:
        async with client(gw, live.id, token(live.id)) as ws:
            assert (await recv_until(ws, m.Welcome)).contest.state == "scheduled"
        async with client(gw, window.id, token(window.id)) as ws:
            assert (await recv_until(ws, m.Welcome)).contest.state == "scheduled"
            await send(ws, m.StartAttempt())
            assert (await recv_until(ws, m.Error)).code == "contest_not_open"
