"""Window answers per second and what each costs: ``python -m bench.window_answers [--quick]``.

A window member answers the ten questions of their attempt one by one. On a private
redis-server, in the same run, after N members have started an attempt (10 questions of
a 3,000-question bank, through :meth:`scoring.attempts.Attempts.start`, not measured):

* **reference**: a minimal script doing only the durable, atomic part of an answer
  (``HSETNX`` of the answer in the attempt hash + ``XADD`` to the audit stream), as raw
  EVALSHA with arguments built beforehand, pipelined 64 calls at a time: the floor;
* **attempt_answer, raw**: ``attempt_answer.lua`` the same way (every member's ten answers,
  arguments built beforehand): Redis's own cost of the script;
* **engine path**: the gateway's path after grading, on fresh members:
  :meth:`scoring.window.WindowScoring.answer_call`, the
  :class:`~scoring.batcher.AnswerBatcher` (one packed pipeline per batch) and
  :func:`scoring.outcomes.decode_outcome`, by C concurrent callers (default 200, each
  one member answering in sequence);
* **second attempts** (``attempt_answer``, raw): members whose first attempt is submitted
  fully right, answering a second one that does not beat it;
* **v1 (before)**: the script before the sixth session (``tests/reference_lua/
  attempt_answer_v1.lua``: the best attempt recomputed from every attempt hash on each
  answer), raw, on first and on second attempts, when the tests folder is there.

Every phase runs on fresh members; ``--rounds`` (default 3) repeats them all and the
medians are printed at the end.

Seven answers in ten are right (fraction 1), the others wrong (0). Printed per phase:
answers per second, Redis's own µs per call (``INFO commandstats`` evalsha delta) and
redis-server CPU per answer, this process's CPU per answer, latency p50/p99 (engine
path), and the ratio of each phase's Redis µs to the reference's. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio

from bench.draws import synthetic_bank
from bench.window_start import HOUR, PROFILE, contest
from engine.window.draws import MemberDraws
from question_bank.ids import ContestId, MemberId, QuestionId
from scoring.attempts import Attempts
from scoring.batcher import AnswerBatcher
from scoring.outcomes import decode_outcome
from scoring.redis_server import RedisServer
from scoring.scripts import LUA_DIR, PRELUDE, Scripts
from scoring.window import WindowScoring

PREFIX = "bwa"
V1 = Path(__file__).resolve().parent.parent / "tests" / "reference_lua" / "attempt_answer_v1.lua"
"""The window answer script before the sixth session, measured beside the engine's."""
CONTEST = ContestId("bench-window")
BATCH = 64

MINIMAL = """
if redis.call('HSETNX', KEYS[1], 'a:' .. ARGV[1], ARGV[2]) == 0 then return {0} end
redis.call('XADD', KEYS[2], '*', 'm', ARGV[3], 'q', ARGV[1], 'c', ARGV[2])
return {1}
"""
"""The reference: one answer per member and question, atomically, and audited."""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Meter:
    """redis-server CPU, EVALSHA calls and µs, and this process's CPU, between two reads."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def read(self) -> tuple[float, int, int, float]:
        info = await self.client.info("all")
        cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        stats = info.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
        return cpu, int(stats["calls"]), int(stats["usec"]), _cpu()


async def _phase(
    meter: _Meter, n: int, workers: int, one: Callable[[int], Awaitable[list[float]]]
) -> dict[str, Any]:
    """Run *one*(i) for i < n with *workers* tasks; *one* returns answer latencies."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            latencies.extend(await one(i))

    before = await meter.read()
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    took = time.perf_counter() - began
    after = await meter.read()
    return {
        "took": took,
        "latencies": latencies,
        "redis_cpu": after[0] - before[0],
        "calls": after[1] - before[1],
        "usec": after[2] - before[2],
        "cpu": after[3] - before[3],
    }


def _report(label: str, answers: int, r: dict[str, Any], ref_usec: float | None) -> float:
    usec: float = r["usec"] / max(r["calls"], 1)
    lat = sorted(r["latencies"])
    latency = ""
    if lat:
        p50 = statistics.median(lat) * 1000
        p99 = lat[max(int(len(lat) * 0.99) - 1, 0)] * 1000
        latency = f"  p50 {p50:6.1f} ms p99 {p99:6.1f} ms"
    ratio = f"  {usec / ref_usec:5.2f}x ref" if ref_usec else ""
    print(
        f"  {label:<30} {answers / r['took']:8.0f} answers/s  redis {usec:6.1f} µs/call"
        f" (cpu {r['redis_cpu'] / answers * 1e6:6.1f} µs/answer)"
        f"  this process {r['cpu'] / answers * 1e6:6.1f} µs/answer{ratio}{latency}",
        flush=True,
    )
    return usec


async def run(n: int, callers: int, aof: bool, rounds: int) -> None:
    with RedisServer(appendonly=aof) as server:
        client = redis.asyncio.Redis.from_url(server.url, max_connections=callers + 16)
        try:
            await _run(client, n, callers, aof, rounds)
        finally:
            await client.aclose()


def _fraction(j: int) -> float:
    return 0.0 if j % 10 in (2, 5, 9) else 1.0


async def _run(client: redis.asyncio.Redis, n: int, callers: int, aof: bool, rounds: int) -> None:
    bank = synthetic_bank(3000)
    draws = MemberDraws(contest(), bank)
    scripts = Scripts(client)
    await scripts.load()
    attempts = Attempts(client, CONTEST, prefix=PREFIX, scripts=scripts)
    batcher = AnswerBatcher(scripts, window_ms=2.0, connections=8)
    window = WindowScoring(client, CONTEST, PREFIX, batcher=batcher, scripts=scripts)
    meter = _Meter(client)
    shas = {
        "reference": await client.script_load(MINIMAL),
        "attempt_answer": scripts.sha("attempt_answer"),
    }
    if V1.is_file():
        prelude = (LUA_DIR / f"{PRELUDE}.lua").read_text(encoding="utf-8")
        shas["v1"] = await client.script_load(prelude + "\n" + V1.read_text(encoding="utf-8"))
    serial = iter(range(1 << 30))

    async def start(count: int, number: int = 1) -> list[tuple[MemberId, list[QuestionId]]]:
        made = []
        for _ in range(count):
            member = MemberId(f"m:{next(serial):010d}")
            made.append((member, await _start(member, 1)))
        if number == 2:  # first attempt all right and submitted, then a second one
            for member, qs in made:
                for q in qs:
                    await batcher.submit(window.answer_call(member, 1, q, 1.0, "a", given="a"))
                await attempts.submit(member)
                qs[:] = await _start(member, 2)
        return made

    async def _start(member: MemberId, number: int) -> list[QuestionId]:
        drawn = draws.draw(member, number)
        outcome = await attempts.start(member, PROFILE, drawn, duration_ms=HOUR, attempts_allowed=3)
        assert outcome.status == "started", outcome.status
        return [QuestionId(q.id) for q in drawn]

    def calls(
        made: list[tuple[MemberId, list[QuestionId]]], number: int = 1, *, v1: bool = False
    ) -> list[tuple[list[str], list[Any]]]:
        """The answer calls of *made*'s attempt *number* (*v1*: with the attempt hash as
        KEYS[1], as the script before took it)."""
        out = []
        for member, qs in made:
            for j, q in enumerate(qs):
                call = window.answer_call(
                    member, number, q, _fraction(j), "a", province=PROFILE.province,
                    unit=PROFILE.unit, choices=["a"], given="a",
                )  # fmt: skip
                keys = [window.keys.attempt(member, number)] if v1 else []
                out.append((keys + list(call.keys), list(call.args)))
        return out

    def raw(sha: str, todo: list[tuple[list[str], list[Any]]]) -> Callable[[int], Any]:
        async def batch(b: int) -> list[float]:
            async with client.pipeline(transaction=False) as pipe:
                for keys, args in todo[b * BATCH : (b + 1) * BATCH]:
                    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
                replies = await pipe.execute()
            assert all(int(r[0]) == 1 for r in replies), "an answer was refused"
            return []

        return batch

    async def raw_phase(sha: str, todo: list[tuple[list[str], list[Any]]]) -> dict[str, Any]:
        return await _phase(meter, -(-len(todo) // BATCH), 8, raw(sha, todo))

    engine_members: list[tuple[MemberId, list[QuestionId]]] = []

    async def member_answers(i: int) -> list[float]:
        member, qs = engine_members[i]
        out = []
        for j, q in enumerate(qs):
            began = time.perf_counter()
            call = window.answer_call(
                member, 1, q, _fraction(j), "a", province=PROFILE.province, unit=PROFILE.unit,
                choices=["a"], given="a",
            )  # fmt: skip
            outcome = decode_outcome(await batcher.submit(call), window=True)
            assert outcome.accepted, outcome
            out.append(time.perf_counter() - began)
        return out

    print(
        f"load average before: {os.getloadavg()[0]:.2f}; {n} members x 10 answers per phase, "
        f"{rounds} rounds; {callers} callers on the engine path; "
        f"{'AOF everysec' if aof else 'no AOF'}",
        flush=True,
    )
    results: dict[str, list[tuple[float, float, float, float]]] = {}

    def keep(label: str, answers: int, r: dict[str, Any], ref_usec: float | None) -> float:
        usec = _report(label, answers, r, ref_usec)
        results.setdefault(label, []).append(
            (answers / r["took"], usec, r["redis_cpu"] / answers * 1e6, r["cpu"] / answers * 1e6)
        )
        return usec

    for round_ in range(1, rounds + 1):
        print(f"round {round_}", flush=True)
        todo = [
            ([window.keys.attempt(m, 1), window.keys.audit], [q, "a", m])
            for m, qs in await start(n)
            for q in qs
        ]
        answers = len(todo)
        ref_usec = keep(
            "reference: HSETNX + XADD", answers, await raw_phase(shas["reference"], todo), None
        )
        if "v1" in shas:
            r = await raw_phase(shas["v1"], calls(await start(n), v1=True))
            keep("attempt_answer v1 (before)", answers, r, ref_usec)
        r = await raw_phase(shas["attempt_answer"], calls(await start(n)))
        keep("attempt_answer", answers, r, ref_usec)
        engine_members[:] = await start(n)
        r = await _phase(meter, n, callers, member_answers)
        keep("engine path (batcher)", answers, r, ref_usec)
        if "v1" in shas:
            r = await raw_phase(shas["v1"], calls(await start(n, 2), 2, v1=True))
            keep("2nd attempt, v1 (before)", answers, r, ref_usec)
        r = await raw_phase(shas["attempt_answer"], calls(await start(n, 2), 2))
        keep("2nd attempt", answers, r, ref_usec)
    await batcher.close()
    print(f"medians of {rounds} rounds: answers/s, redis µs/call, redis CPU µs/answer, "
          "this process µs/answer, redis µs against the reference")  # fmt: skip
    ref_median = statistics.median(x[1] for x in results["reference: HSETNX + XADD"])
    for label, rows in results.items():
        cols = [statistics.median(x[i] for x in rows) for i in range(4)]
        print(
            f"  {label:<30} {cols[0]:8.0f}/s  {cols[1]:6.1f} µs  {cols[2]:6.1f} µs"
            f"  {cols[3]:6.1f} µs  {cols[1] / ref_median:5.2f}x"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.window_answers", description=__doc__)
    parser.add_argument("--members", type=int, default=None, help="default 5,000")
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="1,000 members")
    parser.add_argument("--aof", action="store_true", help="redis-server with AOF everysec")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every phase (medians)")
    args = parser.parse_args(argv)
    n = args.members if args.members is not None else (1_000 if args.quick else 5_000)
    try:
        import uvloop

        uvloop.run(run(n, args.callers, args.aof, args.rounds))
    except ImportError:  # pragma: no cover
        asyncio.run(run(n, args.callers, args.aof, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
