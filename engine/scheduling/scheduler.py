"""The scheduler: fires timed lifecycle transitions and runs the background jobs of contests.

Every gateway process runs one :class:`Scheduler` (:mod:`engine.scheduling.background`);
each second it:

1. **Transitions** (only in the process holding the scheduler lease, ``P:lease:scheduler``):
   for each contest whose timed event is due (:meth:`engine.core.contest.Contest.due_event`,
   pure), apply it through the contest store, which moves the state by compare-and-set
   and announces it to every gateway: a window round ``scheduled → open`` at ``opens_at``
   and ``open → closed`` at ``closes_at``; a live show ``scheduled → running`` at
   ``starts_at``; any ``closed`` contest is finalized at once (the final ranking with the
   tie-break chain, then ``closed → finalized``). A transition another process won is
   simply skipped.
2. **Attempt expiry** (same lease): for every open window round,
   :func:`engine.gateway.relay.expire_attempts` closes the attempts past their deadline and
   publishes them on the contest's notice channel, so each member connected to any gateway
   process gets their attempt's ``expired`` state.
3. **Conductors** (every process): for every running live show, a task that waits for the
   show's conductor lease and, once it has it, conducts the show
   (:class:`~engine.live.conductor.Conductor`). So one process conducts each show, and when
   it dies another takes over within the lease's time-to-live.

The scheduler lease is taken (or renewed) at each tick and lasts three ticks, so a dead
scheduler is replaced within about three seconds. Each step is safe to repeat: transitions
are compare-and-set, expiry and finalize are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio
from redis.exceptions import RedisError

from engine.contests.store import ContestStore
from engine.core.contest import Contest
from engine.core.errors import EngineError, IllegalTransition, LeaseLost
from engine.core.show import ShowPlan
from engine.gateway.relay import expire_attempts
from engine.live.conductor import Conductor
from engine.runtime.lease import Lease, new_holder_id
from engine.runtime.metrics import ATTEMPTS_EXPIRED, SCHEDULER_TRANSITIONS
from question_bank.ids import ContestId, QuestionId
from question_bank.models import Bank, Question
from scoring.keys import DEFAULT_PREFIX, GlobalKeys

__all__ = [
    "Finalizer",
    "Scheduler",
    "default_finalizer",
    "live_plan",
    "next_due_ms",
    "show_questions",
]

log = logging.getLogger(__name__)

Finalizer = Callable[[Contest], Awaitable[None]]
"""Computes a closed contest's final ranking (idempotent) before it is marked finalized."""


def show_questions(contest: Contest, bank: Bank) -> list[Question]:
    """A live show's questions, in order: the contest's one draw (seed member ``*``), options
    in bank order (everyone sees the same question)."""
    from question_bank.draws import draw, draw_seed

    by_id = {q.id: q for q in bank.questions}
    drawn = draw(bank, contest.draw, seed=draw_seed(contest.id, "*", 0))
    return [by_id[QuestionId(str(item.id))] for item in drawn]


def live_plan(contest: Contest, questions: list[Question]) -> ShowPlan:
    """The show plan of a live contest with its drawn *questions* (pure)."""
    live = contest.live
    if live is None:
        raise ValueError(f"contest {contest.id} is not a live show")
    # An organiser's manual ``start`` before ``starts_at`` starts the show at that moment.
    started = [t.at for t in contest.history if t.event == "start"]
    return ShowPlan(
        starts_at=min([live.starts_at, *started]),
        questions=[q.id for q in questions],
        question_ms=[(q.time_limit or live.question_seconds) * 1000 for q in questions],
        reveal_ms=live.reveal_seconds * 1000,
        leaderboard_ms=live.leaderboard_seconds * 1000,
        elimination=live.elimination,
    )


def next_due_ms(contests: list[Contest], now: int, tick_ms: int) -> int:
    """Ms until the next round of the scheduler: *tick_ms*, or sooner when a contest starts
    or closes before that (pure). Events already due count only at the next regular round,
    so that a process that may not fire them (no lease) never spins."""
    due = [tick_ms]
    for contest in contests:
        if contest.state == "scheduled":
            due.append(contest.starts_at - now)
        elif contest.state == "open" and contest.closes_at is not None:
            due.append(contest.closes_at - now)
    return min(d for d in due if d > 0)


async def default_finalizer(client: redis.asyncio.Redis, contest: Contest, prefix: str) -> None:
    """The scoring core's finalize (final ranking with the tie-break chain), with the
    prediction question's measure: :meth:`ContestStore.finalize_standings`."""
    await ContestStore(client, prefix).finalize_standings(contest)


class Scheduler:
    """One process's scheduler loop (see the module docstring)."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        tick_ms: int = 1000,
        conductor_lease_ms: int = 3000,
        holder: str | None = None,
        finalizer: Finalizer | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.tick_ms = tick_ms
        self.conductor_lease_ms = conductor_lease_ms
        self.holder = holder or new_holder_id()
        self.store = ContestStore(client, prefix)
        self.lease = Lease(
            client, GlobalKeys(prefix).lease("scheduler"), ttl_ms=3 * tick_ms, holder=self.holder
        )
        self.finalizer: Finalizer = finalizer or (
            lambda contest: default_finalizer(client, contest, prefix)
        )
        self.conductors: dict[ContestId, asyncio.Task[None]] = {}
        self._finished: set[ContestId] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``tick_ms`` until *stop* is set; then stop the conductors."""
        me = asyncio.current_task()
        try:
            while not stop.is_set():
                if me is not None and me.cancelling():
                    # Python 3.11's asyncio.wait_for (used inside redis-py) may swallow a
                    # cancellation that lands as a command completes.
                    raise asyncio.CancelledError
                wait_ms = self.tick_ms
                try:
                    wait_ms = await self.tick()
                except (RedisError, EngineError, OSError) as exc:
                    log.warning("scheduler tick failed: %s", exc)
                except Exception:  # a bug must not stop every later transition
                    log.exception("scheduler tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(wait_ms, 1) / 1000)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop this process's conductors (another process takes their shows over) and
        give the scheduler lease up."""
        tasks = list(self.conductors.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.conductors.clear()
        with contextlib.suppress(RedisError):
            await self.lease.release()

    async def tick(self) -> int:
        """One round: transitions and expiry (lease holder only), then conductors.

        Returns the ms to wait before the next round: ``tick_ms``, or less when a contest's
        start or close falls due sooner, so that a show starts on the dot."""
        contests = await self.store.list(active_only=True)
        now = await self.store.now_ms()
        if await self.lease.acquire():
            moved: list[Contest] = []
            for contest in contests:
                try:
                    contest = await self._transition(contest, now)
                    if contest.mode == "window" and contest.state == "open":
                        await self._expire(contest)
                except Exception:  # one contest's trouble must not hold the others up
                    log.exception("scheduler: contest %s", contest.id)
                moved.append(contest)
            contests = moved
        self._supervise(contests)
        return next_due_ms(contests, now, self.tick_ms)

    # ------------------------------------------------------------------ transitions

    async def _transition(self, contest: Contest, now: int) -> Contest:
        """Apply the contest's due events, one after another (a round whose whole window
        passed while no scheduler ran opens, closes and finalizes in one tick); returns the
        contest as it is now."""
        for _ in range(4):
            event = contest.due_event(now)
            if event is None:
                return contest
            try:
                if event == "close" and contest.mode == "window":
                    await self._expire(contest)
                if event == "finalize":
                    contest = await self.store.finalize(contest.id, standings=self.finalizer)
                else:
                    contest = await self.store.apply(contest.id, event)
            except IllegalTransition:
                return contest  # another process (or an organiser) moved it first
            SCHEDULER_TRANSITIONS.labels(event).inc()
            log.info("contest %s: %s (now %s)", contest.id, event, contest.state)
        return contest

    async def _expire(self, contest: Contest) -> None:
        closed = await expire_attempts(self.client, contest.id, self.prefix)
        if closed:
            ATTEMPTS_EXPIRED.inc(closed)

    # ------------------------------------------------------------------ conductors

    def _supervise(self, contests: list[Contest]) -> None:
        running = {c.id for c in contests if c.mode == "live" and c.state == "running"}
        for contest_id in [c for c in self.conductors if c not in running]:
            self.conductors.pop(contest_id).cancel()  # closed or cancelled meanwhile
        for contest in contests:
            if contest.mode != "live" or contest.state != "running":
                continue
            if contest.id in self._finished:
                continue
            task = self.conductors.get(contest.id)
            if task is None or task.done():
                self.conductors[contest.id] = asyncio.create_task(
                    self._conduct(contest), name=f"conductor-{contest.id}"
                )

    async def _conduct(self, contest: Contest) -> None:
        """Wait for the show's lease, then conduct it; on a lost lease, wait again."""
        try:
            bank = await self.store.bank(contest)
            questions = show_questions(contest, bank)
            by_id: dict[QuestionId, Question] = {q.id: q for q in questions}
            conductor = Conductor(
                self.client,
                contest.id,
                live_plan(contest, questions),
                by_id,
                prefix=self.prefix,
                lease_ms=self.conductor_lease_ms,
                holder=f"{self.holder}:{contest.id}",
                speed=contest.scoring.speed,
                streak_step=contest.scoring.streak_step,
                streak_cap=contest.scoring.streak_cap,
                on_end=lambda: self._close_show(contest.id),
                language=bank.language,
            )
            await conductor.run()
            self._finished.add(contest.id)
        except LeaseLost as exc:
            log.warning("conductor of %s stopped: %s", contest.id, exc)
        except (RedisError, EngineError, OSError) as exc:
            log.warning("conductor of %s failed: %s", contest.id, exc)
        except Exception:
            log.exception("conductor of %s failed", contest.id)

    async def _close_show(self, contest_id: ContestId) -> None:
        """End of a show: ``running → closed`` (idempotent: a successor may redo it)."""
        with contextlib.suppress(IllegalTransition):
            await self.store.apply(contest_id, "close")
            SCHEDULER_TRANSITIONS.labels("close").inc()
