"""How a window round runs: its attempts expire at their deadlines, the round's close ends
the attempts still open, and the final ranking uses the round's prediction.

The scheduler's lease holder sweeps every open round each tick (:meth:`WindowRunner.sweep`:
attempts past their deadline are closed, counted, ranked, and their members told through
:func:`engine.window.notices.expire_attempts`), and once more just before the round closes.
A round closed by hand before its ``closes_at`` has its open attempts cut to the close
(:meth:`WindowRunner.after_move`), so nothing is handed in after the final ranking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from engine.core.contest import Contest, WindowRanking
from engine.core.lifecycle import Event
from engine.modes.base import Runner, RunnerHooks
from engine.runtime.metrics import ATTEMPTS_EXPIRED
from engine.runtime.redisconn import AsyncRedis
from engine.window.notices import expire_attempts
from question_bank.ids import ContestId
from question_bank.models import Bank, Prediction, PredictionMeasure
from scoring.attempts import Attempts
from scoring.finalize import Finalizer
from scoring.scripts import Scripts

__all__ = ["WindowRunner"]


class WindowRunner(Runner):
    """Window rounds' expiry, close and final standings."""

    answers_per_attempt = True

    def __init__(
        self, redis_client: AsyncRedis, prefix: str, hooks: RunnerHooks | None = None
    ) -> None:
        super().__init__(redis_client, prefix, hooks)
        self._scripts = Scripts(redis_client)

    async def sweep(self, contest: Contest) -> int:
        """Expire the open round's attempts past their deadline."""
        if contest.state != "open":
            return 0
        return await self._expire(contest.id)

    async def before(self, contest: Contest, event: Event) -> None:
        """Before the round closes: a last sweep, so attempts that ended in time count."""
        if event == "close":
            await self._expire(contest.id)

    async def after_move(self, contest: Contest, event: Event, at: int) -> None:
        if event == "close":
            await self.end_attempts(contest.id, at)

    async def final_standings(
        self, contest: Contest, bank: Callable[[Contest], Awaitable[Bank]]
    ) -> None:
        """Score, prediction distance (the prediction question's measure, from the bank's
        ``Prediction.measure``), time used, submission time, then the round's further keys;
        of the attempt the round's ``ranking.counts`` picks."""
        measure: PredictionMeasure | None = None
        if contest.window is not None and contest.window.prediction_question is not None:
            for question in (await bank(contest)).questions:
                if question.id == contest.window.prediction_question:
                    if isinstance(question, Prediction):
                        measure = question.measure
                    break
        # The round is closed: attempts still open end at the close (a round closed by
        # hand before closes_at; redone here in case the closing process died before it
        # could); force ranks any that the sweep has not expired yet as they stand.
        closes = [t.at for t in contest.history if t.event == "close"]
        if closes:
            await self.end_attempts(contest.id, closes[-1])
        finalizer = Finalizer(self.redis, contest.id, prefix=self.prefix)
        ranking = contest.window.ranking if contest.window is not None else WindowRanking()
        await finalizer.finalize_window(
            measure, force=True, counts=ranking.counts, tie_break=ranking.tie_break
        )

    async def end_attempts(self, contest_id: ContestId, closed_at: int) -> None:
        """End the window attempts still open when the round closed at *closed_at* (ms):
        their deadline becomes the close, and they are expired (closed, counted, ranked) as
        soon as Redis's clock is past it, and their members told. Idempotent."""
        attempts = Attempts(self.redis, contest_id, prefix=self.prefix, scripts=self._scripts)
        _, now = await attempts.cut_to(closed_at)
        if now <= closed_at:  # the sweep expires an attempt once its deadline is past
            await asyncio.sleep((closed_at - now + 1) / 1000)
        await self._expire(contest_id)

    async def _expire(self, contest_id: ContestId) -> int:
        closed = await expire_attempts(self.redis, contest_id, self.prefix)
        if closed:
            ATTEMPTS_EXPIRED.inc(closed)
        return closed
