"""Leaderboards: global, per province, per unit; top N, a member's rank, around a member.

Boards are sorted sets written by the scripts (``set_board`` in ``scoring/lua/_lib.lua``)
with one composite score per member that orders by score (desc) then time used (asc)::

    composite = score * 2**32 + (2**32 - 1 - time_used_ms)

Equal composites (same score and same time) share a rank, like 1, 2, 2, 4: a member's
rank is ``ZCOUNT(board, "(" .. composite, "+inf") + 1``. Every query is one call of
``scoring/lua/board_window.lua`` (one round trip), O(log N + k): ``ZREVRANK``,
``ZREVRANGE`` of the k rows, one ``ZCOUNT`` for the first row's rank and one ``HMGET``
of the k profiles shown.
Display name, province and unit come from ``P:{C}:profiles`` (:mod:`scoring.profiles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from question_bank.ids import ContestId, MemberId, ProvinceId, UnitId

from .errors import CorruptData, map_redis_errors
from .keys import DEFAULT_PREFIX, ContestKeys
from .profiles import Profile, decode_profile
from .replies import text
from .scripts import AnyRedis, Scripts

__all__ = ["TWO32", "Leaderboard", "Standing", "composite", "split_composite"]

TWO32 = 2**32


def composite(score: int, time_used: int) -> int:
    """The board score of (*score*, *time used* ms); exact for scores below 2**20."""
    return score * TWO32 + (TWO32 - 1 - min(max(time_used, 0), TWO32 - 1))


def split_composite(value: float) -> tuple[int, int]:
    """(score, time used ms) of a board score."""
    score, rest = divmod(int(value), TWO32)
    return score, TWO32 - 1 - rest


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a leaderboard."""

    rank: int
    """Shared rank: members with equal score and time have the same one (1, 2, 2, 4)."""
    member: MemberId
    score: int
    time_used: int
    """Milliseconds; the tie-break after score (less is better)."""
    name: str = ""
    province: ProvinceId = ProvinceId("")
    unit: UnitId = UnitId("")


_NO_PROFILE = Profile()


class Leaderboard:
    """Queries on one contest's boards. ``province``/``unit`` select a sub-board."""

    def __init__(self, redis: AnyRedis, contest: ContestId, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.keys = ContestKeys(contest, prefix)
        self.scripts = Scripts(redis)

    def board(self, *, province: str | None = None, unit: str | None = None) -> str:
        """Key of the global board, or of one province's or one unit's."""
        if province is not None and unit is not None:
            raise ValueError("choose a province board or a unit board, not both")
        if province is not None:
            return self.keys.province_board(ProvinceId(province))
        if unit is not None:
            return self.keys.unit_board(UnitId(unit))
        return self.keys.leaderboard

    async def size(self, *, province: str | None = None, unit: str | None = None) -> int:
        """Members on the board."""
        with map_redis_errors():
            return int(await self.redis.zcard(self.board(province=province, unit=unit)))

    async def top(
        self, n: int, *, province: str | None = None, unit: str | None = None
    ) -> list[Standing]:
        """The first *n* standings (fewer if the board is smaller)."""
        if n <= 0:
            return []
        return await self._window(self.board(province=province, unit=unit), "top", n, 0)

    async def rank(
        self, member: MemberId, *, province: str | None = None, unit: str | None = None
    ) -> Standing | None:
        """The member's standing, or ``None`` if they are not on the board."""
        rows = await self._window(self.board(province=province, unit=unit), "rank", member, 0)
        return rows[0] if rows else None

    async def around(
        self,
        member: MemberId,
        k: int,
        *,
        province: str | None = None,
        unit: str | None = None,
    ) -> list[Standing]:
        """The member's standing with up to *k* above and *k* below; empty if not on it."""
        key = self.board(province=province, unit=unit)
        return await self._window(key, "around", member, max(0, k))

    async def ranks(
        self,
        members: Sequence[str],
        *,
        province: str | None = None,
        unit: str | None = None,
        chunk: int = 2000,
    ) -> tuple[int, list[tuple[int, int, int] | None]]:
        """Many members' (rank, score, time used) at once, ``None`` for one not on the board,
        and the board's size: one script call per *chunk* members (board_ranks.lua), so a
        reveal's results for every member of a process cost a few round trips, not one per
        member. Ranks are shared (1, 2, 2, 4)."""
        key = self.board(province=province, unit=unit)
        size = 0
        out: list[tuple[int, int, int] | None] = []
        for start in range(0, len(members), chunk):
            part = list(members[start : start + chunk])
            raw = await self.scripts.call("board_ranks", [key], part)
            try:
                size = int(raw[0])
                for i in range(1, len(raw), 2):
                    score = raw[i]
                    if not score:
                        out.append(None)
                    else:
                        points, time_used = split_composite(float(score))
                        out.append((int(raw[i + 1]), points, time_used))
            except (TypeError, ValueError, IndexError) as exc:
                raise CorruptData(f"unexpected board_ranks result {raw[:6]!r}") from exc
        if not members:
            size = await self.size(province=province, unit=unit)
        return size, out

    async def _window(self, key: str, mode: str, target: str | int, k: int) -> list[Standing]:
        """One call of board_window.lua: rows with shared ranks and profiles."""
        raw = await self.scripts.call("board_window", [key, self.keys.profiles], [mode, target, k])
        if not raw:
            return []
        try:
            rank, position = int(raw[0]), int(raw[1])
            flat = raw[2:]
            standings: list[Standing] = []
            previous: bytes | None = None
            for i in range(0, len(flat), 3):
                member, score, profile = flat[i], flat[i + 1], flat[i + 2]
                if previous is not None and score != previous:
                    rank = position + i // 3 + 1
                previous = score
                standings.append(
                    _standing(rank, MemberId(text(member)), float(score), profile or None)
                )
        except (TypeError, ValueError, IndexError) as exc:
            raise CorruptData(f"unexpected board_window result {raw!r}") from exc
        return standings


def _standing(rank: int, member: MemberId, value: float, profile: Any) -> Standing:
    score, used = split_composite(value)
    found = _NO_PROFILE
    if profile is not None:
        try:
            found = decode_profile(profile)
        except CorruptData:
            found = _NO_PROFILE  # a bad profile must not hide the board
    return Standing(
        rank=rank,
        member=member,
        score=score,
        time_used=used,
        name=found.name,
        province=found.province,
        unit=found.unit,
    )
