"""The window round's view: a member's attempt whole, as the ``attempt`` message."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from engine.core import messages as m
from engine.core.views import answer_record, question_message
from question_bank.ids import QuestionId
from question_bank.models import MultipleChoice, Question, SingleChoice
from scoring.attempts import AttemptState

__all__ = ["attempt_message"]


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
