"""The contest definitions a gateway process reads, each at most once a second.

Everything a member's state is made of is read from Redis on each join, so a member who
reconnects to any gateway process gets the same state back; per process there are only
caches of immutable things (bank versions, :class:`engine.modes.base.PinnedBanks`) and
short-lived ones: contest definitions, :data:`CONTEST_TTL_MS`, so a state change is seen
within a second (and at once where the relay tells of it: :meth:`ContestCache.forget`).
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio

from engine.contests.store import ContestStore
from engine.core.contest import Contest
from engine.core.errors import BackendError, ContestNotFound
from engine.modes.base import CACHE_LIMIT
from question_bank.ids import ContestId

__all__ = ["CONTEST_TTL_MS", "GONE_STATES", "ContestCache"]

CONTEST_TTL_MS = 1000
"""How long a process reuses a contest definition it read (its state may change)."""

GONE_STATES = ("deleted", "cancelled")


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class ContestCache:
    """Contest definitions and states, read at most once per :data:`CONTEST_TTL_MS` by this
    process (one read in flight per contest, however many members ask)."""

    def __init__(self, store: ContestStore) -> None:
        self.store = store
        self._contests: dict[ContestId, tuple[int, Contest]] = {}
        self._loading: dict[ContestId, asyncio.Lock] = {}

    async def __call__(self, contest_id: ContestId, *, fresh: bool = False) -> Contest:
        """The contest; :class:`ContestNotFound` if it is gone (deleted or cancelled)."""
        asked = _now_ms()
        cached = self._contests.get(contest_id)
        if cached is not None and not fresh and asked - cached[0] < CONTEST_TTL_MS:
            return cached[1]
        lock = self._loading.setdefault(contest_id, asyncio.Lock())
        async with lock:
            cached = self._contests.get(contest_id)
            if cached is not None and cached[0] >= asked:
                return cached[1]  # read by another caller while this one waited
            now = _now_ms()
            try:
                contest = await self.store.get(contest_id)
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

    def fresh(self, contest_id: ContestId) -> Contest | None:
        """The cached contest if it is fresh enough (no await on the answer path)."""
        cached = self._contests.get(contest_id)
        if cached is not None and _now_ms() - cached[0] < CONTEST_TTL_MS:
            return cached[1]
        return None

    def forget(self, contest_id: ContestId) -> None:
        """Drop the cached definition of a contest (its state changed)."""
        self._contests.pop(contest_id, None)
