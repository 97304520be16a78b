"""What a member sees of stored state: pure functions from contests, banks and attempts to
wire messages (:mod:`engine.core.messages`). No I/O; the handlers read, these render.

A question is rendered without anything that gives its answer away: no weights, no
feedback, no accepted answers (``Question`` has no field for them). A window attempt's
questions are rendered by the live show's :func:`engine.live.show_messages.question_message`, with
the options in the member's order and the attempt's own fields added.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from engine.core import messages as m
from engine.core.contest import Contest
from engine.live.show_messages import question_message
from question_bank.ids import QuestionId
from question_bank.models import MultipleChoice, Question, SingleChoice
from scoring.attempts import AttemptState
from scoring.attempts import RecordedAnswer as AttemptAnswer
from scoring.live import RecordedAnswer as LiveAnswer

__all__ = ["answer_record", "attempt_message", "contest_info"]


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
    )


def answer_record(record: LiveAnswer | AttemptAnswer) -> m.AnswerRecord:
    """A recorded answer as the member sees it: the answer in the shape they gave it (the
    bucket ``c`` only for a record stored without it, before the engine kept it)."""
    answer = record.a if record.a is not None else record.c
    return m.AnswerRecord(answer=answer, points=record.p, at=record.t)


def attempt_message(
    attempt: AttemptState,
    questions: Mapping[QuestionId, Question],
    *,
    attempts_allowed: int = 0,
    best_score: int | None = None,
) -> m.AttemptState:
    """A window attempt whole: the member's draw in order with options in the member's
    order, every recorded answer, score and deadline."""
    answers = {str(qid): answer_record(a) for qid, a in attempt.answers.items()}
    views: list[m.Question] = []
    count = len(attempt.questions)
    for index, qid in enumerate(attempt.questions):
        question = questions[qid]
        view = question_message(
            question,
            index=index,
            count=count,
            opens=attempt.started,
            deadline=attempt.deadline,
            sent_at=attempt.now,
        )
        if isinstance(question, SingleChoice | MultipleChoice):
            by_id = {o.id: o for o in question.options}
            order = attempt.options.get(qid) or [o.id for o in question.options]
            options = [m.OptionView(id=o, text=by_id[o].text) for o in order if o in by_id]
            view = msgspec.structs.replace(view, options=options)
        views.append(
            msgspec.structs.replace(view, attempt=attempt.number, yours=answers.get(str(qid)))
        )
    return m.AttemptState(
        attempt=attempt.number,
        state=attempt.state,
        started=attempt.started,
        deadline=attempt.deadline,
        server_time=attempt.now,
        questions=views,
        answers=answers,
        score=attempt.score,
        answered=attempt.answered,
        attempts_allowed=attempts_allowed,
        best_score=best_score,
        prediction=attempt.prediction,
    )
