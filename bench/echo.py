"""Answers end to end: frame in -> grade -> Redis (batched Lua) -> ack out, vs a bare echo.

    python bench/echo.py [--members C] [--questions M] [--clients P] [--quick]

C member connections (in P client processes) each answer M open live questions one after
another, waiting for each ack before the next answer (as an app does). The same clients,
sending the same frames, run against:

* **gateway**: the engine's gateway: decode, session rules, grading, the accept-answer Lua
  script through the process's AnswerBatcher, ack;
* **bare**: a bare websockets server that decodes each answer with the same msgspec
  decoder and answers an ack at once (the floor: no Redis; the target's reference);
* **bare+lua**: the bare server plus the same accept-answer script through an
  AnswerBatcher before each ack, and nothing else (the floor for scoring in Redis: what
  part of the gap is Redis's work, and what part is the engine's).

Reported: answers per second over the whole run and per-answer round-trip p50/p99/max, and
that every answer was acked (none lost). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._wsbench import (
    CONTEST,
    ServerProc,
    bare_echo_process,
    bare_lua_process,
    gateway_process,
    load_average,
    run_loop,
    setup_contest,
    summary,
    take,
    tokens,
)


def client_process(
    url: str, toks: list[str], questions: int, index: int, out: Any, go: Any
) -> None:
    async def main() -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake

        from engine.core import messages as m

        sem = asyncio.Semaphore(100)

        async def open_one(token: str) -> Any:
            async with sem:
                for attempt in range(20):
                    try:
                        ws = await connect(
                            f"{url}?token={token}", compression=None, ping_interval=None,
                            open_timeout=30,
                        )  # fmt: skip
                        break
                    except (OSError, InvalidHandshake, TimeoutError):
                        await asyncio.sleep(0.2 * (attempt + 1))  # a busy server: retry
                else:
                    raise RuntimeError("could not connect")
                await ws.recv()  # welcome (the gateway sends nothing else: no show running)
                return ws

        conns = await asyncio.gather(*(open_one(t) for t in toks))

        async def warm_up(ws: Any) -> None:  # one untimed answer each (caches, script load)
            await ws.send(m.encode(m.Answer(question=f"q{questions}", answer="a")), text=True)
            while not isinstance(m.decode_server(await ws.recv()), m.Ack | m.Error):
                pass  # an error frame answers it too: no ack will follow

        await asyncio.gather(*(warm_up(ws) for ws in conns))
        out.put(("ready", index, None))
        await asyncio.to_thread(go.wait)
        latencies: list[float] = []
        acked = refused = errors = 0

        async def member(ws: Any) -> None:
            nonlocal acked, refused, errors
            for q in range(questions):
                frame = m.encode(m.Answer(question=f"q{q}", answer="a", seq=q))
                start = time.perf_counter_ns()
                await ws.send(frame, text=True)
                while True:
                    reply = m.decode_server(await ws.recv())
                    if isinstance(reply, m.Ack | m.Error):  # an error frame: no ack will come
                        break
                latencies.append((time.perf_counter_ns() - start) / 1e6)
                if isinstance(reply, m.Error):
                    errors += 1
                elif reply.accepted:
                    acked += 1
                else:
                    refused += 1

        start = time.perf_counter()
        await asyncio.gather(*(member(ws) for ws in conns))
        elapsed = time.perf_counter() - start
        out.put(("done", index, (elapsed, acked, refused, errors, latencies)))
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)

    run_loop(main())


def measure(
    name: str, url: str, members: int, questions: int, clients: int, pids: list[int]
) -> float:
    """Run the clients against *url*; print rate, round trips and the CPU time the server
    processes *pids* (the server, and Redis for the gateway) spent per answer."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    sizes = [members // clients + (1 if i < members % clients else 0) for i in range(clients)]
    offsets = [sum(sizes[:i]) for i in range(clients)]
    procs = [
        ctx.Process(
            target=client_process,
            args=(url, tokens(size, offsets[i]), questions, i, out, go),
        )
        for i, size in enumerate(sizes)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        assert take(out, procs)[0] == "ready"
    cpu_before = [cpu_seconds(pid) for pid in pids]
    spy = py_spy(pids[0], name)
    go.set()
    elapsed = 0.0
    acked = refused = errors = 0
    latencies: list[float] = []
    for _ in procs:
        kind, _, (secs, ok, no, err, lat) = take(out, procs)
        elapsed = max(elapsed, secs)
        acked += ok
        refused += no
        errors += err
        latencies.extend(lat)
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        spy.wait(60)
    for proc in procs:
        proc.join(60)
    total = members * questions
    rate = (acked + refused) / elapsed
    print(
        f"{name:8s} {rate:9.0f} answers/s; acked {acked}, refused {refused}, errors {errors}, "
        f"lost {total - acked - refused - errors} of {total}"
    )
    print(f"{name:8s} round trip (ms): {summary(latencies)}")
    per = [f"{c / max(1, acked + refused) * 1e6:.0f}" for c in cpu]
    parts = "server" + " + Redis" * (len(per) - 1)
    print(f"{name:8s} server CPU per answer (us): {' + '.join(per)} ({parts})")
    return rate


def py_spy(pid: int, name: str) -> Any:
    """``BENCH_PYSPY=DIR``: sample server *pid* with py-spy over the timed part, into
    ``DIR/<name>.txt`` (collapsed stacks: ``py-spy record -f raw``)."""
    import os
    import subprocess

    folder = os.environ.get("BENCH_PYSPY")
    if not folder:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    target = Path(folder) / f"{name}.txt"
    cmd = [str(spy), "record", "-p", str(pid), "-f", "raw", "-r", "200", "-o", str(target)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* so far (Linux /proc)."""
    import os

    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_overrides() -> dict[str, float]:
    """Gateway settings to try: ``BENCH_ANSWER_BATCH_MS`` (the batching window) and
    ``BENCH_REDIS_POOL`` (pipelines in flight at once)."""
    import os

    found: dict[str, float] = {}
    if (raw := os.environ.get("BENCH_ANSWER_BATCH_MS")) is not None:
        found["answer_batch_ms"] = float(raw)
    if (raw := os.environ.get("BENCH_REDIS_POOL")) is not None:
        found["redis_pool_size"] = int(raw)
    return found


async def open_questions(redis_url: str, questions: int) -> None:
    import redis.asyncio

    from question_bank.ids import ContestId, QuestionId
    from scoring.live import LiveScoring

    client = redis.asyncio.Redis.from_url(redis_url)
    live = LiveScoring(client, ContestId(CONTEST))
    for i in range(questions):
        await live.open_question(QuestionId(f"q{i}"), index=i, time_ms=3_600_000, points=10)
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--quick", action="store_true", help="100 members x 20 questions")
    args = parser.parse_args()
    if args.quick:
        args.members, args.questions = 100, 20

    from scoring.redis_server import RedisServer

    print(
        f"{args.members} members x {args.questions} answers each, one at a time, "
        f"({args.clients} client processes); load average {load_average()}"
    )
    with RedisServer() as server:
        assert server.process is not None
        redis_pid = server.process.pid
        # one more question than timed: each member's untimed warm-up answer
        run_loop(setup_contest(server.url, questions=args.questions + 1))
        run_loop(open_questions(server.url, args.questions + 1))
        with ServerProc(bare_echo_process) as bare:
            bare_rate = measure(
                "bare", f"ws://127.0.0.1:{bare.port}/ws/x", args.members, args.questions,
                args.clients, [bare.pid],
            )  # fmt: skip
        with ServerProc(bare_lua_process, server.url) as bare_lua:
            lua_rate = measure(
                "bare+lua", f"ws://127.0.0.1:{bare_lua.port}/ws/x", args.members,
                args.questions, args.clients, [bare_lua.pid, redis_pid],
            )  # fmt: skip
        with ServerProc(gateway_process, server.url, gateway_overrides()) as gateway:
            gateway_rate = measure(
                "gateway", f"ws://127.0.0.1:{gateway.port}/ws/{CONTEST}", args.members,
                args.questions, args.clients, [gateway.pid, redis_pid],
            )  # fmt: skip
    print(
        f"bare+lua / bare echo = {lua_rate / bare_rate:.2f} (the floor for scoring in Redis); "
        f"gateway / bare+lua = {gateway_rate / lua_rate:.2f}"
    )
    print(f"gateway / bare echo = {gateway_rate / bare_rate:.2f} (target >= 0.8)")
    print(f"load average {load_average()} (2 cores, shared)")


if __name__ == "__main__":
    main()
