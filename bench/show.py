"""A live show against a bare show, same run: how far the engine is from a bare server.

    python -m bench.show --members N [--questions Q] [--question-seconds S]
                         [--reveal-seconds R] [--workers W] [--procs P] [--timeout T]
                         [--join-seconds S [--join-timeout G]] [--out FILE] [--quick]

The same swarm clients (:mod:`loadtest.swarm_client`: N members in P processes, each on
a loopback source address of its own, answering every question after a human delay) play
one live show of Q questions against three servers, one after another:

* **engine**: ``contest serve --workers W`` with its embedded Redis (as
  :mod:`loadtest.swarm` runs it);
* **bare**: W bare ``websockets`` processes (uvloop, one port shared with SO_REUSEPORT,
  like the engine) that play the same show with no Redis at all. Per member and question
  they send what the engine sent in the run before, counted and sized by the clients by
  message type: the question broadcast, one ack per answer, the reveal broadcast (which
  carries the board since protocol 2), and any personal result or leaderboard broadcast
  the engine sent (none since protocol 2, in a show without elimination); and per member
  the welcome, the state broadcasts and the closing standing. Each frame is a real
  message of its type, padded with an extra field (which clients ignore) to the engine's
  mean size for that type;
* **bare+redis**: the bare show plus the least Redis work an atomic, durable answer needs:
  one ``SET key value NX`` per answer, pipelined per batch over the engine's batching
  window (``answer_batch_ms``), on a redis-server with AOF ``everysec``; the ack waits for
  Redis's reply.

It prints, for each server: its CPU seconds during the show (summed over the server
processes, from psutil; for the engine every ``contest serve`` process but Redis), CPU
microseconds per member and question, Redis's CPU, the clients' CPU (each client process's
own, from all its members connected to the end of its play), ack p50/p99,
question delivery (``sent_at`` to receipt) p50/p99 and answers accepted in time; then the
frames each member got by type on each side (the bare sides must match the engine), the
ratios engine/bare and engine/bare+redis, and one line ``ratio gateway/bare: X`` for
scripts. The show is measured from its start (every member connected) until every client
process has reported. ``BENCH_PYSPY=DIR`` samples each engine gateway process with py-spy
over that time (``DIR/engine-<pid>.txt``, collapsed stacks).

**Join storm** (``--join-seconds S``, issue 11: "100,000 members join within 60 s, p99 join
≤ 2 s, no one refused who was eligible"). Without it the members connect as the swarm does
(``--connect-concurrency``: each client process keeps 200 connects under way and starts
the next when one has joined, a closed loop whose pace is the server's), and only the show
is measured. With it, on every side the members arrive open-loop, spread evenly over S
seconds (each client process its share, the processes' arrivals interleaved, from one go
time), and each connects at its arrival however many are still connecting; a member not
joined G seconds (``--join-timeout``, default 60) after its arrival is given up and counted,
so a hung connection never holds the run. Per side it prints join latency (arrival → the
``welcome``, which the engine sends once the token is verified and the member registered;
the bare servers send theirs at once) p50/p99/max, the seconds from the first arrival until
the last member joined, the members who did not join (refused: the server's last answer
was an HTTP status, a close frame or an ``error``; given up; other failures), the tries
refused by reason, retries, and the servers' CPU over the join phase; then one line per
side for scripts::

    join storm engine: N of M joined in X s, p50 A ms, p99 B ms, failed F (refused R, given up G)

where F counts every member who did not join. The show follows as without the option,
once every member has joined or been given up. The bare servers listen with the engine's
backlog (``LISTEN_BACKLOG``: the kernel caps it at ``net.core.somaxconn``), as the engine's
gateway does, so a storm of SYNs finds the same queue on every side.

Everything listens on loopback; the run stops itself after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench._wsbench import (
    EVERY,
    P50_P99,
    Latency,
    flat,
    latency_field,
    load_average,
    loopback_source,
    run_loop,
    wait_stop,
)
from bench.echo import py_spy
from loadtest import deploy
from loadtest.swarm import _show_spec
from loadtest.swarm_client import ClientJob, ClientReport, lift_nofile_limit, run_client

__all__ = ["Plan", "SideResult", "main", "pad"]

PER_PROCESS = 18_000
"""Members per client process: below the 20,000 open files a process may hold here."""
PLANNED = ("welcome", "state", "question", "reveal", "result", "leaderboard", "closed")
"""Frame types the bare show sends on a schedule (an ``ack`` answers each answer)."""
STATES = ("running", "closed", "finalized")
"""``state`` broadcasts in the order the bare show sends them: the first at the start."""
SIDES = ("engine", "bare", "bare+redis")


@dataclass
class Plan:
    """What the bare show sends, from what the engine's members received."""

    counts: dict[str, int]
    """Frame type -> frames per member over the show."""
    sizes: dict[str, int]
    """Frame type -> bytes per frame (the engine's mean)."""
    questions: int
    question_ms: int
    reveal_ms: int
    batch_ms: float = 2.0
    """bare+redis: the batching window (the engine's ``answer_batch_ms``)."""


@dataclass
class SideResult:
    """One server's show as its clients and psutil saw it."""

    name: str
    members: int
    questions: int
    connected: int = 0
    gateway_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    ack: Latency = latency_field("p50", "p99")
    delivery: Latency = latency_field("p50", "p99")
    answers: int = 0
    """Answers sent (acked or not)."""
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    frame_bytes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    join_seconds: float = 0.0
    """The join storm's arrival span (0: no storm, the closed-loop connect)."""
    join: Latency = latency_field()
    """Join storm: a member's arrival -> its ``welcome``."""
    join_all_s: float = math.nan
    """Join storm: first arrival (the go time) -> the last member's ``welcome``."""
    join_failed: int = 0
    """Join storm: members who did not join, for whatever reason (the next two included)."""
    join_refused: int = 0
    join_given_up: int = 0
    join_retries: int = 0
    join_refusals: dict[str, int] = field(default_factory=dict)
    """Tries refused by the server, by reason, members who joined later included."""
    join_cpu_s: float = math.nan
    """Join storm: server CPU seconds from the go time until every client process had
    every member joined or given up (Redis apart: ``join_redis_cpu_s``)."""
    join_redis_cpu_s: float = math.nan

    @property
    def cpu_us_per_member_question(self) -> float:
        work = self.connected * self.questions
        return self.gateway_cpu_s / work * 1e6 if work else math.nan


def pad(frame: bytes, size: int) -> bytes:
    """*frame* (a JSON object) grown to *size* bytes by spaces before its closing brace
    (JSON whitespace: clients decode the same message); never shortened."""
    room = size - len(frame)
    if room <= 0:
        return frame
    return frame[:-1] + b" " * room + b"}"


def _cpu(pids: list[int]) -> float:
    """User + system CPU seconds of the processes *pids* so far (gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


# --------------------------------------------------------------------------- the clients


def play_show(
    side: SideResult,
    url: str,
    members: list[tuple[str, str]],
    procs: int,
    timeout: float,
    start: Callable[[], None],
    server_pids: Callable[[], list[int]],
    redis_pid: int | None,
    join_seconds: float = 0.0,
    join_timeout: float = 60.0,
) -> SideResult:
    """Connect *members* to *url* from *procs* client processes (*join_seconds*: as a join
    storm over that many seconds); when all are connected (or given up) call *start* and
    play the show to its end; fill in *side* (CPU over the join storm and the show)."""
    ctx = multiprocessing.get_context("spawn")
    progress: Any = ctx.Queue()
    results: Any = ctx.Queue()
    stop = ctx.Event()
    go = ctx.Value("d", 0.0)
    side.join_seconds = join_seconds
    redis_pids = [redis_pid] if redis_pid else []
    chunk = math.ceil(len(members) / procs)
    jobs = [
        ClientJob(
            index=i,
            url=url,
            members=members[i * chunk : (i + 1) * chunk],
            source=loopback_source(i),
            deadline_s=timeout,
            seed=i,
            join_seconds=join_seconds,
            join_phase=(i + 0.5) / procs,
            join_timeout_s=join_timeout,
        )
        for i in range(procs)
    ]
    workers = [
        ctx.Process(target=run_client, args=(job, progress, results, stop, go)) for job in jobs
    ]
    for w in workers:
        w.start()
    phases: dict[int, str] = {}
    reports: list[ClientReport] = []
    deadline = time.monotonic() + timeout
    started = False
    before: tuple[float, float] = (0.0, 0.0)
    at_go: tuple[float, float] = (0.0, 0.0)
    spies: list[Any] = []
    while len(reports) < len(workers) and time.monotonic() < deadline:
        try:
            phase, index, *_ = progress.get(timeout=0.5)
            phases[index] = phase
        except queue.Empty:
            pass
        while True:
            try:
                reports.append(results.get_nowait())
            except queue.Empty:
                break
        dead = [w for w in workers if w.exitcode not in (None, 0)]
        if dead:
            raise RuntimeError(f"{side.name}: a client process failed ({dead[0].exitcode})")
        everyone = len(phases) == len(workers)
        if everyone and go.value == 0.0 and all(p == "ready" for p in phases.values()):
            at_go = (_cpu(server_pids()), _cpu(redis_pids))
            go.value = time.time() + 0.5  # the storm's first arrival
        if not started and everyone and not {"connect", "ready"} & set(phases.values()):
            if join_seconds:
                side.join_cpu_s = _cpu(server_pids()) - at_go[0]
                side.join_redis_cpu_s = _cpu(redis_pids) - at_go[1]
            time.sleep(1.0)  # let the servers finish their joins
            pids = server_pids()
            before = (_cpu(pids), _cpu(redis_pids))
            if side.name == "engine":
                spies = [s for pid in pids if (s := py_spy(pid, f"engine-{pid}")) is not None]
            start()
            started = True
    pids = server_pids()
    side.gateway_cpu_s = _cpu(pids) - before[0]
    side.redis_cpu_s = _cpu(redis_pids) - before[1]
    for spy in spies:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        spy.wait(60)
    stop.set()
    for w in workers:
        w.join(30)
        if w.is_alive():
            w.terminate()
    while len(reports) < len(workers):
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            break
    if not started or len(reports) < len(workers):
        raise RuntimeError(f"{side.name}: the show did not finish within {timeout:.0f} s")
    _merge(side, reports)
    if join_seconds:
        _merge_joins(side, reports, go.value)
    return side


def _merge_joins(side: SideResult, reports: list[ClientReport], go: float) -> None:
    """The join storm's figures from the client reports (*go*: its first arrival)."""
    side.join = Latency.of([x for r in reports for x in r.connect_ms])
    last = max((r.last_joined for r in reports), default=0.0)
    side.join_all_s = last - go if last else math.nan
    side.join_given_up = sum(r.given_up for r in reports)
    side.join_refused = sum(r.join_refused for r in reports)
    side.join_failed = sum(r.failed for r in reports) + side.join_given_up
    side.join_retries = sum(r.retries for r in reports)
    for r in reports:
        for reason, n in r.refusals.items():
            side.join_refusals[reason] = side.join_refusals.get(reason, 0) + n


def _merge(side: SideResult, reports: list[ClientReport]) -> None:
    acks = [x for r in reports for x in r.ack_ms]
    side.connected = sum(r.connected for r in reports)
    side.client_cpu_s = sum(r.play_cpu_s for r in reports)
    side.ack = Latency.of(acks)
    side.delivery = Latency.of([x for r in reports for v in r.delivery_ms.values() for x in v])
    side.accepted = sum(len(r.accepted) for r in reports)
    side.answers = len(acks) + sum(r.unanswered for r in reports)
    for r in reports:
        for reason, n in r.refused.items():
            side.refused[reason] = side.refused.get(reason, 0) + n
        for kind, n in r.frames.items():
            side.frames[kind] = side.frames.get(kind, 0) + n
        for kind, n in r.frame_bytes.items():
            side.frame_bytes[kind] = side.frame_bytes.get(kind, 0) + n
        side.errors.extend(r.errors)
    del side.errors[20:]


# --------------------------------------------------------------------------- (a) the engine


def engine_show(args: argparse.Namespace) -> SideResult:
    side = SideResult("engine", args.members, args.questions)
    extra_env = {
        "CONTEST_MAX_CONNECTIONS": str(math.ceil(args.members / args.workers * 1.5) + 100),
        "CONTEST_IDLE_TIMEOUT": str(args.timeout),
    }
    with deploy.serve(workers=args.workers, extra_env=extra_env) as target:
        target.upload_bank()
        spec = _show_spec(args.questions, args.question_seconds, args.reveal_seconds)
        cid = target.create_contest(spec)["id"]
        target.action(cid, "schedule")
        rows = deploy.tokens(target, cid, args.members, prefix="s")
        serve = psutil.Process(target.pid)

        def tree() -> Iterator[psutil.Process]:
            yield serve
            yield from serve.children(recursive=True)

        redis = [p.pid for p in tree() if p.name() == "redis-server"]

        def gateways() -> list[int]:
            return [p.pid for p in tree() if p.pid not in redis]

        return play_show(
            side, f"{target.ws_url}/ws/{cid}", [(r["member"], r["token"]) for r in rows],
            args.procs, args.timeout, lambda: target.action(cid, "start"), gateways,
            redis[0] if redis else None, args.join_seconds, args.join_timeout,
        )  # fmt: skip


# --------------------------------------------------------------------------- (b), (c) bare


class _Show:
    """One bare server process's side of the show: its members, the question open now,
    and the frames of the plan."""

    def __init__(self, plan: Plan, redis_url: str | None) -> None:
        import msgspec

        from engine.core import messages as m

        self.m = m
        self.plan = plan
        self.members: dict[Any, str] = {}
        """connection -> member id (the ``token`` of its URL)."""
        self.question = ""
        self.deadline = 0.0
        self.encode_value = msgspec.json.encode
        self.redis: Any = None
        self.pending: list[tuple[Any, str, int, bytes]] = []
        if redis_url is not None:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(redis_url, max_connections=16)

    def frame(self, kind: str, message: Any) -> bytes:
        return pad(self.m.encode(message), self.plan.sizes.get(kind, 0))

    def welcome(self, member: str) -> bytes:
        m = self.m
        return self.frame(
            "welcome",
            m.Welcome(
                server_time=int(time.time() * 1000),
                member=m.MemberInfo(id=member, name=member, province="p0", unit="u0"),  # type: ignore[arg-type]
                contest=m.ContestInfo(id="bare", title="bare", mode="live", state="scheduled"),  # type: ignore[arg-type]
            ),
        )

    def answer(self, ws: Any, data: str | bytes) -> None:
        """An answer in: acked at once (bare) or after its SET NX (bare+redis)."""
        from websockets.asyncio.server import broadcast

        m = self.m
        message = m.decode_client(data)
        if not isinstance(message, m.Answer):
            return
        in_time = message.question == self.question and time.time() * 1000 <= self.deadline
        if in_time and self.redis is not None:
            member = self.members.get(ws, "")
            value = self.encode_value(message.answer)
            self.pending.append((ws, member, message.seq, value))
            if len(self.pending) == 1:
                asyncio.get_running_loop().call_later(self.plan.batch_ms / 1000, self.flush)
            return
        reason = None if in_time else "late"
        broadcast([ws], self.ack(message.seq, in_time, reason), text=True)

    def ack(self, seq: int, accepted: bool, reason: str | None) -> bytes:
        m = self.m
        ack = m.Ack(question=self.question, seq=seq, accepted=accepted, reason=reason,  # type: ignore[arg-type]
                    points=10 if accepted else 0, total=10)  # fmt: skip
        return self.frame("ack", ack)

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        asyncio.get_running_loop().create_task(self._record(batch, self.question))

    async def _record(self, batch: list[tuple[Any, str, int, bytes]], question: str) -> None:
        """One pipeline of ``SET answer:{question}:{member} value NX`` for the batch, then
        each answer's ack: accepted when its key was new."""
        from websockets.asyncio.server import broadcast

        pipe = self.redis.pipeline(transaction=False)
        for _, member, _, value in batch:
            pipe.set(f"answer:{question}:{member}", value, nx=True)
        replies = await pipe.execute()
        for (ws, _, seq, _), reply in zip(batch, replies, strict=True):
            new = bool(reply)
            broadcast([ws], self.ack(seq, new, None if new else "duplicate"), text=True)

    async def run(self, t0: float) -> None:
        """The show from *t0* (wall clock, seconds): the plan's frames on schedule."""
        from websockets.asyncio.server import broadcast

        m, plan, counts = self.m, self.plan, self.plan.counts
        states = list(STATES[: counts.get("state", 0)])

        async def until(at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.time()))

        def to_all(kind: str, message: Any) -> None:
            broadcast(list(self.members), self.frame(kind, message), text=True)

        def to_each(kind: str, make: Callable[[str], Any]) -> None:
            for ws, member in list(self.members.items()):
                broadcast([ws], self.frame(kind, make(member)), text=True)

        await until(t0)
        if states:
            to_all("state", m.StateChanged(state=states.pop(0), at=int(time.time() * 1000)))
        step = (plan.question_ms + plan.reveal_ms) / 1000
        # The smallest frames of each type, padded up to the engine's mean size: a frame
        # can only grow (pad), so the bare one starts below any question the engine drew
        # (a true/false question with no options is shorter than a 4-option one).
        options: list[m.OptionView] = []
        for i in range(plan.questions):
            await until(t0 + i * step)
            now = int(time.time() * 1000)
            qid = f"q{i}"
            self.question, self.deadline = qid, now + plan.question_ms
            if i < counts.get("question", 0):
                to_all("question", m.Question(
                    id=qid, index=i, count=plan.questions, kind="true_false",  # type: ignore[arg-type]
                    text="?", points=10, options=options, opens=now,
                    deadline=now + plan.question_ms, sent_at=now,
                ))  # fmt: skip
            await until(self.deadline / 1000)
            if self.pending:
                self.flush()
            now = int(time.time() * 1000)
            if i < counts.get("reveal", 0):
                to_all("reveal", m.Reveal(
                    question=qid, index=i, correct="a", correct_text="a",  # type: ignore[arg-type]
                    distribution={}, answered=len(self.members), sent_at=now,
                ))  # fmt: skip
            if i < counts.get("result", 0):
                total = 10 * (i + 1)
                to_each("result", lambda member, q=qid, total=total: m.Result(
                    question=q, points=10, total=total, rank=1, of=len(self.members),
                ))  # fmt: skip
            if i < counts.get("leaderboard", 0):
                top = [m.Standing(rank=1, member=f"s{j}", score=10, time_ms=1000)  # type: ignore[arg-type]
                       for j in range(10)]  # fmt: skip
                to_all("leaderboard", m.Leaderboard(top=top, of=len(self.members), at=now))
        await until(t0 + plan.questions * step - plan.reveal_ms / 1000)
        for state in states:
            to_all("state", m.StateChanged(state=state, at=int(time.time() * 1000)))
        for _ in range(counts.get("closed", 0)):
            to_each("closed", lambda member: m.Closed(rank=1, score=10, of=len(self.members)))


def bare_show_process(
    port: int, plan: Plan, redis_url: str | None, t0: Any, go: Any, ready: Any, stop: Any
) -> None:
    """A bare show server on *port* (SO_REUSEPORT, shared with its siblings): puts its pid
    on *ready*, plays the show from ``t0.value`` once *go* is set, serves until *stop*."""

    async def main() -> None:
        from urllib.parse import parse_qs, urlsplit

        from websockets.asyncio.server import ServerConnection, serve

        from engine.cli.serve import bind_reuseport
        from engine.gateway.server import LISTEN_BACKLOG

        show = _Show(plan, redis_url)

        async def handler(ws: ServerConnection) -> None:
            assert ws.request is not None
            query = parse_qs(urlsplit(ws.request.path).query)
            member = query.get("token", [""])[0]
            show.members[ws] = member
            try:
                await ws.send(show.welcome(member), text=True)
                async for data in ws:
                    show.answer(ws, data)
            finally:
                show.members.pop(ws, None)

        sock = bind_reuseport("127.0.0.1", port)
        async with serve(
            handler, sock=sock, backlog=LISTEN_BACKLOG, compression=None, max_size=4096,
            server_header=None, ping_interval=None,
        ):  # fmt: skip
            ready.put(os.getpid())
            await asyncio.to_thread(go.wait)
            playing = asyncio.create_task(show.run(t0.value))
            await wait_stop(stop)
            playing.cancel()
        if show.redis is not None:
            await show.redis.aclose()

    run_loop(main())


def bare_show(
    name: str, args: argparse.Namespace, plan: Plan, redis_url: str | None, redis_pid: int | None
) -> SideResult:
    """Play the show against W bare show processes (*redis_url*: bare+redis)."""
    ctx = multiprocessing.get_context("spawn")
    port = deploy._free_port()
    t0, go, ready, stop = ctx.Value("d", 0.0), ctx.Event(), ctx.Queue(), ctx.Event()
    servers = [
        ctx.Process(target=bare_show_process, args=(port, plan, redis_url, t0, go, ready, stop))
        for _ in range(args.workers)
    ]
    for s in servers:
        s.start()
    try:
        pids = [ready.get(timeout=60) for _ in servers]

        def start() -> None:
            t0.value = time.time() + 0.2
            go.set()

        members = [(f"s{i}", f"s{i}") for i in range(args.members)]
        side = SideResult(name, args.members, args.questions)
        return play_show(
            side, f"ws://127.0.0.1:{port}/ws/bare", members, args.procs, args.timeout, start,
            lambda: pids, redis_pid, args.join_seconds, args.join_timeout,
        )  # fmt: skip
    finally:
        stop.set()
        for s in servers:
            s.join(30)
            if s.is_alive():
                s.kill()
                s.join()


def plan_of(engine: SideResult, args: argparse.Namespace) -> Plan:
    """The bare show's plan from the engine's run: frames per member and mean sizes."""
    members = max(1, engine.connected)
    counts = {k: round(engine.frames.get(k, 0) / members) for k in PLANNED}
    sizes = {
        k: round(engine.frame_bytes[k] / n) for k, n in engine.frames.items() if n and k != "?"
    }
    return Plan(
        counts=counts,
        sizes=sizes,
        questions=args.questions,
        question_ms=args.question_seconds * 1000,
        reveal_ms=args.reveal_seconds * 1000,
    )


def frames_match(engine: SideResult, other: SideResult) -> list[str]:
    """The frame types whose count per member differs between *engine* and *other*
    (planned types and acks); empty when the bare show sent what the engine sent."""
    differ = []
    for kind in (*PLANNED, "ack"):
        a = engine.frames.get(kind, 0) / max(1, engine.connected)
        b = other.frames.get(kind, 0) / max(1, other.connected)
        if abs(a - b) > 0.01:
            differ.append(f"{kind} {a:.2f} vs {b:.2f}")
    return differ


# --------------------------------------------------------------------------- the report


def _row(s: SideResult) -> str:
    return (
        f"{s.name:<11}{s.gateway_cpu_s:>10.2f}{s.cpu_us_per_member_question:>10.0f}"
        f"{s.redis_cpu_s:>10.2f}{s.client_cpu_s:>10.2f}"
        f"{s.ack.columns('>9.1f')}{s.delivery.columns('>9.0f')}"
        f"   {s.accepted}/{s.answers}"
    )


def report(sides: list[SideResult], plan: Plan) -> float:
    """Print the table; return CPU per member-question engine / bare."""
    engine, bare, lean = sides
    print()
    print(
        f"{'':<11}{'gateway':>10}{'us per':>10}{'Redis':>10}{'clients':>10}"
        f"{'ack':>9}{'ack':>9}{'deliver':>9}{'deliver':>9}   accepted"
    )
    print(
        f"{'server':<11}{'CPU s':>10}{'member-q':>10}{'CPU s':>10}{'CPU s':>10}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'p50 ms':>9}{'p99 ms':>9}   in time"
    )
    for s in sides:
        print(_row(s))
    print()
    kinds = [k for k in (*PLANNED, "ack") if plan.counts.get(k) or engine.frames.get(k)]
    others = sorted(set(engine.frames) - set(kinds))
    print("frames per member (engine / bare / bare+redis), bytes each in the engine run:")
    for kind in kinds:
        per = " / ".join(f"{s.frames.get(kind, 0) / max(1, s.connected):.2f}" for s in sides)
        print(f"  {kind:<12}{per:>24}   {plan.sizes.get(kind, 0):>6} B")
    if others:
        print(f"  not replayed by the bare show: {', '.join(others)} ({engine.frames})")
    for s in (bare, lean):
        differ = frames_match(engine, s)
        print(f"{s.name} sent what the engine sent: {'yes' if not differ else differ}")
    cpu = engine.cpu_us_per_member_question
    ratio = cpu / bare.cpu_us_per_member_question
    print(
        f"engine / bare:       CPU per member-question {ratio:.2f}; ack p50 "
        f"{engine.ack.p50 / bare.ack.p50:.2f}; delivery p50 "
        f"{engine.delivery.p50 / bare.delivery.p50:.2f}"
    )
    with_redis = lean.gateway_cpu_s + lean.redis_cpu_s
    print(
        f"engine / bare+redis: CPU per member-question "
        f"{cpu / lean.cpu_us_per_member_question:.2f}; with Redis "
        f"{(engine.gateway_cpu_s + engine.redis_cpu_s) / with_redis:.2f}"
    )
    print(f"load average {load_average()} (2 cores, shared with other work)")
    print(f"ratio gateway/bare: {ratio:.2f}")
    if engine.join_seconds:
        report_joins(sides)
    return ratio


def join_line(s: SideResult) -> str:
    """The join storm's closing line for *s* (scripts read it)."""
    return (
        f"join storm {s.name}: {s.connected} of {s.members} joined in {s.join_all_s:.1f} s, "
        f"{s.join.text(keys=P50_P99)}, failed {s.join_failed} "
        f"(refused {s.join_refused}, given up {s.join_given_up})"
    )


def report_joins(sides: list[SideResult]) -> None:
    """The join storm's table, ratios engine/bare and one closing line per side."""
    engine, bare = sides[0], sides[1]
    print()
    print(
        f"join storm: {engine.members} members arriving evenly over {engine.join_seconds:g} s "
        f"({engine.members / engine.join_seconds:.0f}/s, open-loop)"
    )
    print(
        f"{'server':<11}{'joined':>8}{'all in s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'failed':>8}{'refused':>8}{'gave up':>8}{'retries':>8}{'CPU s':>8}{'Redis s':>8}"
    )
    for s in sides:
        print(
            f"{s.name:<11}{s.connected:>8}{s.join_all_s:>10.1f}"
            f"{s.join.columns('>9.0f', EVERY)}{s.join_failed:>8}{s.join_refused:>8}"
            f"{s.join_given_up:>8}{s.join_retries:>8}{s.join_cpu_s:>8.2f}{s.join_redis_cpu_s:>8.2f}"
        )
    for s in sides:
        if s.join_refusals:
            print(f"  {s.name}: tries refused by reason {s.join_refusals}")
    print(
        f"join engine / bare: p50 {engine.join.p50 / bare.join.p50:.2f}, "
        f"p99 {engine.join.p99 / bare.join.p99:.2f}, server CPU "
        f"{engine.join_cpu_s / bare.join_cpu_s if bare.join_cpu_s else math.nan:.2f}"
    )
    for s in sides:
        print(join_line(s))


def run(args: argparse.Namespace) -> tuple[list[SideResult], Plan]:
    from scoring.redis_server import RedisServer

    lift_nofile_limit()
    args.procs = max(args.procs, math.ceil(args.members / PER_PROCESS))
    print(
        f"{args.members} members, {args.questions} questions of {args.question_seconds} s, "
        f"{args.workers} server process(es), {args.procs} client process(es); "
        f"load average {load_average()}",
        flush=True,
    )
    engine = engine_show(args)
    print(f"engine: done, {engine.connected} members played", flush=True)
    plan = plan_of(engine, args)
    bare = bare_show("bare", args, plan, None, None)
    print(f"bare: done, {bare.connected} members played", flush=True)
    with RedisServer(appendonly=True, appendfsync="everysec") as server:
        assert server.process is not None
        lean = bare_show("bare+redis", args, plan, server.url, server.process.pid)
    print(f"bare+redis: done, {lean.connected} members played", flush=True)
    return [engine, bare, lean], plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.show",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--question-seconds", type=int, default=10)
    parser.add_argument("--reveal-seconds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="server (gateway) processes")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per server")
    parser.add_argument(
        "--join-seconds",
        type=float,
        default=0.0,
        help="members join as an open-loop storm spread evenly over this many seconds",
    )
    parser.add_argument(
        "--join-timeout",
        type=float,
        default=60.0,
        help="join storm: a member not joined this long after its arrival is given up",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="2,000 members, 2 questions of 5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.questions, args.question_seconds = 2_000, 2, 5
    sides, plan = run(args)
    ratio = report(sides, plan)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "plan": asdict(plan),
            "sides": {
                s.name: {**flat(s), "cpu_us_per_member_question": s.cpu_us_per_member_question}
                for s in sides
            },
            "ratio_gateway_bare": ratio,
            "load_average": os.getloadavg(),
        }
        args.out.write_text(json.dumps(data, indent=2, default=str))
    return 0 if all(s.connected == s.members for s in sides) else 1


if __name__ == "__main__":
    sys.exit(main())
