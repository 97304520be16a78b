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

Members are spread over ``--provinces`` provinces (63, as the country has) and ``--units``
units (5,000), as ``bench.finalize`` spreads them: each member is on the global board, their
province's board and their unit's board. ``--provinces 1 --units 1`` puts everyone on one
province and one unit board as big as the global one (the first runs did).

``--writes-per-second W`` runs, in another process and during every query phase
(PING included), the board writes of W answers a second as ``attempt_answer.lua`` makes
them for a member whose score changes: ``HSET`` of the member's total and time and
``ZADD`` of the new composite to the global, province and unit boards. ``--writer``:

* ``answer`` (the default): as the engine writes them, one script call per answer (the
  engine's answer script writes one member's boards in its own call: ``set_board`` in
  ``scoring/lua/_lib.lua`` from ``refresh_best``), from 8 connections each paced to W/8
  calls a second, so queries interleave with single answers;
* ``tick``: the first runs' writer, every answer due in a 10 ms tick in one pipeline of
  5 commands per answer (about 30 answers, 150 commands at W = 3000), which Redis runs
  back to back while a query waits behind it.

After each phase the Redis side is printed apart from the client's: ``INFO commandstats``
(reset before the phase) gives the µs per call Redis spent on the query's command
(``EVALSHA`` of ``board_window.lua``, or ``PING``) and on the writer's (``EVAL`` in answer
mode, ``ZADD``/``HSET`` in tick mode); the client's CPU time per query and its garbage
collections during the phase are printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio

from bench._wsbench import Latency
from question_bank.ids import ContestId, MemberId, ProvinceId, UnitId
from scoring.keys import ContestKeys
from scoring.leaderboard import Leaderboard, composite
from scoring.profiles import Profile, encode_profile
from scoring.redis_server import RedisServer

CONTEST = ContestId("lbbench")
PREFIX = "bl"
WRITERS = 8
"""Connections of the ``answer`` writer."""

# set_board of scoring/lua/_lib.lua: one answer's board writes in one call.
_SET_BOARD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
return 1
"""


def place(i: int, provinces: int, units: int) -> tuple[ProvinceId, UnitId]:
    """Member ``m<i>``'s province and unit (spread as bench.finalize spreads them)."""
    h = (i * 2654435761) % 4294967296
    return ProvinceId(f"p{h % provinces}"), UnitId(f"u{h % units}")


async def load(
    client: redis.asyncio.Redis,
    members: int,
    chunk: int = 10_000,
    provinces: int = 63,
    units: int = 5000,
) -> float:
    """Fill the boards (global, province, unit) and profiles; returns seconds taken."""
    keys = ContestKeys(CONTEST, PREFIX)
    rng = random.Random(7)
    start = time.perf_counter()
    for first in range(0, members, chunk):
        scores: dict[str, int] = {}
        by_province: dict[str, dict[str, int]] = {}
        by_unit: dict[str, dict[str, int]] = {}
        profiles: dict[str, bytes] = {}
        for i in range(first, min(members, first + chunk)):
            m = f"m{i}"
            province, unit = place(i, provinces, units)
            score = composite(rng.randrange(0, 200) * 10, rng.randrange(0, 600_000))
            scores[m] = score
            by_province.setdefault(keys.province_board(province), {})[m] = score
            by_unit.setdefault(keys.unit_board(unit), {})[m] = score
            profiles[m] = encode_profile(Profile(name=f"Member {m}", province=province, unit=unit))
        async with client.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.leaderboard, scores)
            for board, part in (*by_province.items(), *by_unit.items()):
                pipe.zadd(board, part)
            pipe.hset(keys.profiles, mapping=profiles)  # type: ignore[arg-type]
            await pipe.execute()
    return time.perf_counter() - start


def _writer(
    url: str, members: int, rate: float, stop: Any, done: Any, mode: str, spread: tuple[int, int]
) -> None:
    """Process entry: *rate* answers' board writes a second until *stop* is set, one
    script call per answer (*mode* ``answer``) or a pipeline per 10 ms tick (``tick``)."""
    keys = ContestKeys(CONTEST, PREFIX)

    def answer(rng: random.Random) -> tuple[list[str], list[int | str]]:
        i = rng.randrange(members)
        province, unit = place(i, *spread)
        points, used = rng.randrange(0, 200) * 10, rng.randrange(0, 600_000)
        boards = [keys.totals, keys.times, keys.leaderboard]
        boards += [keys.province_board(province), keys.unit_board(unit)]
        return boards, [f"m{i}", composite(points, used), points, used]

    async def paced(client: redis.asyncio.Redis, seed: int, share: float) -> int:
        rng, written, began = random.Random(seed), 0, time.perf_counter()
        while not stop.is_set():
            boards, args = answer(rng)
            await client.eval(_SET_BOARD, 5, *boards, *args)
            written += 1
            ahead = written / share - (time.perf_counter() - began)
            if ahead > 0:
                await asyncio.sleep(ahead)
        return written

    async def ticks(client: redis.asyncio.Redis) -> int:
        rng, written, began = random.Random(5), 0, time.perf_counter()
        while not stop.is_set():
            owed = int(rate * (time.perf_counter() - began)) - written
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(owed):
                    boards, (m, score, points, used) = answer(rng)
                    pipe.hset(boards[0], str(m), points)
                    pipe.hset(boards[1], str(m), used)
                    for board in boards[2:]:
                        pipe.zadd(board, {str(m): score})
                    written += 1
                await pipe.execute()
            await asyncio.sleep(0.01)
        return written

    async def write() -> None:
        client = redis.asyncio.Redis.from_url(url, max_connections=WRITERS + 1)
        began = time.perf_counter()
        written = 0
        try:
            if mode == "tick":
                written = await ticks(client)
            else:
                share = rate / WRITERS
                counts = await asyncio.gather(*[paced(client, s, share) for s in range(WRITERS)])
                written = sum(counts)
        finally:
            await client.aclose()
            done.put(written / (time.perf_counter() - began))

    asyncio.run(write())


class Phase:
    """One query phase: client latencies, client CPU and collections, Redis µs per call."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.samples: list[float] = []
        self.cpu_ms = 0.0
        self.collections = 0
        self.gc_ms = 0.0
        self.redis: dict[str, tuple[int, float]] = {}


async def timed(
    client: redis.asyncio.Redis, name: str, queries: int, make: Callable[[int], Awaitable[Any]]
) -> Phase:
    phase = Phase(name)
    started: list[float] = []

    def watch(event: str, info: dict[str, Any]) -> None:
        if event == "start":
            started.append(time.perf_counter())
        elif started:
            phase.collections += 1
            phase.gc_ms += (time.perf_counter() - started.pop()) * 1000

    await client.config_resetstat()
    gc.callbacks.append(watch)
    cpu = time.process_time()
    try:
        for i in range(queries):
            t0 = time.perf_counter()
            await make(i)
            phase.samples.append((time.perf_counter() - t0) * 1000)
    finally:
        phase.cpu_ms = (time.process_time() - cpu) * 1000
        gc.callbacks.remove(watch)
    stats = await client.info("commandstats")
    for key, value in stats.items():
        if key.startswith("cmdstat_"):
            phase.redis[key[8:]] = (int(value["calls"]), float(value["usec_per_call"]))
    return phase


def summary(phase: Phase, queried: str) -> str:
    ordered = sorted(phase.samples)
    # this bench's own percentiles, as recorded since the first session (the median, and
    # rank int(0.99 n) for p99), not Latency.of's nearest rank: its figures stay comparable
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    latency = Latency(statistics.median(ordered), p99, ordered[-1])
    calls, usec = phase.redis.get(queried, (0, 0.0))
    return (
        f"  {phase.name:<16} {latency.text('6.3f', sep='   ')}"
        f"   | redis {usec:6.1f} µs/call ({queried})"
        f"   client CPU {phase.cpu_ms / len(phase.samples):5.3f} ms/query, "
        f"{phase.collections} GCs {phase.gc_ms:.1f} ms"
    )


def writer_side(phases: list[Phase], mode: str) -> str:
    """The writer's commands as Redis saw them over the phases (µs per call)."""
    names = ["eval"] if mode == "answer" else ["zadd", "hset"]
    parts = []
    for name in names:
        calls = sum(p.redis.get(name, (0, 0.0))[0] for p in phases)
        usec = sum(c * u for p in phases for c, u in [p.redis.get(name, (0, 0.0))])
        parts.append(f"{name.upper()} {usec / max(1, calls):.1f} µs/call ({calls:,} calls)")
    return "  the writer's commands in Redis: " + ", ".join(parts)


async def run(
    url: str,
    members: int,
    queries: int,
    writes: float = 0.0,
    mode: str = "answer",
    spread: tuple[int, int] = (63, 5000),
) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        used0 = int((await client.info("memory"))["used_memory"])
        seconds = await load(client, members, provinces=spread[0], units=spread[1])
        used1 = int((await client.info("memory"))["used_memory"])
        print(f"loaded {members} members in {seconds:.1f} s "
              f"({(used1 - used0) / members:.0f} bytes of Redis memory per member: "
              f"board entries + profile); {spread[0]} provinces, {spread[1]} units")  # fmt: skip
        board = Leaderboard(client, CONTEST, PREFIX)
        rng = random.Random(11)
        picks = [MemberId(f"m{rng.randrange(members)}") for _ in range(queries)]
        await timed(client, "warm up", 200, lambda i: board.rank(picks[i % len(picks)]))
        ctx = multiprocessing.get_context("spawn")
        stop, done = ctx.Event(), ctx.Queue()
        writer = ctx.Process(target=_writer, args=(url, members, writes, stop, done, mode, spread))
        if writes > 0:
            writer.start()
            await asyncio.sleep(1.0)  # the writer is up and writing
        try:
            phases = [
                (await timed(client, "PING (floor)", queries, lambda i: client.ping()), "ping")
            ]
            phases.append(
                (await timed(client, "top(100)", queries, lambda i: board.top(100)), "evalsha")
            )
            if writes > 0:
                phases.append(
                    (await timed(client, "top(10)", queries, lambda i: board.top(10)), "evalsha")
                )
            phases.append(
                (
                    await timed(client, "rank(member)", queries, lambda i: board.rank(picks[i])),
                    "evalsha",
                )
            )
            phases.append(
                (
                    await timed(
                        client, "around(m, 5)", queries, lambda i: board.around(picks[i], 5)
                    ),
                    "evalsha",
                )
            )
        finally:
            if writes > 0:
                stop.set()
                rate = done.get(timeout=30)
                writer.join(10)
        target = "p99 <= 1 ms at 5,000,000" if writes > 0 else "p99 <= 2 ms at 1,000,000"
        print(f"leaderboard queries, {members} members, {queries} each (target {target})")
        if writes > 0:
            how = "one script call per answer" if mode == "answer" else "a pipeline per 10 ms"
            print(f"  while another process wrote the boards of {rate:,.0f} answers a second "
                  f"({how})")  # fmt: skip
        for phase, queried in phases:
            print(summary(phase, queried))
        if writes > 0:
            print(writer_side([p for p, _ in phases], mode))
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
    parser.add_argument(
        "--writer",
        choices=["answer", "tick"],
        default="answer",
        help="answer: one script call per answer, as the engine; tick: a pipeline per 10 ms",
    )
    parser.add_argument("--provinces", type=int, default=63)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="50,000 members, 1,000 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.queries = 50_000, 1000
    spread = (max(1, args.provinces), max(1, args.units))
    with RedisServer() as server:
        asyncio.run(
            run(
                server.url,
                args.members,
                args.queries,
                args.writes_per_second,
                args.writer,
                spread,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
