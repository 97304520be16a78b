"""The live show's broadcasts, built from the bank's questions and the scoring core's figures.

A pure builder (:func:`reveal_message`) and the Redis reads of the board after a question
(:func:`board_after`); the conductor publishes what they return, encoded once. Since
protocol 2 the reveal carries the board's top and the score histogram from which each
member computes their own rank (no message per member). The question itself is
:func:`engine.core.views.question_message`, shared with window rounds.
A :class:`~engine.core.messages.Question` never carries an answer: weights, feedback and accepted
answers are only in :class:`~engine.core.messages.Reveal`, sent after the question closed.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from engine.core import messages
from engine.core.views import standing_message
from engine.runtime.redisconn import AsyncRedis, server_ms
from question_bank.checking import correct_answer
from question_bank.display import correct_text
from question_bank.models import Question
from scoring.keys import ContestKeys
from scoring.leaderboard import Leaderboard

__all__ = [
    "LEADERBOARD_SIZE",
    "Board",
    "board_after",
    "redis_now",
    "reveal_message",
]

LEADERBOARD_SIZE = 10
"""Rows of the board's top in the reveal after each question."""


class Board(msgspec.Struct, frozen=True, kw_only=True):
    """The global board after a question closed, as the reveal carries it."""

    top: list[messages.Standing]
    of: int
    scores: list[int]
    """:func:`engine.core.messages.encode_scores` of every ranked member's total."""


async def redis_now(client: AsyncRedis, key: str | None = None) -> int:
    """Redis's clock in ms, the clock every deadline is on: on a cluster, of the node
    holding *key* (a key of the contest)."""
    return await server_ms(client, key)


def reveal_message(
    question: Question,
    *,
    index: int,
    distribution: dict[str, int],
    answered: int,
    sent_at: int,
    board: Board | None = None,
    language: str = "vi",
) -> messages.Reveal:
    """The broadcast after a question closed: its correct answer (in words in the bank's
    *language*, :func:`question_bank.display.correct_text`), how everyone answered and the
    *board* (top, ranked count and score histogram)."""
    return messages.Reveal(
        question=question.id,
        index=index,
        correct=correct_answer(question),
        correct_text=correct_text(question, language),
        distribution=distribution,
        answered=answered,
        explanation=question.explanation,
        sent_at=sent_at,
        top=board.top if board else [],
        of=board.of if board else 0,
        scores=board.scores if board else [],
    )


async def board_after(
    client: AsyncRedis, keys: ContestKeys, size: int = LEADERBOARD_SIZE, *, shards: int = 1
) -> Board:
    """The global top *size* (names joined) and the histogram of every ranked member's
    total (one read of the totals hash; of a sharded contest, one per shard, summed)."""
    board = Leaderboard(client, keys.contest, keys.prefix, shards=shards)
    top = [standing_message(row) for row in await board.top(size)]
    totals: Counter[int] = Counter()
    for place in board.shards.keys:
        totals.update(int(v) for v in await client.hvals(place.totals))
    return Board(top=top, of=sum(totals.values()), scores=messages.encode_scores(totals))
