"""Leaderboard queries with many members: top-100, my rank, around me (p50/p99).

    python -m bench.leaderboard [--members N] [--queries Q] [--quick]

A private redis-server is started and filled through pipelines with N members on the
global board (composite scores with many ties, as real rounds have) and their profiles.
Then Q queries of each kind run one after another through
:class:`scoring.leaderboard.Leaderboard` (the API the gateway calls), for random members:

* ``top(100)`` with profiles;
* ``rank(member)`` (shared rank via ZCOUNT);
* ``around(member, 5)``.

Reported: p50/p99/max per query in ms, beside a bare ``PING`` round trip measured the same
way in the same run (the floor), and the target (p99 <= 2 ms at 1,000,000 members).
Redis memory used per member is printed too. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio

from question_bank.ids import ContestId, MemberId
from scoring.keys import ContestKeys
from scoring.leaderboard import Leaderboard, composite
from scoring.profiles import Profile, encode_profile
from scoring.redis_server import RedisServer

CONTEST = ContestId("lbbench")
PREFIX = "bl"


async def load(client: redis.asyncio.Redis, members: int, chunk: int = 10_000) -> float:
    """Fill the board and profiles; returns seconds taken."""
    keys = ContestKeys(CONTEST, PREFIX)
    rng = random.Random(7)
    start = time.perf_counter()
    for first in range(0, members, chunk):
        ids = [f"m{i}" for i in range(first, min(members, first + chunk))]
        scores = {m: composite(rng.randrange(0, 200) * 10, rng.randrange(0, 600_000)) for m in ids}
        profiles = {
            m: encode_profile(Profile(name=f"Member {m}", province="hn", unit="u1")) for m in ids
        }
        async with client.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.leaderboard, scores)  # type: ignore[arg-type]
            pipe.hset(keys.profiles, mapping=profiles)  # type: ignore[arg-type]
            await pipe.execute()
    return time.perf_counter() - start


async def timed(queries: int, make: Callable[[int], Awaitable[Any]]) -> list[float]:
    samples = []
    for i in range(queries):
        t0 = time.perf_counter()
        await make(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"  {name:<16} p50 {p50:6.3f} ms   p99 {p99:6.3f} ms   max {ordered[-1]:6.3f} ms"


async def run(url: str, members: int, queries: int) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        used0 = int((await client.info("memory"))["used_memory"])
        seconds = await load(client, members)
        used1 = int((await client.info("memory"))["used_memory"])
        print(f"loaded {members} members in {seconds:.1f} s "
              f"({(used1 - used0) / members:.0f} bytes of Redis memory per member: "
              f"board entry + profile)")  # fmt: skip
        board = Leaderboard(client, CONTEST, PREFIX)
        rng = random.Random(11)
        picks = [MemberId(f"m{rng.randrange(members)}") for _ in range(queries)]
        await timed(200, lambda i: board.rank(picks[i % len(picks)]))  # warm up
        ping = await timed(queries, lambda i: client.ping())
        top = await timed(queries, lambda i: board.top(100))
        rank = await timed(queries, lambda i: board.rank(picks[i]))
        around = await timed(queries, lambda i: board.around(picks[i], 5))
        print(f"leaderboard queries, {members} members, {queries} each (target p99 <= 2 ms)")
        print(summary("PING (floor)", ping))
        print(summary("top(100)", top))
        print(summary("rank(member)", rank))
        print(summary("around(m, 5)", around))
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.leaderboard", description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="50,000 members, 1,000 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.queries = 50_000, 1000
    with RedisServer() as server:
        asyncio.run(run(server.url, args.members, args.queries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
