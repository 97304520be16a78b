"""What a contest mode is: two small interfaces every mode implements, and what they share.

A mode (the live show, the window round) differs from another in two things:

* what happens to a member's requests in a gateway process (:class:`Members`): joining,
  answering, starting and submitting, resuming, the member's own message after a broadcast;
* how the contest runs (:class:`Runner`): the periodic work of the scheduler, what follows a
  state change, the final standings, what its statistics count.

A :class:`ContestMode` names one class of each; :mod:`engine.contests.modes` lists the modes
and is the one place that picks one by ``contest.mode``. A third mode (say, a team round)
is a package beside :mod:`engine.live` and :mod:`engine.window` and one line there.

Everything else here is what the modes share in a gateway process: the member's connection
state (:class:`Joined`), the I/O services the gateway lends them (:class:`Services`), the
pinned banks (:class:`PinnedBanks`) and a bounded cache (:func:`keep`).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

from engine.core import messages as m
from engine.core.contest import Contest
from engine.core.errors import BackendError, ContestNotFound, ErrorCode, PeerError
from engine.core.lifecycle import Event, Mode
from engine.core.settings import Settings
from engine.directory import tokens
from engine.directory.banks import BankStore
from engine.runtime.clock import ServerClock
from engine.runtime.counters import Tally
from engine.runtime.metrics import ANSWERS_ACCEPTED, ANSWERS_REFUSED
from engine.runtime.redisconn import REDIS_ERRORS, AsyncRedis
from question_bank.checking import choice_key, grade
from question_bank.errors import BankNotFound, InvalidAnswer
from question_bank.ids import ContestId, MemberId, QuestionId
from question_bank.models import Bank, MultipleChoice, Question
from scoring.batcher import AnswerBatcher
from scoring.outcomes import AnswerOutcome
from scoring.profiles import Profile
from scoring.scripts import Scripts

__all__ = [
    "CACHE_LIMIT",
    "OVER_STATES",
    "ContestLoader",
    "ContestMode",
    "Joined",
    "Members",
    "PinnedBanks",
    "Runner",
    "RunnerHooks",
    "Services",
    "Graded",
    "keep",
    "keep_for",
    "refused",
]

_K = TypeVar("_K")
_V = TypeVar("_V")

CACHE_LIMIT = 1000
"""Most contests (and bank versions) a process keeps scoring objects, draws and questions
for; past it the oldest entry goes (a long-running gateway sees contests come and go)."""

OVER_STATES = ("closed", "finalized")
"""States in which a contest takes no more answers and members get their standing."""


def keep(cache: dict[_K, _V], key: _K, value: _V, limit: int = CACHE_LIMIT) -> _V:
    """Put *value* in *cache*, dropping the oldest entry past *limit*; return *value*."""
    cache[key] = value
    if len(cache) > limit:
        cache.pop(next(iter(cache)))
    return value


class Joined:
    """A joined member's connection state in this process (all of it also in Redis)."""

    __slots__ = (
        "attempt",
        "attempts_used",
        "contest",
        "member",
        "none_at_join",
        "profile",
        "welcome",
    )

    def __init__(self, member: tokens.Member, contest: Contest, welcome: m.Welcome) -> None:
        self.member = member
        self.contest = contest
        self.welcome = welcome
        self.profile = Profile(name=member.name, province=member.province, unit=member.unit)
        self.attempt: int | None = None
        """Window rounds: the number of the member's open attempt, once known."""
        self.attempts_used = welcome.contest.attempts_used
        """Window rounds: attempts the member had started when last seen (the next draw is
        for this + 1; the start script says ``redraw`` if another connection started one)."""
        self.none_at_join = self.attempts_used == 0
        """Window rounds: the join's read found no attempt, so the resume that follows the
        welcome has nothing to read (it clears this; a later ``resume`` reads Redis)."""


_ACCEPTED = Tally(ANSWERS_ACCEPTED)
_REFUSED = Tally(ANSWERS_REFUSED)
"""Answers accepted by mode and refused by reason, added to the metrics in bulk (a count
reaches the counter within a second, and at once when the gateway closes)."""


def refused(question: QuestionId, seq: int, reason: str) -> m.Ack:
    """An ``ack`` refusing an answer for *reason* (counted by reason)."""
    _REFUSED.add(reason)
    return m.Ack(question=question, seq=seq, accepted=False, reason=reason)


class Graded(NamedTuple):
    """An answer graded in Python, before the scoring script decides the rest."""

    question: Question
    fraction: float
    """The graded fraction of the question's points."""
    key: str
    """The distribution bucket it counts in."""
    place: dict[str, Any]
    """Where it counts and what was given: ``province``, ``unit``, ``choices``, ``given``."""


def keep_for(cache: dict[ContestId, _V], contest: ContestId, make: Callable[[], _V]) -> _V:
    """The cached value for *contest*, made (and kept, bounded) on first use."""
    found = cache.get(contest)
    return found if found is not None else keep(cache, contest, make())


class ContestLoader(Protocol):
    """Reads a contest's definition and state (cached by the gateway for a moment)."""

    async def __call__(self, contest_id: ContestId, *, fresh: bool = False) -> Contest: ...


class PinnedBanks:
    """The bank versions contests are pinned to, by contest (cached: versions never change)."""

    def __init__(self, store: BankStore) -> None:
        self.store = store
        self._banks: dict[tuple[str, str, int], tuple[Bank, dict[QuestionId, Question]]] = {}
        self._by_contest: dict[ContestId, tuple[Contest, dict[QuestionId, Question]]] = {}

    async def bank(self, contest: Contest) -> tuple[Bank, dict[QuestionId, Question]]:
        """The pinned bank version and its questions by id."""
        key = (str(contest.org), str(contest.bank), contest.bank_version)
        found = self._banks.get(key)
        if found is None:
            try:
                bank = await self.store.get(contest.org, contest.bank, contest.bank_version)
            except BankNotFound as exc:
                raise ContestNotFound(f"the bank of contest {contest.id!r} is gone") from exc
            except REDIS_ERRORS as exc:
                raise BackendError(str(exc)) from exc
            found = keep(self._banks, key, (bank, {q.id: q for q in bank.questions}))
        return found

    async def questions(self, contest: Contest) -> dict[QuestionId, Question]:
        return (await self.bank(contest))[1]

    def known(self, contest: Contest) -> dict[QuestionId, Question] | None:
        """The questions of *contest* if this very contest object asked before (no await on
        the answer path)."""
        found = self._by_contest.get(contest.id)
        return found[1] if found is not None and found[0] is contest else None

    async def questions_of(self, contest: Contest) -> dict[QuestionId, Question]:
        """:meth:`questions`, remembered per contest object (read again with a new one)."""
        found = self.known(contest)
        if found is None:
            found = await self.questions(contest)
            keep(self._by_contest, contest.id, (contest, found))
        return found


class Services:
    """What a gateway process lends its modes: Redis and the scoring scripts, the answer
    batcher (one per process: many members' answers in few pipelines), the server clock,
    the contest loader and the pinned banks."""

    def __init__(
        self,
        settings: Settings,
        redis_client: AsyncRedis,
        *,
        clock: ServerClock,
        scripts: Scripts,
        batcher: AnswerBatcher,
        contest: ContestLoader,
        banks: PinnedBanks,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.prefix = settings.key_prefix
        self.clock = clock
        self.scripts = scripts
        self.batcher = batcher
        self.contest = contest
        self.banks = banks


class Members(abc.ABC):
    """One mode's side of members' requests in one gateway process.

    The gateway (:class:`engine.gateway.members.MemberHandlers`) verifies the token, loads the
    contest, answers leaderboard requests and the closing standings itself, and hands the
    rest to the contest's mode."""

    mode: ClassVar[Mode]

    def __init__(self, services: Services) -> None:
        self.services = services

    async def joined(self, contest: Contest, joined: Joined) -> None:
        """A member joined *contest* (before their ``welcome``)."""
        return None

    async def graded(
        self, contest: Contest, joined: Joined, request: m.Answer, *, unknown: str
    ) -> Graded | m.Ack:
        """Grade *request* against the contest's question (no await when the questions are
        known): the :class:`Graded` answer, or the refusal (*unknown* for a question the
        contest does not have, ``bad_answer`` for an answer of the wrong shape)."""
        qid = QuestionId(request.question)
        banks = self.services.banks
        question = (banks.known(contest) or await banks.questions_of(contest)).get(qid)
        if question is None:
            return refused(qid, request.seq, unknown)
        try:
            fraction = grade(question, request.answer)
            key = choice_key(question, request.answer)
        except InvalidAnswer:
            return refused(qid, request.seq, ErrorCode.BAD_ANSWER)
        member = joined.member
        place: dict[str, Any] = {
            "province": str(member.province),
            "unit": str(member.unit),
            "choices": key.split(",") if isinstance(question, MultipleChoice) else [key],
            "given": request.answer,
        }
        return Graded(question, fraction, key, place)

    def acked(self, request: m.Answer, outcome: AnswerOutcome) -> m.Ack:
        """The ``ack`` of an answer the scoring script decided on."""
        qid = QuestionId(request.question)
        if not outcome.accepted:
            return refused(qid, request.seq, outcome.reason or "closed")
        _ACCEPTED.add(self.mode)
        return m.Ack(
            question=qid,
            seq=request.seq,
            accepted=True,
            points=outcome.points,
            total=outcome.total,
            streak=outcome.streak,
        )

    @abc.abstractmethod
    async def resume(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """The member's exact state in a contest that is not over."""

    @abc.abstractmethod
    async def answer(self, contest: Contest, joined: Joined, request: m.Answer) -> m.Ack:
        """Grade and record one answer: its ``ack`` (a refusal is an ``ack`` too)."""

    async def start(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """``start_attempt``: only modes with attempts have one."""
        raise PeerError(f"a {self.mode} contest has no attempts", code=ErrorCode.CONTEST_NOT_OPEN)

    async def submit(
        self, contest: Contest, joined: Joined, prediction: int | None
    ) -> list[m.ServerMessage]:
        """``submit``: only modes with attempts have one."""
        raise PeerError(f"a {self.mode} contest has no attempts", code=ErrorCode.CONTEST_NOT_OPEN)

    async def follow_up(
        self, contest: ContestId, kind: str, frame: bytes, members: Sequence[Joined]
    ) -> Mapping[MemberId, m.ServerMessage]:
        """Each local member's own message after a broadcast of *kind* (the closing
        standings are the gateway's)."""
        return {}

    async def resync(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        """What to send a member again after this process lost its subscription a while
        (a broadcast or a notice may have been missed): by default their whole state."""
        return await self.resume(contest, joined)

    async def expired(self, joined: Joined, number: int) -> m.AttemptState | None:
        """The message for a member whose attempt *number* the server expired (notices)."""
        return None


@dataclass(frozen=True)
class RunnerHooks:
    """What the scheduler lends the runners: who it is, and the contest store's moves."""

    holder: str
    """This process's lease holder id."""
    conductor_lease_ms: int
    bank: Callable[[Contest], Awaitable[Bank]]
    """The contest's pinned bank."""
    close: Callable[[ContestId], Awaitable[None]]
    """Move the contest to ``closed`` (idempotent)."""


class Runner(abc.ABC):
    """One mode's side of running contests: the scheduler's work, what follows a state
    change, the final standings, what statistics count. Made by the contest store (no
    *hooks*) and by each process's scheduler (with them)."""

    answers_per_attempt: ClassVar[bool] = False
    """Statistics count answers per attempt question (``True``) or per released question."""

    def __init__(
        self, redis_client: AsyncRedis, prefix: str, hooks: RunnerHooks | None = None
    ) -> None:
        self.redis = redis_client
        self.prefix = prefix
        self.hooks = hooks

    async def before(self, contest: Contest, event: Event) -> None:
        """Work due before the scheduler fires *event* on *contest*."""
        return None

    async def after_move(self, contest: Contest, event: Event, at: int) -> None:
        """*contest* (as it was) moved by *event* at *at* (ms, Redis's clock)."""
        return None

    async def sweep(self, contest: Contest) -> int:
        """The lease holder's periodic work on one active contest; how many things it did."""
        return 0

    def supervise(self, contests: Sequence[Contest]) -> None:
        """Every process's periodic look at the active contests of this mode."""
        return None

    async def close(self) -> None:
        """The scheduler stops: end what :meth:`supervise` started."""
        return None

    @abc.abstractmethod
    async def final_standings(
        self, contest: Contest, bank: Callable[[Contest], Awaitable[Bank]]
    ) -> None:
        """Compute and store the final ranking of a closed contest (idempotent)."""

    async def asked(self, contest: Contest) -> tuple[list[QuestionId] | None, QuestionId | None]:
        """The questions asked so far in order and the one open now, where the mode knows
        them (statistics); ``(None, None)``: every question of the bank."""
        return None, None


@dataclass(frozen=True)
class ContestMode:
    """A contest mode: its name and its two sides."""

    name: Mode
    members: type[Members]
    runner: type[Runner]
