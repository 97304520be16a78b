"""Window attempts: start, resume, submit with a prediction, and close at the deadline.

A window round is open from ``opens_at`` to ``closes_at``; a member starts an attempt when
they like, gets their own draw, and has ``duration_ms`` for it (never past the round's
close). Every answer is stored at once by ``attempt_answer.lua`` (see
:mod:`scoring.batcher`), so a dropped connection loses nothing: :meth:`Attempts.resume`
returns exactly the state so far. The server closes attempts at their deadline even if the
member never comes back: the engine calls :meth:`Attempts.close_due` every second
(:meth:`Attempts.expire_due` counts them, :meth:`Attempts.sweep_forever` loops it) and tells
each member it closed; it is idempotent and safe with several gateways sweeping at once. A
round may allow several attempts; the best one counts (rule 5 of docs/scoring.md: higher
score, or equal score with less time used).

Every change of state runs in one Lua script (``attempt_start``, ``attempt_submit``,
``attempt_expire``) judged by Redis's clock, and refreshes the member's best attempt and
the boards through the shared prelude (``_lib.lua``: ``refresh_best``).

The prediction: the member may store it any time during the attempt
(:meth:`Attempts.predict`; a later one replaces it) or give it with :meth:`Attempts.submit`.
With ``require_prediction=True`` (rounds with a prediction question) a submit without any
prediction is refused with ``prediction_required`` and the attempt stays open. An attempt
closed by its deadline keeps a prediction stored before; one without any ranks after every
member with a prediction at finalize.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import msgspec

from question_bank.ids import ContestId, MemberId
from question_bank.models import MAX_PREDICTION

from .attempt_model import (
    AttemptState,
    BestAttempt,
    DrawnQuestion,
    RecordedAnswer,
    StartOutcome,
    StartStatus,
    SubmitOutcome,
    SubmitStatus,
    decode_attempt,
    decode_best,
)
from .batcher import AnswerBatcher, run_call
from .errors import CorruptData, ScoringError, ScoringUsageError, map_redis_errors
from .keys import DEFAULT_PREFIX, ContestKeys
from .profiles import Profile, encode_profile
from .replies import text
from .scripts import AnyRedis, ScriptCall, Scripts, node_time_ms

__all__ = [
    "MAX_PREDICTION",
    "Attempts",
    "AttemptState",
    "BestAttempt",
    "DrawnQuestion",
    "RecordedAnswer",
    "StartOutcome",
    "StartStatus",
    "SubmitOutcome",
    "SubmitStatus",
    "decode_attempt",
    "decode_best",
]

log = logging.getLogger(__name__)


_encoder = msgspec.json.Encoder()

_NO_DRAW: list[str | int] = ["", "", "", 0, 0, 0, 0, "[]", "{}", 0, 0]
"""attempt_start.lua's ARGV[4..14] for mode "resume" (nothing starts, nothing is drawn)."""


def _split_reply(raw: Any) -> tuple[str, int, int, list[Any]]:
    try:
        status, n, now, *flat = raw
        return text(status), int(n), int(now), flat
    except (TypeError, ValueError) as exc:
        raise CorruptData(f"unexpected attempt script result {raw!r}") from exc


class Attempts:
    """Window attempts of one contest, on one Redis (or Redis Cluster) client.

    With a *batcher* (a gateway's), starts, resumes, predictions and submits go to Redis in
    its batches, beside other members' answers, instead of one request each."""

    def __init__(
        self,
        client: AnyRedis,
        contest: ContestId,
        *,
        prefix: str = DEFAULT_PREFIX,
        scripts: Scripts | None = None,
        batcher: AnswerBatcher | None = None,
    ) -> None:
        self.client = client
        self.keys = ContestKeys(contest, prefix)
        self.scripts = scripts if scripts is not None else Scripts(client)
        self.batcher = batcher
        k = self.keys
        self._start_keys = (
            k.attempt_counts,
            k.deadlines,
            k.profiles,
            k.totals,
            k.times,
            k.leaderboard,
            k.unit_participants,
            k.unit_completed,
        )
        self._submit_keys = (
            k.attempt_counts,
            k.deadlines,
            k.totals,
            k.times,
            k.leaderboard,
            k.unit_completed,
        )

    async def _run(self, name: str, keys: tuple[str, ...], args: Sequence[str | int]) -> Any:
        """One script call, through the batcher if there is one (arguments new each time)."""
        call = ScriptCall(name, keys, args, repeats=False)
        return await run_call(call, self.scripts, self.batcher)

    async def start(
        self,
        member: MemberId,
        profile: Profile,
        questions: Sequence[DrawnQuestion],
        *,
        duration_ms: int,
        attempts_allowed: int = 1,
        opens_at: int = 0,
        closes_at: int = 0,
        drawn_for: int = 0,
        min_gap_ms: int = 0,
        only_open: bool = False,
    ) -> StartOutcome:
        """Start attempt n+1 with this draw, or return the open attempt (``resumed``).

        ``attempts_allowed=0`` means no limit; ``opens_at``/``closes_at`` 0 mean no bound.
        ``drawn_for``: the attempt number the draw was made for; if it is not n+1 nothing
        starts (``redraw``, with ``attempts_used`` = n); 0 accepts the draw for any number.
        ``min_gap_ms``: refused ``too_soon`` (``wait_ms``) until that long after the
        previous attempt ended (submitted, or its deadline). ``only_open``: refused
        ``not_open`` unless the contest's state (``P:{C}:meta``, field ``state``, which the
        engine's contest store keeps) is ``open``, judged in the same script. One script
        call: the outcome carries the member's best attempt too.
        The deadline is ``min(now + duration_ms, closes_at)`` by Redis's clock. The profile
        is stored (``P:{C}:profiles``) and the member counted as a participant of their
        unit and put on the boards with 0 the first time.
        """
        if duration_ms <= 0:
            raise ScoringUsageError("an attempt needs a positive duration")
        if not questions:
            raise ScoringUsageError("an attempt needs at least one question")
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise ScoringUsageError("a draw names a question twice")
        args: list[str | int] = [
            self.keys.base,
            "start_open" if only_open else "start",
            member,
            profile.province,
            profile.unit,
            encode_profile(profile).decode(),
            duration_ms,
            attempts_allowed,
            opens_at,
            closes_at,
            _encoder.encode(ids).decode(),
            _encoder.encode({q.id: q.options for q in questions}).decode(),
            drawn_for,
            min_gap_ms,
        ]
        for q in questions:
            args += [q.id, q.points]
        return await self._start_call(member, args)

    async def resume(self, member: MemberId) -> AttemptState | None:
        """The member's latest attempt exactly as stored (``None`` if they have none).

        An open attempt past its deadline is closed first (``expired``), so the state
        returned is never an open attempt that can no longer be answered.
        """
        return (await self.resume_outcome(member)).attempt

    async def resume_outcome(self, member: MemberId) -> StartOutcome:
        """:meth:`resume` with the rest of the outcome: attempts used, best attempt."""
        return await self._start_call(member, [self.keys.base, "resume", member] + _NO_DRAW)

    async def _start_call(self, member: MemberId, args: Sequence[str | int]) -> StartOutcome:
        raw = await self._run("attempt_start", self._start_keys, args)
        status, n, now, flat = _split_reply(raw)
        try:
            best_raw, wait, *flat = flat
            best = decode_best(best_raw) if text(best_raw) else None
            wait_ms = int(wait)
        except (TypeError, ValueError) as exc:
            raise CorruptData(f"unexpected attempt_start result {raw!r}") from exc
        attempt = decode_attempt(member, n, now, flat) if flat else None
        return StartOutcome(
            status=status,  # type: ignore[arg-type]
            attempt=attempt,
            attempts_used=n,
            now=now,
            best=best,
            wait_ms=wait_ms,
        )

    async def submit(
        self,
        member: MemberId,
        prediction: int | None = None,
        *,
        require_prediction: bool = False,
    ) -> SubmitOutcome:
        """Hand in the member's open attempt, with the prediction if given.

        Refused (``late``) past the deadline: the attempt is expired instead and the
        prediction given now is not kept. ``prediction_required`` when
        *require_prediction* and none is given nor stored (the attempt stays open).
        """
        return await self._submit_call("submit", member, prediction, require_prediction)

    async def predict(self, member: MemberId, prediction: int) -> SubmitOutcome:
        """Store (or replace) the prediction on the member's open attempt, without closing it."""
        return await self._submit_call("predict", member, prediction, False)

    async def _submit_call(
        self, mode: str, member: MemberId, prediction: int | None, require: bool
    ) -> SubmitOutcome:
        if prediction is not None and (
            isinstance(prediction, bool) or not 0 <= prediction <= MAX_PREDICTION
        ):
            raise ScoringUsageError(f"a prediction is a whole number from 0 to {MAX_PREDICTION}")
        raw = await self._run(
            "attempt_submit",
            self._submit_keys,
            [
                self.keys.base,
                mode,
                member,
                "" if prediction is None else str(int(prediction)),
                "1" if require else "0",
            ],
        )
        status, n, now, flat = _split_reply(raw)
        try:
            best_raw, *flat = flat
            best = decode_best(best_raw) if text(best_raw) else None
        except (TypeError, ValueError) as exc:
            raise CorruptData(f"unexpected attempt_submit result {raw!r}") from exc
        attempt = decode_attempt(member, n, now, flat) if flat else None
        return SubmitOutcome(
            status=status,  # type: ignore[arg-type]
            attempt=attempt,
            now=now,
            best=best,
        )

    async def expire_due(self, limit: int = 1000) -> int:
        """Close every open attempt past its deadline (Redis clock); return how many.

        Runs ``attempt_expire.lua`` in chunks of *limit* until the queue has nothing due.
        Idempotent and safe to run from several gateways at once. *limit* is at least 1
        (Redis reads ``LIMIT 0 0`` as nothing and ``LIMIT 0 -1`` as everything).
        """
        return len(await self.close_due(limit))

    async def close_due(self, limit: int = 1000) -> list[tuple[MemberId, int]]:
        """:meth:`expire_due`, returning the (member, attempt number) of every attempt this
        call expired (each attempt is expired by exactly one call, whoever sweeps)."""
        if isinstance(limit, bool) or limit < 1:
            raise ScoringUsageError(f"expire_due needs a limit of at least 1, not {limit!r}")
        k = self.keys
        closed: list[tuple[MemberId, int]] = []
        while True:
            raw = await self.scripts.call(
                "attempt_expire",
                [k.deadlines, k.totals, k.times, k.leaderboard],
                [k.base, limit],
            )
            try:
                expired, removed = int(raw[0]), int(raw[1])
                for entry in raw[3 : 3 + expired]:
                    member, _, number = text(entry).rpartition(":")
                    closed.append((MemberId(member), int(number)))
            except (TypeError, ValueError, IndexError) as exc:
                raise CorruptData(f"unexpected attempt_expire result {raw!r}") from exc
            if removed < limit:
                return closed

    async def cut_to(self, closed_at: int) -> tuple[int, int]:
        """The round closed at *closed_at* (ms), before its ``closes_at``: every attempt
        whose deadline is past the close gets the close as its deadline
        (``attempt_cut.lua``), so the sweep expires it once Redis's clock is past it.
        Returns (open attempts cut, Redis's time in ms). Idempotent."""
        k = self.keys
        raw = await self.scripts.call("attempt_cut", [k.deadlines], [k.base, closed_at])
        try:
            return int(raw[0]), int(raw[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise CorruptData(f"unexpected attempt_cut result {raw!r}") from exc

    async def settle_open(self, limit: int = 1000) -> int:
        """Bring the best attempt and boards of every member with an open attempt of a round
        with ``board_updates`` ``attempt`` up to date with it, as it stands
        (``attempt_settle.lua``; a forced finalize ranks open attempts so). The attempts stay
        open; attempts of ``answer`` mode are left alone. Returns how many were settled."""
        if isinstance(limit, bool) or limit < 1:
            raise ScoringUsageError(f"settle_open needs a limit of at least 1, not {limit!r}")
        k = self.keys
        start = settled = 0
        while True:
            raw = await self.scripts.call(
                "attempt_settle",
                [k.deadlines, k.totals, k.times, k.leaderboard],
                [k.base, start, limit],
            )
            try:
                looked, done = int(raw[0]), int(raw[1])
            except (TypeError, ValueError, IndexError) as exc:
                raise CorruptData(f"unexpected attempt_settle result {raw!r}") from exc
            settled += done
            start += looked
            if looked < limit:
                return settled

    async def sweep_forever(self, interval_s: float = 1.0) -> None:
        """Call :meth:`expire_due` every *interval_s* until cancelled; log and go on on errors."""
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                # Python 3.11's asyncio.wait_for (used inside redis-py) may swallow a
                # cancellation that lands as a command completes: stop anyway.
                raise asyncio.CancelledError
            try:
                await self.expire_due()
            except ScoringError:
                log.exception("sweeping attempts of %s failed; retrying", self.keys.contest)
            await asyncio.sleep(interval_s)

    async def best(self, member: MemberId) -> BestAttempt | None:
        """The member's best attempt (rule 5), or ``None`` if they have started none."""
        with map_redis_errors():
            raw = await self.client.hget(self.keys.best, member)
        return None if raw is None else decode_best(raw)

    async def attempt(self, member: MemberId, number: int) -> AttemptState | None:
        """Attempt *number* of the member exactly as stored (``None`` if there is none)."""
        with map_redis_errors():
            # Two calls, not a pipeline: redis-py's cluster pipeline refuses keyless TIME.
            key = self.keys.attempt(member, number)
            fields = await self.client.hgetall(key)
            now = await node_time_ms(self.client, key)
        if not fields:
            return None
        flat = [x for pair in fields.items() for x in pair]
        return decode_attempt(member, number, now, flat)
