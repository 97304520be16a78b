"""Design probe: one EVALSHA per answer (today) vs one EVALSHA for a whole batch.

    python -m bench.accept_many [--answers N] [--batch B] [--runs R]

docs/benchmarks.md lists "one EVALSHA for several answers" as open work on the answer
path. This probe measures what it would save before anyone changes the scoring core. A
private redis-server is started. For each run, alternately:

* **per-answer**: batches of B ``accept_answer`` calls sent by
  :meth:`scoring.scripts.Scripts.run_batch` (one pipeline of B EVALSHA, the batcher's
  path);
* **one call per batch**: the same answers sent as one EVALSHA of a *batched variant*
  built here, at run time, from ``scoring/lua/accept_answer.lua``: its body becomes a
  function called in a loop (under ``pcall``, so one bad answer fails alone), with the
  13 keys every answer shares given once and each answer's province and unit boards
  after them.

Each mode answers N fresh members (63 provinces, 700 units) on a freshly flushed Redis
with one open question. Printed per run and as medians: Redis CPU per answer (INFO cpu),
client wall time per answer, and the ratio of the two modes. Both modes must accept every
answer and leave N audit entries, or the run stops. Nothing else is asserted; the variant
is not used by the engine.
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
from scoring.scripts import LUA_DIR, script_source

QUESTION = QuestionId("q1")
SHARED_KEYS = 13
"""KEYS of accept_answer.lua but 8 and 9 (province and unit boards): shared by a batch."""


def batched_variant() -> str:
    """accept_answer.lua's body as a function, called once per answer of ARGV.

    ARGV: qid, then per answer: member, fraction, choice, province, unit, given, n, n
    choices.
    KEYS: the 13 shared keys (accept_answer's order without 8 and 9), then per answer its
    province board and unit board. Returns one accept_answer reply per answer.
    """
    source = script_source("accept_answer")
    head = "local member, qid = ARGV[1], ARGV[2]\nlocal province, unit = ARGV[5], ARGV[6]\n"
    head += "local now = now_ms()\n"
    prelude, body = source.split(head, 1)
    shared = [i for i in range(1, 16) if i not in (8, 9)]
    for new, old in sorted(enumerate(shared, start=1), key=lambda p: -p[1]):
        body = body.replace(f"KEYS[{old}]", f"SK[{new}]")
    body = body.replace("KEYS[8]", "kp").replace("KEYS[9]", "ku")
    body = body.replace("ARGV[3]", "fraction_s").replace("ARGV[4]", "choice")
    body = body.replace("ARGV[7]", "given")
    body = body.replace(
        "for i = 8, #ARGV do redis.call('HINCRBY', SK[3], ARGV[i], 1) end",
        "for _, ch in ipairs(choices) do redis.call('HINCRBY', SK[3], ch, 1) end",
    )
    if "ARGV" in body or "KEYS" in body:
        raise SystemExit("accept_answer.lua changed shape: update bench/accept_many.py")
    return f"""{prelude}
local now = now_ms()
local SK = {{}}
for i = 1, {SHARED_KEYS} do SK[i] = KEYS[i] end
local function accept_one(member, qid, fraction_s, choice, province, unit, given, kp, ku,
    choices)
{body}
end
local qid = ARGV[1]
local results = {{}}
local a, k = 2, {SHARED_KEYS + 1}
while a <= #ARGV do
  local n = tonumber(ARGV[a + 6])
  local choices = {{}}
  for i = 1, n do choices[i] = ARGV[a + 6 + i] end
  local ok, r = pcall(accept_one, ARGV[a], qid, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    ARGV[a + 4], ARGV[a + 5], KEYS[k], KEYS[k + 1], choices)
  if ok then results[#results + 1] = r else results[#results + 1] = {{0, 'error'}} end
  a = a + 7 + n
  k = k + 2
end
return results
"""


async def _redis_cpu(client: redis.asyncio.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _places(i: int) -> tuple[MemberId, str, str]:
    return MemberId(f"p:{i:012d}"), f"pv{i % 63}", f"u{i % 700}"


async def _run_mode(
    client: redis.asyncio.Redis, mode: str, answers: int, batch: int, sha: str
) -> tuple[float, float]:
    """(Redis CPU µs per answer, client wall µs per answer) of one mode on a fresh Redis."""
    await client.flushall()
    live = LiveScoring(client, ContestId("probe"), "bp")
    await live.scripts.load(["accept_answer"])
    await live.open_question(QUESTION, index=1, time_ms=600_000, points=10)
    keys = live._build_keys(QUESTION, "", "")
    shared = [key for i, key in enumerate(keys, start=1) if i not in (8, 9)]
    cpu0, wall0 = await _redis_cpu(client), time.perf_counter()
    for start in range(0, answers, batch):
        chunk = [_places(i) for i in range(start, min(answers, start + batch))]
        replies: list[Any]
        if mode == "per-answer":
            calls = [
                live.answer_call(
                    member, QUESTION, 1.0, "a", province=pv, unit=u, choices=["a"], given="a"
                )
                for member, pv, u in chunk
            ]
            replies = await live.scripts.run_batch(calls)
        else:
            call_keys, args = list(shared), [QUESTION]
            for member, pv, u in chunk:
                call_keys += [f"{live.keys.base}:lb:p:{pv}", f"{live.keys.base}:lb:u:{u}"]
                args += [member, "1.0", "a", pv, u, '"a"', "1", "a"]
            replies = await client.evalsha(sha, len(call_keys), *call_keys, *args)  # type: ignore[misc]
        if not all(isinstance(r, list) and r[0] == 1 for r in replies):
            raise SystemExit(f"{mode}: an answer was refused: {replies[:3]!r}")
    cpu1, wall1 = await _redis_cpu(client), time.perf_counter()
    if await client.xlen(live.keys.audit) != answers:
        raise SystemExit(f"{mode}: the audit stream does not hold {answers} answers")
    return (cpu1 - cpu0) / answers * 1e6, (wall1 - wall0) / answers * 1e6


async def _main(answers: int, batch: int, runs: int) -> None:
    with RedisServer() as server:
        client = redis.asyncio.Redis(host=server.host, port=server.port)
        sha = await client.script_load(batched_variant())
        rows: dict[str, list[tuple[float, float]]] = {"per-answer": [], "per-batch": []}
        print(f"{answers} answers per mode, batches of {batch}, {runs} runs; modes alternate")
        print("run | mode | Redis CPU µs/answer | client wall µs/answer")
        for run in range(1, runs + 1):
            for mode in ("per-answer", "per-batch") if run % 2 else ("per-batch", "per-answer"):
                cpu, wall = await _run_mode(client, mode, answers, batch, sha)
                rows[mode].append((cpu, wall))
                print(f"{run} | {mode} | {cpu:.1f} | {wall:.1f}", flush=True)
        await client.aclose()
    med = {
        mode: [statistics.median(col) for col in zip(*r, strict=True)] for mode, r in rows.items()
    }
    print("medians:")
    for mode, (cpu, wall) in med.items():
        print(f"  {mode}: Redis {cpu:.1f} µs/answer, client {wall:.1f} µs/answer")
    print(
        f"  per-batch / per-answer: Redis CPU {med['per-batch'][0] / med['per-answer'][0]:.2f}, "
        f"client wall {med['per-batch'][1] / med['per-answer'][1]:.2f}"
    )
    print(f"  (script: {LUA_DIR / 'accept_answer.lua'}, batched at run time)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accept_many", description=__doc__)
    parser.add_argument("--answers", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args(argv)
    asyncio.run(_main(args.answers, args.batch, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
