"""The live show's broadcasts, built from the bank's questions and the scoring core's figures.

Pure builders (:func:`question_message`, :func:`reveal_message`) and one Redis read
(:func:`leaderboard_message`); the conductor publishes what they return, encoded once, and
the gateway uses :func:`question_message` to bring a late joiner in at the current question.
A :class:`~engine.core.messages.Question` never carries an answer: weights, feedback and accepted
answers are only in :class:`~engine.core.messages.Reveal`, sent after the question closed.
"""

from __future__ import annotations

import redis.asyncio

from engine.core import messages
from question_bank.checking import correct_answer, kind_of
from question_bank.display import correct_text
from question_bank.models import MultipleChoice, Question, SingleChoice
from scoring.keys import ContestKeys
from scoring.leaderboard import Leaderboard, Standing

__all__ = [
    "LEADERBOARD_SIZE",
    "leaderboard_message",
    "question_message",
    "redis_now",
    "reveal_message",
    "standing_message",
]

LEADERBOARD_SIZE = 10
"""Rows of the leaderboard broadcast after each question."""


async def redis_now(client: redis.asyncio.Redis) -> int:
    """Redis's clock in ms, the clock every deadline is on."""
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def question_message(
    question: Question, *, index: int, count: int, opens: int, deadline: int, sent_at: int
) -> messages.Question:
    """The broadcast of a live question: everything but its answer, options in bank order."""
    options: list[messages.OptionView] = []
    if isinstance(question, SingleChoice | MultipleChoice):
        options = [messages.OptionView(id=o.id, text=o.text) for o in question.options]
    return messages.Question(
        id=question.id,
        index=index,
        count=count,
        kind=kind_of(question),  # type: ignore[arg-type]
        text=question.text,
        points=question.points,
        options=options,
        opens=opens,
        deadline=deadline,
        sent_at=sent_at,
        media_url=question.media_url,
    )


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


def standing_message(standing: Standing) -> messages.Standing:
    """One leaderboard row as members see it (time used in ms, names joined)."""
    return messages.Standing(
        rank=standing.rank,
        member=standing.member,
        name=standing.name,
        score=standing.score,
        time_ms=standing.time_used,
        province=str(standing.province),
        unit=str(standing.unit),
    )


async def leaderboard_message(
    client: redis.asyncio.Redis, keys: ContestKeys, size: int = LEADERBOARD_SIZE
) -> messages.Leaderboard:
    """The global top *size* of a show (ties share a rank: 1, 2, 2, 4), names joined."""
    board = Leaderboard(client, keys.contest, keys.prefix)
    top = [standing_message(row) for row in await board.top(size)]
    return messages.Leaderboard(top=top, of=await board.size(), at=await redis_now(client))
