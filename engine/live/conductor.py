"""The live-show conductor: drives a show from its state in Redis, under a lease.

One conductor per live contest runs at a time, in whichever gateway process holds the
contest's lease (:mod:`engine.runtime.lease`); every process may try, so if the holder dies another
takes the lease within ``conductor_lease_ms`` and carries on from the stored state. The
phase logic is :func:`engine.core.show.decide` (pure); this module only does its I/O:

* the show hash ``P:{C}:show`` holds the :class:`~engine.core.show.ShowPlan` (fixed at the
  start) and the :class:`~engine.core.show.ShowState`; it is written only by Lua scripts that
  check, in the same call, that this process still holds the lease and that the state is
  still the one it read (compare-and-set on ``(index, phase)``) — so a conductor that lost
  its lease cannot write, and two conductors can never both move the show;
* the steps call the scoring core's ``open_question`` / ``close_question`` scripts, which
  are idempotent (opening or closing twice changes nothing and returns the same figures),
  and publish server messages (:mod:`engine.core.messages`) encoded once on
  ``GlobalKeys.channel(contest)``, which every gateway relays as is. A conductor that dies
  between a publish and marking its phase entered makes its successor publish that one
  message again (same bytes but ``sent_at``); a question is never skipped, reopened or
  given a new deadline.

The correct answer is only in :class:`~engine.core.messages.Reveal`, published after
``close_question`` returned. :func:`read_show` is the read the gateway uses to bring a
late joiner in at the current question.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import msgspec

from engine.core import messages
from engine.core.errors import LeaseLost
from engine.core.show import (
    CloseQuestion,
    EndShow,
    OpenQuestion,
    Phase,
    PublishLeaderboard,
    PublishQuestion,
    PublishReveal,
    ShowPlan,
    ShowState,
    Step,
    decide,
    initial_state,
)
from engine.core.views import question_message
from engine.live.show_messages import board_after, redis_now, reveal_message
from engine.runtime.lease import HOLDER_CHECK, Lease
from engine.runtime.metrics import CONDUCTOR_LEASES, CONDUCTOR_STEPS
from engine.runtime.redisconn import AsyncRedis, publish
from question_bank.ids import ContestId, QuestionId
from question_bank.models import Question
from scoring.keys import DEFAULT_PREFIX, ContestKeys, GlobalKeys
from scoring.live import LiveScoring, QuestionClosed

__all__ = [
    "Conductor",
    "ShowView",
    "conductor_lease_key",
    "read_show",
    "show_key",
]

log = logging.getLogger(__name__)


def show_key(contest: ContestId, prefix: str = DEFAULT_PREFIX) -> str:
    """hash: the live show's plan and state (same hash tag as the contest)."""
    return ContestKeys(contest, prefix).show


def conductor_lease_key(contest: ContestId, prefix: str = DEFAULT_PREFIX) -> str:
    """string: the holder of the contest's conductor lease."""
    return ContestKeys(contest, prefix).lease("conductor")


_STEP_LABELS: dict[type, str] = {
    OpenQuestion: "release",
    PublishQuestion: "question",
    CloseQuestion: "close",
    PublishReveal: "reveal",
    PublishLeaderboard: "leaderboard",
    EndShow: "end",
}
"""The ``step`` label of ``contest_conductor_steps_total`` for each step."""

_plan_encode = msgspec.json.Encoder().encode
_plan_decode = msgspec.json.Decoder(ShowPlan).decode

_OVER = (
    "({closed = true, finalized = true, cancelled = true, deleted = true})"
    "[redis.call('HGET', KEYS[3], 'state') or ''] == true"
)
"""Lua: whether the contest's lifecycle state says the show is over (closed, finalized,
cancelled or deleted by the organiser, or by the show's own end). A show that has not been
moved to ``running`` yet (a conductor started a moment before, or in tests) may run."""

_INIT = f"""
-- Create the show hash if it does not exist yet (first conductor of the show).
-- KEYS[1] P:{{C}}:show, KEYS[2] the conductor lease, KEYS[3] P:{{C}}:meta
-- ARGV[1] holder, ARGV[2] plan (JSON), ARGV[3..7] index, phase, since, ends, entered
-- Returns 1 created, 0 already there, -1 lease not ours, -2 the show is over (closed,
-- finalized, cancelled or deleted).
if not ({HOLDER_CHECK.replace("KEYS[1]", "KEYS[2]")}) then return -1 end
if {_OVER} then return -2 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'plan', ARGV[2], 'index', ARGV[3], 'phase', ARGV[4],
  'since', ARGV[5], 'ends', ARGV[6], 'entered', ARGV[7])
return 1
"""

_WRITE = f"""
-- Move the show from one state to another, if the lease is ours and the state unchanged.
-- KEYS[1] P:{{C}}:show, KEYS[2] the conductor lease, KEYS[3] P:{{C}}:meta
-- ARGV[1] holder, ARGV[2] expected index, ARGV[3] expected phase,
-- ARGV[4..8] new index, phase, since, ends, entered
-- Returns 1 written, 0 the state moved meanwhile, -1 lease not ours, -2 the show is over
-- (closed or cancelled by the organiser). Marking the done phase
-- entered is the one write after the show's own end step closed the contest.
if not ({HOLDER_CHECK.replace("KEYS[1]", "KEYS[2]")}) then return -1 end
local finishing = ARGV[3] == 'done' and ARGV[5] == 'done'
if {_OVER} and not finishing then return -2 end
local cur = redis.call('HMGET', KEYS[1], 'index', 'phase')
if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'index', ARGV[4], 'phase', ARGV[5], 'since', ARGV[6],
  'ends', ARGV[7], 'entered', ARGV[8])
return 1
"""


class _Stopped(Exception):
    """The contest is no longer ``running`` (closed or cancelled): the show stops here."""


class ShowView(msgspec.Struct, frozen=True, kw_only=True):
    """A live show as stored: its plan and where it is."""

    plan: ShowPlan
    state: ShowState

    @property
    def question(self) -> QuestionId | None:
        """The question of the current phase (``None`` before the first)."""
        if 0 <= self.state.index < self.plan.count:
            return self.plan.questions[self.state.index]
        return None


def _state_fields(state: ShowState) -> list[str]:
    return [
        str(state.index),
        str(state.phase),
        str(state.since),
        str(state.ends),
        "1" if state.entered else "0",
    ]


def _decode_view(raw: Mapping[bytes, bytes]) -> ShowView | None:
    if not raw or b"plan" not in raw:
        return None
    return ShowView(
        plan=_plan_decode(raw[b"plan"]),
        state=ShowState(
            index=int(raw[b"index"]),
            phase=Phase(raw[b"phase"].decode()),
            since=int(raw[b"since"]),
            ends=int(raw[b"ends"]),
            entered=raw[b"entered"] == b"1",
        ),
    )


async def read_show(
    client: AsyncRedis, contest: ContestId, prefix: str = DEFAULT_PREFIX
) -> ShowView | None:
    """The show's plan and state, or ``None`` if no conductor has started it yet.

    A gateway brings a (late) joiner in with it: in phase ``question`` it sends the current
    question (``plan.questions[state.index]``, deadline ``state.ends``); in ``reveal`` and
    ``leaderboard`` the member waits for the next question; in ``done`` the show is over.
    """
    raw = await client.hgetall(show_key(contest, prefix))
    return _decode_view(cast(dict[bytes, bytes], raw))


class Conductor:
    """Conducts one live show while this process holds its lease.

    *questions* maps every question id of the plan to the bank's question; *language* is
    the bank's (the reveal's ``correct_text`` is in it). *on_end* is
    awaited once the last leaderboard is over (the caller closes the contest's lifecycle
    there, which announces it); it must be idempotent, since a successor redoes it if this
    process dies in it. Without *on_end* the conductor publishes ``StateChanged(closed)``.
    *shards*: the contest's member shards (:class:`scoring.live.LiveScoring` opens and
    closes each question on every one; the reveal's board merges them).
    """

    def __init__(
        self,
        client: AsyncRedis,
        contest: ContestId,
        plan: ShowPlan,
        questions: Mapping[QuestionId, Question],
        *,
        prefix: str = DEFAULT_PREFIX,
        lease_ms: int = 3000,
        holder: str | None = None,
        speed: bool = True,
        lead_ms: int = 0,
        grace_ms: int = 0,
        streak_step: int = 0,
        streak_cap: int = 0,
        on_end: Callable[[], Awaitable[None]] | None = None,
        language: str = "vi",
        shards: int = 1,
    ) -> None:
        missing = [q for q in plan.questions if q not in questions]
        if missing:
            raise ValueError(f"questions missing from the bank: {', '.join(missing)}")
        self.client = client
        self.contest = contest
        self.plan = plan
        self.questions = questions
        self.keys = ContestKeys(contest, prefix)
        self.channel = GlobalKeys(prefix).channel(contest)
        self.show_key = show_key(contest, prefix)
        self.lease = Lease(
            client, conductor_lease_key(contest, prefix), ttl_ms=lease_ms, holder=holder
        )
        self.speed = speed
        self.lead_ms = lead_ms
        self.grace_ms = grace_ms
        self.on_end = on_end
        self.language = language
        self.live = LiveScoring(client, contest, prefix, shards=shards)
        self.streak_step = streak_step
        self.streak_cap = streak_cap
        self._init = client.register_script(_INIT)
        self._write = client.register_script(_WRITE)

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Wait for the lease, then conduct the show to its end (or until the lease is
        lost: :class:`~engine.core.errors.LeaseLost`)."""
        await self.lease.wait_acquire()
        CONDUCTOR_LEASES.inc()
        try:
            await self.lease.hold(self._conduct)
        finally:
            CONDUCTOR_LEASES.dec()

    async def try_run(self) -> bool:
        """Conduct the show if the lease is free now; False if another process holds it."""
        if not await self.lease.acquire():
            return False
        CONDUCTOR_LEASES.inc()
        try:
            await self.lease.hold(self._conduct)
        finally:
            CONDUCTOR_LEASES.dec()
        return True

    async def _conduct(self) -> None:
        try:
            await self._conduct_show()
        except _Stopped:
            # The organiser closed or cancelled the show under us: move it no further, and
            # close the question we may have released after they did (the contest store
            # closed the one open when they did).
            view = await read_show(self.client, self.contest, self.keys.prefix)
            if view is not None and view.state.phase is Phase.QUESTION and view.question:
                await self.live.close_question(view.question)
            log.info("show %s stopped: the contest is no longer running", self.contest)

    async def _conduct_show(self) -> None:
        view = await self._load()
        state = view.state
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                # Cancelled, but a library call swallowed the CancelledError (Python
                # 3.11's asyncio.wait_for, which redis-py uses to send each command, does
                # when the cancel lands as the command completes): stop, don't conduct on.
                raise asyncio.CancelledError
            now = await redis_now(self.client, self.keys.show)
            tick = decide(self.plan, state, now)
            if tick.state is not None and tick.state != state:
                await self._cas(state, tick.state)
                state = tick.state
            if tick.steps:
                state = await self._do_steps(state, tick.steps)
                done = msgspec.structs.replace(state, entered=True)
                await self._cas(state, done)
                state = done
            if tick.wake_at is None and state.entered:
                return
            wait_ms = (tick.wake_at or now) - await redis_now(self.client, self.keys.show)
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)

    async def _load(self) -> ShowView:
        fresh = initial_state(self.plan)
        created = await self._init(
            keys=[self.show_key, self.lease.key, self.keys.meta],
            args=[self.lease.holder, _plan_encode(self.plan), *_state_fields(fresh)],
        )
        if created == -1:
            raise LeaseLost(f"lease {self.lease.key} not held by {self.lease.holder}")
        if created == -2:
            raise _Stopped
        view = await read_show(self.client, self.contest, self.keys.prefix)
        assert view is not None
        if view.plan != self.plan:
            # The stored plan wins: the show started with it, a successor keeps to it.
            self.plan = view.plan
        # The scoring scripts read these from the contest's meta hash (idempotent).
        await self.live.configure(
            streak_step=self.streak_step,
            streak_cap=self.streak_cap,
            eliminate=self.plan.elimination,
        )
        return view

    async def _cas(self, old: ShowState, new: ShowState) -> None:
        written = await self._write(
            keys=[self.show_key, self.lease.key, self.keys.meta],
            args=[self.lease.holder, str(old.index), str(old.phase), *_state_fields(new)],
        )
        if written == -2:
            raise _Stopped
        if written != 1:
            raise LeaseLost(f"show {self.contest} moved by another conductor ({written}); stopping")

    # ------------------------------------------------------------------ steps

    async def _do_steps(self, state: ShowState, steps: tuple[Step, ...]) -> ShowState:
        """Do *steps* in order; returns *state*, with a question's real opening and deadline
        (the scoring script's, on Redis's clock) once it is open."""
        for step in steps:
            match step:
                case OpenQuestion():
                    opens, deadline = await self._open(step)
                    if (opens, deadline) != (state.since, state.ends):
                        fixed = msgspec.structs.replace(state, since=opens, ends=deadline)
                        await self._cas(state, fixed)
                        state = fixed
                case PublishQuestion():
                    await self._publish_question(step, state)
                case CloseQuestion():
                    await self._close(step)
                case PublishReveal():
                    await self._publish_reveal(step)
                case PublishLeaderboard():
                    pass  # protocol 2: the reveal carried the board; this phase is a pause
                case EndShow():
                    await self._end()
            CONDUCTOR_STEPS.labels(_STEP_LABELS[type(step)]).inc()
        return state

    async def _open(self, step: OpenQuestion) -> tuple[int, int]:
        opened = await self.live.open_question(
            step.question,
            index=step.index,
            time_ms=step.deadline - step.opens,
            points=self.questions[step.question].points,
            speed=self.speed,
            delay_ms=self.lead_ms,
            grace_ms=self.grace_ms,
        )
        return opened.opens, opened.deadline

    async def _publish(self, message: messages.ServerMessage) -> None:
        await publish(self.client, self.channel, messages.encode(message))

    async def _publish_question(self, step: PublishQuestion, state: ShowState) -> None:
        message = question_message(
            self.questions[step.question],
            index=step.index,
            count=self.plan.count,
            opens=state.since,
            deadline=state.ends,
            sent_at=await redis_now(self.client, self.keys.show),
        )
        await self._publish(message)

    async def _close(self, step: CloseQuestion) -> QuestionClosed:
        return await self.live.close_question(step.question)

    async def _publish_reveal(self, step: PublishReveal) -> None:
        question = self.questions[step.question]
        # Closing is idempotent: this returns the figures of the close already done.
        closed = await self._close(
            CloseQuestion(index=step.index, question=step.question, eliminate=False)
        )
        if not closed.exists:
            raise RuntimeError(f"reveal of question {step.question} that was never opened")
        answered = await self.live.answered(step.question)
        board = await board_after(self.client, self.keys, shards=self.live.shards.count)
        await self._publish(
            reveal_message(
                question,
                index=step.index,
                distribution=closed.distribution,
                answered=int(answered),
                sent_at=await redis_now(self.client, self.keys.show),
                board=board,
                language=self.language,
            )
        )

    async def _end(self) -> None:
        """The show is over: *on_end* moves the contest to ``closed`` (the contest store
        tells every gateway); without one, the conductor tells them itself."""
        if self.on_end is not None:
            await self.on_end()
        else:
            await self._publish(
                messages.StateChanged(
                    state="closed", at=await redis_now(self.client, self.keys.show)
                )
            )
