"""A member's ``result`` after a live question's reveal: sent, since protocol 2, only to the
members a question of a show with elimination eliminated (everyone else computes theirs
from their acks and the reveal's board)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from engine.core import messages as m
from engine.modes.standings import ranks
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.keys import DEFAULT_PREFIX, ContestShards
from scoring.live import RecordedAnswer, streak_at

__all__ = ["results_after_reveal"]

_record = msgspec.json.Decoder(RecordedAnswer).decode


async def results_after_reveal(
    client: AsyncRedis,
    contest: ContestId,
    reveal: m.Reveal,
    members: Sequence[MemberId],
    prefix: str = DEFAULT_PREFIX,
    *,
    shards: int = 1,
) -> dict[MemberId, m.Result]:
    """Each member's ``result`` after *reveal*: points for the question, total, shared rank,
    elimination and streak (a few pipelined reads for all of them, per shard)."""
    standing = await ranks(client, contest, list(members), prefix=prefix, shards=shards)
    places = ContestShards(contest, prefix, shards)
    by_shard: dict[int, list[MemberId]] = {}
    for member in members:
        by_shard.setdefault(places.index(member), []).append(member)
    qid = QuestionId(reveal.question)
    rows: list[tuple[MemberId, Any, Any, Any]] = []
    for shard, ids in by_shard.items():
        keys = places.keys[shard]
        async with client.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.answers(qid), ids)
            pipe.smismember(keys.eliminated, ids)
            pipe.hmget(keys.streaks, ids)
            answers, out, streaks = await pipe.execute()
        rows += zip(ids, answers, out, streaks, strict=True)
    results: dict[MemberId, m.Result] = {}
    for member, record, eliminated, streak in rows:
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
