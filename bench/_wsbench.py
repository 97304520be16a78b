"""Shared parts of the WebSocket benchmarks (bench/broadcast.py, bench/echo.py).

* a real redis-server, a bank and a live contest set up the way ``contest serve`` would
  find them (:func:`setup_contest`);
* server processes: the engine's :class:`~engine.gateway.server.Gateway` (:func:`gateway_process`)
  and the bare websockets reference servers (:func:`bare_broadcast_process`,
  :func:`bare_echo_process`), each in its own process with uvloop, as in production; one
  (:class:`ServerProc`) or several of a kind, each on its own port (:class:`ServerGroup`);
* for client processes: a :class:`Watchdog` that ends them if their parent is gone or a
  phase overruns its deadline, and :func:`loopback_source` addresses;
* statistics helpers: :func:`percentile`, and :class:`Latency` (p50/p99/max of a list
  of samples, with its formatters) for the result dataclasses of the benches.

Benchmarks print figures; nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, fields
from multiprocessing.synchronize import Event as MpEvent
from typing import Any, Literal

from loadtest.swarm_client import lift_nofile_limit as lift_nofile

SECRET = "bench-secret-bench-secret-bench-secret!"
ORG = "bench"
CONTEST = "bench-live"


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run *main* on uvloop (as production does), with the open-files limit lifted."""
    lift_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def load_average() -> str:
    """The box's 1/5/15-minute load averages (others share the CPU: quote them)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_kib(pid: int) -> int:
    """Resident memory of process *pid* in KiB (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values: Sequence[float], p: float) -> float:
    """The *p*-th percentile (0..100) of *values*, the nearest sample to it; NaN when empty."""
    return _ranked(sorted(values), p)


def _ranked(ordered: Sequence[float], p: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


LatencyKey = Literal["p50", "p99", "max"]
EVERY: tuple[LatencyKey, ...] = ("p50", "p99", "max")
P50_P99: tuple[LatencyKey, ...] = ("p50", "p99")


@dataclass(frozen=True)
class Latency:
    """p50, p99 and max of a list of latency samples in ms (NaN where there are none), as
    the benchmarks print them.

    In a result dataclass, :func:`latency_field` declares one and :func:`flat` writes it as
    the flat keys the JSON outputs have always had (``ack`` -> ``ack_p50_ms``,
    ``ack_p99_ms``: the keys the field names)."""

    p50: float = math.nan
    p99: float = math.nan
    max: float = math.nan

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency:
        ordered = sorted(samples)
        return cls(_ranked(ordered, 50), _ranked(ordered, 99), ordered[-1] if ordered else math.nan)

    def text(
        self,
        spec: str = ".0f",
        keys: Sequence[LatencyKey] = EVERY,
        sep: str = ", ",
        unit: str = " ms",
    ) -> str:
        """``p50 12 ms, p99 40 ms, max 81 ms``: *keys* in order, each value formatted by *spec*."""
        return sep.join(f"{k} {getattr(self, k):{spec}}{unit}" for k in keys)

    def columns(self, spec: str, keys: Sequence[LatencyKey] = P50_P99) -> str:
        """The values of *keys* side by side, each formatted by *spec* (a table's columns)."""
        return "".join(f"{getattr(self, k):{spec}}" for k in keys)


def latency_field(*keys: LatencyKey) -> Any:
    """A :class:`Latency` field of a result dataclass whose JSON keys are *keys* (default
    all three): :func:`flat` writes ``<field>_<key>_ms`` for each."""
    return field(default_factory=Latency, metadata={"latency": keys or EVERY})


def flat(result: Any) -> dict[str, Any]:
    """``dataclasses.asdict`` of *result*, but each :func:`latency_field` written as the flat
    ``<field>_p50_ms`` keys it declares, in the field's place."""
    out: dict[str, Any] = {}
    for f in fields(result):
        value = getattr(result, f.name)
        keys = f.metadata.get("latency")
        if keys is None:
            out[f.name] = copy.deepcopy(value)
        else:
            out.update({f"{f.name}_{k}_ms": getattr(value, k) for k in keys})
    return out


def summary(values: Sequence[float]) -> str:
    return (
        f"{Latency.of(values).text('8.2f', sep='  ', unit='')}  "
        f"mean {statistics.fmean(values) if values else float('nan'):8.2f}"
    )


async def setup_contest(redis_url: str, questions: int = 1, prefix: str = "ce") -> None:
    """A bank of *questions* single-choice questions and a scheduled live contest on it."""
    import redis.asyncio

    from engine.contests.store import ContestStore
    from engine.core.contest import ContestSpec, LiveTiming
    from engine.directory.banks import BankStore
    from question_bank.draws import DrawRules
    from question_bank.ids import BankId, OptionId, OrgId, QuestionId
    from question_bank.models import Bank, Option, SingleChoice

    bank = Bank(
        id=BankId("bench"),
        title="bench",
        questions=[
            SingleChoice(
                id=QuestionId(f"q{i}"),
                text=f"Question {i}?",
                points=10,
                options=[
                    Option(id=OptionId("a"), text="right", weight=1.0),
                    Option(id=OptionId("b"), text="wrong"),
                ],
            )
            for i in range(questions)
        ],
    )
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await BankStore(client, prefix).put(OrgId(ORG), bank)
        store = ContestStore(client, prefix)
        now = await store.now_ms()
        spec = ContestSpec(
            id=CONTEST,  # type: ignore[arg-type]
            title="bench",
            mode="live",
            bank=BankId("bench"),
            draw=DrawRules(count=questions),
            live=LiveTiming(starts_at=now + 3_600_000),
        )
        await store.create(OrgId(ORG), spec)
        await store.apply(CONTEST, "schedule")
    finally:
        await client.aclose()


def tokens(count: int, offset: int = 0) -> list[str]:
    from engine.directory import tokens as jwt_tokens

    return [
        jwt_tokens.issue(
            SECRET,
            contest=CONTEST,
            member=f"m{i}",
            name=f"Member {i}",
            province=f"p{i % 63}",
            unit=f"u{i % 500}",
        )
        for i in range(offset, offset + count)
    ]


async def wait_stop(stop: MpEvent) -> None:
    """Until *stop* is set, or the parent process is gone (a server process of a benchmark
    killed half-way ends too)."""
    parent = os.getppid()
    while not await asyncio.to_thread(stop.wait, 1.0):
        if os.getppid() != parent:
            return


def gateway_process(redis_url: str, extra: dict[str, Any], port_q: Any, stop: MpEvent) -> None:
    """A gateway worker on a free port; puts (port, pid) on *port_q*; runs until *stop*."""

    async def main() -> None:

        from engine.core.settings import Settings
        from engine.gateway.server import Gateway
        from engine.runtime.redisconn import connect

        settings = Settings(
            redis_url=redis_url,
            token_secret=SECRET,
            max_connections=19_500,
            max_unjoined_per_address=0,  # every bench client connects from 127.0.0.1
            max_messages_per_second=1000.0,
            idle_timeout=3600.0,
            **extra,
        )
        # The pool `contest serve` uses (a blocking one): a burst of joins waits for a free
        # connection instead of failing with MaxConnectionsError ("unavailable", close 4005).
        client = connect(redis_url, pool_size=max(64, settings.redis_pool_size * 4), blocking=True)
        gateway = Gateway(settings, client)
        await gateway.start(host="127.0.0.1", port=0)
        port_q.put((gateway.port, os.getpid()))
        await wait_stop(stop)
        await gateway.close()
        await client.aclose()

    if os.environ.get("BENCH_GCLOG"):
        log_slow_collections("gateway")
    if os.environ.get("BENCH_GC_TUNE"):  # experiment: fewer young-generation collections
        import gc

        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
    profile = os.environ.get("BENCH_PROFILE")  # a file name: cProfile the gateway into it
    if not profile:
        run_loop(main())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run_loop(main())
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def log_slow_collections(name: str, over_ms: float = 5.0) -> None:
    """``BENCH_GCLOG=1``: print every garbage collection of this process slower than
    *over_ms* (a full collection over many connections' objects stalls the loop)."""
    import gc
    import sys
    import time

    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - started[0]) * 1000
        if ms >= over_ms:
            print(f"{name}: gc gen {info['generation']} took {ms:.0f} ms", file=sys.stderr)

    gc.callbacks.append(callback)


async def serve_until_stop(handler: Any, port_q: Any, stop: MpEvent) -> None:
    """A bare websockets server for *handler* on a free loopback port: put (port, pid) on
    *port_q*, serve until *stop* (or the parent is gone)."""
    from websockets.asyncio.server import serve

    async with serve(
        handler, "127.0.0.1", 0, compression=None, max_size=4096, server_header=None
    ) as server:
        port_q.put((server.sockets[0].getsockname()[1], os.getpid()))
        await wait_stop(stop)


def bare_broadcast_process(port_q: Any, stop: MpEvent) -> None:
    """websockets alone: members connect to ``/ws/...``; a frame on ``/control`` is
    broadcast to all of them (the reference for bench/broadcast.py)."""

    async def main() -> None:
        from websockets.asyncio.server import ServerConnection, broadcast

        members: set[ServerConnection] = set()

        async def handler(ws: ServerConnection) -> None:
            assert ws.request is not None
            if ws.request.path.startswith("/control"):
                async for frame in ws:
                    data = frame.encode() if isinstance(frame, str) else frame
                    broadcast(members, data, text=True)
                return
            members.add(ws)
            try:
                await ws.send(b'{"type":"welcome"}', text=True)
                await ws.wait_closed()
            finally:
                members.discard(ws)

        await serve_until_stop(handler, port_q, stop)

    if os.environ.get("BENCH_GCLOG"):
        log_slow_collections("bare")
    run_loop(main())


def bare_echo_process(port_q: Any, stop: MpEvent) -> None:
    """websockets alone: every answer frame is decoded and answered with an ack frame
    (the reference for bench/echo.py)."""

    async def main() -> None:
        from websockets.asyncio.server import ServerConnection

        from engine.core import messages as m
        from question_bank.ids import QuestionId

        async def handler(ws: ServerConnection) -> None:
            await ws.send(b'{"type":"welcome"}', text=True)
            async for frame in ws:
                message = m.decode_client(frame)
                if isinstance(message, m.Answer):
                    # the gateway's ack, byte for byte as long: 10 points an answer, the
                    # total after the untimed warm-up answer and this one (no streak
                    # bonus in the bench's contest: the gateway's ack leaves it out too)
                    ack = m.Ack(
                        question=QuestionId(message.question), seq=message.seq, accepted=True,
                        points=10, total=10 * (message.seq + 2),
                    )  # fmt: skip
                    await ws.send(m.encode(ack), text=True)

        await serve_until_stop(handler, port_q, stop)

    run_loop(main())


def bare_lua_process(redis_url: str, port_q: Any, stop: MpEvent) -> None:
    """The bare echo server plus the scoring core's Redis work, and nothing else: each
    answer runs the accept-answer script through an AnswerBatcher (the gateway's settings)
    before its ack. No session, token, contest or question lookup, no grading beyond "a is
    right". The floor for anything that scores answers in Redis (bench/echo.py)."""

    async def main() -> None:
        import itertools

        from websockets.asyncio.server import ServerConnection

        from engine.core import messages as m
        from engine.core.settings import Settings
        from engine.runtime.redisconn import connect
        from question_bank.ids import ContestId, MemberId, QuestionId
        from scoring.batcher import AnswerBatcher
        from scoring.live import LiveScoring
        from scoring.scripts import Scripts

        settings = Settings()
        client = connect(redis_url, pool_size=max(64, settings.redis_pool_size * 4), blocking=True)
        scripts = Scripts(client)
        batcher = AnswerBatcher(
            scripts, window_ms=settings.answer_batch_ms, connections=settings.redis_pool_size
        )
        live = LiveScoring(client, ContestId(CONTEST), batcher=batcher, scripts=scripts)
        numbers = itertools.count()

        async def handler(ws: ServerConnection) -> None:
            i = next(numbers)  # members b0, b1...: spread over provinces and units as tokens()
            member, province, unit = MemberId(f"b{i}"), f"p{i % 63}", f"u{i % 500}"
            await ws.send(b'{"type":"welcome"}', text=True)
            async for frame in ws:
                message = m.decode_client(frame)
                if isinstance(message, m.Answer):
                    choice = str(message.answer)
                    outcome = await live.accept(
                        member, QuestionId(message.question), 1.0 if choice == "a" else 0.0,
                        choice, province=province, unit=unit, choices=[choice],
                        given=message.answer,  # recorded and audited, as the gateway does
                    )  # fmt: skip
                    ack = m.Ack(
                        question=QuestionId(message.question), seq=message.seq,
                        accepted=outcome.accepted, reason=outcome.reason,
                        points=outcome.points, total=outcome.total,
                    )  # fmt: skip
                    await ws.send(m.encode(ack), text=True)

        await serve_until_stop(handler, port_q, stop)
        await batcher.close()
        await client.aclose()

    run_loop(main())


def take(out: Any, procs: Sequence[Any], wait: float = 600.0) -> Any:
    """The next report of a client process; fails at once if one of them died."""
    import queue
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            return out.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                code = dead[0].exitcode
                raise RuntimeError(f"a client process failed (exit code {code})") from None
    raise TimeoutError("no report from the client processes")


class ServerProc:
    """A server process started with *target*(..., port_q, stop); knows its port and pid."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.queue = ctx.Queue()
        self.stop_event = ctx.Event()
        self.proc = ctx.Process(target=target, args=(*args, self.queue, self.stop_event))
        self.port = 0
        self.pid = 0

    def __enter__(self) -> ServerProc:
        self.proc.start()
        self.port, self.pid = self.queue.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        with contextlib.suppress(Exception):
            self.queue.close()


class ServerGroup:
    """*count* server processes of one kind, each on its own port: all are started first,
    then their ports are read, so they come up side by side rather than one after another.
    """

    def __init__(self, count: int, target: Callable[..., None], *args: Any) -> None:
        self.servers = [ServerProc(target, *args) for _ in range(count)]

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    @property
    def pids(self) -> list[int]:
        return [server.pid for server in self.servers]

    def rss_kib(self) -> int:
        """Resident memory summed over the group's processes (KiB)."""
        return sum(rss_kib(pid) for pid in self.pids)

    def __enter__(self) -> ServerGroup:
        try:
            for server in self.servers:
                server.proc.start()
            for server in self.servers:
                server.port, server.pid = server.queue.get(timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stop_event.set()
        for server in self.servers:
            if server.proc.pid is not None:
                server.__exit__()


def loopback_source(index: int) -> str:
    """Source address 127.0.0.(2 + *index*) for a client process: one (source, server
    address, port) triple has ~28,000 ephemeral ports, so each process gets its own."""
    if not 0 <= index < 253:
        raise ValueError(f"no loopback source address for client process {index}")
    return f"127.0.0.{2 + index}"


class Watchdog:
    """Ends this (client) process with ``os._exit`` when its parent is gone or the phase
    under way overruns its deadline: a benchmark's client never outlives it."""

    def __init__(self, seconds: float) -> None:
        self.parent = os.getppid()
        self.ends = time.monotonic() + seconds
        self.phase = "start"

    def next_phase(self, phase: str, seconds: float) -> None:
        """A new phase begins, with *seconds* to finish."""
        self.phase = phase
        self.ends = time.monotonic() + seconds

    async def run(self) -> None:
        import sys

        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != self.parent:
                os._exit(3)
            if time.monotonic() > self.ends:
                print(f"client {os.getpid()}: {self.phase} overran its deadline", file=sys.stderr)
                sys.stderr.flush()
                os._exit(4)
