"""Each member's ``result`` after a live question's reveal."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from engine.core import messages as m
from engine.modes.standings import ranks
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.keys import DEFAULT_PREFIX, ContestKeys
from scoring.live import RecordedAnswer, streak_at

__all__ = ["results_after_reveal"]

_record = msgspec.json.Decoder(RecordedAnswer).decode


async def results_after_reveal(
    client: AsyncRedis,
    contest: ContestId,
    reveal: m.Reveal,
    members: Sequence[MemberId],
    prefix: str = DEFAULT_PREFIX,
) -> dict[MemberId, m.Result]:
    """Each member's ``result`` after *reveal*: points for the question, total, shared rank,
    elimination and streak (a few pipelined reads for all of them)."""
    ids = list(members)
    standing = await ranks(client, contest, ids, prefix=prefix)
    keys = ContestKeys(contest, prefix)
    qid = QuestionId(reveal.question)
    async with client.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.answers(qid), ids)
        pipe.smismember(keys.eliminated, ids)
        pipe.hmget(keys.streaks, ids)
        answers, out, streaks = await pipe.execute()
    results: dict[MemberId, m.Result] = {}
    for member, record, eliminated, streak in zip(ids, answers, out, streaks, strict=True):
        points = 0
        if record is not None:
            points = int(_record(record).p)
        rank = standing[member]
        results[member] = m.Result(
            question=qid,
            points=points,
            total=rank.score,
            rank=rank.rank,
            of=rank.of,
            eliminated=bool(eliminated),
            streak=streak_at(streak, reveal.index),
        )
    return results
