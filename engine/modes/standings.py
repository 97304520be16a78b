"""Reads of ranks and boards for members of any mode: their own rank, the top of a board,
their standing when the contest closes.

The gateway's side of ``scoring/keys.py``'s boards: a member's rank on the global board is
shared among equal composites (1, 2, 2, 4: ``ZCOUNT`` of strictly higher scores + 1), and a
composite decodes back into score and time used (``score * 2**32 + (2**32 - 1 - time)``).
Many members' ranks are read by one script call per chunk of members (after a reveal every
member of a process gets theirs): a pipeline of two commands per member cost the gateway
more CPU in redis-py's reply parsing than everything else it did at a reveal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec

from engine.core import messages as m
from engine.core.contest import Contest
from engine.core.views import standing_message
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId, MemberId
from scoring.finalize import Finalizer
from scoring.keys import DEFAULT_PREFIX, ContestKeys
from scoring.leaderboard import Leaderboard
from scoring.profiles import Profile

__all__ = ["Rank", "closing_standings", "leaderboard", "ranks"]

_TWO32 = 2**32
CHUNK = 2000
"""Members per script call when reading many ranks."""

_profile = msgspec.json.Decoder(Profile)


class Rank(msgspec.Struct, frozen=True):
    """A member's standing on a board; ``rank`` ``None`` if not on it."""

    rank: int | None
    score: int = 0
    time_ms: int = 0
    of: int = 0


async def ranks(
    client: AsyncRedis,
    contest: ContestId,
    members: Sequence[MemberId],
    *,
    prefix: str = DEFAULT_PREFIX,
    shards: int = 1,
) -> dict[MemberId, Rank]:
    """Each member's shared rank, score and time on the global board (board_ranks.lua:
    one script call per :data:`CHUNK` members; of a sharded contest, merged)."""
    board = Leaderboard(client, contest, prefix, shards=shards)
    of, rows = await board.ranks(members, chunk=CHUNK)
    return {
        member: Rank(None, of=of) if row is None else Rank(row[0], row[1], row[2], of)
        for member, row in zip(members, rows, strict=True)
    }


async def leaderboard(
    client: AsyncRedis,
    contest: ContestId,
    *,
    scope: str = "global",
    member: MemberId | None = None,
    profile: Profile | None = None,
    limit: int = 10,
    now: int = 0,
    prefix: str = DEFAULT_PREFIX,
    shards: int = 1,
) -> m.Leaderboard:
    """The top *limit* of a board with names, and *member*'s own row if given.

    ``province`` and ``unit`` boards are the member's own (from *profile*); a member with
    no province or unit gets an empty board."""
    board = Leaderboard(client, contest, prefix, shards=shards)
    where: dict[str, str] = {}
    if scope == "province":
        if profile is None or not profile.province:
            return m.Leaderboard(scope="province", top=[], at=now)
        where["province"] = str(profile.province)
    elif scope == "unit":
        if profile is None or not profile.unit:
            return m.Leaderboard(scope="unit", top=[], at=now)
        where["unit"] = str(profile.unit)
    # Three independent reads, in flight together: one round trip of latency, not three.
    top, you, of = await asyncio.gather(
        board.top(limit, **where),
        board.rank(member, **where) if member is not None else _nothing(),
        board.size(**where),
    )
    return m.Leaderboard(
        scope=scope,  # type: ignore[arg-type]
        key=next(iter(where.values()), ""),
        top=[standing_message(s) for s in top],
        you=standing_message(you) if you is not None else None,
        of=of,
        at=now,
    )


async def _nothing() -> None:
    return None


async def closing_standings(
    client: AsyncRedis,
    contest: Contest,
    members: Sequence[MemberId],
    prefix: str = DEFAULT_PREFIX,
) -> dict[MemberId, m.Closed]:
    """Each member's ``closed`` standing: once finalized, the final one (the scoring core's
    reader), ``final`` for every member (with no rank for one the final ranking left out:
    no accepted answer or attempt); before, the board's rank. Read in pipelined chunks of a
    few thousand members, so a process with thousands of members makes a few round trips,
    not one per member."""
    if contest.state == "finalized":
        finalizer = Finalizer(client, contest.id, prefix=prefix)
        of = int(await client.zcard(ContestKeys(contest.id, prefix).final_order))
        finals = await finalizer.standings_of(members)
        return {
            member: m.Closed(state=contest.state, of=of, final=True)
            if final is None
            else m.Closed(
                state=contest.state,
                rank=final.rank,
                score=final.score,
                time_ms=final.time_used,
                of=of,
                final=True,
            )
            for member, final in zip(members, finals, strict=True)
        }
    boards = await ranks(client, contest.id, members, prefix=prefix, shards=contest.shards)
    return {
        member: m.Closed(
            state=contest.state,
            rank=standing.rank,
            score=standing.score,
            time_ms=standing.time_ms,
            of=standing.of,
            final=False,
        )
        for member, standing in boards.items()
    }
