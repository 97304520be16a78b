"""Window rounds: answering inside a member's attempt (the accept path of ``attempt_answer``).

Starting, resuming, submitting and expiring attempts are :mod:`scoring.attempts`; this
module stores one answer in attempt *n* of a member, atomically, with the same refusals
and outcome shape as live answers (:class:`~scoring.outcomes.AnswerOutcome`, where
``total`` is the attempt's score and ``best`` the member's best score after the answer).
An accepted answer counts its choice keys in the question's distribution
(``P:{C}:dist:<qid>``, as live answers do) and itself in ``P:{C}:answered`` (qid ->
answers), for the organiser's statistics; a member with several attempts counts once per
attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from question_bank.ids import MemberId, QuestionId

from .answer_path import AnswerPath, fraction_arg, given_arg
from .batcher import run_call
from .outcomes import AnswerOutcome, decode_outcome
from .scripts import ScriptCall

__all__ = ["WindowScoring"]


class WindowScoring(AnswerPath):
    """The accept path of one window round."""

    def answer_call(
        self,
        member: MemberId,
        attempt: int,
        question: QuestionId,
        fraction: float,
        choice: str = "",
        *,
        province: str = "",
        unit: str = "",
        choices: Iterable[str] = (),
        given: Any = None,
    ) -> ScriptCall:
        """The attempt_answer call for a batch (see :meth:`answer` for the arguments).

        Its KEYS depend only on (question, province, unit): the same tuple for every member
        (the script builds the member's attempt key from ``base``), so the batch encoder's
        cached EVALSHA head serves every answer; the arguments are all ``str`` (the answer
        given as JSON text), so a repeated tail is cached too."""
        return ScriptCall(
            "attempt_answer",
            self._cached_keys(question, province, unit),
            [
                member,
                str(attempt),
                question,
                fraction_arg(fraction),
                choice,
                province,
                unit,
                self.keys.base,
                given_arg(given).decode(),
                *choices,
            ],
        )

    def _build_keys(self, question: QuestionId, province: str, unit: str) -> tuple[str, ...]:
        """KEYS of attempt_answer (the member's attempt hash is built by the script)."""
        k = self.keys
        return (
            k.best,
            k.totals,
            k.times,
            k.leaderboard,
            f"{k.base}:lb:p:{province}",
            f"{k.base}:lb:u:{unit}",
            k.audit,
            k.unit_participants,
            k.attempt_counts,
            k.distribution(question),
            k.answered,
        )

    async def answer(
        self,
        member: MemberId,
        attempt: int,
        question: QuestionId,
        fraction: float,
        choice: str = "",
        *,
        province: str = "",
        unit: str = "",
        choices: Iterable[str] = (),
        given: Any = None,
    ) -> AnswerOutcome:
        """Store an answer graded as *fraction* in attempt number *attempt* of *member*.

        *choice* is the answer's distribution bucket (recorded and audited); *choices* are
        the keys counted in the distribution (one for single choice, several for multiple);
        *given* the answer as the member gave it, as in
        :meth:`scoring.live.LiveScoring.accept`.
        """
        call = self.answer_call(
            member,
            attempt,
            question,
            fraction,
            choice,
            province=province,
            unit=unit,
            choices=choices,
            given=given,
        )
        return decode_outcome(await run_call(call, self.scripts, self.batcher), window=True)
