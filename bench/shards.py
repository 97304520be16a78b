"""Answers per second against 1, 2 and 3 member shards of one live show on a Redis Cluster.

    python -m bench.shards [--answers N] [--procs P] [--shards 1,2,3] [--quick]

Starts its own Redis Cluster of 3 primaries (no replicas, no AOF) on free loopback ports,
slots split evenly (as ``redis-cli --cluster create`` does), and stops it afterwards (by
its processes). For each shard count S, one live contest with ``shards`` = S: a question
is opened (on the contest's slot and every shard's), then P client processes accept N
answers between them (distinct members, ``p:`` + 12 digits), each through
:class:`scoring.live.LiveScoring` and an :class:`scoring.batcher.AnswerBatcher` on the
engine's cluster client (the gateway's path), and the question is closed (the bulk apply
on every shard at once).

Printed for each S: answers/s (wall time from a common start to the last process done);
the CPU seconds of each redis-server process over the run (``INFO cpu``) and which shards
it holds; the client processes' CPU; the **Redis-side ceiling**: the rate at which the
busiest redis-server would be at 100 % of a core (answers / its CPU seconds), which is
what sharding scales when every primary has its own cores; and the close's time. The
same-run reference is S = 1 (the whole show on one primary): ratios are against it.
On a 2-core box the client processes and three redis-servers share two cores, so the
answers/s curve flattens; the per-process CPU shows where the work went. Nothing is
asserted. Bounded in time: each run is abandoned after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import redis

from engine.runtime.redisconn import connect
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.batcher import AnswerBatcher
from scoring.keys import ContestShards, key_slot
from scoring.live import LiveScoring
from scoring.redis_server import RedisServer, free_port
from scoring.scripts import Scripts

PREFIX = "bs"
QUESTION = QuestionId("q1")
SLOTS = 16384


@contextmanager
def cluster(nodes: int = 3, timeout: float = 30.0) -> Iterator[list[RedisServer]]:
    """*nodes* cluster-enabled redis-servers on free loopback ports, slots split evenly,
    joined with ``CLUSTER MEET``; stopped (SIGTERM to each process) on the way out."""
    servers: list[RedisServer] = []
    try:
        for _ in range(nodes):
            server = RedisServer(
                extra={
                    "cluster-enabled": "yes",
                    "cluster-port": str(free_port()),
                    "cluster-config-file": "nodes.conf",
                    "save": "",
                }
            )
            servers.append(server.start())
        share = SLOTS // nodes
        for i, server in enumerate(servers):
            first, last = i * share, SLOTS - 1 if i == nodes - 1 else (i + 1) * share - 1
            with redis.Redis(host=server.host, port=server.port) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with redis.Redis(host=servers[0].host, port=servers[0].port) as client:
            for server in servers[1:]:
                bus = server.extra["cluster-port"]
                client.execute_command("CLUSTER", "MEET", server.host, server.port, bus)
        deadline = time.monotonic() + timeout
        for server in servers:
            with redis.Redis(host=server.host, port=server.port) as client:
                while not _settled(client, nodes):
                    if time.monotonic() > deadline:
                        raise SystemExit("the cluster did not settle")
                    time.sleep(0.05)
        yield servers
    finally:
        for server in servers:
            server.stop()


def _settled(client: redis.Redis, nodes: int) -> bool:
    if client.cluster("INFO").get("cluster_state") != "ok":
        return False
    text = client.execute_command("CLUSTER", "NODES").decode()
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) == nodes and all(" connected" in line for line in lines)


def _owner(servers: list[RedisServer], slot: int) -> int:
    """Index of the server holding *slot* (slots split evenly, as :func:`cluster` does)."""
    return min(slot // (SLOTS // len(servers)), len(servers) - 1)


def _redis_cpu(servers: list[RedisServer]) -> list[float]:
    out = []
    for server in servers:
        with redis.Redis(host=server.host, port=server.port) as client:
            info = client.info("cpu")
        out.append(float(info["used_cpu_user"]) + float(info["used_cpu_sys"]))
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _answer(
    url: str, contest: str, shards: int, members: range, start_at: float, connections: int
) -> tuple[int, float, float]:
    client = connect(url, pool_size=connections * 4)
    try:
        scripts = Scripts(client)
        await scripts.load()
        async with AnswerBatcher(scripts, window_ms=1.0, connections=connections) as batcher:
            live = LiveScoring(
                client, ContestId(contest), PREFIX, batcher=batcher, scripts=scripts,
                shards=shards,
            )  # fmt: skip
            # warm: slots and a connection to every node
            await live.accept(MemberId("warm"), QuestionId("none"), 1.0, "a", choices=["a"])
            accepted = 0
            callers = 1000
            ids = list(members)

            async def caller(c: int) -> None:
                nonlocal accepted
                for i in range(c, len(ids), callers):
                    out = await live.accept(
                        MemberId(f"p:{ids[i]:012d}"), QUESTION, 1.0, "a",
                        province="hn", unit="u1", choices=["a"],
                    )  # fmt: skip
                    accepted += out.accepted

            await asyncio.sleep(max(0.0, start_at - time.time()))
            cpu0 = _cpu()
            await asyncio.gather(*(caller(c) for c in range(callers)))
            return accepted, time.time(), _cpu() - cpu0
    finally:
        await client.aclose()


def _worker(args: tuple[str, str, int, range, float, int]) -> tuple[int, float, float]:
    try:
        import uvloop

        return uvloop.run(_answer(*args))
    except ImportError:  # pragma: no cover
        return asyncio.run(_answer(*args))


async def _open(url: str, contest: str, shards: int) -> None:
    client = connect(url)
    try:
        live = LiveScoring(client, ContestId(contest), PREFIX, shards=shards)
        await live.configure()
        await live.open_question(QUESTION, index=0, time_ms=10**9, points=100, speed=True)
    finally:
        await client.aclose()


async def _close(url: str, contest: str, shards: int) -> tuple[float, int]:
    client = connect(url)
    try:
        live = LiveScoring(client, ContestId(contest), PREFIX, shards=shards)
        start = time.perf_counter()
        closed = await live.close_question(QUESTION)
        elapsed = time.perf_counter() - start
        return elapsed, sum(closed.distribution.values())
    finally:
        await client.aclose()


def run(
    servers: list[RedisServer], shards: int, n: int, procs: int, connections: int, timeout: float
) -> dict[str, Any]:
    url = "redis+cluster://" + ",".join(f"{s.host}:{s.port}" for s in servers)
    contest = f"show-s{shards}"
    asyncio.run(_open(url, contest, shards))
    places = ContestShards(ContestId(contest), PREFIX, shards)
    holders: dict[int, list[int]] = {}
    for i, keys in enumerate(places.keys):
        slot = key_slot(keys.base.split("{", 1)[1].split("}", 1)[0])
        holders.setdefault(_owner(servers, slot), []).append(i)
    start_at = time.time() + 1.5
    parts = [range(p, n, procs) for p in range(procs)]
    cpu0 = _redis_cpu(servers)
    with ProcessPoolExecutor(procs) as pool:
        futures = [
            pool.submit(_worker, (url, contest, shards, part, start_at, connections))
            for part in parts
        ]
        results = [f.result(timeout=timeout) for f in futures]
    cpu1 = _redis_cpu(servers)
    accepted = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results) - start_at
    closing0 = _redis_cpu(servers)
    close_s, applied = asyncio.run(asyncio.wait_for(_close(url, contest, shards), timeout))
    closing1 = _redis_cpu(servers)
    return {
        "shards": shards,
        "accepted": accepted,
        "rate": accepted / elapsed,
        "elapsed": elapsed,
        "redis_cpu": [b - a for a, b in zip(cpu0, cpu1, strict=True)],
        "client_cpu": sum(r[2] for r in results),
        "holders": holders,
        "close_s": close_s,
        "close_cpu": [b - a for a, b in zip(closing0, closing1, strict=True)],
        "applied": applied,
    }


def report(
    row: dict[str, Any], reference: dict[str, Any] | None, servers: list[RedisServer]
) -> None:
    s, rate, elapsed = row["shards"], row["rate"], row["elapsed"]
    ratio = f" ({rate / reference['rate']:.2f}x S=1)" if reference else " (reference)"
    print(f"S={s}: {row['accepted']} answers accepted in {elapsed:.2f} s: {rate:,.0f}/s{ratio}")
    busiest = max(row["redis_cpu"])
    for i, (server, cpu) in enumerate(zip(servers, row["redis_cpu"], strict=True)):
        held = row["holders"].get(i, [])
        what = f"shards {held}" if s > 1 else ("the contest" if held else "nothing")
        print(
            f"  redis-server :{server.port} ({what}): {cpu:.2f} CPU s, "
            f"{cpu / elapsed:.0%} busy, {cpu / max(row['accepted'], 1) * 1e6:.1f} us/answer"
        )
    ceiling = row["accepted"] / busiest if busiest else float("inf")
    ref_ceiling = ""
    if reference:
        ref = reference["accepted"] / max(reference["redis_cpu"])
        ref_ceiling = f" ({ceiling / ref:.2f}x S=1)"
    print(f"  Redis-side ceiling (busiest redis-server at 100% of a core): "
          f"{ceiling:,.0f}/s{ref_ceiling}")  # fmt: skip
    print(f"  client processes: {row['client_cpu']:.2f} CPU s, "
          f"{row['client_cpu'] / max(row['accepted'], 1) * 1e6:.1f} us/answer")  # fmt: skip
    close_cpu = ", ".join(f"{c:.2f}" for c in row["close_cpu"])
    print(f"  close (bulk apply of {row['applied']} answers): {row['close_s']:.2f} s; "
          f"redis-server CPU s {close_cpu}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.shards", description=__doc__)
    parser.add_argument("--answers", type=int, default=None, help="default 150,000")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=8, help="batcher's, per process")
    parser.add_argument("--shards", default="1,2,3")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--quick", action="store_true", help="20,000 answers")
    args = parser.parse_args(argv)
    n = args.answers or (20_000 if args.quick else 150_000)
    counts = [int(s) for s in args.shards.split(",")]
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"{n} answers per run, {args.procs} client processes, 3-primary cluster, "
          f"{os.cpu_count()} cores")  # fmt: skip
    with cluster(3) as servers:
        reference: dict[str, Any] | None = None
        for shards in counts:
            row = run(servers, shards, n, args.procs, args.connections, args.timeout)
            report(row, reference, servers)
            if shards == 1:
                reference = row
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
