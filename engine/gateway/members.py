"""What the gateway does with a member's requests: the I/O half of a member's session.

:class:`MemberHandlers` is the I/O half of a member's session (the rules half is
:mod:`engine.core.session`): it verifies the join token and loads the contest
(:meth:`~MemberHandlers.join`), brings a (re)connecting member back to their exact state
(:meth:`~MemberHandlers.resume`), serves each request (:meth:`~MemberHandlers.handle`) and,
after a broadcast, each local member's own follow-up (:meth:`~MemberHandlers.follow_up`).

What differs between live shows and window rounds is not here: each request goes to the
contest's mode (:func:`engine.contests.modes.mode_of`: :class:`engine.live.members.LiveMembers`,
:class:`engine.window.members.WindowMembers`), one object per mode per process, which share
this process's :class:`~engine.modes.base.Services`: the answer batcher (many members'
answers in few pipelines), the scoring scripts, the clock, the contest cache and the pinned
banks. Leaderboard requests and the closing standings are the same in every mode and are
served here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.contests.modes import MODES, mode_of
from engine.contests.store import ContestStore
from engine.core import messages as m
from engine.core.contest import Contest
from engine.core.errors import ContestNotFound, ErrorCode, NotEligible, PeerError
from engine.core.lifecycle import Mode
from engine.core.settings import Settings
from engine.core.views import contest_info
from engine.directory import tokens
from engine.directory.banks import BankStore
from engine.gateway.contest_cache import ContestCache
from engine.modes.base import OVER_STATES, Joined, Members, PinnedBanks, Services
from engine.modes.standings import closing_standings, leaderboard
from engine.runtime.clock import ServerClock
from engine.runtime.counters import flush_tallies
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId, MemberId, QuestionId
from question_bank.models import Bank, Question
from scoring.batcher import AnswerBatcher
from scoring.keys import ContestKeys
from scoring.profiles import Profile, join_call
from scoring.scripts import Scripts

__all__ = ["Joined", "MemberHandlers"]


class MemberHandlers:
    """The Redis side of every member of one gateway process."""

    def __init__(
        self,
        settings: Settings,
        redis_client: AsyncRedis,
        *,
        clock: ServerClock | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.prefix = settings.key_prefix
        self.clock = clock or ServerClock()
        scripts = Scripts(redis_client)
        self.batcher = AnswerBatcher(
            scripts, window_ms=settings.answer_batch_ms, connections=settings.redis_pool_size
        )
        self.contests = ContestCache(ContestStore(redis_client, prefix=self.prefix))
        self.banks = PinnedBanks(BankStore(redis_client, prefix=self.prefix))
        self.services = Services(
            settings,
            redis_client,
            clock=self.clock,
            scripts=scripts,
            batcher=self.batcher,
            contest=self.contests,
            banks=self.banks,
        )
        self.modes: dict[Mode, Members] = {
            name: mode.members(self.services) for name, mode in MODES.items()
        }

    async def start(self) -> None:
        """Load the scoring scripts, so that no member's first call pays a reload (a start
        is one EVALSHA; connections are made on first use)."""
        await self.services.scripts.load()

    async def close(self) -> None:
        await self.batcher.close()
        flush_tallies()  # the answers counted in bulk reach the metrics before the exit

    def _mode(self, contest: Contest) -> Members:
        return self.modes[mode_of(contest).name]

    # ------------------------------------------------------------------ loading

    async def contest(self, contest_id: ContestId, *, fresh: bool = False) -> Contest:
        """The contest's definition and state (:class:`ContestCache`)."""
        return await self.contests(contest_id, fresh=fresh)

    def forget(self, contest_id: ContestId) -> None:
        """Drop the cached definition of a contest (its state changed)."""
        self.contests.forget(contest_id)

    async def bank(self, contest: Contest) -> tuple[Bank, dict[QuestionId, Question]]:
        """The pinned bank version and its questions by id."""
        return await self.banks.bank(contest)

    # ------------------------------------------------------------------ join and resume

    async def join(self, token: str, contest_id: ContestId) -> Joined:
        """Verify *token* for *contest_id* and load what the welcome needs.

        Raises a :class:`~engine.core.errors.TokenError`, :class:`NotEligible` or
        :class:`ContestNotFound` (each carries its close code).
        """
        contest = await self.contest(contest_id)
        if contest.state == "draft":
            # Not published yet: the organiser may still change it (the public API hides
            # drafts too). Members join once it is scheduled.
            raise ContestNotFound(f"contest {contest_id!r} is not published yet")
        member = tokens.verify(token, self.settings.token_secret, contest_id, now_ms=self.clock())
        if not contest.allows(member.province, member.unit):
            raise NotEligible()
        keys = ContestKeys(contest_id, self.prefix)
        profile = Profile(name=member.name, province=member.province, unit=member.unit)
        # Store the profile and read the attempt count (window rounds): one script call,
        # sent in the batcher's next batch with other members' calls.
        used = await self.batcher.submit(join_call(keys, member.id, profile))
        welcome = m.Welcome(
            server_time=self.clock.of(keys.meta)(),
            member=m.MemberInfo(
                id=member.id, name=member.name, province=member.province, unit=member.unit
            ),
            contest=contest_info(contest, int(used or 0)),
            ping_interval_ms=int(self.settings.ping_interval * 1000),
            max_messages_per_second=self.settings.max_messages_per_second,
        )
        joined = Joined(member, contest, welcome)
        await self._mode(contest).joined(contest, joined)
        return joined

    async def resume(self, joined: Joined) -> list[m.ServerMessage]:
        """The member's exact state: their final standing if the contest is over, else what
        the contest's mode keeps of them (the open live question with their answer, or their
        window attempt)."""
        contest = await self.contest(joined.contest.id)
        if contest.state in OVER_STATES:
            return [await self._closed(contest, joined.member.id)]
        return await self._mode(contest).resume(contest, joined)

    async def resync(self, joined: Joined) -> list[m.ServerMessage]:
        """What a member may have missed while this process lost its subscription."""
        contest = await self.contest(joined.contest.id)
        if contest.state in OVER_STATES:
            return await self.resume(joined)
        return await self._mode(contest).resync(contest, joined)

    # ------------------------------------------------------------------ requests

    async def handle(self, joined: Joined, request: Any) -> list[m.ServerMessage]:
        """Serve one request; a refusal is an ``ack``/``error`` frame, never an exception
        that reaches the member's neighbours."""
        match request:
            case m.Answer():
                return [await self.answer(joined, request)]
            case m.StartAttempt():
                # The cached contest (read at most a second ago, forgotten on a state
                # change): the start script judges the state in Redis itself. Read again
                # only if the copy says the contest is not open (it may have just opened).
                contest = await self.contest(joined.contest.id)
                if contest.state != "open":
                    contest = await self.contest(joined.contest.id, fresh=True)
                return await self._mode(contest).start(contest, joined)
            case m.Resume():
                return await self.resume(joined)
            case m.Submit(prediction=prediction):
                contest = await self.contest(joined.contest.id)
                return await self._mode(contest).submit(contest, joined, prediction)
            case m.LeaderboardRequest(scope=scope, limit=limit):
                board = await leaderboard(
                    self.redis,
                    joined.contest.id,
                    scope=scope,
                    member=joined.member.id,
                    profile=joined.profile,
                    limit=limit,
                    now=self.clock(),
                    prefix=self.prefix,
                    shards=joined.contest.shards,
                )
                return [board]
        raise PeerError(code=ErrorCode.UNKNOWN_TYPE)

    async def answer(self, joined: Joined, request: m.Answer) -> m.Ack:
        """One answer, by the contest's mode (the contest as cached: no await if fresh)."""
        cid = joined.contest.id
        contest = self.contests.fresh(cid) or await self.contest(cid)
        return await self._mode(contest).answer(contest, joined, request)

    async def expired(self, joined: Joined, number: int) -> m.AttemptState | None:
        """The message for a member whose attempt *number* the server expired (notices)."""
        return await self._mode(joined.contest).expired(joined, number)

    # ------------------------------------------------------------------ follow-ups

    async def follow_up(
        self, contest_id: ContestId, kind: str, frame: bytes, members: Sequence[Joined]
    ) -> Mapping[MemberId, m.ServerMessage]:
        """Each member's own message after a broadcast of *kind*, if it calls for one: their
        standing when the contest closes, or what the mode follows its broadcasts with."""
        if kind == "state":
            change = m.decode_server(frame)
            assert isinstance(change, m.StateChanged)
            if change.state in OVER_STATES:
                contest = await self.contest(contest_id, fresh=True)
                return await self._closed_many(contest, [j.member.id for j in members])
            return {}
        if not members:
            return {}
        return await self._mode(members[0].contest).follow_up(contest_id, kind, frame, members)

    async def _closed(self, contest: Contest, member: MemberId) -> m.ServerMessage:
        return (await self._closed_many(contest, [member]))[member]

    async def _closed_many(
        self, contest: Contest, members: list[MemberId]
    ) -> Mapping[MemberId, m.ServerMessage]:
        return await closing_standings(self.redis, contest, members, self.prefix)
