"""Finalize of a window round with N members, and Redis memory per member.

    python -m bench.finalize [--members N] [--runs R] [--questions Q] [--no-attempts] [--quick]

A private redis-server is started (no persistence). N members are loaded server-side by a
Lua generator in chunks (each member: a submitted attempt hash with Q answers, as
``attempt_answer.lua`` and ``attempt_submit.lua`` leave it, the attempt count, best-attempt
JSON, totals/times, global/province/unit boards, profile, completed set), so loading a
million members takes seconds, not minutes of round trips.

Printed:

* Redis memory per member (``INFO memory`` used_memory before/after loading), and what the
  final standings add per member (``--listpack-value 512`` shows the effect of raising
  ``hash-max-listpack-value``: attempt hashes hold JSON values over Redis's default 64
  bytes, which turns them into real hash tables);
* finalize time (``Finalizer.finalize_window``: HSCAN read, measure, sort, chunked write,
  rename), median of R runs, with its phases (read, rank) timed apart in the same run as
  the finalize runs them (``_read_bests`` with the heads begun during the read;
  ``true_figure``, ``ChunkedHeads.heads``, ``rank_order``; no snapshot written: in the
  finalize a thread writes it while Python ranks). Until the sixth session the rank
  phase timed ``rank_entries`` on Entry objects, which finalize does not build;
* the **reference** measured in the same run: a bare HSCAN of the same hash plus a
  ``sorted()`` of N plain 5-tuples -- the floor any Python finalize pays;
* the targets (<= 10 s for 1,000,000 members; <= 15 s and <= 1.5x the reference for
  5,000,000). Nothing is asserted.

``--no-attempts`` leaves out the attempt hashes (the default ranking rule never reads
them: finalize reads ``P:{C}:best``): about 4 KB of Redis memory a member less, so that
5,000,000 members fit on a box shared with others (``--members 5000000 --no-attempts``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Sequence
from typing import cast

import redis.asyncio

from question_bank.ids import ContestId
from scoring.finalize import Finalizer, rank_order, true_figure
from scoring.finalize_heads import ChunkedHeads
from scoring.keys import ContestKeys
from scoring.redis_server import RedisServer

CONTEST = ContestId("bench")
PREFIX = "bf"
TARGET_S = 10.0
TARGET_MEMBERS = 1_000_000
BIG_TARGET_S = 15.0
BIG_RATIO = 1.5
BIG_MEMBERS = 5_000_000

# One EVAL per chunk: members first..last, Q questions each. Deterministic per member.
_GENERATOR = """
local base, first, last, nq = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local attempts = ARGV[5] == '1'
local t0 = 1764057600000
local qs, opt = {}, {}
for q = 1, nq do qs[q] = 'q' .. q; opt['q' .. q] = {'b', 'd', 'a', 'c'} end
local qs_json, opt_json = cjson.encode(qs), cjson.encode(opt)
for i = first, last do
  local m = 'm' .. i
  local h = (i * 2654435761) % 4294967296
  local started = t0 + (h % 3600000)
  local correct = h % (nq + 1)
  local score = correct * 10
  local used = 1000 + (h % 599000)
  local submitted = started + used
  local unit = 'u' .. (h % 5000)
  local province = 'p' .. (h % 63)
  local prediction = h % 100000
  local fields = {'started', started, 'deadline', started + 600000, 'state', 'submitted',
    'qs', qs_json, 'opt', opt_json, 'score', score, 'correct', correct, 'answered', nq,
    'last', submitted - 10, 'submitted', submitted, 'prediction', prediction,
    'time_used', used, 'pv', province, 'u', unit}
  for q = 1, nq do
    local right = q <= correct
    fields[#fields + 1] = 'pts:q' .. q
    fields[#fields + 1] = 10
    fields[#fields + 1] = 'a:q' .. q
    fields[#fields + 1] = (right and '{"c":"a","f":1,"p":10,"t":' or '{"c":"b","f":0,"p":0,"t":')
      .. math.floor(used * q / nq) .. '}'
  end
  if attempts then redis.call('HSET', base .. ':att:' .. m .. ':1', unpack(fields)) end
  redis.call('HSET', base .. ':attn', m, 1)
  redis.call('HSET', base .. ':best', m, '{"n":1,"score":' .. score .. ',"time_used":' .. used
    .. ',"submitted":' .. submitted .. ',"prediction":' .. prediction .. ',"correct":' .. correct
    .. ',"nq":' .. nq .. '}')
  redis.call('HSET', base .. ':totals', m, score)
  redis.call('HSET', base .. ':times', m, used)
  local c = score * 4294967296 + (4294967295 - used)
  redis.call('ZADD', base .. ':lb', c, m)
  redis.call('ZADD', base .. ':lb:p:' .. province, c, m)
  redis.call('ZADD', base .. ':lb:u:' .. unit, c, m)
  redis.call('HSET', base .. ':profiles', m, '{"name":"Member ' .. i .. '","province":"'
    .. province .. '","unit":"' .. unit .. '"}')
  redis.call('SADD', base .. ':done', m)
end
return last - first + 1
"""


async def _used_memory(client: redis.asyncio.Redis) -> int:
    info = await client.info("memory")
    return int(info["used_memory"])


async def load(
    client: redis.asyncio.Redis, members: int, questions: int, chunk: int, attempts: bool = True
) -> float:
    keys = ContestKeys(CONTEST, PREFIX)
    sha = await client.script_load(_GENERATOR)
    t0 = time.perf_counter()
    for first in range(1, members + 1, chunk):
        last = min(members, first + chunk - 1)
        await client.evalsha(sha, 0, keys.base, first, last, questions, int(attempts))
    return time.perf_counter() - t0


async def reference(client: redis.asyncio.Redis, members: int) -> float:
    """Bare HSCAN of the best hash + sorted() of N plain tuples: the floor."""
    keys = ContestKeys(CONTEST, PREFIX)
    rnd = random.Random(1)
    t0 = time.perf_counter()
    cursor, seen = 0, 0
    while True:
        cursor, part = await client.hscan(keys.best, cursor, count=10_000)
        seen += len(part)
        if cursor == 0:
            break
    scanned = time.perf_counter() - t0
    tuples = [
        (-rnd.randrange(11), rnd.randrange(10**5), rnd.randrange(6 * 10**5), 0, f"m{i}")
        for i in range(members)
    ]
    t1 = time.perf_counter()
    tuples.sort()
    sort_s = time.perf_counter() - t1
    if seen < members:
        raise RuntimeError(f"HSCAN saw {seen} of {members} members")
    return scanned + sort_s


async def run(
    members: int, runs: int, questions: int, listpack_value: int | None, attempts: bool = True
) -> None:
    extra = {} if listpack_value is None else {"hash-max-listpack-value": str(listpack_value)}
    with RedisServer(extra=extra) as server:
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            await client.config_set("appendonly", "no")
            before = await _used_memory(client)
            load_s = await load(client, members, questions, chunk=5_000, attempts=attempts)
            loaded = await _used_memory(client)
            print(f"members: {members:,}; {questions} questions per attempt")
            if listpack_value is not None:
                print(f"hash-max-listpack-value: {listpack_value}")
            print(f"load (server-side Lua generator): {load_s:.1f} s")
            per_member = (loaded - before) / members
            what = "attempt, best" if attempts else "best (no attempt hashes)"
            print(f"Redis memory per member ({what}, boards, profile): {per_member:,.0f} B")

            finalizer = Finalizer(client, CONTEST, prefix=PREFIX)
            times, reads, ranks = [], [], []
            final_mem = 0
            for _ in range(runs):
                # the finalize's own read and rank steps, timed apart (no snapshot write)
                t0 = time.perf_counter()
                begun = ChunkedHeads()
                members_read, bests = await finalizer._read_bests(heads=begun)
                t1 = time.perf_counter()
                truth = true_figure(bests, "perfect_scores", 0)
                rank_order(cast("list[str]", members_read), begun.heads(bests, truth))
                t2 = time.perf_counter()
                reads.append(t1 - t0)
                ranks.append(t2 - t1)
                del members_read, bests, begun
                t0 = time.perf_counter()
                info = await finalizer.finalize_window("perfect_scores")
                times.append(time.perf_counter() - t0)
                final_mem = await _used_memory(client) - loaded
                if info.ranked != members:
                    raise RuntimeError(f"ranked {info.ranked} of {members}")
            ref = [await reference(client, members) for _ in range(runs)]
            fin, ref_s = statistics.median(times), statistics.median(ref)
            print(f"final standings add per member: {final_mem / members:,.0f} B")
            print(
                f"finalize: {fin:.2f} s median of {runs} "
                f"(read {statistics.median(reads):.2f} s, rank {statistics.median(ranks):.2f} s, "
                f"the rest, mostly writing the ranks: "
                f"{fin - statistics.median(reads) - statistics.median(ranks):.2f} s)"
            )
            print(f"reference (bare HSCAN + sorted() of {members:,} tuples): {ref_s:.2f} s")
            print(f"ratio finalize / reference: {fin / ref_s:.2f}")
            scaled = fin * TARGET_MEMBERS / members
            print(
                f"target: <= {TARGET_S:.0f} s for {TARGET_MEMBERS:,} members"
                + ("" if members == TARGET_MEMBERS else f" (linear estimate: {scaled:.1f} s)")
            )
            big = fin * BIG_MEMBERS / members
            print(
                f"target: <= {BIG_TARGET_S:.0f} s and <= {BIG_RATIO} x the reference for "
                f"{BIG_MEMBERS:,} members"
                + ("" if members == BIG_MEMBERS else f" (linear estimate: {big:.1f} s)")
            )
        finally:
            await client.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.finalize", description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=TARGET_MEMBERS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument(
        "--listpack-value",
        type=int,
        default=None,
        help="redis hash-max-listpack-value (default: Redis's 64); 512 halves attempt memory",
    )
    parser.add_argument(
        "--no-attempts",
        action="store_true",
        help="no attempt hashes (finalize reads P:{C}:best only): 5M members in less memory",
    )
    parser.add_argument("--quick", action="store_true", help="20,000 members, one run")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.runs = 20_000, 1
    asyncio.run(
        run(args.members, args.runs, args.questions, args.listpack_value, not args.no_attempts)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
