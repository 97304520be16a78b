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

A member-sharded contest (``shards`` S > 1) has one board of each kind per shard; the
queries merge them in the order one board would have (score desc, then member desc, as
``ZREVRANGE`` orders equal scores): the top n is the top n of the shards' top n merged; a
rank is one plus the members strictly above on every shard (``board_above.lua``); the
rows around a member come from each shard's rows nearest the member's place
(``board_near.lua``); the size is the shards' sum. So every answer equals the one a single
board of the same members gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import msgspec

from question_bank.ids import ContestId, MemberId, ProvinceId, UnitId

from .errors import CorruptData, map_redis_errors
from .keys import DEFAULT_PREFIX, ContestKeys
from .profiles import Profile, decode_profile
from .replies import text
from .scripts import AnyRedis, Scripts
from .shards import contest_shards

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


Row = tuple[bytes, float]
"""A board row as ``ZREVRANGE ... WITHSCORES`` gives it: member, composite."""


def _order(row: Row) -> tuple[float, bytes]:
    return row[1], row[0]


class Leaderboard:
    """Queries on one contest's boards. ``province``/``unit`` select a sub-board; *shards*
    is the contest's member shards (1: one board of each kind)."""

    def __init__(
        self,
        redis: AnyRedis,
        contest: ContestId,
        prefix: str = DEFAULT_PREFIX,
        *,
        shards: int = 1,
    ) -> None:
        self.redis = redis
        self.scripts = Scripts(redis)
        self.shards = contest_shards(contest, prefix, shards)
        self.keys = self.shards.contest
        """The contest's own keys (profiles, finals): those of :attr:`shards`."""

    def boards(self, *, province: str | None = None, unit: str | None = None) -> list[str]:
        """The board's key on every shard (one key when not sharded)."""
        return [_board_of(k, province, unit) for k in self.shards.keys]

    def board(self, *, province: str | None = None, unit: str | None = None) -> str:
        """Key of the global board, or of one province's or one unit's (of the contest's
        own keys: a sharded contest's boards are :meth:`boards`)."""
        return _board_of(self.keys, province, unit)

    async def size(self, *, province: str | None = None, unit: str | None = None) -> int:
        """Members on the board."""
        with map_redis_errors():
            if self.shards.sharded:
                boards = self.boards(province=province, unit=unit)
                return sum(await asyncio.gather(*[self.redis.zcard(b) for b in boards]))
            return int(await self.redis.zcard(self.board(province=province, unit=unit)))

    async def top(
        self, n: int, *, province: str | None = None, unit: str | None = None
    ) -> list[Standing]:
        """The first *n* standings (fewer if the board is smaller)."""
        if n <= 0:
            return []
        if self.shards.sharded:
            boards = self.boards(province=province, unit=unit)
            with map_redis_errors():
                parts = await asyncio.gather(
                    *[self.redis.zrevrange(b, 0, n - 1, withscores=True) for b in boards]
                )
            merged: list[Row] = [row for part in cast(list[list[Row]], parts) for row in part]
            rows = sorted(merged, key=_order, reverse=True)
            return await self._merged(rows[:n], 1, 0)
        return await self._window(self.board(province=province, unit=unit), "top", n, 0)

    async def rank(
        self, member: MemberId, *, province: str | None = None, unit: str | None = None
    ) -> Standing | None:
        """The member's standing, or ``None`` if they are not on the board."""
        if self.shards.sharded:
            where = _board_of(self.shards.of(member), province, unit)
            with map_redis_errors():
                score = await self.redis.zscore(where, member)
            if score is None:
                return None
            rank = await self._above(self.boards(province=province, unit=unit), [score])
            return (await self._merged([(member.encode(), score)], rank[0] + 1, 0))[0]
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
        if self.shards.sharded:
            return await self._sharded_around(member, max(0, k), province, unit)
        key = self.board(province=province, unit=unit)
        return await self._window(key, "around", member, max(0, k))

    async def _sharded_around(
        self, member: MemberId, k: int, province: str | None, unit: str | None
    ) -> list[Standing]:
        where = _board_of(self.shards.of(member), province, unit)
        with map_redis_errors():
            score = await self.redis.zscore(where, member)
        if score is None:
            return []
        boards = self.boards(province=province, unit=unit)
        near = await asyncio.gather(
            *[self.scripts.call("board_near", [b], [repr(score), member, k]) for b in boards]
        )
        position = 0
        above: list[Row] = []
        below: list[Row] = []
        try:
            for raw in near:
                position += int(raw[0])
                flat, ahead = raw[2:], int(raw[1])
                rows = [(bytes(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]
                above += rows[:ahead]
                below += rows[ahead:]
        except (TypeError, ValueError, IndexError) as exc:
            raise CorruptData(f"unexpected board_near result {near[0][:6]!r}") from exc
        above = sorted(above, key=_order, reverse=True)[-k:] if k else []
        below = sorted(below, key=_order, reverse=True)[:k]
        rows = [*above, (member.encode(), score), *below]
        first = (await self._above(boards, [rows[0][1]]))[0] + 1
        return await self._merged(rows, first, position - len(above))

    async def _above(self, boards: list[str], scores: Sequence[float]) -> list[int]:
        """How many members are strictly above each of *scores* on all *boards* together."""
        args = [repr(float(s)) for s in scores]
        parts = await asyncio.gather(*[self.scripts.call("board_above", [b], args) for b in boards])
        return [sum(int(part[i]) for part in parts) for i in range(len(args))]

    async def _merged(self, rows: Sequence[Row], first_rank: int, position: int) -> list[Standing]:
        """Standings of merged *rows* in board order: the first has *first_rank* and sits
        at 0-based *position*; names from the contest's profiles."""
        if not rows:
            return []
        with map_redis_errors():
            profiles = await self.redis.hmget(self.keys.profiles, [m for m, _ in rows])
        standings: list[Standing] = []
        rank, previous = first_rank, None
        for i, ((member, score), profile) in enumerate(zip(rows, profiles, strict=True)):
            if previous is not None and score != previous:
                rank = position + i + 1
            previous = score
            standings.append(_standing(rank, MemberId(text(member)), score, profile))
        return standings

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
        member. Ranks are shared (1, 2, 2, 4). Sharded: each shard's scores of its members
        (``ZMSCORE``), then one ``board_above.lua`` call per shard and chunk of distinct
        scores."""
        if self.shards.sharded:
            return await self._sharded_ranks(members, province, unit, chunk)
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

    async def _sharded_ranks(
        self, members: Sequence[str], province: str | None, unit: str | None, chunk: int
    ) -> tuple[int, list[tuple[int, int, int] | None]]:
        boards = self.boards(province=province, unit=unit)
        groups: dict[int, list[int]] = {}
        for at, member in enumerate(members):
            groups.setdefault(self.shards.index(member), []).append(at)
        scores: list[float | None] = [None] * len(members)
        with map_redis_errors():
            for shard, places in groups.items():
                for start in range(0, len(places), chunk):
                    part = places[start : start + chunk]
                    found = await self.redis.zmscore(boards[shard], [members[p] for p in part])
                    for p, score in zip(part, found, strict=True):
                        scores[p] = score
        distinct = sorted({s for s in scores if s is not None})
        above: dict[float, int] = {}
        for start in range(0, len(distinct), chunk):
            some = distinct[start : start + chunk]
            above.update(zip(some, await self._above(boards, some), strict=True))
        out: list[tuple[int, int, int] | None] = []
        for score in scores:
            if score is None:
                out.append(None)
            else:
                points, time_used = split_composite(score)
                out.append((above[score] + 1, points, time_used))
        return await self.size(province=province, unit=unit), out

    async def _window(self, key: str, mode: str, target: str | int, k: int) -> list[Standing]:
        """One call of board_window.lua: rows with shared ranks and profiles."""
        raw = await self.scripts.call("board_window", [key, self.keys.profiles], [mode, target, k])
        if not raw:
            return []
        try:
            rank, position = int(raw[0]), int(raw[1])
            flat = raw[2:]
            members, scores = flat[0::3], flat[1::3]
            profiles = _profiles(flat[2::3])
            standings: list[Standing] = []
            previous: bytes | None = None
            for i, score in enumerate(scores):
                if previous is not None and score != previous:
                    rank = position + i + 1
                previous = score
                points, used = divmod(int(float(score)), TWO32)
                found = profiles[i]
                standings.append(
                    Standing(
                        rank=rank,
                        member=MemberId(text(members[i])),
                        score=points,
                        time_used=TWO32 - 1 - used,
                        name=found.name,
                        province=found.province,
                        unit=found.unit,
                    )
                )
        except (TypeError, ValueError, IndexError) as exc:
            raise CorruptData(f"unexpected board_window result {raw!r}") from exc
        return standings


_profiles_decoder = msgspec.json.Decoder(list[Profile])


def _profiles(raw: Sequence[Any]) -> list[Profile]:
    """The profiles of a window's rows (false/None: none): one decode of them all, or one
    at a time if one is bad (a bad profile must not hide the board: it shows no name)."""
    try:
        return _profiles_decoder.decode(b"[" + b",".join([p or b"{}" for p in raw]) + b"]")
    except (msgspec.DecodeError, TypeError):
        return [_profile(p or None) for p in raw]


def _board_of(keys: ContestKeys, province: str | None, unit: str | None) -> str:
    """The global, a province's or a unit's board of one key set (the contest's, or a
    shard's)."""
    if province is not None and unit is not None:
        raise ValueError("choose a province board or a unit board, not both")
    if province is not None:
        return keys.province_board(ProvinceId(province))
    if unit is not None:
        return keys.unit_board(UnitId(unit))
    return keys.leaderboard


def _profile(raw: Any) -> Profile:
    if raw is None:
        return _NO_PROFILE
    try:
        return decode_profile(raw)
    except CorruptData:
        return _NO_PROFILE  # a bad profile must not hide the board


def _standing(rank: int, member: MemberId, value: float, profile: Any) -> Standing:
    score, used = split_composite(value)
    found = _profile(profile)
    return Standing(
        rank=rank,
        member=member,
        score=score,
        time_used=used,
        name=found.name,
        province=found.province,
        unit=found.unit,
    )
