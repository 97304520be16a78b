"""The live show's side of members' requests in a gateway process.

A member who joins is entered in the show (late joiners too: they play from the current
question). An answer is graded here, in Python (:func:`question_bank.checking.grade`), and
accepted or refused atomically by the scoring script on Redis's clock (deadline, one per
member and question, elimination), through the process's answer batcher. After a reveal
each local member gets their ``result`` (:func:`engine.live.results.results_after_reveal`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from engine.core import messages as m
from engine.core.contest import Contest
from engine.core.errors import BackendError
from engine.core.show import Phase
from engine.core.views import answer_record, question_message
from engine.live.conductor import read_show
from engine.live.results import results_after_reveal
from engine.modes.base import Joined, Members, Services, keep_for
from question_bank.ids import ContestId, MemberId
from scoring.errors import ScoringError
from scoring.live import LiveScoring
from scoring.outcomes import decode_outcome

__all__ = ["LiveMembers"]


class LiveMembers(Members):
    """Members' requests in live shows (one object per gateway process)."""

    mode = "live"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self._scoring: dict[ContestId, LiveScoring] = {}

    def scoring(self, contest: ContestId) -> LiveScoring:
        """The contest's scoring object (one per contest in this process)."""
        s = self.services
        return keep_for(
            self._scoring,
            contest,
            lambda: LiveScoring(s.redis, contest, s.prefix, batcher=s.batcher, scripts=s.scripts),
        )

    async def joined(self, contest: Contest, joined: Joined) -> None:
        await self.scoring(contest.id).join(joined.member.id)

    async def resume(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """The open question (with the member's answer if any), or nothing between
        questions."""
        s = self.services
        show = await read_show(s.redis, contest.id, s.prefix)
        if show is None or show.state.phase is not Phase.QUESTION or show.question is None:
            return []
        qid = show.question
        questions = await s.banks.questions(contest)
        state = await self.scoring(contest.id).member_state(joined.member.id, [qid])
        question = question_message(
            questions[qid],
            index=show.state.index,
            count=show.plan.count,
            opens=show.state.since,
            deadline=show.state.ends,
            sent_at=s.clock(),
        )
        record = state.answers.get(qid)
        if record is not None:
            question = msgspec.structs.replace(question, yours=answer_record(record))
        return [question]

    async def answer(self, contest: Contest, joined: Joined, request: m.Answer) -> m.Ack:
        graded = await self.graded(contest, joined, request, unknown="not_open")
        if isinstance(graded, m.Ack):
            return graded
        call = self.scoring(contest.id).answer_call(
            joined.member.id, graded.question.id, graded.fraction, graded.key, **graded.place
        )
        try:
            outcome = decode_outcome(await self.services.batcher.submit(call), window=False)
        except ScoringError as exc:
            raise BackendError(str(exc)) from exc
        return self.acked(request, outcome)

    async def follow_up(
        self, contest: ContestId, kind: str, frame: bytes, members: Sequence[Joined]
    ) -> Mapping[MemberId, m.ServerMessage]:
        """After a reveal: each member's points, total, rank, streak and elimination."""
        if kind != "reveal":
            return {}
        reveal = m.decode_server(frame)
        assert isinstance(reveal, m.Reveal)
        ids = [j.member.id for j in members]
        s = self.services
        return await results_after_reveal(s.redis, contest, reveal, ids, s.prefix)
