"""End to end: a whole live show on a real server, real WebSocket members, real Redis.

Four members answer right, wrong, twice and late; every acknowledgement, reveal (with its
board), each member's standing as the app computes it from its acks and the reveal's
score histogram (protocol 2), and final standing is checked exactly. Scoring: fixed
points (10 a question, no speed points, so the figures do not depend on timing) and a
streak bonus of 2 points per step (cap 3): a fully correct answer following a fully
correct answer to the previous question earns ``2 * (streak - 1)`` more.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("question_bank.draws")  # contests need it (being written)

import redis.asyncio

from engine.contests.store import ContestStore
from engine.core import messages
from engine.core.contest import LiveTiming, ScoringRules
from question_bank.ids import ContestId, OrgId
from question_bank.models import Bank, Question, SingleChoice, TrueFalse
from scoring.keys import ContestShards, shard_of
from tests.contest_helpers import live_spec, make_bank, now_ms, setup_org
from tests.e2e import Member, settings_for, worker

pytestmark = pytest.mark.slow


def right(question: Question) -> messages.AnswerValue:
    if isinstance(question, TrueFalse):
        return question.answer
    assert isinstance(question, SingleChoice)
    return next(o.id for o in question.options if o.weight == 1.0)


def wrong(question: Question) -> messages.AnswerValue:
    if isinstance(question, TrueFalse):
        return not question.answer
    assert isinstance(question, SingleChoice)
    return next(o.id for o in question.options if o.weight != 1.0)


def key(value: messages.AnswerValue) -> str:
    """The distribution bucket of a single-choice or true/false answer."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def create_show(
    client: redis.asyncio.Redis,
    prefix: str,
    contest_id: str,
    *,
    starts_in_ms: int,
    count: int,
    shards: int = 1,
) -> Bank:
    bank = make_bank(questions=4)
    await setup_org(client, prefix, "central", bank=bank)
    store = ContestStore(client, prefix)
    now = await now_ms(client)
    from question_bank.draws import DrawRules

    spec = live_spec(
        now,
        id=contest_id,
        draw=DrawRules(count=count),
        live=LiveTiming(starts_at=now + starts_in_ms, question_seconds=1, reveal_seconds=1),
        scoring=ScoringRules(speed=False, streak_step=2, streak_cap=3),
        shards=shards,
    )
    contest = await store.create(OrgId("central"), spec)
    await store.apply(contest.id, "schedule")
    return bank


NAMES = ("alice", "bob", "carol", "dave", "erin")
SPREAD = ("alice", "bella", "chi", "dave", "erin")
"""Members of the sharded show: on shards 2, 1, 0, 2, 0 of 3 (scoring.keys.shard_of)."""


async def test_whole_live_show(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    await play_live_show(redis_client, redis_url, key_prefix, contest="live-e2e")


async def test_whole_live_show_on_three_shards(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    """The same show with its members on three shards (a member-sharded contest): the
    same acks, reveals, boards and final standings; the answers are on the shards."""
    contest = "live-e2e-shards"
    await play_live_show(
        redis_client, redis_url, key_prefix, contest=contest, shards=3, names=SPREAD
    )
    places = ContestShards(ContestId(contest), key_prefix, 3)
    assert [shard_of(name, 3) for name in SPREAD] == [2, 1, 0, 2, 0]
    assert await redis_client.xlen(places.contest.audit) == 0
    assert await redis_client.hlen(places.contest.totals) == 0
    for i, keys in enumerate(places.keys):
        on_shard = {n for n in SPREAD if shard_of(n, 3) == i}
        totals = await redis_client.hgetall(keys.totals)
        assert {m.decode() for m in totals} == on_shard


async def play_live_show(
    redis_client: redis.asyncio.Redis,
    redis_url: str,
    key_prefix: str,
    *,
    contest: str,
    shards: int = 1,
    names: tuple[str, ...] = NAMES,
) -> None:
    bank = await create_show(
        redis_client, key_prefix, contest, starts_in_ms=1500, count=3, shards=shards
    )
    by_id = {q.id: q for q in bank.questions}
    a, b, c, d, e = names
    async with worker(settings_for(redis_url, key_prefix)) as settings:
        alice, bob, carol, dave, erin = (
            Member(settings, contest, name, unit=f"u{i % 2}") for i, name in enumerate(names)
        )
        try:
            for member in (alice, bob, carol, dave):
                welcome = await member.connect()
                assert welcome.contest.mode == "live" and welcome.member.id == member.id
            acks: dict[str, list[messages.Ack]] = {
                m.id: [] for m in (alice, bob, carol, dave, erin)
            }
            plan: list[str] = []

            # Question 0: alice right, bob right, carol wrong then again (duplicate), dave late.
            q = await alice.wait(messages.Question, lambda m: m.index == 0)
            plan.append(q.id)
            # (A pause between members so that their answer times differ: the board breaks
            # equal scores by time used.)
            acks[a].append(await alice.answer(q.id, right(by_id[q.id])))
            await asyncio.sleep(0.02)
            acks[b].append(await bob.answer(q.id, right(by_id[q.id])))
            await asyncio.sleep(0.02)
            acks[c].append(await carol.answer(q.id, wrong(by_id[q.id])))
            acks[c].append(await carol.answer(q.id, right(by_id[q.id])))
            await dave.wait(messages.Question, lambda m: m.index == 0)
            await asyncio.sleep(max(0, q.deadline - await now_ms(redis_client) + 30) / 1000)
            acks[d].append(await dave.answer(q.id, right(by_id[q.id])))

            # Question 1: alice right, bob wrong, carol right, dave does not answer; erin
            # joins late, gets the current question on joining, and answers it wrong.
            q = await alice.wait(messages.Question, lambda m: m.index == 1)
            plan.append(q.id)
            acks[a].append(await alice.answer(q.id, right(by_id[q.id])))
            await asyncio.sleep(0.02)
            acks[b].append(await bob.answer(q.id, wrong(by_id[q.id])))
            await asyncio.sleep(0.02)
            acks[c].append(await carol.answer(q.id, right(by_id[q.id])))
            await erin.connect()
            current = await erin.wait(messages.Question)
            assert (current.index, current.id, current.yours) == (1, q.id, None)
            acks[e].append(await erin.answer(q.id, wrong(by_id[q.id])))

            # Question 2: everyone right; carol twice.
            q = await alice.wait(messages.Question, lambda m: m.index == 2)
            plan.append(q.id)
            for member in (alice, bob, carol, dave):
                acks[member.id].append(await member.answer(q.id, right(by_id[q.id])))
            acks[c].append(await carol.answer(q.id, wrong(by_id[q.id])))

            for member in (alice, bob, carol, dave, erin):
                await member.wait(messages.Closed, seconds=15)
            # bob asks for his unit's board (u1: bob, dave) once the show is over
            await bob.send(messages.LeaderboardRequest(scope="unit", limit=5))
            unit_board = await bob.wait(messages.Leaderboard)
        finally:
            for member in (alice, bob, carol, dave, erin):
                await member.close()

    def summary(member: Member) -> list[tuple[bool, str | None, int, int]]:
        return [(a.accepted, a.reason, a.points, a.total) for a in acks[member.id]]

    assert summary(alice) == [(True, None, 10, 10), (True, None, 12, 22), (True, None, 14, 36)]
    assert summary(erin) == [(True, None, 0, 0)]
    assert summary(bob) == [(True, None, 10, 10), (True, None, 0, 10), (True, None, 10, 20)]
    assert summary(carol) == [
        (True, None, 0, 0),
        (False, "duplicate", 0, 0),
        (True, None, 10, 10),
        (True, None, 12, 22),
        (False, "duplicate", 0, 0),
    ]
    assert len(acks[d]) == 2
    late, last = acks[d]
    # After the deadline: refused as late, or as closed if the conductor closed it first.
    assert not late.accepted and late.reason in ("late", "closed")
    assert (last.accepted, last.points, last.total) == (True, 10, 10)

    # Every member saw the same three questions, in order, once each; no answer in them.
    for member in (alice, bob, carol, dave, erin):
        seen = list(enumerate(plan))[1:] if member is erin else list(enumerate(plan))
        questions = member.of(messages.Question)
        assert [(m.index, m.id) for m in questions] == seen
        assert all(m.count == 3 for m in questions)
        reveals = member.of(messages.Reveal)
        assert [(r.index, r.question) for r in reveals] == seen

    # Reveals: the correct answer, and how everyone answered (accepted answers only).
    reveals = alice.of(messages.Reveal)
    expected_distributions = [
        {key(right(by_id[plan[0]])): 2, key(wrong(by_id[plan[0]])): 1},
        {key(right(by_id[plan[1]])): 2, key(wrong(by_id[plan[1]])): 2},
        {key(right(by_id[plan[2]])): 4},
    ]
    for index, reveal in enumerate(reveals):
        assert reveal.correct == right(by_id[plan[index]])
        assert reveal.distribution == expected_distributions[index]
        assert reveal.answered == sum(expected_distributions[index].values())
        question = next(m for m in alice.of(messages.Question) if m.index == index)
        assert reveal.sent_at >= question.deadline  # never before the question closed

    # Each member's own standing after each reveal, as the app computes it (protocol 2):
    # points, streak and total from its acks, rank from the reveal's score histogram
    # (1 + the members with a higher total: equal totals share a rank).
    expected_results = {
        a: [(10, 10, 1, 1), (12, 22, 1, 2), (14, 36, 1, 3)],
        b: [(10, 10, 1, 1), (0, 10, 2, 0), (10, 20, 3, 1)],
        c: [(0, 0, 3, 0), (10, 10, 2, 1), (12, 22, 2, 2)],
        d: [(0, 0, None, 0), (0, 0, None, 0), (10, 10, 4, 1)],
        e: [(0, 0, 4, 0), (0, 0, 5, 0)],
    }
    for member in (alice, bob, carol, dave, erin):
        mine = {a.question: a for a in acks[member.id] if a.accepted}
        results, total, ranked = [], 0, False
        for reveal in member.of(messages.Reveal):
            ack = mine.get(reveal.question)
            if ack is not None:
                total, ranked = ack.total, True
            rank = messages.rank_of(reveal.scores, total) if ranked else None
            results.append((ack.points if ack else 0, total, rank, ack.streak if ack else 0))
        assert results == expected_results[member.id], member.id
        assert not member.of(messages.Result)
        assert not member.of(messages.Leaderboard) or member is bob

    # The last reveal's board and each member's final standing.
    board = alice.of(messages.Reveal)[-1]
    assert [(s.rank, s.member, s.score) for s in board.top] == [
        (1, a, 36),
        (2, c, 22),
        (3, b, 20),
        (4, d, 10),
        (5, e, 0),
    ]
    assert board.top[0].name == a.upper() and board.of == 5
    assert [(s.rank, s.member, s.score) for s in unit_board.top] == [(1, b, 20), (2, d, 10)]
    assert unit_board.you is not None and unit_board.you.rank == 1 and unit_board.of == 2
    finals = {m.id: m.of(messages.Closed)[-1] for m in (alice, bob, carol, dave, erin)}
    assert {k: (v.rank, v.score) for k, v in finals.items()} == {
        a: (1, 36),
        c: (2, 22),
        b: (3, 20),
        d: (4, 10),
        e: (5, 0),
    }
    state = await ContestStore(redis_client, key_prefix).get(contest)
    assert state.state in ("closed", "finalized")
