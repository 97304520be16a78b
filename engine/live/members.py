"""The live show's side of members' requests in a gateway process.

A member who joins is entered in the show (late joiners too: they play from the current
question). An answer is graded here, in Python (:func:`question_bank.checking.grade`), and
accepted or refused atomically by the scoring script on Redis's clock (deadline, one per
member and question, elimination), through the process's answer batcher. The ``ack``
carries the points, the total and the streak; with the reveal's board (protocol 2) that is
all a member needs to know their standing, so nothing is sent to each member after a
reveal, except in shows with elimination a ``result`` to each member the question
eliminated (:func:`engine.live.results.results_after_reveal`).
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
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.errors import ScoringError
from scoring.keys import ContestKeys, ContestShards
from scoring.live import LiveScoring
from scoring.outcomes import decode_outcome

__all__ = ["LiveMembers"]


class LiveMembers(Members):
    """Members' requests in live shows (one object per gateway process)."""

    mode = "live"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self._scoring: dict[ContestId, LiveScoring] = {}

    def scoring(self, contest: Contest) -> LiveScoring:
        """The contest's scoring object (one per contest in this process; its shards are
        fixed once it left draft)."""
        s = self.services
        return keep_for(
            self._scoring,
            contest.id,
            lambda: LiveScoring(
                s.redis,
                contest.id,
                s.prefix,
                batcher=s.batcher,
                scripts=s.scripts,
                shards=contest.shards,
            ),
        )

    async def joined(self, contest: Contest, joined: Joined) -> None:
        await self.scoring(contest).join(joined.member.id)

    async def resume(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """The open question (with the member's answer if any), or nothing between
        questions."""
        s = self.services
        show = await read_show(s.redis, contest.id, s.prefix)
        if show is None or show.state.phase is not Phase.QUESTION or show.question is None:
            return []
        qid = show.question
        questions = await s.banks.questions(contest)
        state = await self.scoring(contest).member_state(joined.member.id, [qid])
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
        call = self.scoring(contest).answer_call(
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
        """After a reveal in a show with elimination: a ``result`` to each member this
        question eliminated. Everyone else knows their standing from their acks and the
        reveal's board (protocol 2), so a show without elimination sends nothing."""
        if kind != "reveal" or not members:
            return {}
        s = self.services
        keys = ContestKeys(contest, s.prefix)
        if await s.redis.hget(keys.meta, "eliminate") != b"1":
            return {}
        reveal = m.decode_server(frame)
        assert isinstance(reveal, m.Reveal)
        shards = members[0].contest.shards
        places = ContestShards(contest, s.prefix, shards)
        by_shard: dict[int, list[MemberId]] = {}
        for j in members:
            by_shard.setdefault(places.index(j.member.id), []).append(j.member.id)
        gone: list[MemberId] = []
        qid = QuestionId(reveal.question)
        for shard, ids in by_shard.items():
            out = await s.redis.smismember(places.keys[shard].eliminated_at(qid), ids)
            gone += [member for member, flag in zip(ids, out, strict=True) if flag]
        if not gone:
            return {}
        return await results_after_reveal(s.redis, contest, reveal, gone, s.prefix, shards=shards)
