"""Pure views: what a member sees of a contest, a question and a recorded answer.

Shared by both contest modes (a live question and a window attempt's questions are the same
message) and free of I/O: records and board rows come in as values (any object with their
fields, :class:`AnswerLike`, :class:`StandingLike`), wire messages go out. A
:class:`~engine.core.messages.Question` never carries an answer: weights, feedback and
accepted answers are only in :class:`~engine.core.messages.Reveal`, sent after the question
closed.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.core import messages as m
from engine.core.contest import Contest
from question_bank.checking import kind_of
from question_bank.ids import MemberId
from question_bank.models import MultipleChoice, Question, SingleChoice

__all__ = [
    "AnswerLike",
    "StandingLike",
    "answer_record",
    "contest_info",
    "question_message",
    "question_view",
    "standing_message",
]


class AnswerLike(Protocol):
    """A recorded answer (``scoring.live.RecordedAnswer``, ``scoring.attempts.RecordedAnswer``)."""

    @property
    def a(self) -> Any: ...
    @property
    def c(self) -> str: ...
    @property
    def p(self) -> int: ...
    @property
    def t(self) -> int: ...


class StandingLike(Protocol):
    """A board row (``scoring.leaderboard.Standing``)."""

    @property
    def rank(self) -> int: ...
    @property
    def member(self) -> MemberId: ...
    @property
    def name(self) -> str: ...
    @property
    def score(self) -> int: ...
    @property
    def time_used(self) -> int: ...
    @property
    def province(self) -> Any: ...
    @property
    def unit(self) -> Any: ...


def contest_info(contest: Contest, attempts_used: int = 0) -> m.ContestInfo:
    """What a member sees of *contest*."""
    live, window = contest.live, contest.window
    return m.ContestInfo(
        id=contest.id,
        title=contest.title,
        mode=contest.mode,
        state=contest.state,
        starts_at=live.starts_at if live else None,
        opens_at=window.opens_at if window else None,
        closes_at=window.closes_at if window else None,
        question_count=contest.draw.count,
        question_ms=live.question_seconds * 1000 if live else 0,
        attempt_ms=window.attempt_seconds * 1000 if window else 0,
        attempts_allowed=window.attempts_allowed if window else 0,
        attempts_used=attempts_used,
        has_prediction=bool(window and window.prediction_question),
        prediction_question=window.prediction_question if window else None,
        board_updates=window.board_updates if window else None,
    )


def answer_record(record: AnswerLike) -> m.AnswerRecord:
    """A recorded answer as the member sees it: the answer in the shape they gave it (the
    bucket ``c`` only for a record stored without it, before the engine kept it)."""
    answer = record.a if record.a is not None else record.c
    return m.AnswerRecord(answer=answer, points=record.p, at=record.t)


def question_message(
    question: Question, *, index: int, count: int, opens: int, deadline: int, sent_at: int
) -> m.Question:
    """The broadcast of a live question: everything but its answer, options in bank order."""
    options: list[m.OptionView] = []
    if isinstance(question, SingleChoice | MultipleChoice):
        options = [m.OptionView(id=o.id, text=o.text) for o in question.options]
    return question_view(
        question,
        kind_of(question),
        options,
        index=index,
        count=count,
        opens=opens,
        deadline=deadline,
        sent_at=sent_at,
    )


def question_view(
    question: Question,
    kind: str,
    options: list[m.OptionView],
    *,
    index: int,
    count: int,
    opens: int,
    deadline: int,
    sent_at: int,
    attempt: int = 0,
    yours: m.AnswerRecord | None = None,
) -> m.Question:
    """The message of *question* (its ``kind_of``) with these *options* (views, in the
    order the member sees them): a live question's, or one question of a window attempt."""
    return m.Question(
        id=question.id,
        index=index,
        count=count,
        kind=kind,  # type: ignore[arg-type]
        text=question.text,
        points=question.points,
        options=options,
        opens=opens,
        deadline=deadline,
        sent_at=sent_at,
        media_url=question.media_url,
        attempt=attempt,
        yours=yours,
    )


def standing_message(standing: StandingLike) -> m.Standing:
    """One leaderboard row as members see it (time used in ms, names joined)."""
    return m.Standing(
        rank=standing.rank,
        member=standing.member,
        name=standing.name,
        score=standing.score,
        time_ms=standing.time_used,
        province=str(standing.province),
        unit=str(standing.unit),
    )
