"""Window starts per second and their latency: ``python -m bench.window_start [--quick]``.

A window round's opening storm is many members starting an attempt in the same seconds.
On a private redis-server, in the same run, each phase with fresh members:

* **one call** (the gateway's path): the member's draw from the contest's cached
  :class:`engine.window.draws.MemberDraws` (a 3,000-question bank, 10 drawn), then one
  ``attempt_start.lua`` call through :meth:`scoring.attempts.Attempts.start`, which also
  returns the attempt count and the best attempt;
* **three calls** (the round trips of a start before the one-call script): HGET of the
  attempt count, the draw, the script, HGET of the best attempt, in sequence;
* **reference**: the same EVALSHA with the same arguments, built beforehand (no draw, no
  decoding), pipelined 64 calls at a time on each connection: Redis's own ceiling for
  the script.

C concurrent callers (default 200) share one client. Printed: starts per second, the
latency of one start (p50/p99, from the caller's request to the decoded outcome), CPU per
start of redis-server and of this process, the draws per second alone, and the load
average (the box is shared). Nothing is asserted.

``--tokens``: the join token check alone, :func:`engine.directory.tokens.verify` (a direct
HS256 check) against PyJWT's ``jwt.decode`` plus the claims' conversion (the check it
replaced), on the same 20,000 distinct tokens, alternated in 5 rounds: µs per token.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable

import msgspec
import redis.asyncio

from bench.draws import synthetic_bank
from engine.core.contest import Contest, WindowTiming
from engine.window.draws import MemberDraws
from question_bank.draws import DrawRules, Quota
from question_bank.ids import BankId, ContestId, MemberId, OrgId, ProvinceId, TopicId, UnitId
from scoring.attempts import Attempts
from scoring.profiles import Profile, encode_profile
from scoring.redis_server import RedisServer

PREFIX = "bw"
CONTEST = ContestId("bench-window")
PROFILE = Profile(name="Bench", province=ProvinceId("hn"), unit=UnitId("u1"))
HOUR = 3_600_000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _redis_cpu(client: redis.asyncio.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def contest() -> Contest:
    rules = DrawRules(count=10, quotas=[Quota(topic=TopicId("t1"), count=2)])
    return Contest(
        id=CONTEST,
        org=OrgId("bench"),
        title="bench",
        mode="window",
        bank=BankId("b"),
        bank_version=1,
        draw=rules,
        state="open",
        window=WindowTiming(opens_at=0, closes_at=0, attempts_allowed=3),
    )


async def _phase(
    client: redis.asyncio.Redis,
    n: int,
    callers: int,
    one: Callable[[int], Awaitable[object]],
) -> tuple[float, list[float], float, float]:
    """Run *one*(i) for i < n with *callers* workers: (seconds, latencies, cpu, redis cpu)."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            began = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - began)

    cpu0, rcpu0 = _cpu(), await _redis_cpu(client)
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(callers)))
    took = time.perf_counter() - began
    return took, latencies, _cpu() - cpu0, await _redis_cpu(client) - rcpu0


def _report(label: str, n: int, result: tuple[float, list[float], float, float]) -> None:
    took, latencies, cpu, rcpu = result
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    print(
        f"  {label:<34} {n / took:8.0f} starts/s   p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
        f"   CPU/start: this process {cpu / n * 1e6:6.0f} µs, redis {rcpu / n * 1e6:5.0f} µs"
    )


async def run(n: int, callers: int) -> None:
    with RedisServer() as server:
        client = redis.asyncio.Redis.from_url(server.url, max_connections=callers + 8)
        try:
            await _run(client, n, callers)
        finally:
            await client.aclose()


async def _run(client: redis.asyncio.Redis, n: int, callers: int) -> None:
    window = contest()
    bank = synthetic_bank(3000)
    draws = MemberDraws(window, bank)
    attempts = Attempts(client, CONTEST, prefix=PREFIX)
    await attempts.scripts.load()
    keys = attempts.keys

    async def one_call(i: int) -> None:
        member = MemberId(f"a:{i:012d}")
        outcome = await attempts.start(
            member, PROFILE, draws.draw(member, 1), duration_ms=HOUR, drawn_for=1
        )
        assert outcome.status == "started", outcome.status

    async def three_calls(i: int) -> None:
        member = MemberId(f"b:{i:012d}")
        used = await client.hget(keys.attempt_counts, member)
        number = int(used or 0) + 1
        outcome = await attempts.start(
            member, PROFILE, draws.draw(member, number), duration_ms=HOUR
        )
        assert outcome.status == "started", outcome.status
        await client.hget(keys.best, member)

    sample = draws.draw(MemberId("x"), 1)
    sha = attempts.scripts.sha("attempt_start")
    script_keys = [
        keys.attempt_counts, keys.deadlines, keys.profiles, keys.totals, keys.times,
        keys.leaderboard, keys.unit_participants, keys.unit_completed,
    ]  # fmt: skip
    tail: list[str | int] = [
        PROFILE.province, PROFILE.unit, encode_profile(PROFILE).decode(), HOUR, 1, 0, 0,
        msgspec.json.encode([q.id for q in sample]).decode(),
        msgspec.json.encode({q.id: q.options for q in sample}).decode(),
        1, 0,
    ]  # fmt: skip
    for q in sample:
        tail += [q.id, q.points]
    batch = 64

    async def raw_batch(b: int) -> None:
        async with client.pipeline(transaction=False) as pipe:
            for i in range(b * batch, (b + 1) * batch):
                args = [keys.base, "start", f"c:{i:012d}", *tail]
                pipe.execute_command("EVALSHA", sha, len(script_keys), *script_keys, *args)
            await pipe.execute()

    print(f"load average before: {os.getloadavg()[0]:.2f}; {n} starts per phase, "
          f"{callers} callers; bank of 3,000 questions, 10 drawn")  # fmt: skip
    print("window starts (same redis-server, same run)")
    reference = await _phase(client, n // batch, 8, raw_batch)
    _report("reference: raw EVALSHA, -P 64 (per 64)", n, reference)
    _report("one call (this engine)", n, await _phase(client, n, callers, one_call))
    _report("three calls (the start before)", n, await _phase(client, n, callers, three_calls))
    began, count = time.perf_counter(), 0
    while time.perf_counter() - began < 1.0:
        draws.draw(MemberId(f"d{count}"), 1)
        count += 1
    print(f"  draws alone (MemberDraws.draw): {count / (time.perf_counter() - began):8.0f}/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def tokens_bench(count: int = 20_000, rounds: int = 5) -> None:
    """µs per join-token check: the engine's direct HS256 check against PyJWT's decode."""
    import jwt

    from engine.directory import tokens

    secret = "bench-secret-bench-secret-bench-secret!"
    now = int(time.time() * 1000)
    made = [
        tokens.issue(
            secret, contest="c1", member=f"m{i}", name=f"Nguyễn Văn {i}", province="p01",
            unit=f"u{i % 500}", now_ms=now,
        )
        for i in range(count)
    ]  # fmt: skip
    key = secret.encode()

    def pyjwt(token: str) -> object:
        raw = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        return msgspec.convert(raw, tokens._Claims)

    timings: dict[str, list[float]] = {"engine (tokens.verify)": [], "PyJWT decode + convert": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        for token in made:
            tokens.verify(token, secret, "c1", now_ms=now)
        t1 = time.perf_counter()
        for token in made:
            pyjwt(token)
        t2 = time.perf_counter()
        timings["engine (tokens.verify)"].append((t1 - t0) / count * 1e6)
        timings["PyJWT decode + convert"].append((t2 - t1) / count * 1e6)
    print(f"join token check, {count:,} tokens x {rounds} rounds (load {os.getloadavg()[0]:.2f})")
    for label, values in timings.items():
        print(f"  {label:<24} median {statistics.median(values):6.1f} µs per token")
    ratio = statistics.median(timings["PyJWT decode + convert"]) / statistics.median(
        timings["engine (tokens.verify)"]
    )
    print(f"  PyJWT / engine: {ratio:.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.window_start", description=__doc__)
    parser.add_argument("--starts", type=int, default=None, help="default 20,000")
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="2,000 starts")
    parser.add_argument("--tokens", action="store_true", help="the join token check alone")
    args = parser.parse_args(argv)
    if args.tokens:
        tokens_bench()
        return 0
    n = args.starts if args.starts is not None else (2_000 if args.quick else 20_000)
    try:
        import uvloop

        uvloop.run(run(n, args.callers))
    except ImportError:  # pragma: no cover
        asyncio.run(run(n, args.callers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
