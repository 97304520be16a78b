"""Live statistics of a contest for its organiser, read from Redis in a few round trips.

* members online: the gateways' counts (:mod:`engine.contests.presence`), fresh within seconds;
* participants: members on the global board (they answered, or started an attempt);
* answers: accepted answers (live: the audit stream's length; window: the sum of
  ``P:{C}:answered``, since the stream also holds attempt start/close events), and
  answers per second over the last :data:`RATE_WINDOW_MS` (from the stream's ids, which
  are Redis-clock milliseconds: the newest :data:`RATE_SAMPLE` entries at most are read,
  so a busy contest costs the same; attempt events among them are not counted);
* per question: how many answered (live: ``P:{C}:ans:<qid>``, one per member; window:
  ``P:{C}:answered``, one per accepted answer, so a member with several attempts counts
  once per attempt) and how the answers split (``P:{C}:dist:<qid>``, written by both
  accept paths), in show order for a live show that has started (its plan), else in bank
  order.

A member-sharded live show's figures are each shard's, added up.

Counts of refused answers are in the gateways' Prometheus metrics, not here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from engine.contests.presence import members_online
from engine.core.contest import Contest
from engine.runtime.redisconn import AsyncRedis, server_ms
from question_bank.ids import QuestionId
from question_bank.models import Bank
from scoring.keys import DEFAULT_PREFIX, ContestKeys, ContestShards

__all__ = ["RATE_SAMPLE", "RATE_WINDOW_MS", "ContestStats", "QuestionStats", "answer_rate", "read"]

RATE_WINDOW_MS = 10_000
RATE_SAMPLE = 2_000


class QuestionStats(msgspec.Struct, frozen=True, kw_only=True):
    id: QuestionId
    index: int
    """Position in the show (live) or in the bank (window)."""
    answered: int | None
    """Members who answered (live shows); answers accepted in attempts (window rounds: a
    member counts once per attempt that answered it). Always a number now; the type keeps
    ``None`` for the published schema (docs/openapi.yaml)."""
    distribution: dict[str, int]
    """Choice key (option id, ``true``/``false``, folded text, number) -> members."""


class ContestStats(msgspec.Struct, frozen=True, kw_only=True):
    contest: str
    state: str
    at: int
    """Redis time of the reading (ms)."""
    members_online: int
    participants: int
    answers: int
    """Accepted answers so far."""
    answers_per_second: float
    """Over the last ten seconds."""
    current_question: QuestionId | None = None
    """Live shows: the question of the current phase."""
    questions: list[QuestionStats] = []


def answer_rate(
    stamps_ms: list[int], now_ms: int, *, answers: int | None = None, sample: int = RATE_SAMPLE
) -> float:
    """Answers per second from the newest stream entries' stamps (newest first, at most
    *sample*, all within the window), of which *answers* are answers (default: all; the
    others are attempt events): over the window, or over the span they cover if the
    sample is full (more entries than it holds came in the window)."""
    count = len(stamps_ms) if answers is None else answers
    if not stamps_ms:
        return 0.0
    if len(stamps_ms) < sample:
        return count * 1000 / RATE_WINDOW_MS
    span = max(now_ms - stamps_ms[-1], 1)
    return count * 1000 / span


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stamp(entry_id: Any) -> int:
    """The Redis-clock ms of a stream entry id."""
    return int(_text(entry_id).partition("-")[0])


async def read(
    client: AsyncRedis,
    contest: Contest,
    bank: Bank,
    *,
    show_questions: list[QuestionId] | None = None,
    current: QuestionId | None = None,
    per_attempt: bool = False,
    prefix: str = DEFAULT_PREFIX,
) -> ContestStats:
    """The contest's statistics now. *show_questions* is a live show's plan once it has
    started; before, and in window rounds, every question of the pinned bank is listed.
    *per_attempt*: answers are counted per attempt question (window rounds), else per
    released question (the mode's :attr:`~engine.modes.base.Runner.answers_per_attempt`)."""
    keys = ContestKeys(contest.id, prefix)
    now = await server_ms(client, keys.leaderboard)
    if show_questions is not None:
        questions = list(show_questions)
    else:
        questions = [q.id for q in bank.questions]
    # A member-sharded show's figures are on its shards: read each, add them up.
    participants = answers = 0
    recent: list[Any] = []
    answered = [0] * len(questions)
    distributions: list[Counter[str]] = [Counter() for _ in questions]
    for place in ContestShards(contest.id, prefix, contest.shards).keys:
        async with client.pipeline(transaction=False) as pipe:
            pipe.zcard(place.leaderboard)
            pipe.xlen(place.audit)
            pipe.xrevrange(place.audit, "+", str(now - RATE_WINDOW_MS), count=RATE_SAMPLE)
            pipe.hvals(place.answered)
            for qid in questions:
                pipe.hgetall(place.distribution(qid))
                if per_attempt:
                    pipe.hget(place.answered, qid)
                else:
                    pipe.hlen(place.answers(qid))
            replies: list[Any] = await pipe.execute()
        participants += _int(replies[0])
        recent += replies[2]
        if per_attempt:
            answers += sum(int(v) for v in replies[3])
        else:
            answers += _int(replies[1])
        for index in range(len(questions)):
            raw = replies[4 + 2 * index]
            distributions[index].update({_text(k): int(v) for k, v in raw.items()})
            answered[index] += _int(replies[5 + 2 * index])
    if contest.shards > 1:
        recent = sorted(recent, key=lambda entry: _stamp(entry[0]), reverse=True)[:RATE_SAMPLE]
    stamps = [_stamp(entry_id) for entry_id, _ in recent]
    in_sample = sum(1 for _, fields in recent if b"e" not in fields and "e" not in fields)
    per_question = [
        QuestionStats(
            id=qid,
            index=index,
            answered=answered[index],
            distribution=dict(sorted(distributions[index].items())),
        )
        for index, qid in enumerate(questions)
    ]
    online = await members_online(client, contest.id, now, prefix)
    return ContestStats(
        contest=contest.id,
        state=contest.state,
        at=now,
        members_online=online,
        participants=participants,
        answers=answers,
        answers_per_second=round(answer_rate(stamps, now, answers=in_sample), 2),
        current_question=current,
        questions=per_question,
    )
