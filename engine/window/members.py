"""The window round's side of members' requests in a gateway process.

A member starts an attempt (their own seeded draw of the bank: a dispute can be replayed),
answers its questions in any order (each stored as given, graded in Python and accepted by
the scoring script atomically on Redis's clock), may store or change their prediction by
answering the round's prediction question, and submits; the server expires an attempt at
its deadline and the member connected to any gateway is told (:meth:`WindowMembers.expired`).
"""

from __future__ import annotations

from engine.core import messages as m
from engine.core.contest import Contest
from engine.core.errors import AttemptTooSoon, BackendError, ErrorCode, PeerError
from engine.modes.base import OVER_STATES, Joined, Members, Services, keep, keep_for, refused
from engine.window.draws import MemberDraws
from engine.window.views import attempt_message
from question_bank.ids import ContestId, QuestionId
from question_bank.models import Bank, Prediction, Question
from scoring.attempts import Attempts, AttemptState, BestAttempt
from scoring.errors import ScoringError
from scoring.outcomes import decode_outcome
from scoring.window import WindowScoring

__all__ = ["WindowMembers"]

_REDRAWS = 3
"""Starts tried when the script says ``redraw`` (another connection of the member started
an attempt between two tries): the third try is with the count the second one returned."""

_START_REFUSALS = {
    "attempts_used": ErrorCode.ATTEMPTS_EXHAUSTED,
    "not_open": ErrorCode.CONTEST_NOT_OPEN,
    "round_closed": ErrorCode.CONTEST_NOT_OPEN,
}


class WindowMembers(Members):
    """Members' requests in window rounds (one object per gateway process)."""

    mode = "window"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self._scoring: dict[ContestId, WindowScoring] = {}
        self._attempts: dict[ContestId, Attempts] = {}
        self._drawers: dict[tuple[ContestId, int], MemberDraws] = {}

    def scoring(self, contest: ContestId) -> WindowScoring:
        """The contest's scoring object (one per contest in this process)."""
        s = self.services
        return keep_for(
            self._scoring,
            contest,
            lambda: WindowScoring(s.redis, contest, s.prefix, batcher=s.batcher, scripts=s.scripts),
        )

    def attempts(self, contest: ContestId) -> Attempts:
        """The contest's attempts, whose script calls go in this process's batches."""
        s = self.services
        return keep_for(
            self._attempts,
            contest,
            lambda: Attempts(
                s.redis, contest, prefix=s.prefix, scripts=s.scripts, batcher=s.batcher
            ),
        )

    async def resume(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """The member's latest attempt, whole, if they started one (one script call; none
        right after a join that found no attempt: an opening storm's members have none)."""
        if joined.none_at_join:
            joined.none_at_join = False
            return []
        outcome = await self.attempts(contest.id).resume_outcome(joined.member.id)
        joined.attempts_used = outcome.attempts_used
        attempt = outcome.attempt
        if attempt is None:
            return []
        joined.attempt = attempt.number if attempt.state == "open" else None
        return [
            self._attempt_message(contest, attempt, outcome.best, await self._questions(contest))
        ]

    async def resync(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """Only what a notice would have said: the open attempt, if the server expired it
        meanwhile (answers are acknowledged one by one; nothing else is broadcast)."""
        number = joined.attempt
        expired = None if number is None else await self.expired(joined, number)
        return [] if expired is None else [expired]

    async def answer(self, contest: Contest, joined: Joined, request: m.Answer) -> m.Ack:
        qid = QuestionId(request.question)
        if contest.state != "open":
            reason = ErrorCode.ATTEMPT_CLOSED if contest.state in OVER_STATES else "not_open"
            return refused(qid, request.seq, reason)
        graded = await self.graded(contest, joined, request, unknown="not_in_attempt")
        if isinstance(graded, m.Ack):
            return graded
        if contest.window is not None and qid == contest.window.prediction_question:
            return await self._predict(joined, request, int(graded.key))
        member = joined.member.id
        try:
            if joined.attempt is None:
                attempt = await self.attempts(contest.id).resume(member)
                if attempt is None or attempt.state != "open":
                    reason = "no_attempt" if attempt is None else "attempt_closed"
                    return refused(qid, request.seq, reason)
                joined.attempt = attempt.number
            call = self.scoring(contest.id).answer_call(
                member, joined.attempt, qid, graded.fraction, graded.key, **graded.place
            )
            outcome = decode_outcome(await self.services.batcher.submit(call), window=True)
        except ScoringError as exc:
            raise BackendError(str(exc)) from exc
        if not outcome.accepted and outcome.reason in ("attempt_closed", "late", "no_attempt"):
            joined.attempt = None
        return self.acked(request, outcome)

    async def _predict(self, joined: Joined, request: m.Answer, value: int) -> m.Ack:
        """An answer to the round's prediction question: store *value* (already checked
        against the question's range) as the open attempt's prediction, replacing one
        stored before; the attempt stays open. Refused ``no_attempt``, ``attempt_closed``
        or ``late`` (the deadline passed: the attempt is expired now, nothing stored)."""
        qid = QuestionId(request.question)
        try:
            outcome = await self.attempts(joined.contest.id).predict(joined.member.id, value)
        except ScoringError as exc:
            raise BackendError(str(exc)) from exc
        if not outcome.ok or outcome.attempt is None:
            joined.attempt = None
            return refused(qid, request.seq, outcome.status)
        return m.Ack(question=qid, seq=request.seq, accepted=True, total=outcome.attempt.score)

    async def start(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """Start the member's next attempt: one script call (it reads the attempt count and
        the best attempt itself, and refuses ``not_open`` unless the contest's state in
        Redis is ``open``: *contest* may be the gateway's cached copy). The draw is made
        for ``joined.attempts_used + 1``; if another connection of the member started an
        attempt meanwhile the script answers ``redraw`` with the true count and the start
        is tried again with that draw."""
        window = contest.window
        if window is None or contest.state != "open":
            raise PeerError(code=ErrorCode.CONTEST_NOT_OPEN)
        s = self.services
        member = joined.member.id
        bank, _ = await s.banks.bank(contest)
        attempts = self.attempts(contest.id)
        for _ in range(_REDRAWS):
            number = joined.attempts_used + 1
            outcome = await attempts.start(
                member,
                joined.profile,
                self.draws(contest, bank).draw(member, number),
                duration_ms=window.attempt_seconds * 1000,
                attempts_allowed=window.attempts_allowed,
                opens_at=window.opens_at,
                closes_at=window.closes_at,
                drawn_for=number,
                min_gap_ms=window.min_seconds_between_attempts * 1000,
                only_open=True,
            )
            joined.attempts_used = outcome.attempts_used
            if outcome.status != "redraw":
                break
        if outcome.status == "too_soon":
            raise AttemptTooSoon(outcome.wait_ms)
        if not outcome.ok or outcome.attempt is None:
            raise PeerError(code=_START_REFUSALS.get(outcome.status, ErrorCode.NO_ATTEMPT))
        joined.attempt = outcome.attempt.number
        questions = await self._questions(contest)
        return [self._attempt_message(contest, outcome.attempt, outcome.best, questions)]

    def draws(self, contest: Contest, bank: Bank) -> MemberDraws:
        """The contest's draws for its pinned bank version (one per contest and version)."""
        key = (contest.id, contest.bank_version)
        found = self._drawers.get(key)
        if found is None:
            found = keep(self._drawers, key, MemberDraws(contest, bank))
        return found

    async def submit(
        self, contest: Contest, joined: Joined, prediction: int | None
    ) -> list[m.ServerMessage]:
        window = contest.window
        if window is None:
            raise PeerError(code=ErrorCode.CONTEST_NOT_OPEN)
        asked = window.prediction_question
        if asked is None:
            prediction = None  # a round without a prediction question keeps none
        elif prediction is not None:
            question = (await self.services.banks.questions(contest)).get(asked)
            top = question.max_value if isinstance(question, Prediction) else None
            if top is not None and prediction > top:
                raise PeerError(
                    f"a prediction is a whole number from 0 to {top}", code=ErrorCode.BAD_ANSWER
                )
        outcome = await self.attempts(contest.id).submit(
            joined.member.id, prediction, require_prediction=asked is not None
        )
        joined.attempt = None
        if outcome.status == "prediction_required":
            raise PeerError("this round needs a prediction", code=ErrorCode.BAD_ANSWER)
        if outcome.attempt is None:
            raise PeerError(code=ErrorCode.NO_ATTEMPT)
        if outcome.status == "attempt_closed" and outcome.attempt.state != "expired":
            # Submitted already. An expired one (its deadline passed, whether this submit
            # or the scheduler's sweep closed it) comes back as it is, as documented.
            raise PeerError(code=ErrorCode.ATTEMPT_CLOSED)
        questions = await self._questions(contest)
        return [self._attempt_message(contest, outcome.attempt, outcome.best, questions)]

    async def expired(self, joined: Joined, number: int) -> m.AttemptState | None:
        """The ``attempt`` message of attempt *number*, which the server's sweep has just
        expired, to push to the member; ``None`` if it is not expired (anymore) or the
        member has started another attempt on this connection since."""
        if joined.attempt is not None and joined.attempt != number:
            return None
        contest = await self.services.contest(joined.contest.id)
        attempt = await self.attempts(contest.id).attempt(joined.member.id, number)
        if attempt is None or attempt.state != "expired":
            return None
        joined.attempt = None
        return await self.attempt_message(contest, attempt)

    async def attempt_message(self, contest: Contest, attempt: AttemptState) -> m.AttemptState:
        best = await self.attempts(contest.id).best(attempt.member)
        return self._attempt_message(contest, attempt, best, await self._questions(contest))

    async def _questions(self, contest: Contest) -> dict[QuestionId, Question]:
        return await self.services.banks.questions(contest)

    @staticmethod
    def _attempt_message(
        contest: Contest,
        attempt: AttemptState,
        best: BestAttempt | None,
        questions: dict[QuestionId, Question],
    ) -> m.AttemptState:
        return attempt_message(
            attempt,
            questions,
            attempts_allowed=contest.window.attempts_allowed if contest.window else 0,
            best_score=best.score if best else None,
        )
