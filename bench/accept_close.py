"""Redis's share of a live answer: the accept script per answer, and the close after them.

    python -m bench.accept_close [--answers N] [--batch B] [--runs R]

A private redis-server (AOF ``everysec``, as the engine runs it) is started. Each run, on
a freshly flushed Redis: one question is opened, N fresh members (63 provinces, 700
units, 70% right) answer it through :meth:`scoring.scripts.Scripts.run_batch` in
pipelines of B ``accept_answer`` calls (the gateway batcher's path), then the question is
closed with :meth:`scoring.live.LiveScoring.close_question`. Printed per run and as
medians: Redis CPU (INFO cpu) per answer while accepting, per answer for the close, and
their sum, with the client's wall time of each part. Every answer must be accepted and
audited, and after the close the board must hold every member, or the run stops.

The same command run with another tree's code on ``PYTHONPATH`` measures that tree's
scripts (the fifth session ran it against the fourth session's, which wrote every board
as each answer was accepted and did nothing per answer at the close).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import redis.asyncio

from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.live import LiveScoring
from scoring.redis_server import RedisServer

QUESTION = QuestionId("q1")


async def _redis_cpu(client: redis.asyncio.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _run(client: redis.asyncio.Redis, answers: int, batch: int) -> list[float]:
    """[accept Redis µs, close Redis µs, accept wall µs, close wall µs] per answer."""
    await client.flushall()
    live = LiveScoring(client, ContestId("probe"), "bp")
    await live.scripts.load(["accept_answer", "close_question"])
    await live.open_question(QUESTION, index=0, time_ms=600_000, points=10)
    cpu0, wall0 = await _redis_cpu(client), time.perf_counter()
    for start in range(0, answers, batch):
        calls = []
        for i in range(start, min(answers, start + batch)):
            right = i % 10 < 7
            calls.append(
                live.answer_call(
                    MemberId(f"p:{i:012d}"), QUESTION, 1.0 if right else 0.0,
                    "a" if right else "b", province=f"pv{i % 63}", unit=f"u{i % 700}",
                    choices=["a" if right else "b"], given="a" if right else "b",
                )
            )  # fmt: skip
        replies: list[Any] = await live.scripts.run_batch(calls)
        if not all(isinstance(r, list) and r[0] == 1 for r in replies):
            raise SystemExit(f"an answer was refused: {replies[:3]!r}")
    cpu1, wall1 = await _redis_cpu(client), time.perf_counter()
    closed = await live.close_question(QUESTION)
    cpu2, wall2 = await _redis_cpu(client), time.perf_counter()
    if await client.xlen(live.keys.audit) != answers:
        raise SystemExit(f"the audit stream does not hold {answers} answers")
    if await client.zcard(live.keys.leaderboard) != answers or not closed.closed:
        raise SystemExit("after the close the board does not hold every member")
    per = 1e6 / answers
    return [(cpu1 - cpu0) * per, (cpu2 - cpu1) * per, (wall1 - wall0) * per, (wall2 - wall1) * per]


async def _main(answers: int, batch: int, runs: int) -> None:
    with RedisServer(appendonly=True) as server:
        client = redis.asyncio.Redis(host=server.host, port=server.port)
        rows: list[list[float]] = []
        print(f"{answers} answers a run, pipelines of {batch}, {runs} runs")
        print("run | Redis µs/answer: accept + close = sum | wall µs/answer: accept, close")
        for run in range(1, runs + 1):
            a, c, wa, wc = await _run(client, answers, batch)
            rows.append([a, c, wa, wc])
            print(f"{run} | {a:.1f} + {c:.1f} = {a + c:.1f} | {wa:.1f}, {wc:.1f}", flush=True)
        await client.aclose()
    a, c, wa, wc = (statistics.median(col) for col in zip(*rows, strict=True))
    print(f"medians: Redis accept {a:.1f} + close {c:.1f} = {a + c:.1f} µs/answer; "
          f"wall accept {wa:.1f}, close {wc:.1f} µs/answer")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(_main(args.answers, args.batch, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
