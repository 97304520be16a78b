"""engine.live.conductor on a real Redis: a whole show's broadcasts, takeover after a crash."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio

from engine.core import messages
from engine.core.errors import LeaseLost
from engine.core.show import Phase, ShowPlan
from engine.live.conductor import Conductor, conductor_lease_key, read_show, show_key
from question_bank.ids import ContestId, OptionId, QuestionId
from question_bank.models import Option, Question, SingleChoice, TrueFalse
from scoring.keys import ContestKeys, GlobalKeys
from tests.utils import timeout

C = ContestId("show1")


def bank() -> dict[QuestionId, Question]:
    q1 = SingleChoice(
        id=QuestionId("q1"),
        text="Thủ đô của Việt Nam?",
        points=100,
        options=[
            Option(id=OptionId("a"), text="Hà Nội", weight=1.0),
            Option(id=OptionId("b"), text="Huế"),
        ],
        explanation="Hà Nội từ 1945.",
    )
    q2 = TrueFalse(id=QuestionId("q2"), text="2 + 2 = 4", points=50, answer=True)
    return {q.id: q for q in (q1, q2)}


def plan(start: int, question_ms: int = 300, reveal_ms: int = 150) -> ShowPlan:
    return ShowPlan(
        starts_at=start,
        questions=[QuestionId("q1"), QuestionId("q2")],
        question_ms=[question_ms, question_ms],
        reveal_ms=reveal_ms,
        leaderboard_ms=100,
    )


async def now_ms(client: redis.asyncio.Redis) -> int:
    s, us = await client.time()
    return int(s) * 1000 + int(us) // 1000


@contextlib.asynccontextmanager
async def listen(url: str, prefix: str) -> AsyncIterator[list[messages.ServerMessage]]:
    """Collect every broadcast of contest C while the block runs."""
    client = redis.asyncio.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(GlobalKeys(prefix).channel(C))
    got: list[messages.ServerMessage] = []

    async def pump() -> None:
        async for item in pubsub.listen():
            if item["type"] == "message":
                got.append(messages.decode_server(item["data"]))

    task = asyncio.ensure_future(pump())
    try:
        yield got
    finally:
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pubsub.aclose()
        await client.aclose()


def summary(got: list[messages.ServerMessage]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for m in got:
        match m:
            case messages.Question():
                out.append(("question", m.index))
            case messages.Reveal():
                out.append(("reveal", m.index))
            case messages.Leaderboard():
                out.append(("leaderboard", len(m.top)))
            case messages.StateChanged():
                out.append(("state", m.state))
    return out


async def test_whole_show(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    ended: list[bool] = []

    async def on_end() -> None:
        ended.append(True)

    start = await now_ms(redis_client) + 100
    conductor = Conductor(
        redis_client, C, plan(start), bank(), prefix=key_prefix, lease_ms=500, on_end=on_end
    )
    async with listen(redis_url, key_prefix) as got:
        await asyncio.wait_for(conductor.run(), timeout(10))
    # on_end announces the close (the contest store does); protocol 2: the reveal
    # carries the board, no leaderboard broadcast follows it
    assert summary(got) == [("question", 0), ("reveal", 0), ("question", 1), ("reveal", 1)]
    assert ended == [True]
    q0, reveal0 = got[0], got[1]
    assert isinstance(q0, messages.Question) and isinstance(reveal0, messages.Reveal)
    # The question carries no answer; the reveal comes after its deadline with the answer.
    assert [o.id for o in q0.options] == ["a", "b"]
    assert "weight" not in messages.encode(q0).decode()
    assert q0.opens >= start and q0.deadline == q0.opens + 300
    assert reveal0.sent_at >= q0.deadline
    assert reveal0.correct == "a" and reveal0.correct_text == "Hà Nội"
    assert reveal0.explanation == "Hà Nội từ 1945." and reveal0.answered == 0
    reveal1 = got[3]
    assert isinstance(reveal1, messages.Reveal) and reveal1.correct is True
    assert reveal1.correct_text == "Đúng"  # the bank's language (vi by default)
    # The scoring core's question state agrees, and the show is done and released.
    keys = ContestKeys(C, key_prefix)
    q = await redis_client.hgetall(keys.question(QuestionId("q1")))
    assert q[b"state"] == b"closed" and int(q[b"deadline"]) == q0.deadline
    view = await read_show(redis_client, C, key_prefix)
    assert view is not None and view.state.phase is Phase.DONE and view.state.entered
    assert await redis_client.exists(conductor_lease_key(C, key_prefix)) == 0


async def test_takeover_after_a_crash_skips_and_repeats_nothing(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    start = await now_ms(redis_client) + 50
    lease_key = conductor_lease_key(C, key_prefix)
    first = Conductor(
        redis_client, C, plan(start, question_ms=400), bank(), prefix=key_prefix,
        lease_ms=300, holder="first",
    )  # fmt: skip
    second = Conductor(
        redis_client, C, plan(start, question_ms=400), bank(), prefix=key_prefix,
        lease_ms=300, holder="second",
    )  # fmt: skip
    async with listen(redis_url, key_prefix) as got:
        running = asyncio.ensure_future(first.run())
        # Let the first conductor release question 0, then "kill" it mid-question: its task
        # stops and its lease stays behind until it expires, as after a crash.
        while not any(isinstance(m, messages.Question) for m in got):
            await asyncio.sleep(0.01)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await redis_client.set(lease_key, "first", px=300)
        view = await read_show(redis_client, C, key_prefix)
        assert view is not None and view.state.phase is Phase.QUESTION
        assert view.state.index == 0
        await asyncio.wait_for(second.run(), timeout(10))
    assert summary(got) == [
        ("question", 0),
        ("reveal", 0),
        ("question", 1),
        ("reveal", 1),
        ("state", "closed"),
    ]
    questions = [m for m in got if isinstance(m, messages.Question)]
    q1 = await redis_client.hgetall(ContestKeys(C, key_prefix).question(QuestionId("q1")))
    assert int(q1[b"deadline"]) == questions[0].deadline  # the deadline was never moved


async def test_a_conductor_without_the_lease_cannot_move_the_show(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    start = await now_ms(redis_client)
    conductor = Conductor(redis_client, C, plan(start), bank(), prefix=key_prefix, lease_ms=5000)
    await redis_client.set(conductor_lease_key(C, key_prefix), "someone-else", px=5000)
    with pytest.raises(LeaseLost):
        await conductor._load()
    assert await redis_client.exists(show_key(C, key_prefix)) == 0
    assert not await conductor.try_run()


async def test_plan_needs_every_question(redis_client: redis.asyncio.Redis) -> None:
    with pytest.raises(ValueError, match="q2"):
        Conductor(redis_client, C, plan(0), {QuestionId("q1"): bank()[QuestionId("q1")]})


async def test_answers_show_in_reveal_and_leaderboard(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    from question_bank.ids import MemberId
    from scoring.live import LiveScoring

    live = LiveScoring(redis_client, C, key_prefix)
    start = await now_ms(redis_client) + 50
    conductor = Conductor(
        redis_client, C, plan(start, question_ms=600), bank(), prefix=key_prefix, lease_ms=500
    )
    async with listen(redis_url, key_prefix) as got:
        running = asyncio.ensure_future(conductor.run())
        while not any(isinstance(m, messages.Question) for m in got):
            await asyncio.sleep(0.01)
        q1 = QuestionId("q1")
        right = await live.accept(MemberId("m1"), q1, 1.0, "a", choices=["a"])
        wrong = await live.accept(MemberId("m2"), q1, 0.0, "b", choices=["b"])
        again = await live.accept(MemberId("m1"), q1, 0.0, "b", choices=["b"])
        await asyncio.wait_for(running, timeout(10))
    assert right.accepted and right.points > 50 and wrong.accepted and wrong.points == 0
    assert not again.accepted and again.reason == "duplicate"
    reveal = next(m for m in got if isinstance(m, messages.Reveal))
    assert reveal.distribution == {"a": 1, "b": 1} and reveal.answered == 2
    # The board is in the reveal: the top, how many are ranked, the score histogram.
    assert [(s.rank, s.member, s.score) for s in reveal.top] == [
        (1, "m1", right.points),
        (2, "m2", 0),
    ]
    assert reveal.of == 2 and reveal.scores == [right.points, 1, right.points, 1]
    assert messages.rank_of(reveal.scores, right.points) == 1
    assert messages.rank_of(reveal.scores, 0) == 2
    assert not any(isinstance(m, messages.Leaderboard) for m in got)


async def test_elimination(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str
) -> None:
    """With elimination, closing a question eliminates every player who did not answer it
    fully correctly; an eliminated member's later answers are refused."""
    from question_bank.ids import MemberId
    from scoring.live import LiveScoring

    live = LiveScoring(redis_client, C, key_prefix)
    start = await now_ms(redis_client) + 50
    show = msgspec.structs.replace(plan(start, question_ms=600), elimination=True)
    conductor = Conductor(redis_client, C, show, bank(), prefix=key_prefix, lease_ms=500)
    players = [MemberId(m) for m in ("right", "wrong", "silent")]
    async with listen(redis_url, key_prefix) as got:
        running = asyncio.ensure_future(conductor.run())
        while not any(isinstance(m, messages.Question) for m in got):
            await asyncio.sleep(0.01)
        for member in players:
            assert await live.join(member)
        q1, q2 = QuestionId("q1"), QuestionId("q2")
        assert (await live.accept(players[0], q1, 1.0, "a", choices=["a"])).accepted
        assert (await live.accept(players[1], q1, 0.0, "b", choices=["b"])).accepted
        while not any(isinstance(m, messages.Question) and m.index == 1 for m in got):
            await asyncio.sleep(0.01)
        assert (await live.accept(players[0], q2, 1.0, "true", choices=["true"])).accepted
        refused = await live.accept(players[1], q2, 1.0, "true", choices=["true"])
        assert (refused.accepted, refused.reason) == (False, "eliminated")
        await asyncio.wait_for(running, timeout(10))
    assert await live.eliminated_by(q1) == {"wrong", "silent"}
    assert await live.eliminated_by(q2) == set()


async def test_ack_streak_follows_each_members_run_of_right_answers(
    redis_client: redis.asyncio.Redis, key_prefix: str
) -> None:
    """Over a five-question show with a streak bonus, every member's streak after each
    question (what the ack carries; 0 for a question not answered) is the run of fully
    correct answers ending at that question: 0 after a wrong or missing answer, and the
    bonus follows the same count (step 1, cap 2). Each reveal's histogram ranks the totals
    the acks add up to."""
    from question_bank.ids import MemberId
    from scoring.live import LiveScoring

    questions = [
        TrueFalse(id=QuestionId(f"t{i}"), text=f"Câu {i}", points=10, answer=i % 2 == 0)
        for i in range(5)
    ]
    by_id: dict[QuestionId, Question] = {q.id: q for q in questions}
    # Per member and question: True right, False wrong, None no answer.
    answers: dict[str, list[bool | None]] = {
        "ace": [True, True, True, True, True],
        "miss": [False, True, True, False, True],
        "late": [None, None, True, True, None],
        "zero": [False, False, None, False, False],
    }
    expected_streaks = {
        "ace": [1, 2, 3, 4, 5],
        "miss": [0, 1, 2, 0, 1],
        "late": [0, 0, 1, 2, 0],
        "zero": [0, 0, 0, 0, 0],
    }
    # 10 a question plus 1 * min(streak - 1, 2) for a right answer.
    expected_points = {
        "ace": [10, 11, 12, 12, 12],
        "miss": [0, 10, 11, 0, 10],
        "late": [0, 0, 10, 11, 0],
        "zero": [0, 0, 0, 0, 0],
    }
    members = [MemberId(m) for m in answers]
    question_ms = int(timeout(1.5) * 1000)
    show = ShowPlan(
        starts_at=await now_ms(redis_client) + 100,
        questions=[q.id for q in questions],
        question_ms=[question_ms] * len(questions),
        reveal_ms=100,
        leaderboard_ms=50,
    )
    conductor = Conductor(
        redis_client, C, show, by_id, prefix=key_prefix, lease_ms=1000, speed=False,
        streak_step=1, streak_cap=2,
    )  # fmt: skip
    live = LiveScoring(redis_client, C, key_prefix)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(GlobalKeys(key_prefix).channel(C))
    streaks: dict[str, list[int]] = {m: [] for m in members}
    points: dict[str, list[int]] = {m: [] for m in members}
    totals: dict[str, int] = dict.fromkeys(members, 0)
    ranks: list[dict[str, int]] = []
    running = asyncio.ensure_future(conductor.run())
    try:
        async with asyncio.timeout(timeout(30)):
            while len(ranks) < len(questions):
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if item is None:
                    continue
                message = messages.decode_server(item["data"])
                if isinstance(message, messages.Question):
                    question = by_id[QuestionId(message.id)]
                    assert isinstance(question, TrueFalse)
                    for member in members:
                        right = answers[member][message.index]
                        if right is None:
                            streaks[member].append(0)
                            points[member].append(0)
                            continue
                        given = question.answer if right else not question.answer
                        key = "true" if given else "false"
                        outcome = await live.accept(
                            member, question.id, float(right), key, choices=[key]
                        )
                        assert outcome.accepted, (member, message.index, outcome.reason)
                        streaks[member].append(outcome.streak)
                        points[member].append(outcome.points)
                        totals[member] = outcome.total
                elif isinstance(message, messages.Reveal):
                    so_far = message.index + 1
                    ranked = [m for m in members if any(a is not None for a in answers[m][:so_far])]
                    ranks.append({m: messages.rank_of(message.scores, totals[m]) for m in ranked})
                    expected = {m: 1 + sum(totals[o] > totals[m] for o in ranked) for m in ranked}
                    assert ranks[-1] == expected and message.of == len(ranked)
        await asyncio.wait_for(running, timeout(10))
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await pubsub.aclose()
    assert streaks == expected_streaks
    assert points == expected_points
