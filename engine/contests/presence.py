"""Members online per contest, counted across every gateway process in Redis.

Each gateway process has an id; every few seconds it writes, for each contest it holds
members of, ``HSET P:{C}:online <gateway> "<count>:<ms>"``. A reader adds up the counts
whose stamp is recent (:data:`STALE_MS`), so a process that died stops counting within
seconds without anyone cleaning up after it; a gateway removes its own fields when it
closes. Redis 7.0 has no per-field expiry, hence the stamps.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import ContestId
from scoring.keys import DEFAULT_PREFIX, ContestKeys

__all__ = ["STALE_MS", "online_key", "members_online", "publish_counts", "withdraw"]

STALE_MS = 15_000
"""A gateway's count is ignored once it is this old (it refreshes every few seconds)."""


def online_key(contest: ContestId, prefix: str = DEFAULT_PREFIX) -> str:
    """hash: gateway id -> ``"<members>:<stamp ms>"`` (same hash tag as the contest)."""
    return f"{ContestKeys(contest, prefix).base}:online"


async def publish_counts(
    redis_client: AsyncRedis,
    gateway: str,
    counts: Mapping[ContestId, int],
    now: int,
    prefix: str = DEFAULT_PREFIX,
) -> None:
    """Record this gateway's member count of each contest (0 removes its field)."""
    if not counts:
        return
    async with redis_client.pipeline(transaction=False) as pipe:
        for contest, count in counts.items():
            key = online_key(contest, prefix)
            if count > 0:
                pipe.hset(key, gateway, f"{count}:{now}")
                pipe.pexpire(key, STALE_MS * 4)
            else:
                pipe.hdel(key, gateway)
        await pipe.execute()


async def withdraw(
    redis_client: AsyncRedis,
    gateway: str,
    contests: list[ContestId],
    prefix: str = DEFAULT_PREFIX,
) -> None:
    """Remove this gateway's counts (at shutdown)."""
    await publish_counts(redis_client, gateway, dict.fromkeys(contests, 0), 0, prefix)


async def members_online(
    redis_client: AsyncRedis,
    contest: ContestId,
    now: int,
    prefix: str = DEFAULT_PREFIX,
) -> int:
    """Members of *contest* connected to any live gateway process."""
    raw = await redis_client.hgetall(online_key(contest, prefix))
    total = 0
    for value in raw.values():
        text = value.decode() if isinstance(value, bytes) else str(value)
        count, _, stamp = text.partition(":")
        try:
            if now - int(stamp) <= STALE_MS:
                total += int(count)
        except ValueError:
            continue
    return total
