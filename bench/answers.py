"""Answers accepted per second: the batched accept path vs redis-benchmark EVALSHA.

    python -m bench.answers [--answers N] [--callers C] [--connections K] [--quick]

A private redis-server is started. One live question is opened; then, on that same
server and in the same run:

* **reference**: ``redis-benchmark`` runs EVALSHA of ``accept_answer.lua`` with the same
  15 keys and equivalent arguments (a random member per call, ``-r``), pipelined
  (``-P 16``, 50 connections): Redis's own ceiling for the script;
* **batcher**: C concurrent asyncio callers (default 2000, more than one batch, so that
  several pipelines overlap as with a gateway's many sockets) each accept answers for
  fresh members (``p:`` + 12 digits, as long as redis-benchmark's ``m:__rand_int__``) through
  :class:`scoring.live.LiveScoring` with an :class:`scoring.batcher.AnswerBatcher` of K
  connections (the gateway's path), on uvloop when available.

Printed: both rates, and the ratio batcher / reference (target >= 0.8); CPU per answer of
redis-server and of the client (redis-benchmark, or this process); the load average (the
box is shared). The reference is measured before and after the batcher run and averaged.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis
import redis.asyncio

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.batcher import AnswerBatcher
from scoring.live import LiveScoring
from scoring.redis_server import RedisServer
from scoring.scripts import Scripts

CONTEST = ContestId("bench")
PREFIX = "bn"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _redis_cpu(client: redis.asyncio.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def sync_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port)


def _redis_cpu_sync(server: RedisServer) -> float:
    with sync_client(server) as client:
        info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def reference_rate(server: RedisServer, call_keys: list[str], sha: str, n: int) -> float:
    """redis-benchmark's requests/s for EVALSHA of accept_answer with these keys."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit("redis-benchmark not found on PATH")
    args = ["m:__rand_int__", "qref", "1.0", "a", "hn", "u1", "a"]
    cmd = [
        binary, "-h", server.host, "-p", str(server.port), "-n", str(n), "-c", "50",
        "-P", "16", "-r", "1000000000", "--csv",
        "EVALSHA", sha, str(len(call_keys)), *call_keys, *args,
    ]  # fmt: skip
    cpu0, child0 = _redis_cpu_sync(server), _children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu1, child1 = _redis_cpu_sync(server), _children_cpu()
    with sync_client(server) as client:
        accepted = client.hlen(call_keys[1])
        client.delete(call_keys[1])
    print(f"  redis-benchmark: {accepted} of {n} answers accepted (random members, -r)")
    print(
        f"  redis-benchmark: CPU per answer: redis-benchmark {(child1 - child0) / n * 1e6:.1f} us, "
        f"redis-server {(cpu1 - cpu0) / n * 1e6:.1f} us"
    )
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) > 1 and cells[0].upper().startswith("EVALSHA"):
            return float(cells[1])
    raise SystemExit(f"could not read redis-benchmark output: {out!r}")


async def batcher_rate(
    server: RedisServer, n: int, callers: int, connections: int, max_batch: int = 512
) -> float:
    pool = redis.asyncio.BlockingConnectionPool.from_url(server.url, max_connections=connections)
    client = redis.asyncio.Redis(connection_pool=pool)
    try:
        scripts = Scripts(client)
        await scripts.load()
        async with AnswerBatcher(
            scripts, window_ms=1.0, connections=connections, max_batch=max_batch
        ) as batcher:
            live = LiveScoring(client, CONTEST, PREFIX, batcher=batcher, scripts=scripts)
            question = QuestionId("qpy")
            refused = 0

            async def caller(c: int) -> None:
                nonlocal refused
                for i in range(c, n, callers):
                    out = await live.accept(
                        MemberId(f"p:{i:012d}"), question, 1.0, "a",
                        province="hn", unit="u1", choices=["a"],
                    )  # fmt: skip
                    refused += not out.accepted

            cpu0, redis0 = _cpu(), await _redis_cpu(client)
            start = time.perf_counter()
            await asyncio.gather(*(caller(c) for c in range(callers)))
            elapsed = time.perf_counter() - start
            cpu1, redis1 = _cpu(), await _redis_cpu(client)
            print(
                f"  batcher: CPU per answer: this process {(cpu1 - cpu0) / n * 1e6:.1f} us, "
                f"redis-server {(redis1 - redis0) / n * 1e6:.1f} us; busy: this process "
                f"{(cpu1 - cpu0) / elapsed:.0%}, redis-server {(redis1 - redis0) / elapsed:.0%}"
            )
            if refused:
                print(f"  warning: {refused} answers refused")
            print(f"  batcher: {batcher.batches_sent} pipelines, largest {batcher.largest_batch}")
            return n / elapsed
    finally:
        await client.aclose()
        await pool.disconnect()


async def setup(server: RedisServer) -> tuple[list[str], str]:
    client = redis.asyncio.Redis.from_url(server.url)
    try:
        live = LiveScoring(client, CONTEST, PREFIX)
        for q in ("qpy", "qref"):
            await live.open_question(QuestionId(q), index=1, time_ms=10**9, points=100, speed=True)
        await live.scripts.load()
        call = live.answer_call(
            MemberId("x"), QuestionId("qref"), 1.0, "a", province="hn", unit="u1", choices=["a"]
        )
        return list(call.keys), live.scripts.sha("accept_answer")
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.answers", description=__doc__)
    parser.add_argument("--answers", type=int, default=None, help="default 200,000")
    parser.add_argument("--callers", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="20,000 answers")
    args = parser.parse_args(argv)
    if args.answers is None:
        args.answers = 20_000 if args.quick else 200_000
    runner: Callable[[Coroutine[Any, Any, float]], float]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with RedisServer() as server:
        keys, sha = asyncio.run(setup(server))
        before = reference_rate(server, keys, sha, args.answers)
        ours = runner(
            batcher_rate(server, args.answers, args.callers, args.connections, args.max_batch)
        )
        after = reference_rate(server, keys, sha, args.answers)
    reference = (before + after) / 2
    print("accept_answer.lua, answers per second (same redis-server, same run)")
    print(f"  redis-benchmark EVALSHA -P 16 -c 50: {reference:10.0f}/s "
          f"(before {before:.0f}, after {after:.0f})")  # fmt: skip
    print(f"  AnswerBatcher, {args.callers} callers, {args.connections} connections: "
          f"{ours:10.0f}/s")  # fmt: skip
    print(f"  ratio batcher / redis-benchmark: {ours / reference:.2f} (target >= 0.8)")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
