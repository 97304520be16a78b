"""What the gateway does with a member's requests, against Redis and the scoring core.

:class:`MemberHandlers` is the I/O half of a member's session (the rules half is
:mod:`engine.core.session`): verify the join token and load the contest (:meth:`join`), bring a
(re)connecting member back to their exact state (:meth:`resume`), and serve each request
(:meth:`handle`): answers, window attempts, leaderboards. After a broadcast it computes each
local member's own follow-up (:meth:`follow_up`): their points and rank after a reveal,
their standing when the contest closes.

Everything a member's state is made of is read from Redis on each join, so a member who
reconnects to any gateway process gets the same state back; per process there are only
caches of immutable things (bank versions) and short-lived ones (contest definitions,
:data:`CONTEST_TTL_MS`, so a state change is seen within a second).

Grading happens here, in Python, before the scoring script runs
(:func:`question_bank.checking.grade`); the script decides the rest (deadline, duplicate,
points) atomically on Redis's clock. Answers go through one
:class:`~scoring.batcher.AnswerBatcher` per process, which turns many members' answers into
few pipelines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
import redis.asyncio

from engine.contests.standings import closing_standings, leaderboard, results_after_reveal
from engine.contests.store import ContestStore
from engine.core import messages as m
from engine.core.contest import Contest
from engine.core.errors import BackendError, ContestNotFound, ErrorCode, NotEligible, PeerError
from engine.core.settings import Settings
from engine.core.show import Phase
from engine.core.views import answer_record, attempt_message, contest_info
from engine.directory import tokens
from engine.directory.banks import BankStore
from engine.live.conductor import question_message, read_show
from engine.runtime.clock import ServerClock
from engine.runtime.counters import child
from engine.runtime.metrics import ANSWERS_ACCEPTED, ANSWERS_REFUSED
from question_bank.checking import choice_key, grade
from question_bank.draws import Drawer, draw_seed
from question_bank.errors import BankNotFound, InvalidAnswer
from question_bank.ids import ContestId, MemberId, QuestionId
from question_bank.models import Bank, MultipleChoice, Prediction, Question, SingleChoice
from scoring.attempts import Attempts, AttemptState, DrawnQuestion
from scoring.batcher import AnswerBatcher
from scoring.errors import ScoringError
from scoring.keys import ContestKeys
from scoring.live import LiveScoring
from scoring.outcomes import decode_outcome
from scoring.profiles import Profile, encode_profile
from scoring.scripts import Scripts
from scoring.window import WindowScoring

__all__ = ["CONTEST_TTL_MS", "Joined", "MemberHandlers", "contest_info"]

CONTEST_TTL_MS = 1000
"""How long a process reuses a contest definition it read (its state may change)."""

_K = TypeVar("_K")
_V = TypeVar("_V")

CACHE_LIMIT = 1000
"""Most contests (and bank versions) a process keeps scoring objects, draws and questions
for; past it the oldest entry goes (a long-running gateway sees contests come and go)."""


def _keep(cache: dict[_K, _V], key: _K, value: _V, limit: int = CACHE_LIMIT) -> _V:
    """Put *value* in *cache*, dropping the oldest entry past *limit*; return *value*."""
    cache[key] = value
    if len(cache) > limit:
        cache.pop(next(iter(cache)))
    return value


GONE_STATES = ("deleted", "cancelled")
OVER_STATES = ("closed", "finalized")


class Joined:
    """A joined member's connection state in this process (all of it also in Redis)."""

    __slots__ = ("attempt", "contest", "member", "profile", "welcome")

    def __init__(self, member: tokens.Member, contest: Contest, welcome: m.Welcome) -> None:
        self.member = member
        self.contest = contest
        self.welcome = welcome
        self.profile = Profile(name=member.name, province=member.province, unit=member.unit)
        self.attempt: int | None = None
        """Window rounds: the number of the member's open attempt, once known."""


class MemberHandlers:
    """The Redis side of every member of one gateway process."""

    def __init__(
        self,
        settings: Settings,
        redis_client: redis.asyncio.Redis,
        *,
        clock: ServerClock | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.prefix = settings.key_prefix
        self.clock = clock or ServerClock()
        self.scripts = Scripts(redis_client)
        self.batcher = AnswerBatcher(
            self.scripts,
            window_ms=settings.answer_batch_ms,
            connections=settings.redis_pool_size,
        )
        self.contests = ContestStore(redis_client, prefix=self.prefix)
        self.banks = BankStore(redis_client, prefix=self.prefix)
        self._contests: dict[ContestId, tuple[int, Contest]] = {}
        self._loading: dict[ContestId, asyncio.Lock] = {}
        self._banks: dict[tuple[str, str, int], tuple[Bank, dict[QuestionId, Question]]] = {}
        self._lives: dict[ContestId, LiveScoring] = {}
        self._drawers: dict[tuple[ContestId, int], Drawer] = {}
        self._windows: dict[ContestId, WindowScoring] = {}
        self._question_maps: dict[ContestId, tuple[Contest, dict[QuestionId, Question]]] = {}
        self._accepted_live = child(ANSWERS_ACCEPTED, "live")
        self._accepted_window = child(ANSWERS_ACCEPTED, "window")

    async def start(self) -> None:
        """Nothing to open yet: connections are made on first use."""

    async def close(self) -> None:
        await self.batcher.close()

    # ------------------------------------------------------------------ loading

    async def contest(self, contest_id: ContestId, *, fresh: bool = False) -> Contest:
        """The contest's definition and state, read at most once per :data:`CONTEST_TTL_MS`
        by this process (one read in flight per contest, however many members ask)."""
        asked = time.monotonic_ns() // 1_000_000
        cached = self._contests.get(contest_id)
        if cached is not None and not fresh and asked - cached[0] < CONTEST_TTL_MS:
            return cached[1]
        lock = self._loading.setdefault(contest_id, asyncio.Lock())
        async with lock:
            cached = self._contests.get(contest_id)
            if cached is not None and cached[0] >= asked:
                return cached[1]  # read by another caller while this one waited
            now = time.monotonic_ns() // 1_000_000
            try:
                contest = await self.contests.get(contest_id)
            except redis.RedisError as exc:
                raise BackendError(str(exc)) from exc
            if contest.state in GONE_STATES:
                raise ContestNotFound(f"contest {contest_id!r} was {contest.state}")
            self._contests[contest_id] = (now, contest)
        if len(self._contests) > CACHE_LIMIT:
            evicted = next(iter(self._contests))
            self._contests.pop(evicted)
            self._loading.pop(evicted, None)
        return contest

    def forget(self, contest_id: ContestId) -> None:
        """Drop the cached definition of a contest (its state changed)."""
        self._contests.pop(contest_id, None)

    async def bank(self, contest: Contest) -> tuple[Bank, dict[QuestionId, Question]]:
        """The pinned bank version and its questions by id (cached: versions never change)."""
        key = (str(contest.org), str(contest.bank), contest.bank_version)
        found = self._banks.get(key)
        if found is None:
            try:
                bank = await self.banks.get(contest.org, contest.bank, contest.bank_version)
            except BankNotFound as exc:
                raise ContestNotFound(f"the bank of contest {contest.id!r} is gone") from exc
            except redis.RedisError as exc:
                raise BackendError(str(exc)) from exc
            found = _keep(self._banks, key, (bank, {q.id: q for q in bank.questions}))
        return found

    async def questions(self, contest: Contest) -> dict[QuestionId, Question]:
        return (await self.bank(contest))[1]

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
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.profiles, member.id, encode_profile(profile))
            pipe.hget(keys.attempt_counts, member.id)
            _, used = await pipe.execute()
        if contest.mode == "live":
            await self._live(contest_id).join(member.id)
        welcome = m.Welcome(
            server_time=self.clock(),
            member=m.MemberInfo(
                id=member.id, name=member.name, province=member.province, unit=member.unit
            ),
            contest=contest_info(contest, int(used or 0)),
            ping_interval_ms=int(self.settings.ping_interval * 1000),
            max_messages_per_second=self.settings.max_messages_per_second,
        )
        return Joined(member, contest, welcome)

    async def resume(self, joined: Joined) -> list[m.ServerMessage]:
        """The member's exact state: the open live question (with their answer if any) or
        their window attempt; their final standing if the contest is over."""
        contest = await self.contest(joined.contest.id)
        if contest.state in OVER_STATES:
            return [await self._closed(contest, joined.member.id)]
        if contest.mode == "live":
            return await self._resume_live(contest, joined)
        return await self._resume_window(contest, joined)

    async def _resume_live(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        show = await read_show(self.redis, contest.id, self.prefix)
        if show is None or show.state.phase is not Phase.QUESTION or show.question is None:
            return []
        qid = show.question
        questions = await self.questions(contest)
        state = await self._live(contest.id).member_state(joined.member.id, [qid])
        question = question_message(
            questions[qid],
            index=show.state.index,
            count=show.plan.count,
            opens=show.state.since,
            deadline=show.state.ends,
            sent_at=self.clock(),
        )
        record = state.answers.get(qid)
        if record is not None:
            question = msgspec.structs.replace(question, yours=answer_record(record))
        return [question]

    async def _resume_window(self, contest: Contest, joined: Joined) -> list[m.ServerMessage]:
        attempt = await self._attempts(contest.id).resume(joined.member.id)
        if attempt is None:
            return []
        joined.attempt = attempt.number if attempt.state == "open" else None
        return [await self._attempt_message(contest, attempt)]

    # ------------------------------------------------------------------ requests

    async def handle(self, joined: Joined, request: Any) -> list[m.ServerMessage]:
        """Serve one request; a refusal is an ``ack``/``error`` frame, never an exception
        that reaches the member's neighbours."""
        match request:
            case m.Answer():
                return [await self.answer(joined, request)]
            case m.StartAttempt():
                return await self.start_attempt(joined)
            case m.Resume():
                return await self.resume(joined)
            case m.Submit(prediction=prediction):
                return await self.submit(joined, prediction)
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
                )
                return [board]
        raise PeerError(code=ErrorCode.UNKNOWN_TYPE)

    def _fresh(self, contest_id: ContestId) -> Contest | None:
        """The cached contest if it is fresh enough (no await on the hot path)."""
        cached = self._contests.get(contest_id)
        if cached is not None and time.monotonic_ns() // 1_000_000 - cached[0] < CONTEST_TTL_MS:
            return cached[1]
        return None

    async def _questions_of(self, contest: Contest) -> dict[QuestionId, Question]:
        """:meth:`questions`, remembered per contest object (read again with a new one)."""
        known = self._question_maps.get(contest.id)
        if known is not None and known[0] is contest:
            return known[1]
        questions = await self.questions(contest)
        _keep(self._question_maps, contest.id, (contest, questions))
        return questions

    async def answer(self, joined: Joined, request: m.Answer) -> m.Ack:
        cid = joined.contest.id
        contest = self._fresh(cid) or await self.contest(cid)
        qid = QuestionId(request.question)

        def refused(reason: str) -> m.Ack:
            child(ANSWERS_REFUSED, reason).inc()
            return m.Ack(question=qid, seq=request.seq, accepted=False, reason=reason)

        if contest.mode == "window" and contest.state != "open":
            return refused(ErrorCode.ATTEMPT_CLOSED if contest.state in OVER_STATES else "not_open")
        known = self._question_maps.get(cid)
        if known is not None and known[0] is contest:
            question = known[1].get(qid)
        else:
            question = (await self._questions_of(contest)).get(qid)
        if question is None:
            return refused("not_open" if contest.mode == "live" else "not_in_attempt")
        try:
            fraction = grade(question, request.answer)
            key = choice_key(question, request.answer)
        except InvalidAnswer:
            return refused(ErrorCode.BAD_ANSWER)
        if contest.window is not None and qid == contest.window.prediction_question:
            return await self._predict(joined, request, int(key), refused)
        member = joined.member
        place: dict[str, Any] = {
            "province": str(member.province),
            "unit": str(member.unit),
            "choices": key.split(",") if isinstance(question, MultipleChoice) else [key],
            "given": request.answer,
        }
        try:
            if contest.mode == "live":
                call = self._live(contest.id).answer_call(member.id, qid, fraction, key, **place)
            else:
                if joined.attempt is None:
                    attempt = await self._attempts(contest.id).resume(member.id)
                    if attempt is None or attempt.state != "open":
                        return refused("no_attempt" if attempt is None else "attempt_closed")
                    joined.attempt = attempt.number
                call = self._window(contest.id).answer_call(
                    member.id, joined.attempt, qid, fraction, key, **place
                )
            outcome = decode_outcome(
                await self.batcher.submit(call), window=contest.mode == "window"
            )
        except ScoringError as exc:
            raise BackendError(str(exc)) from exc
        if not outcome.accepted:
            if (
                outcome.reason in ("attempt_closed", "late", "no_attempt")
                and contest.mode == "window"
            ):
                joined.attempt = None
            return refused(outcome.reason or "closed")
        (self._accepted_live if contest.mode == "live" else self._accepted_window).inc()
        return m.Ack(
            question=qid,
            seq=request.seq,
            accepted=True,
            points=outcome.points,
            total=outcome.total,
        )

    async def _predict(
        self, joined: Joined, request: m.Answer, value: int, refused: Callable[[str], m.Ack]
    ) -> m.Ack:
        """An answer to the round's prediction question: store *value* (already checked
        against the question's range) as the open attempt's prediction, replacing one
        stored before; the attempt stays open. Refused ``no_attempt``, ``attempt_closed``
        or ``late`` (the deadline passed: the attempt is expired now, nothing stored)."""
        try:
            outcome = await self._attempts(joined.contest.id).predict(joined.member.id, value)
        except ScoringError as exc:
            raise BackendError(str(exc)) from exc
        if not outcome.ok or outcome.attempt is None:
            joined.attempt = None
            return refused(outcome.status)
        return m.Ack(
            question=QuestionId(request.question),
            seq=request.seq,
            accepted=True,
            total=outcome.attempt.score,
        )

    async def start_attempt(self, joined: Joined) -> list[m.ServerMessage]:
        contest = await self.contest(joined.contest.id, fresh=True)
        window = contest.window
        if contest.mode != "window" or window is None:
            raise PeerError("a live show has no attempts", code=ErrorCode.CONTEST_NOT_OPEN)
        if contest.state != "open":
            raise PeerError(code=ErrorCode.CONTEST_NOT_OPEN)
        member = joined.member.id
        attempts = self._attempts(contest.id)
        used = await self.redis.hget(ContestKeys(contest.id, self.prefix).attempt_counts, member)
        number = int(used or 0) + 1
        bank, by_id = await self.bank(contest)
        drawn = self._draw(bank, by_id, contest, member, number)
        outcome = await attempts.start(
            member,
            joined.profile,
            drawn,
            duration_ms=window.attempt_seconds * 1000,
            attempts_allowed=window.attempts_allowed,
            opens_at=window.opens_at,
            closes_at=window.closes_at,
        )
        if not outcome.ok or outcome.attempt is None:
            code = {
                "attempts_used": ErrorCode.ATTEMPTS_EXHAUSTED,
                "not_open": ErrorCode.CONTEST_NOT_OPEN,
                "round_closed": ErrorCode.CONTEST_NOT_OPEN,
            }.get(outcome.status, ErrorCode.NO_ATTEMPT)
            raise PeerError(code=code)
        joined.attempt = outcome.attempt.number
        return [await self._attempt_message(contest, outcome.attempt)]

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
            drawer = _keep(self._drawers, key, Drawer(bank, contest.draw))
        seed = draw_seed(contest.id, contest.draw_seed_member(member), number)
        result: list[DrawnQuestion] = []
        for item in drawer.draw(seed):
            question = by_id[item.id]
            options = list(item.options)
            if not options and isinstance(question, SingleChoice | MultipleChoice):
                options = [o.id for o in question.options]
            result.append(DrawnQuestion(id=question.id, points=question.points, options=options))
        return result

    async def submit(self, joined: Joined, prediction: int | None) -> list[m.ServerMessage]:
        contest = await self.contest(joined.contest.id)
        window = contest.window
        if contest.mode != "window" or window is None:
            raise PeerError("a live show has no attempts", code=ErrorCode.CONTEST_NOT_OPEN)
        asked = window.prediction_question
        if asked is None:
            prediction = None  # a round without a prediction question keeps none
        elif prediction is not None:
            question = (await self.questions(contest)).get(asked)
            top = question.max_value if isinstance(question, Prediction) else None
            if top is not None and prediction > top:
                raise PeerError(
                    f"a prediction is a whole number from 0 to {top}", code=ErrorCode.BAD_ANSWER
                )
        outcome = await self._attempts(contest.id).submit(
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
        return [await self._attempt_message(contest, outcome.attempt)]

    async def expired(self, joined: Joined, number: int) -> m.AttemptState | None:
        """The ``attempt`` message of attempt *number*, which the server's sweep has just
        expired, to push to the member; ``None`` if it is not expired (anymore) or the
        member has started another attempt on this connection since."""
        if joined.attempt is not None and joined.attempt != number:
            return None
        contest = await self.contest(joined.contest.id)
        attempt = await self._attempts(contest.id).attempt(joined.member.id, number)
        if attempt is None or attempt.state != "expired":
            return None
        joined.attempt = None
        return await self._attempt_message(contest, attempt)

    async def _attempt_message(self, contest: Contest, attempt: AttemptState) -> m.AttemptState:
        best = await self._attempts(contest.id).best(attempt.member)
        return attempt_message(
            attempt,
            await self.questions(contest),
            attempts_allowed=contest.window.attempts_allowed if contest.window else 0,
            best_score=best.score if best else None,
        )

    # ------------------------------------------------------------------ follow-ups

    async def follow_up(
        self, contest_id: ContestId, kind: str, frame: bytes, members: list[Joined]
    ) -> Mapping[MemberId, m.ServerMessage]:
        """Each member's own message after a broadcast of *kind*, if it calls for one."""
        if kind == "reveal":
            reveal = m.decode_server(frame)
            assert isinstance(reveal, m.Reveal)
            return await self._results(contest_id, reveal, members)
        if kind == "state":
            change = m.decode_server(frame)
            assert isinstance(change, m.StateChanged)
            if change.state in OVER_STATES:
                contest = await self.contest(contest_id, fresh=True)
                return await self._closed_many(contest, [j.member.id for j in members])
        return {}

    async def _results(
        self, contest_id: ContestId, reveal: m.Reveal, members: list[Joined]
    ) -> Mapping[MemberId, m.ServerMessage]:
        ids = [j.member.id for j in members]
        return await results_after_reveal(self.redis, contest_id, reveal, ids, self.prefix)

    async def _closed(self, contest: Contest, member: MemberId) -> m.ServerMessage:
        return (await self._closed_many(contest, [member]))[member]

    async def _closed_many(
        self, contest: Contest, members: list[MemberId]
    ) -> Mapping[MemberId, m.ServerMessage]:
        return await closing_standings(self.redis, contest, members, self.prefix)

    # ------------------------------------------------------------------ scoring objects

    def _live(self, contest: ContestId) -> LiveScoring:
        live = self._lives.get(contest)
        if live is None:
            live = LiveScoring(
                self.redis, contest, self.prefix, batcher=self.batcher, scripts=self.scripts
            )
            _keep(self._lives, contest, live)
        return live

    def _window(self, contest: ContestId) -> WindowScoring:
        window = self._windows.get(contest)
        if window is None:
            window = WindowScoring(
                self.redis, contest, self.prefix, batcher=self.batcher, scripts=self.scripts
            )
            _keep(self._windows, contest, window)
        return window

    def _attempts(self, contest: ContestId) -> Attempts:
        return Attempts(self.redis, contest, prefix=self.prefix, scripts=self.scripts)
