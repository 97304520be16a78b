"""A member's recorded answer comes back in the shape they sent it (docs/protocol.md).

On resume (rejoin, possibly on another gateway process) a live question's ``yours.answer``
and a window attempt's ``answers[q].answer`` / ``questions[i].yours.answer`` are the very
JSON value of the member's ``answer`` message: a list for multiple answers, a number as a
number (every digit of it), a boolean, the text as typed. The distribution keeps counting
the bucket (``"a,b"``, ``"3143"``, ``"ha noi"``). Real redis-server, real gateways on real
ports, real WebSocket clients; the values are compared as raw JSON, so ``3143`` is not
``3143.0`` and ``true`` is not ``1``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import redis.asyncio
from websockets.asyncio.client import ClientConnection

from engine.core import messages as m
from engine.core.show import Phase, ShowPlan
from engine.live.conductor import show_key
from question_bank.draws import DrawRules
from question_bank.ids import BankId, OptionId, QuestionId
from question_bank.models import (
    Bank,
    MultipleChoice,
    Numeric,
    NumericAnswer,
    Option,
    Prediction,
    Question,
    ShortText,
    SingleChoice,
    TextAnswer,
    TrueFalse,
)
from scoring.audit import entries
from scoring.keys import ContestKeys
from scoring.live import LiveScoring
from tests.contest_helpers import now_ms, setup_org
from tests.gateway_support import (
    ORG,
    client,
    create_contest,
    make_settings,
    recv_until,
    running_gateway,
    send,
    token,
)
from tests.utils import timeout

ANSWERS: dict[str, Any] = {
    "s1": "b",
    "mc": ["c", "a"],
    "tf": True,
    "ni": 3143,
    "nd": 3.141592653589793,
    "st": "Hà Nội",
}
"""What the member sends to each question: every kind, in the member's own shape (the
list not sorted, 16 significant digits, the text with its diacritics and capitals)."""

BUCKETS = {"s1": "b", "mc": "a,c", "tf": "true", "ni": "3143", "st": "ha noi"}
"""The distribution's buckets of those answers (unchanged by the fix)."""


def shapes_bank() -> Bank:
    two = [Option(id=OptionId("a"), text="Một", weight=1.0), Option(id=OptionId("b"), text="Hai")]
    three = [
        Option(id=OptionId("a"), text="Một", weight=0.5),
        Option(id=OptionId("b"), text="Hai"),
        Option(id=OptionId("c"), text="Ba", weight=0.5),
    ]
    questions: list[Question] = [
        SingleChoice(id=QuestionId("s1"), text="Chọn một?", options=two),
        MultipleChoice(id=QuestionId("mc"), text="Chọn nhiều?", options=three),
        TrueFalse(id=QuestionId("tf"), text="Đúng hay sai?", answer=True),
        Numeric(id=QuestionId("ni"), text="Số nguyên?", answers=[NumericAnswer(value=3143)]),
        Numeric(
            id=QuestionId("nd"),
            text="Số thập phân?",
            answers=[NumericAnswer(value=3.14159, tolerance=0.001)],
        ),
        ShortText(
            id=QuestionId("st"),
            text="Thủ đô?",
            answers=[TextAnswer(text="Hà Nội")],
            ignore_diacritics=True,
        ),
        Prediction(id=QuestionId("pred"), text="Bao nhiêu?", points=0, max_value=1000),
    ]
    return Bank(id=BankId("b1"), title="Mọi loại câu hỏi", questions=questions)


def same_json(got: Any, sent: Any) -> bool:
    """Equal as JSON values, types included (``3143`` vs ``3143.0``, ``true`` vs ``1``)."""
    return bool(msgspec.json.encode(got) == msgspec.json.encode(sent))


async def raw_until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next server message of type *kind*, decoded as plain JSON (no struct)."""
    while True:
        frame = await asyncio.wait_for(ws.recv(), timeout(5))
        message: dict[str, Any] = msgspec.json.decode(frame)
        if message["type"] == kind:
            return message


async def test_window_answers_come_back_as_sent_on_resume(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    await setup_org(redis_client, key_prefix, ORG, bank=shapes_bank())
    contest = await create_contest(
        redis_client, key_prefix, "window", setup=False, draw=DrawRules(count=6)
    )
    settings = make_settings(redis_url, key_prefix)
    tok = token(contest.id, "m1")
    async with running_gateway(settings) as one, running_gateway(settings) as two:
        async with client(one, contest.id, tok) as ws:
            await recv_until(ws, m.Welcome)
            await send(ws, m.StartAttempt())
            started = await raw_until(ws, "attempt")
            assert {q["id"] for q in started["questions"]} == set(ANSWERS)
            for seq, (qid, value) in enumerate(ANSWERS.items(), start=1):
                await ws.send(
                    msgspec.json.encode(
                        {"type": "answer", "question": qid, "answer": value, "seq": seq}
                    ).decode()
                )
                ack = await recv_until(ws, m.Ack)
                assert ack.accepted, (qid, ack.reason)
        # rejoin on the other process: the attempt comes back with every answer as sent
        async with client(two, contest.id, tok) as ws:
            await recv_until(ws, m.Welcome)
            for resumed in (await raw_until(ws, "attempt"), None):
                if resumed is None:  # and the same again for an explicit resume
                    await send(ws, m.Resume())
                    resumed = await raw_until(ws, "attempt")
                assert set(resumed["answers"]) == set(ANSWERS)
                for qid, value in ANSWERS.items():
                    got = resumed["answers"][qid]["answer"]
                    assert same_json(got, value), (qid, got, value)
                for view in resumed["questions"]:
                    got = view["yours"]["answer"]
                    assert same_json(got, ANSWERS[view["id"]]), (view["id"], got)
                # the typed client decodes it in the same shape
                typed = m.decode_server(msgspec.json.encode(resumed))
                assert isinstance(typed, m.AttemptState)
                assert typed.answers["mc"].answer == ["c", "a"]
                number = typed.answers["ni"].answer
                assert number == 3143 and type(number) is int
                assert typed.answers["tf"].answer is True
    # the distribution still counts the buckets
    keys = ContestKeys(contest.id, key_prefix)
    for qid, bucket in BUCKETS.items():
        for part in bucket.split(",") if qid == "mc" else [bucket]:
            assert await redis_client.hget(keys.distribution(QuestionId(qid)), part) == b"1"
    # the audit stream keeps the bucket as its choice and the answer as given beside it
    audited = {e.question: e async for e in entries(redis_client, contest.id, key_prefix)}
    for qid, bucket in BUCKETS.items():
        assert audited[QuestionId(qid)].choice == bucket
    for qid, value in ANSWERS.items():
        assert same_json(msgspec.json.decode(audited[QuestionId(qid)].answer), value)


async def test_live_answers_come_back_as_sent_on_resume(
    redis_url: str, key_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    await setup_org(redis_client, key_prefix, ORG, bank=shapes_bank())
    contest = await create_contest(redis_client, key_prefix, "live", setup=False)
    live = LiveScoring(redis_client, contest.id, key_prefix)
    qids = [QuestionId(q) for q in ANSWERS]
    question_ms = int(timeout(60) * 1000)
    plan = ShowPlan(
        starts_at=await now_ms(redis_client),
        questions=qids,
        question_ms=[question_ms] * len(qids),
    )
    settings = make_settings(redis_url, key_prefix)
    tok = token(contest.id, "m1")
    async with running_gateway(settings) as one, running_gateway(settings) as two:
        for index, qid in enumerate(qids):
            # the show is at question *index* (as the conductor leaves it), open for a minute
            opened = await live.open_question(qid, index=index, time_ms=question_ms, points=10)
            await redis_client.hset(
                show_key(contest.id, key_prefix),
                mapping={
                    "plan": msgspec.json.encode(plan),
                    "index": index,
                    "phase": str(Phase.QUESTION),
                    "since": opened.opens,
                    "ends": opened.deadline,
                    "entered": "1",
                },
            )
            value = ANSWERS[qid]
            async with client(one, contest.id, tok) as ws:
                await recv_until(ws, m.Welcome)
                first = await raw_until(ws, "question")
                assert first["id"] == qid and first["yours"] is None
                await ws.send(
                    msgspec.json.encode(
                        {"type": "answer", "question": qid, "answer": value, "seq": 1}
                    ).decode()
                )
                assert (await recv_until(ws, m.Ack)).accepted
            async with client(two, contest.id, tok) as ws:
                await recv_until(ws, m.Welcome)
                again = await raw_until(ws, "question")
                assert again["id"] == qid
                assert same_json(again["yours"]["answer"], value), (qid, again["yours"])
                await send(ws, m.Resume())
                asked = await raw_until(ws, "question")
                assert same_json(asked["yours"]["answer"], value), (qid, asked["yours"])
    for qid, bucket in BUCKETS.items():
        await live.close_question(QuestionId(qid))  # counted when the question closes
        distribution = await live.distribution(QuestionId(qid))
        assert distribution == {part: 1 for part in bucket.split(",")}
