"""Leaderboard queries with many members: top-100, my rank, around me (p50/p99).

    python -m bench.leaderboard [--members N] [--queries Q] [--writes-per-second W] [--quick]

A private redis-server is started and filled through pipelines with N members on the
global board (composite scores with many ties, as real rounds have) and their profiles.
Then Q queries of each kind run one after another through
:class:`scoring.leaderboard.Leaderboard` (the API the gateway calls), for random members:

* ``top(100)`` with profiles;
* ``rank(member)`` (shared rank via ZCOUNT);
* ``around(member, 5)``.

* ``top(10)`` too with ``--writes-per-second`` (the size a member app shows first).

Reported: p50/p99/max per query in ms, beside a bare ``PING`` round trip measured the same
way in the same run (the floor), and the target (p99 <= 2 ms at 1,000,000 members; p99 <=
1 ms at 5,000,000 while answers flow). Redis memory used per member is printed too.
Nothing is asserted.

``--writes-per-second W`` runs, in another process and during every query phase
(PING included), the board writes of W answers a second as ``attempt_answer.lua`` makes
them for a member whose score changes: ``ZADD`` of the new composite to the global,
province and unit boards and ``HSET`` of the member's total and time, one pipeline per
10 ms tick.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio

from question_bank.ids import ContestId, MemberId, ProvinceId, UnitId
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


def _writer(url: str, members: int, rate: float, stop: Any, done: Any) -> None:
    """Process entry: *rate* answers' board writes a second until *stop* is set."""

    async def write() -> None:
        keys = ContestKeys(CONTEST, PREFIX)
        client = redis.asyncio.Redis.from_url(url)
        rng = random.Random(5)
        tick, written = 0.01, 0
        began = time.perf_counter()
        try:
            while not stop.is_set():
                owed = int(rate * (time.perf_counter() - began)) - written
                async with client.pipeline(transaction=False) as pipe:
                    for _ in range(owed):
                        m = f"m{rng.randrange(members)}"
                        score = composite(rng.randrange(0, 200) * 10, rng.randrange(0, 600_000))
                        pipe.zadd(keys.leaderboard, {m: score})
                        pipe.zadd(keys.province_board(ProvinceId("hn")), {m: score})
                        pipe.zadd(keys.unit_board(UnitId("u1")), {m: score})
                        pipe.hset(keys.totals, m, score // 2**32)
                        pipe.hset(keys.times, m, 1000)
                        written += 1
                    await pipe.execute()
                await asyncio.sleep(tick)
        finally:
            await client.aclose()
            done.put(written / (time.perf_counter() - began))

    asyncio.run(write())


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


async def run(url: str, members: int, queries: int, writes: float = 0.0) -> None:
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
        ctx = multiprocessing.get_context("spawn")
        stop, done = ctx.Event(), ctx.Queue()
        writer = ctx.Process(target=_writer, args=(url, members, writes, stop, done))
        if writes > 0:
            writer.start()
            await asyncio.sleep(1.0)  # the writer is up and writing
        try:
            ping = await timed(queries, lambda i: client.ping())
            top = await timed(queries, lambda i: board.top(100))
            top10 = await timed(queries, lambda i: board.top(10)) if writes > 0 else []
            rank = await timed(queries, lambda i: board.rank(picks[i]))
            around = await timed(queries, lambda i: board.around(picks[i], 5))
        finally:
            if writes > 0:
                stop.set()
                rate = done.get(timeout=30)
                writer.join(10)
        target = "p99 <= 1 ms at 5,000,000" if writes > 0 else "p99 <= 2 ms at 1,000,000"
        print(f"leaderboard queries, {members} members, {queries} each (target {target})")
        if writes > 0:
            print(f"  while another process wrote the boards of {rate:,.0f} answers a second")
        print(summary("PING (floor)", ping))
        print(summary("top(100)", top))
        if top10:
            print(summary("top(10)", top10))
        print(summary("rank(member)", rank))
        print(summary("around(m, 5)", around))
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.leaderboard", description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument(
        "--writes-per-second",
        type=float,
        default=0.0,
        help="board writes of this many answers a second, from another process, meanwhile",
    )
    parser.add_argument("--quick", action="store_true", help="50,000 members, 1,000 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.queries = 50_000, 1000
    with RedisServer() as server:
        asyncio.run(run(server.url, args.members, args.queries, args.writes_per_second))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
