"""Live shows: open, answer, close a question; distribution; a member's state for resume.

:class:`LiveScoring` is the typed API the gateway and the conductor call. Every method is
one script call or one small pipeline on keys of one contest (one hash tag), so it runs
unchanged on Redis Cluster. Answers go through an :class:`~scoring.batcher.AnswerBatcher`
when one is given (the gateway's storm path), else straight to Redis.

Accepting an answer does only the atomic, durable part (the checks, one recorded answer
per member and question, its audit entry); closing the question applies what the answers
earned in bulk from the audit stream (totals, times, boards, distribution, streaks), a
chunk of :data:`CLOSE_CHUNK` entries a script call (docs/scoring.md, rule 3).

Contest settings the scripts read from ``P:{C}:meta`` (written by :meth:`configure`):
``streak_step`` and ``streak_cap`` (streak bonus, 0 = none) and ``eliminate`` (``1``:
wrong or missing answers eliminate).

A member-sharded show (``shards`` S > 1, :class:`~scoring.keys.ContestShards`) runs the
same scripts on each member's shard: :meth:`LiveScoring.configure` writes every shard's
meta, :meth:`LiveScoring.open_question` opens the question on the contest's slot and then
on every shard (its window carried over to the shard node's clock), an answer goes to its
member's shard, :meth:`LiveScoring.close_question` closes every shard and sums their
figures. With S = 1 every call is the one it always was.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from question_bank.checking import Answer
from question_bank.ids import MemberId, QuestionId

from .answer_path import AnswerPath, fraction_arg, given_arg
from .batcher import run_call
from .errors import CorruptData, map_redis_errors
from .keys import ContestKeys
from .outcomes import AnswerOutcome, decode_outcome
from .replies import text
from .scripts import ScriptCall

__all__ = [
    "CLOSE_CHUNK",
    "LiveScoring",
    "MemberState",
    "QuestionClosed",
    "QuestionOpened",
    "RecordedAnswer",
    "streak_at",
]


CLOSE_CHUNK = 2000
"""Most audit entries one ``close_question`` call applies: Redis runs one script at a time,
so a close of 100,000 answers is 50 calls of a few ms rather than one long block."""


class QuestionOpened(msgspec.Struct, frozen=True, kw_only=True):
    opened: bool
    """False if the question was already open or closed (nothing changed)."""
    opens: int
    """Redis time (ms) from which answers count; t = answer time - opens."""
    deadline: int
    """Last Redis time (ms) at which an answer is accepted."""
    now: int
    state: str


class QuestionClosed(msgspec.Struct, frozen=True, kw_only=True):
    closed: bool
    """False if it was already closed (the figures are the same) or unknown (``exists``)."""
    exists: bool
    eliminated: int
    """Members eliminated by this question (0 without the elimination rule)."""
    players_left: int
    """Members still in an elimination show (0 without the elimination rule)."""
    correct: int
    """Members who answered fully correctly."""
    distribution: dict[str, int]


class RecordedAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A member's accepted answer as stored: bucket, fraction, points, ms after opening,
    and the answer as given."""

    c: str
    """The distribution bucket (:func:`question_bank.checking.choice_key`)."""
    f: float
    p: int
    t: int
    a: Answer | None = None
    """The answer as the member gave it, in its own shape (``None``: recorded without it,
    by a caller that passed no ``given`` or before the engine kept it)."""


class MemberState(msgspec.Struct, frozen=True, kw_only=True):
    """What a reconnecting member needs to resume a live show."""

    member: MemberId
    total: int
    time_used: int
    rank: int | None
    """Shared rank on the global board (1, 2, 2, 4); ``None`` before any answer."""
    eliminated: bool
    current: QuestionId | None
    """The question the show is at (last opened)."""
    answers: dict[QuestionId, RecordedAnswer]


_RECORD = msgspec.json.Decoder(RecordedAnswer)


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


class LiveScoring(AnswerPath):
    """The scoring side of one live show, of *shards* member shards (1: not sharded)."""

    async def configure(
        self, *, streak_step: int = 0, streak_cap: int = 0, eliminate: bool = False
    ) -> None:
        """Write the show's scoring settings (before the first question opens): to the
        contest's meta and, sharded, to every shard's."""
        mapping: dict[Any, Any] = {
            "streak_step": streak_step,
            "streak_cap": streak_cap,
            "eliminate": int(eliminate),
        }
        with map_redis_errors():
            for keys in self._everywhere():
                await self.redis.hset(keys.meta, mapping=mapping)

    def _everywhere(self) -> tuple[ContestKeys, ...]:
        """The contest's keys, then every shard's (just the contest's when not sharded)."""
        return (self.keys, *self.shards.keys) if self.shards.sharded else (self.keys,)

    async def join(self, member: MemberId) -> bool:
        """Record a member joining; False if they are (or, joining late, become) eliminated."""
        k = self.shards.of(member)
        keys = [k.meta, k.players, k.eliminated]
        return bool(await self.scripts.call("join_show", keys, [member]))

    async def open_question(
        self,
        question: QuestionId,
        *,
        index: int,
        time_ms: int,
        points: int,
        speed: bool = True,
        delay_ms: int = 0,
        grace_ms: int = 0,
    ) -> QuestionOpened:
        """Open *question* at Redis time now + *delay_ms*; deadline opens + T + grace.

        *index* is the question's place in the show (0, 1, ...: the conductor passes the
        wire's ``question.index``); streaks continue from index ``i - 1`` to ``i`` and are
        read back with :func:`streak_at`."""
        keys = [self.keys.question(question), self.keys.meta]
        args: list[str | int] = [question, index, time_ms, points, int(speed), delay_ms, grace_ms]
        opened, opens, deadline, now, state = await self.scripts.call("open_question", keys, args)
        if self.shards.sharded:
            # Each shard gets the question with the same window on its own node's clock:
            # opens there = its now + (opens - now here), read a moment apart. Idempotent
            # like the contest's open (a successor repeats it: nothing changes).
            lead = int(opens) - int(now)
            shard_args: list[str | int] = [question, index, time_ms, points, int(speed)]
            shard_args += [lead, grace_ms]
            await asyncio.gather(
                *[
                    self.scripts.call("open_question", [k.question(question), k.meta], shard_args)
                    for k in self.shards.keys
                ]
            )
        return QuestionOpened(
            opened=bool(opened),
            opens=int(opens),
            deadline=int(deadline),
            now=int(now),
            state=text(state),
        )

    def answer_call(
        self,
        member: MemberId,
        question: QuestionId,
        fraction: float,
        choice: str = "",
        *,
        province: str = "",
        unit: str = "",
        choices: Iterable[str] = (),
        given: Any = None,
    ) -> ScriptCall:
        """The accept_answer call for a batch (see :meth:`accept` for the arguments), on
        the member's shard."""
        where = str(self.shards.index(member)) if self.shards.sharded else ""
        return ScriptCall(
            "accept_answer",
            self._cached_keys(question, where, ""),
            [
                member,
                question,
                fraction_arg(fraction),
                choice,
                province,
                unit,
                given_arg(given),
                *choices,
            ],
        )

    def _build_keys(self, question: QuestionId, shard: str, unit: str) -> tuple[str, ...]:
        k = self.shards.keys[int(shard)] if shard else self.keys
        return (
            k.question(question),
            k.answers(question),
            k.meta,
            k.totals,
            k.times,
            k.audit,
            k.players,
            k.eliminated,
            k.streaks,
        )

    async def accept(
        self,
        member: MemberId,
        question: QuestionId,
        fraction: float,
        choice: str = "",
        *,
        province: str = "",
        unit: str = "",
        choices: Iterable[str] = (),
        given: Any = None,
    ) -> AnswerOutcome:
        """Accept or refuse an answer graded as *fraction* of the question's points.

        *choice* is the answer's distribution bucket (recorded and audited); *choices* are
        the keys counted in the distribution (one for single choice, several for multiple);
        *given* is the answer as the member gave it (any JSON value: recorded and audited as
        its msgspec JSON, returned in :class:`RecordedAnswer` ``a``; ``None``: not kept).
        """
        call = self.answer_call(
            member,
            question,
            fraction,
            choice,
            province=province,
            unit=unit,
            choices=choices,
            given=given,
        )
        return decode_outcome(await run_call(call, self.scripts, self.batcher))

    async def close_question(
        self, question: QuestionId, *, chunk: int = CLOSE_CHUNK
    ) -> QuestionClosed:
        """Close *question* (idempotent), apply its answers in bulk (*chunk* audit entries a
        script call, until none remain), then eliminate if the show's rule says so.
        Sharded: every shard closes on its own slot (at once) and the contest's question
        too; the figures are the shards' sums."""
        if not self.shards.sharded:
            return await self._close_on(self.keys, question, chunk)
        contest, *parts = await asyncio.gather(
            self._close_on(self.keys, question, chunk),
            *[self._close_on(k, question, chunk) for k in self.shards.keys],
        )
        distribution: Counter[str] = Counter()
        for part in parts:
            distribution.update(part.distribution)
        return QuestionClosed(
            closed=contest.closed,
            exists=contest.exists,
            eliminated=sum(p.eliminated for p in parts),
            players_left=sum(p.players_left for p in parts),
            correct=sum(p.correct for p in parts),
            distribution=dict(distribution),
        )

    async def _close_on(self, k: ContestKeys, question: QuestionId, chunk: int) -> QuestionClosed:
        """close_question.lua on one key set (the contest's, or a shard's), to the end."""
        keys = [
            k.question(question),
            k.distribution(question),
            k.meta,
            k.correct(question),
            k.players,
            k.eliminated,
            k.eliminated_at(question),
            k.audit,
            k.totals,
            k.times,
            k.leaderboard,
            k.unit_participants,
            k.streaks,
        ]
        closed_now = False
        while True:
            closed, more, eliminated, left, correct, flat = await self.scripts.call(
                "close_question", keys, [k.base, chunk]
            )
            closed_now = closed_now or int(closed) == 1
            if not int(more):
                break
        return QuestionClosed(
            closed=closed_now,
            exists=int(closed) != -1,
            eliminated=int(eliminated),
            players_left=int(left),
            correct=int(correct),
            distribution=_pairs(flat),
        )

    async def close_current(self) -> QuestionClosed | None:
        """Close the question the show opened last (``P:{C}:meta`` ``current``), applying
        every answer still pending; ``None`` if no question was ever opened. For a show that
        ends or is closed by hand: after it, the boards hold every accepted answer."""
        with map_redis_errors():
            current = await self.redis.hget(self.keys.meta, "current")
        if current is None:
            return None
        return await self.close_question(QuestionId(text(current)))

    async def distribution(self, question: QuestionId) -> dict[str, int]:
        """How many members chose each choice key (counted when the question closed)."""
        counts: Counter[str] = Counter()
        with map_redis_errors():
            for k in self.shards.keys:
                raw = await self.redis.hgetall(k.distribution(question))
                counts.update(_pairs([x for pair in raw.items() for x in pair]))
        return dict(counts)

    async def answered(self, question: QuestionId) -> int:
        """Members whose answer to *question* was accepted."""
        with map_redis_errors():
            return sum([int(await self.redis.hlen(k.answers(question))) for k in self.shards.keys])

    async def eliminated_by(self, question: QuestionId) -> set[MemberId]:
        """Members eliminated when *question* closed."""
        out: set[MemberId] = set()
        with map_redis_errors():
            for k in self.shards.keys:
                raw = await self.redis.smembers(k.eliminated_at(question))
                out |= {MemberId(text(m)) for m in raw}
        return out

    async def member_state(self, member: MemberId, questions: Sequence[QuestionId]) -> MemberState:
        """Total, time, shared rank, elimination and recorded answers to *questions*
        (sharded: from the member's shard; the rank counts higher scores on every shard)."""
        k = self.shards.of(member)
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hget(k.totals, member)
                pipe.hget(k.times, member)
                pipe.zscore(k.leaderboard, member)
                pipe.sismember(k.eliminated, member)
                if k is self.keys:
                    pipe.hget(k.meta, "current")
                for question in questions:
                    pipe.hget(k.answers(question), member)
                replies = await pipe.execute()
            if k is self.keys:
                total, used, score, out, current, *records = replies
            else:  # the show's current question is on the contest's slot
                total, used, score, out, *records = replies
                current = await self.redis.hget(self.keys.meta, "current")
            rank = None
            if score is not None:
                rank = 1
                for board in self.shards.keys:
                    above = f"({score!r}"
                    rank += int(await self.redis.zcount(board.leaderboard, above, "+inf"))
        try:
            answers = {q: _RECORD.decode(r) for q, r in zip(questions, records, strict=True) if r}
        except msgspec.DecodeError as exc:
            raise CorruptData(f"recorded answer of {member}: {exc}") from exc
        return MemberState(
            member=member,
            total=_int(total),
            time_used=_int(used),
            rank=rank,
            eliminated=bool(out),
            current=QuestionId(current.decode()) if current else None,
            answers=answers,
        )


def streak_at(stored: bytes | str | None, index: int) -> int:
    """A member's streak at the live question *index* from their ``P:{C}:streak`` entry.

    The entry is ``"<idx>:<streak>"`` of their last fully correct answer, ``idx`` being the
    index the question was opened with (:meth:`LiveScoring.open_question`; the conductor
    opens each with its index in the show, as on the wire). A streak that ended before
    *index* (a wrong or missing answer since) is 0; no entry, or streaks not tracked
    (``streak_step`` 0), is 0 too.
    """
    if stored is None:
        return 0
    where, _, count = text(stored).partition(":")
    return int(count) if where == str(index) else 0


def _pairs(flat: Sequence[Any]) -> dict[str, int]:
    items = [text(x) for x in flat]
    return {items[i]: int(items[i + 1]) for i in range(0, len(items), 2)}
