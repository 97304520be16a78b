"""The live show's broadcasts, built from the bank's questions and the scoring core's figures.

A pure builder (:func:`reveal_message`) and one Redis read (:func:`leaderboard_message`);
the conductor publishes what they return, encoded once. The question itself is
:func:`engine.core.views.question_message`, shared with window rounds.
A :class:`~engine.core.messages.Question` never carries an answer: weights, feedback and accepted
answers are only in :class:`~engine.core.messages.Reveal`, sent after the question closed.
"""

from __future__ import annotations

from engine.core import messages
from engine.core.views import standing_message
from engine.runtime.redisconn import AsyncRedis, server_ms
from question_bank.checking import correct_answer
from question_bank.display import correct_text
from question_bank.models import Question
from scoring.keys import ContestKeys
from scoring.leaderboard import Leaderboard

__all__ = ["LEADERBOARD_SIZE", "leaderboard_message", "redis_now", "reveal_message"]

LEADERBOARD_SIZE = 10
"""Rows of the leaderboard broadcast after each question."""


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
    language: str = "vi",
) -> messages.Reveal:
    """The broadcast after a question closed: its correct answer (in words in the bank's
    *language*, :func:`question_bank.display.correct_text`) and how everyone answered."""
    return messages.Reveal(
        question=question.id,
        index=index,
        correct=correct_answer(question),
        correct_text=correct_text(question, language),
        distribution=distribution,
        answered=answered,
        explanation=question.explanation,
        sent_at=sent_at,
    )


async def leaderboard_message(
    client: AsyncRedis, keys: ContestKeys, size: int = LEADERBOARD_SIZE
) -> messages.Leaderboard:
    """The global top *size* of a show (ties share a rank: 1, 2, 2, 4), names joined."""
    board = Leaderboard(client, keys.contest, keys.prefix)
    top = [standing_message(row) for row in await board.top(size)]
    return messages.Leaderboard(
        top=top, of=await board.size(), at=await redis_now(client, keys.leaderboard)
    )
