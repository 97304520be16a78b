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
from engine.core.errors import BackendError, ErrorCode, PeerError
from engine.modes.base import OVER_STATES, Joined, Members, Services, keep, keep_for, refused
from engine.window.views import attempt_message
from question_bank.draws import Drawer, draw_seed
from question_bank.ids import ContestId, MemberId, QuestionId
from question_bank.models import Bank, MultipleChoice, Prediction, Question, SingleChoice
from scoring.attempts import Attempts, AttemptState, DrawnQuestion
from scoring.errors import ScoringError
from scoring.keys import ContestKeys
from scoring.outcomes import decode_outcome
from scoring.window import WindowScoring

__all__ = ["WindowMembers"]

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
        self._drawers: dict[tuple[ContestId, int], Drawer] = {}

    def scoring(self, contest: ContestId) -> WindowScoring:
        """The contest's scoring object (one per contest in this process)."""
        s = self.services
        return keep_for(
            self._scoring,
            contest,
            lambda: WindowScoring(s.redis, contest, s.prefix, batcher=s.batcher, scripts=s.scripts),
        )

    def attempts(self, contest: ContestId) -> Attempts:
        s = self.services
        return Attempts(s.redis, contest, prefix=s.prefix, scripts=s.scripts)

    async def resume(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """The member's latest attempt, whole, if they started one."""
        attempt = await self.attempts(contest.id).resume(joined.member.id)
        if attempt is None:
            return []
        joined.attempt = attempt.number if attempt.state == "open" else None
        return [await self.attempt_message(contest, attempt)]

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
        window = contest.window
        if window is None or contest.state != "open":
            raise PeerError(code=ErrorCode.CONTEST_NOT_OPEN)
        s = self.services
        member = joined.member.id
        used = await s.redis.hget(ContestKeys(contest.id, s.prefix).attempt_counts, member)
        number = int(used or 0) + 1
        bank, by_id = await s.banks.bank(contest)
        drawn = self._draw(bank, by_id, contest, member, number)
        outcome = await self.attempts(contest.id).start(
            member,
            joined.profile,
            drawn,
            duration_ms=window.attempt_seconds * 1000,
            attempts_allowed=window.attempts_allowed,
            opens_at=window.opens_at,
            closes_at=window.closes_at,
        )
        if not outcome.ok or outcome.attempt is None:
            raise PeerError(code=_START_REFUSALS.get(outcome.status, ErrorCode.NO_ATTEMPT))
        joined.attempt = outcome.attempt.number
        return [await self.attempt_message(contest, outcome.attempt)]

    def _draw(
        self,
        bank: Bank,
        by_id: dict[QuestionId, Question],
        contest: Contest,
        member: MemberId,
        number: int,
    ) -> list[DrawnQuestion]:
        """The member's draw for attempt *number* (seeded: a dispute can be replayed)."""
        key = (contest.id, contest.bank_version)
        drawer = self._drawers.get(key)
        if drawer is None:
            drawer = keep(self._drawers, key, Drawer(bank, contest.draw))
        seed = draw_seed(contest.id, contest.draw_seed_member(member), number)
        result: list[DrawnQuestion] = []
        for item in drawer.draw(seed):
            question = by_id[item.id]
            options = list(item.options)
            if not options and isinstance(question, SingleChoice | MultipleChoice):
                options = [o.id for o in question.options]
            result.append(DrawnQuestion(id=question.id, points=question.points, options=options))
        return result

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
        return [await self.attempt_message(contest, outcome.attempt)]

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
        return attempt_message(
            attempt,
            await self.services.banks.questions(contest),
            attempts_allowed=contest.window.attempts_allowed if contest.window else 0,
            best_score=best.score if best else None,
        )
