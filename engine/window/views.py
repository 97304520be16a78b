"""The window round's view: a member's attempt whole, as the ``attempt`` message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from engine.core import messages as m
from engine.core.views import answer_record, question_view
from question_bank.checking import kind_of
from question_bank.ids import QuestionId
from question_bank.models import MultipleChoice, Question, SingleChoice
from scoring.attempts import AttemptState

__all__ = ["attempt_message"]


class _Parts(NamedTuple):
    """What every member's view of one bank question shares (built once per question)."""

    question: Question
    """The question these parts are of (kept, so that its ``id()`` is not reused)."""
    kind: str
    options: dict[str, m.OptionView]
    """Option id -> its view (text only: no weight, no feedback), in bank order."""
    order: list[str]
    """The option ids in bank order."""


_PARTS: dict[int, _Parts] = {}
_PARTS_LIMIT = 20_000
"""Questions whose parts are kept (pinned bank versions never change; past it, start over)."""


def _parts(question: Question) -> _Parts:
    found = _PARTS.get(id(question))
    if found is not None and found.question is question:
        return found
    options: dict[str, m.OptionView] = {}
    if isinstance(question, SingleChoice | MultipleChoice):
        options = {o.id: m.OptionView(id=o.id, text=o.text) for o in question.options}
    made = _Parts(question, kind_of(question), options, list(options))
    if len(_PARTS) >= _PARTS_LIMIT:
        _PARTS.clear()
    _PARTS[id(question)] = made
    return made


def attempt_message(
    attempt: AttemptState,
    questions: Mapping[QuestionId, Question],
    *,
    attempts_allowed: int = 0,
    best_score: int | None = None,
) -> m.AttemptState:
    """A window attempt whole: the member's draw in order with options in the member's
    order, every recorded answer, score and deadline.

    Each question's message is made in one go from parts shared by every member (the
    option views, the kind), not through the live show's ``question_message`` and two
    ``replace`` (a start and a submit each build one for every question of the draw)."""
    answers = {str(qid): answer_record(a) for qid, a in attempt.answers.items()}
    recorded = answers.get
    member_order = attempt.options.get
    count = len(attempt.questions)
    started, deadline, now, number = attempt.started, attempt.deadline, attempt.now, attempt.number
    views: list[m.Question] = []
    for index, qid in enumerate(attempt.questions):
        question = questions[qid]
        parts = _parts(question)
        by_id = parts.options
        options: list[m.OptionView] = []
        if by_id:
            order = member_order(qid) or parts.order
            options = [by_id[o] for o in order if o in by_id]
        views.append(
            question_view(
                question,
                parts.kind,
                options,
                index=index,
                count=count,
                opens=started,
                deadline=deadline,
                sent_at=now,
                attempt=number,
                yours=recorded(str(qid)),
            )
        )
    return m.AttemptState(
        attempt=number,
        state=attempt.state,
        started=started,
        deadline=deadline,
        server_time=now,
        questions=views,
        answers=answers,
        score=attempt.score,
        answered=attempt.answered,
        attempts_allowed=attempts_allowed,
        best_score=best_score,
        prediction=attempt.prediction,
    )
