"""How a live show runs: its plan, its conductor, its end and its final standings.

Every process's scheduler calls :meth:`LiveRunner.supervise` each tick: for every running
show a task waits for the show's conductor lease and, once it has it, conducts the show
(:class:`~engine.live.conductor.Conductor`). So one process conducts each show, and when it
dies another takes over within the lease's time-to-live. A show closed or cancelled by hand
mid-question has that question closed at once (:meth:`LiveRunner.after_move`), so no answer
counts after the show ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from redis.exceptions import RedisError

from engine.core.contest import Contest
from engine.core.errors import EngineError, LeaseLost
from engine.core.lifecycle import Event
from engine.core.show import ShowPlan
from engine.live.conductor import Conductor, read_show
from engine.modes.base import Runner, RunnerHooks
from engine.runtime.redisconn import AsyncRedis
from question_bank.draws import draw, draw_seed
from question_bank.ids import ContestId, QuestionId
from question_bank.models import Bank, Question
from scoring.finalize import Finalizer
from scoring.live import LiveScoring

__all__ = ["LiveRunner", "live_plan", "show_questions"]

log = logging.getLogger(__name__)


def show_questions(contest: Contest, bank: Bank) -> list[Question]:
    """A live show's questions, in order: the contest's one draw (seed member ``*``), options
    in bank order (everyone sees the same question)."""
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


class LiveRunner(Runner):
    """Live shows' conductors (one task per running show in each process), their end and
    their final standings."""

    def __init__(
        self, redis_client: AsyncRedis, prefix: str, hooks: RunnerHooks | None = None
    ) -> None:
        super().__init__(redis_client, prefix, hooks)
        self.conductors: dict[ContestId, asyncio.Task[None]] = {}
        self._finished: set[ContestId] = set()

    async def after_move(self, contest: Contest, event: Event, at: int) -> None:
        """A member-sharded show just scheduled: its shards get the scoring settings (members
        join it from now on, on their shards, before its conductor starts). A show moved
        while running (closed or cancelled by hand): close the question it has open, so no
        answer counts after the show ended (its conductor stops at its next step)."""
        if event == "schedule" and contest.shards > 1 and contest.live is not None:
            await self._scoring(contest).configure(
                streak_step=contest.scoring.streak_step,
                streak_cap=contest.scoring.streak_cap,
                eliminate=contest.live.elimination,
            )
        if contest.state != "running":
            return
        # The question opened last: closing it again changes nothing, and applies any
        # answer still pending (totals and boards are written at a question's close).
        await self._scoring(contest).close_current()

    def _scoring(self, contest: Contest) -> LiveScoring:
        return LiveScoring(self.redis, contest.id, self.prefix, shards=contest.shards)

    async def final_standings(
        self, contest: Contest, bank: Callable[[Contest], Awaitable[Bank]]
    ) -> None:
        """By score, then time used (every accepted answer applied first)."""
        await self._scoring(contest).close_current()
        finalizer = Finalizer(self.redis, contest.id, prefix=self.prefix, shards=contest.shards)
        await finalizer.finalize_live()

    async def asked(self, contest: Contest) -> tuple[list[QuestionId] | None, QuestionId | None]:
        view = await read_show(self.redis, contest.id, self.prefix)
        if view is None:
            return None, None
        return list(view.plan.questions), view.question

    def supervise(self, contests: Sequence[Contest]) -> None:
        """A conductor task for each running show (a show that ended is left alone)."""
        running = {c.id: c for c in contests if c.state == "running"}
        for contest_id in [c for c in self.conductors if c not in running]:
            self.conductors.pop(contest_id).cancel()  # closed or cancelled meanwhile
        for contest in running.values():
            if contest.id in self._finished:
                continue
            task = self.conductors.get(contest.id)
            if task is None or task.done():
                self.conductors[contest.id] = asyncio.create_task(
                    self._conduct(contest), name=f"conductor-{contest.id}"
                )

    async def close(self) -> None:
        """Stop this process's conductors (another process takes their shows over)."""
        tasks = list(self.conductors.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.conductors.clear()

    async def _conduct(self, contest: Contest) -> None:
        """Wait for the show's lease, then conduct it; on a lost lease, wait again."""
        hooks = self.hooks
        assert hooks is not None, "conductors run under a scheduler"
        try:
            bank = await hooks.bank(contest)
            questions = show_questions(contest, bank)
            by_id: dict[QuestionId, Question] = {q.id: q for q in questions}
            conductor = Conductor(
                self.redis,
                contest.id,
                live_plan(contest, questions),
                by_id,
                prefix=self.prefix,
                lease_ms=hooks.conductor_lease_ms,
                holder=f"{hooks.holder}:{contest.id}",
                speed=contest.scoring.speed,
                streak_step=contest.scoring.streak_step,
                streak_cap=contest.scoring.streak_cap,
                on_end=lambda: hooks.close(contest.id),
                language=bank.language,
                shards=contest.shards,
            )
            await conductor.run()
            self._finished.add(contest.id)
        except LeaseLost as exc:
            log.warning("conductor of %s stopped: %s", contest.id, exc)
        except (RedisError, EngineError, OSError) as exc:
            log.warning("conductor of %s failed: %s", contest.id, exc)
        except Exception:
            log.exception("conductor of %s failed", contest.id)
