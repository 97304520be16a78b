"""The floor of a window round's storm on this box: the same arrivals, bare servers.

::

    python -m bench.storm_floor --members N --storm-seconds S [--steady-rate R --duration D]
                                [--questions 10] [--think-ms 3000] [--servers 2] [--clients P]

The window swarm (``python -m loadtest.swarm --mode window``) measures the engine admitting
members who arrive by a profile (N within S seconds, then R a second for D seconds), each
of whom connects with a token in the URL, gets ``welcome``, sends ``start_attempt``, gets
its ``attempt``, answers its questions one at a time after a think time, each acked, and
hands the attempt in with ``submit``. This bench plays the same arrivals (the same
:func:`loadtest.window.arrivals` from the same ``--seed``, dealt to the client processes as
the swarm deals them) against bare websockets servers, and
:mod:`bench.window_storm` runs it and the swarm in one command.

What the floor does:

* servers: ``--servers`` processes (websockets, the gateway's library, or with
  ``--server-lib picows`` the same server on picows: what the floor would be if the
  gateway's WebSocket layer cost what picows does) on one port with ``SO_REUSEPORT`` and
  the engine's listen backlog, uvloop, no compression, ``max_queue`` 8 (as the gateway).
  Per connection: a canned ``welcome`` of the engine's size on connect; to each frame, by
  its first bytes, a canned reply of the engine's size: ``start_attempt`` → an ``attempt``
  with 10 questions, ``answer`` → an ``ack``, ``submit`` → the attempt again (the engine's
  submit reply holds the questions and answers);
* clients: the swarm's kind (picows, uvloop, one loopback source address and at most the
  swarm's members per process). A member arrives at its time, connects, sends
  ``start_attempt`` on ``welcome``; then (``--questions`` Q above 0) answers Q times, each
  after a log-normal think time of the swarm's (median ``--think-ms``, sigma 0.5, at least
  50 ms) and only once the previous ack came, then ``submit``, and closes once that is
  answered: it holds its connection through the same exchange as a swarm member who neither
  drops nor expires.

What it does not do: no token check, no decoding of a frame beyond its first bytes, no
Redis, no draw, no grading or scoring, no attempt deadline; none of the swarm's droppers
(``--drop-share``: close mid-attempt, reconnect and resume) or expirers (``--expire-share``:
stop answering, hold the connection to the deadline); no ``seq`` in acks (one answer is in
flight per member). With ``--questions 0`` a member sends nothing after ``start_attempt``
and every member holds its connection until every member of its process is in (the sixth
session's floor; with a steady phase, every arrival's connection stays open to the end).

Printed: arrival → ``attempt`` p50/p99/max (the swarm's "arrival to attempt"), for the
storm's members and the steady ones apart; ``start_attempt`` → ``attempt``; ack p50/p99,
after the storm apart; members started, handed in, failed (connect failed or closed
first), given up (no ``attempt`` within ``MEMBER_WAIT`` s of arrival, or no reply within
``--reply-timeout`` s: a hung connection never holds the run), listen-queue overflows
(``nstat``), CPU seconds of the servers and the clients from the first arrival on, and
per member, and the load average (the box is shared). Whatever the engine adds is above
this floor. Nothing is asserted; bounded by ``--timeout`` (a client process past it ends
itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench._wsbench import (
    P50_P99,
    Latency,
    ServerGroup,
    Watchdog,
    flat,
    latency_field,
    load_average,
    loopback_source,
    run_loop,
    take,
)
from engine.core import messages as m

__all__ = ["FloorPlan", "FloorResult", "main", "run"]

PER_PROCESS = 19_000
WELCOME = b'{"type":"welcome","pad":"' + b"w" * 400 + b'"}'
ATTEMPT = b'{"type":"attempt","pad":"' + b"a" * 2600 + b'"}'
"""About the sizes of the engine's ``welcome`` and of an ``attempt`` with 10 questions."""
SUBMITTED = b'{"type":"attempt","state":"submitted","pad":"' + b"s" * 3200 + b'"}'
"""About the size of the engine's reply to ``submit``: the attempt with its 10 answers."""
ACK = m.encode(m.Ack(question="ls-01", seq=10, accepted=True, points=10, total=100))  # type: ignore[arg-type]
"""The engine's window ``ack``, as long."""
START = m.encode(m.StartAttempt())
ANSWER = m.encode(m.Answer(question="ls-01", answer="b", seq=1))  # type: ignore[arg-type]
SUBMIT = m.encode(m.Submit(prediction=123))
TOKEN = "t" * 330
"""About the length of a join token in the URL."""
MEMBER_WAIT = 90.0
"""A member with no ``attempt`` this long after its arrival gives up (counted apart as
given up: the swarm's members give up after their reply timeout too), so a connection
that hangs (a SYN retried, a handshake never answered) cannot hold the run."""


@dataclass
class FloorPlan:
    """What every floor member does (the swarm's members' exchange, see the docstring)."""

    questions: int = 10
    think_ms: float = 3000.0
    think_sigma: float = 0.5
    reply_timeout_s: float = 60.0
    storm_seconds: float = 0.0
    """Arrivals before this offset are the storm's; later ones the steady phase's."""


@dataclass
class FloorResult:
    """One run of the floor, the figures pooled over its client processes."""

    members: int
    servers: int
    client_processes: int
    server_lib: str = "websockets"
    started: int = 0
    submitted: int = 0
    failed: int = 0
    """Connect failed (after its tries) or the connection closed before the member was done."""
    given_up: int = 0
    """No ``attempt`` within ``MEMBER_WAIT`` s of arrival, or no reply within the reply
    timeout."""
    admit: Latency = latency_field()
    """Arrival -> ``attempt``, every member."""
    storm_admit: Latency = latency_field("p99")
    steady_starts: int = 0
    steady_admit: Latency = latency_field("p99")
    start: Latency = latency_field("p50", "p99")
    """``start_attempt`` sent -> ``attempt``."""
    acks: int = 0
    ack: Latency = latency_field("p50", "p99")
    steady_acks: int = 0
    steady_ack: Latency = latency_field("p50", "p99")
    listen_overflows: int = -1
    """``TcpExtListenOverflows`` during the run (system-wide; -1: nstat missing)."""
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    seconds: float = 0.0
    """From the first arrival until the last client process reported."""
    load_before: str = ""
    load_after: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def everyone_started(self) -> bool:
        return self.started == self.members


def bare_window_process(port: int, port_q: Any, stop: Any) -> None:
    """A bare server on *port* (shared with the others by ``SO_REUSEPORT``)."""

    async def main() -> None:
        from websockets.asyncio.server import ServerConnection, serve
        from websockets.exceptions import ConnectionClosed

        from engine.cli.serve import bind_reuseport
        from engine.gateway.server import LISTEN_BACKLOG

        async def handler(ws: ServerConnection) -> None:
            with contextlib.suppress(ConnectionClosed):  # a client gone without a close
                await ws.send(WELCOME, text=True)
                async for frame in ws:  # text frames (str): the type is the first field
                    if frame.startswith('{"type":"answer"'):
                        await ws.send(ACK, text=True)
                    elif frame.startswith('{"type":"submit"'):
                        await ws.send(SUBMITTED, text=True)
                    else:
                        await ws.send(ATTEMPT, text=True)

        sock = bind_reuseport("127.0.0.1", port)
        async with serve(
            handler,
            sock=sock,
            backlog=LISTEN_BACKLOG,
            compression=None,
            max_size=4096,
            max_queue=8,
            ping_interval=None,
            server_header=None,
        ):
            port_q.put((port, os.getpid()))
            while not stop.is_set() and os.getppid() != 1:
                await asyncio.sleep(0.2)

    run_loop(main())


def picows_window_process(port: int, port_q: Any, stop: Any) -> None:
    """The same bare server on picows (a Cython WebSocket library; the swarm's clients use
    it): what the floor would be if the gateway's WebSocket layer cost what picows does."""

    async def main() -> None:
        from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

        from engine.cli.serve import bind_reuseport
        from engine.gateway.server import LISTEN_BACKLOG

        class Member(WSListener):  # type: ignore[misc]
            def on_ws_connected(self, transport: WSTransport) -> None:
                transport.send(WSMsgType.TEXT, WELCOME)

            def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
                if frame.msg_type == WSMsgType.CLOSE:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                elif frame.msg_type == WSMsgType.TEXT:
                    head = bytes(frame.get_payload_as_memoryview()[:16])
                    if head == b'{"type":"answer"':
                        transport.send(WSMsgType.TEXT, ACK)
                    elif head == b'{"type":"submit"':
                        transport.send(WSMsgType.TEXT, SUBMITTED)
                    else:
                        transport.send(WSMsgType.TEXT, ATTEMPT)

        sock = bind_reuseport("127.0.0.1", port)
        server = await ws_create_server(
            lambda request: Member(), sock=sock, backlog=LISTEN_BACKLOG, max_frame_size=4096
        )
        async with server:
            port_q.put((port, os.getpid()))
            while not stop.is_set() and os.getppid() != 1:
                await asyncio.sleep(0.2)

    run_loop(main())


SERVERS = {"websockets": bare_window_process, "picows": picows_window_process}
"""The floor's server kinds (``--server-lib``)."""


class _Tally:
    """One client process's figures (sent back as a dict)."""

    def __init__(self) -> None:
        self.storm_admit: list[float] = []
        self.steady_admit: list[float] = []
        self.start: list[float] = []
        self.storm_acks: list[float] = []
        self.steady_acks: list[float] = []
        self.started = self.submitted = self.failed = self.given_up = 0
        self.errors: list[str] = []

    def error(self, text: str) -> None:
        if len(self.errors) < 10:
            self.errors.append(text)


def client_process(
    index: int,
    port: int,
    arrivals: list[float],
    plan: FloorPlan,
    go: Any,
    deadline: float,
    out: Any,
) -> None:
    """Members arriving at ``go.value`` + each of *arrivals* (seconds); puts ``("ready",
    index)`` on *out*, waits for *go*, then puts ``("done", index, figures)``."""

    async def main() -> None:
        from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

        watchdog = Watchdog(deadline + 60.0)  # a backstop: the process reports by its deadline
        ends = time.monotonic() + deadline
        loop = asyncio.get_running_loop()
        loop.create_task(watchdog.run())
        tally = _Tally()
        rng = random.Random(f"floor{index}")
        mu = math.log(max(plan.think_ms, 1.0) / 1000.0)
        hold = plan.questions == 0  # the sixth session's floor: held until all are in
        held: list[Any] = []
        done = asyncio.Event()
        left = len(arrivals)
        storm_end = 0.0  # wall-clock end of the storm, set at go

        class Member(WSListener):  # type: ignore[misc]
            def __init__(self, arrival: float) -> None:
                self.storm = arrival < plan.storm_seconds
                self.came = time.perf_counter()
                self.sent = 0.0
                self.answered = 0
                self.over = False
                self.transport: Any = None
                self.guard: asyncio.TimerHandle | None = loop.call_later(
                    MEMBER_WAIT, self.give_up, "no attempt"
                )

            def finish(self, close: bool = True) -> None:
                nonlocal left
                if self.over:
                    return
                self.over = True
                if self.guard is not None:
                    self.guard.cancel()
                if close and self.transport is not None:
                    self.transport.send_close(WSCloseCode.OK)  # as a swarm member closes
                    self.transport.disconnect()
                left -= 1
                if left == 0:
                    done.set()

            def give_up(self, why: str) -> None:
                if not self.over:
                    tally.given_up += 1
                    tally.error(why)
                    self.finish()

            def expect(self) -> None:
                if self.guard is not None:
                    self.guard.cancel()
                self.guard = loop.call_later(plan.reply_timeout_s, self.give_up, "no reply")

            def send(self, data: bytes) -> None:
                self.sent = time.perf_counter()
                self.transport.send(WSMsgType.TEXT, data)

            def think(self) -> None:
                """The reply came: the next step after a think time (the swarm's)."""
                if self.guard is not None:
                    self.guard.cancel()
                delay = max(0.05, rng.lognormvariate(mu, plan.think_sigma))
                self.guard = loop.call_later(delay, self.next_step)

            def next_step(self) -> None:
                if self.over:
                    return
                if self.answered < plan.questions:
                    self.answered += 1
                    self.send(ANSWER)
                else:
                    self.send(SUBMIT)
                self.expect()

            def on_ws_connected(self, transport: Any) -> None:
                self.transport = transport
                if self.over:  # given up while connecting
                    transport.disconnect()

            def on_ws_disconnected(self, transport: Any) -> None:
                if not self.over and not done.is_set():  # closed before it was done
                    tally.failed += 1
                    tally.error("closed before done")
                    self.finish(close=False)

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type is not WSMsgType.TEXT or self.over:
                    return
                now = time.perf_counter()
                head = frame.get_payload_as_memoryview()[:20].tobytes()
                if head.startswith(b'{"type":"welcome"'):
                    self.send(START)
                elif head.startswith(b'{"type":"ack"'):
                    ms = (now - self.sent) * 1000.0
                    (tally.steady_acks if time.time() >= storm_end else tally.storm_acks).append(ms)
                    self.think()
                elif head.startswith(b'{"type":"attempt"') and not self.answered:
                    tally.started += 1
                    tally.start.append((now - self.sent) * 1000.0)
                    admit = (now - self.came) * 1000.0
                    (tally.storm_admit if self.storm else tally.steady_admit).append(admit)
                    if hold:
                        held.append(transport)
                        self.finish(close=False)
                        return
                    self.think()
                elif head.startswith(b'{"type":"attempt"'):
                    tally.submitted += 1
                    self.finish()

        source = loopback_source(index)

        async def arrive(at: float) -> None:
            member = Member(at)
            try:
                await ws_connect(
                    lambda: member,
                    f"ws://127.0.0.1:{port}/ws/storm?token={TOKEN}",
                    websocket_handshake_timeout=60,
                    local_addr=(source, 0),
                )
            except Exception as exc:
                if not member.over:
                    tally.failed += 1
                    tally.error(f"connect: {exc!r}")
                    member.finish(close=False)

        tasks: set[asyncio.Task[None]] = set()

        def spawn(at: float) -> None:
            task = loop.create_task(arrive(at))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        out.put(("ready", index))
        while go.value == 0.0 and time.monotonic() < ends:
            await asyncio.sleep(0.02)
        storm_end = go.value + plan.storm_seconds
        cpu_at_go = time.process_time()
        offset = loop.time() - time.time()
        for at in arrivals:
            loop.call_at(go.value + at + offset, spawn, at)
        if arrivals:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), max(1.0, ends - time.monotonic()))
        if left:  # members still under way at the deadline: given up, counted
            tally.given_up += left
            tally.error(f"{left} members unfinished at the deadline")
        for transport in held:
            transport.disconnect()
        await asyncio.sleep(0.2)
        figures = {k: v for k, v in vars(tally).items()}
        figures["cpu_s"] = time.process_time() - cpu_at_go
        out.put(("done", index, figures))

    run_loop(main())


def _nstat() -> int:
    try:
        text = subprocess.run(
            ["nstat", "-az", "TcpExtListenOverflows"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return -1
    for line in text.splitlines():
        if line.startswith("TcpExtListenOverflows"):
            return int(line.split()[1])
    return -1


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    offsets: list[float],
    servers: int,
    procs: int,
    plan: FloorPlan,
    timeout: float,
    server_lib: str = "websockets",
) -> FloorResult:
    """The floor for members arriving at *offsets* (seconds after the go time), dealt to
    *procs* client processes as the window swarm deals them (member *i* to process
    ``i % procs``), against *servers* bare servers of *server_lib* (:data:`SERVERS`)."""
    import multiprocessing

    from engine.cli.serve import _free_port

    slices: list[list[float]] = [[] for _ in range(procs)]
    for i, at in enumerate(offsets):
        slices[i % procs].append(at)
    result = FloorResult(
        members=len(offsets), servers=servers, client_processes=procs, server_lib=server_lib
    )
    result.load_before = load_average()
    port = _free_port("127.0.0.1")
    with ServerGroup(servers, SERVERS[server_lib], port) as group:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        go = ctx.Value("d", 0.0)
        workers = [
            ctx.Process(target=client_process, args=(i, port, slices[i], plan, go, timeout, out))
            for i in range(procs)
        ]
        for w in workers:
            w.start()
        for _ in workers:
            take(out, workers, wait=120)  # ("ready", index)
        overflows = _nstat()
        cpu0 = sum(_cpu_s(pid) for pid in group.pids)
        go.value = time.time() + 1.0
        reports = [take(out, workers, wait=timeout + 90.0)[2] for _ in workers]
        result.seconds = time.time() - go.value
        result.server_cpu_s = sum(_cpu_s(pid) for pid in group.pids) - cpu0
        result.listen_overflows = _nstat() - overflows if overflows >= 0 else -1
        for w in workers:
            w.join(30)
    _pool(result, reports)
    result.load_after = load_average()
    return result


def _pool(result: FloorResult, reports: list[dict[str, Any]]) -> None:
    def pooled(name: str) -> list[float]:
        return [x for r in reports for x in r[name]]

    storm, steady = pooled("storm_admit"), pooled("steady_admit")
    admit, start = storm + steady, pooled("start")
    acks = pooled("storm_acks") + pooled("steady_acks")
    steady_acks = pooled("steady_acks")
    for name in ("started", "submitted", "failed", "given_up"):
        setattr(result, name, sum(r[name] for r in reports))
    result.admit, result.start = Latency.of(admit), Latency.of(start)
    result.storm_admit, result.steady_admit = Latency.of(storm), Latency.of(steady)
    result.steady_starts = len(steady)
    result.acks, result.ack = len(acks), Latency.of(acks)
    result.steady_acks, result.steady_ack = len(steady_acks), Latency.of(steady_acks)
    result.client_cpu_s = sum(r["cpu_s"] for r in reports)
    result.errors = [e for r in reports for e in r["errors"]][:20]


def print_result(r: FloorResult, plan: FloorPlan) -> None:
    print(
        f"bare storm: {r.members:,} members, {r.servers} {r.server_lib} server process(es), "
        f"{r.client_processes} client process(es), {plan.questions} answers each"
    )
    print(
        f"arrival to attempt latency: {r.admit.text()} (storm p99 {r.storm_admit.p99:.0f}, "
        f"steady p99 {r.steady_admit.p99:.0f} ms of {r.steady_starts})"
    )
    print(f"start latency: {r.start.text(keys=P50_P99)}")
    print(
        f"ack latency: {r.ack.text('.1f', P50_P99)} of {r.acks}; after "
        f"the storm {r.steady_ack.text('.1f', P50_P99)} of {r.steady_acks}"
    )
    print(
        f"started {r.started:,}, handed in {r.submitted:,}, failed (connect failed or closed "
        f"first) {r.failed}, given up (no attempt within {MEMBER_WAIT:g} s or no reply) "
        f"{r.given_up}"
    )
    print(f"listen overflows during the run: {r.listen_overflows} (system-wide counter)")
    each = max(1, r.members)
    print(
        f"CPU s: servers {r.server_cpu_s:.1f}, clients {r.client_cpu_s:.1f}; per member "
        f"servers {r.server_cpu_s / each * 1000:.2f} ms, "
        f"clients {r.client_cpu_s / each * 1000:.2f} ms"
    )
    print(f"load average before: {r.load_before}; after: {r.load_after}")
    if r.errors:
        print("first errors:", *r.errors[:5], sep="\n  ")


def offsets_for(args: argparse.Namespace) -> list[float]:
    """The window swarm's arrival offsets for these options (same seed, same cap)."""
    from loadtest.swarm import MAX_MEMBERS
    from loadtest.window import arrivals

    rng = random.Random(args.seed)
    times = arrivals(args.members, args.storm_seconds, args.steady_rate, args.duration, rng)
    return times[:MAX_MEMBERS]


def plan_for(args: argparse.Namespace, questions: int) -> FloorPlan:
    return FloorPlan(
        questions=questions,
        think_ms=args.think_ms,
        reply_timeout_s=args.reply_timeout,
        storm_seconds=args.storm_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm_floor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--members", type=int, default=20_000)
    from loadtest import window

    # The window swarm's options, named and defaulted as there: the floor uses the arrival
    # profile, --think-ms, --reply-timeout and --seed, and ignores the others.
    window.add_arguments(parser.add_argument_group("the window swarm's options"))
    parser.add_argument("--questions", type=int, default=10, help="answers per member; 0: none")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument(
        "--server-lib",
        choices=sorted(SERVERS),
        default="websockets",
        help="the bare servers' WebSocket library (the gateway's is websockets)",
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", type=argparse.FileType("w"), default=None)
    args = parser.parse_args(argv)
    if not 0 < args.members <= 200_000:
        parser.error("--members must be between 1 and 200,000")
    offsets = offsets_for(args)
    procs = max(args.clients, math.ceil(len(offsets) / PER_PROCESS))
    plan = plan_for(args, args.questions)
    result = run(offsets, args.servers, procs, plan, args.timeout, args.server_lib)
    print_result(result, plan)
    if args.json:
        import json

        json.dump(flat(result), args.json, indent=2)
    return 0 if result.everyone_started and not result.failed and not result.given_up else 1


if __name__ == "__main__":
    sys.exit(main())
