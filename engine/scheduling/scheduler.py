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
2. **Each mode's sweep** (same lease): the contest's mode runner's
   :meth:`~engine.modes.base.Runner.sweep` (window rounds: the attempts past their deadline
   are expired and their members told, :mod:`engine.window.runner`).
3. **Each mode's supervision** (every process): the runners'
   :meth:`~engine.modes.base.Runner.supervise` (live shows: a conductor task per running
   show, waiting for the show's lease, :mod:`engine.live.runner`), so one process conducts
   each show, and when it dies another takes over within the lease's time-to-live.

While Redis cannot be used (down, a Redis Cluster with slots not served), every tick still
tries, so the first tick after it is back moves what is due; but only the first failure is
logged, then a reminder once a minute while it lasts (how many ticks failed), and the
recovery (:class:`engine.runtime.logs.FailureLog`), not a line every second.

The scheduler lease is taken (or renewed) at each tick and lasts three ticks, so a dead
scheduler is replaced within about three seconds. Each step is safe to repeat: transitions
are compare-and-set, expiry and finalize are idempotent.

Each round that ends is counted in ``contest_scheduler_ticks_total``, labelled ``held``
(this process held the lease in it) or ``standby``. A process's rounds never overlap, so
once the lease is held elsewhere (another process, or an operator or a test that sets
``P:lease:scheduler`` to a holder of its own to pause the transitions), the first
``standby`` round a process ends after that means it does nothing more under the lease:
a round that was under way then has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisClusterException, RedisError

from engine.contests.modes import MODES, mode_of
from engine.contests.store import ContestStore
from engine.core.contest import Contest
from engine.core.errors import EngineError, IllegalTransition
from engine.core.lifecycle import Mode
from engine.modes.base import Runner, RunnerHooks
from engine.runtime.lease import Lease, new_holder_id
from engine.runtime.logs import FailureLog
from engine.runtime.metrics import SCHEDULER_TICKS, SCHEDULER_TRANSITIONS
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId
from scoring.keys import DEFAULT_PREFIX, GlobalKeys

__all__ = ["Finalizer", "Scheduler", "default_finalizer", "next_due_ms"]

log = logging.getLogger(__name__)

Finalizer = Callable[[Contest], Awaitable[None]]
"""Computes a closed contest's final ranking (idempotent) before it is marked finalized."""


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


async def default_finalizer(client: AsyncRedis, contest: Contest, prefix: str) -> None:
    """The scoring core's finalize (final ranking with the tie-break chain), with the
    prediction question's measure: :meth:`ContestStore.finalize_standings`."""
    await ContestStore(client, prefix).finalize_standings(contest)


class Scheduler:
    """One process's scheduler loop (see the module docstring)."""

    def __init__(
        self,
        client: AsyncRedis,
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
        hooks = RunnerHooks(
            holder=self.holder,
            conductor_lease_ms=conductor_lease_ms,
            bank=self.store.bank,
            close=self._close_show,
        )
        self.failures = FailureLog(log, "scheduler tick")
        self.runners: dict[Mode, Runner] = {
            name: mode.runner(client, prefix, hooks) for name, mode in MODES.items()
        }

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
                except (RedisError, RedisClusterException, EngineError, OSError) as exc:
                    self.failures.failed(exc)
                except Exception:  # a bug must not stop every later transition
                    log.exception("scheduler tick failed")
                else:
                    self.failures.succeeded()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(wait_ms, 1) / 1000)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop this process's conductors and other supervised work (another process takes
        their shows over) and give the scheduler lease up."""
        await asyncio.gather(*(runner.close() for runner in self.runners.values()))
        with contextlib.suppress(RedisError):
            await self.lease.release()

    async def tick(self) -> int:
        """One round: transitions and sweeps (lease holder only), then supervision.

        Returns the ms to wait before the next round: ``tick_ms``, or less when a contest's
        start or close falls due sooner, so that a show starts on the dot."""
        contests = await self.store.list(active_only=True)
        now = await self.store.now_ms()
        held = await self.lease.acquire()
        if held:
            moved: list[Contest] = []
            for contest in contests:
                try:
                    contest = await self._transition(contest, now)
                    await self._runner(contest).sweep(contest)
                except Exception:  # one contest's trouble must not hold the others up
                    log.exception("scheduler: contest %s", contest.id)
                moved.append(contest)
            contests = moved
        self._supervise(contests)
        SCHEDULER_TICKS.labels("held" if held else "standby").inc()
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
                await self._runner(contest).before(contest, event)
                if event == "finalize":
                    contest = await self.store.finalize(contest.id, standings=self.finalizer)
                else:
                    contest = await self.store.apply(contest.id, event)
            except IllegalTransition:
                return contest  # another process (or an organiser) moved it first
            SCHEDULER_TRANSITIONS.labels(event).inc()
            log.info("contest %s: %s (now %s)", contest.id, event, contest.state)
        return contest

    def _runner(self, contest: Contest) -> Runner:
        return self.runners[mode_of(contest).name]

    # ------------------------------------------------------------------ supervision

    def _supervise(self, contests: list[Contest]) -> None:
        """Each mode's runner looks at the active contests of its mode."""
        by_mode: dict[Mode, list[Contest]] = {name: [] for name in self.runners}
        for contest in contests:
            by_mode[mode_of(contest).name].append(contest)
        for name, runner in self.runners.items():
            runner.supervise(by_mode[name])

    async def _close_show(self, contest_id: ContestId) -> None:
        """End of a show: ``running → closed`` (idempotent: a successor may redo it)."""
        with contextlib.suppress(IllegalTransition):
            await self.store.apply(contest_id, "close")
            SCHEDULER_TRANSITIONS.labels("close").inc()
