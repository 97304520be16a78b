"""The floor of an opening storm on this box: N members admitted in S seconds by a bare server.

::

    python -m bench.storm_floor --members 20000 --storm-seconds 20 [--servers 2] [--clients P]

The window swarm (``python -m loadtest.swarm --mode window``) measures the engine admitting
an opening storm: each member connects with its token in the URL, gets ``welcome``, sends
``start_attempt`` and gets its ``attempt``. This bench runs the same exchange against bare
websockets servers that do nothing else: ``--servers`` processes on one port with
``SO_REUSEPORT`` and the engine's listen backlog, uvloop, no compression (as the gateway),
which send a canned ``welcome`` on connect and a canned ``attempt`` of the engine's size
(10 questions) to the first message: no token check, no Redis, no draw. The clients are
the swarm's kind (picows, uvloop, one loopback source address and at most 20,000 members
per process); members arrive uniformly within S seconds and stay connected until every
member is in, then all close.

Printed: arrival → ``attempt`` p50/p99/max (the figure the swarm prints as "arrival to
attempt"), connects that failed, listen-queue overflows during the run (``nstat``), CPU
seconds of the servers and the clients, and the load average (the box is shared).
Whatever the engine adds to admitting a member is above this floor. Nothing is asserted;
bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import subprocess
import sys
import time
from typing import Any

from bench._wsbench import (
    ServerGroup,
    Watchdog,
    load_average,
    loopback_source,
    percentile,
    run_loop,
    take,
)

PER_PROCESS = 19_000
WELCOME = b'{"type":"welcome","pad":"' + b"w" * 400 + b'"}'
ATTEMPT = b'{"type":"attempt","pad":"' + b"a" * 2600 + b'"}'
"""About the sizes of the engine's ``welcome`` and of an ``attempt`` with 10 questions."""
TOKEN = "t" * 330
MEMBER_WAIT = 90.0
"""A member with no ``attempt`` this long after its arrival gives up (counted apart as
``no attempt in time``: the swarm's members give up after their reply timeout too), so a
connection that hangs (a SYN retried, a handshake never answered) cannot hold the run."""
"""About the length of a join token in the URL."""


def bare_window_process(port: int, port_q: Any, stop: Any) -> None:
    """A bare server on *port* (shared with the others by ``SO_REUSEPORT``)."""

    async def main() -> None:
        from websockets.asyncio.server import ServerConnection, serve

        from engine.cli.serve import bind_reuseport
        from engine.gateway.server import LISTEN_BACKLOG

        async def handler(ws: ServerConnection) -> None:
            await ws.send(WELCOME, text=True)
            await ws.recv()
            await ws.send(ATTEMPT, text=True)
            await ws.wait_closed()

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


def client_process(
    index: int, port: int, arrivals: list[float], go: float, deadline: float, out: Any
) -> None:
    """Members arriving at *go* + each of *arrivals*; put (latencies ms, failures)."""

    async def main() -> None:
        from picows import WSListener, WSMsgType, ws_connect

        watchdog = Watchdog(deadline)
        asyncio.get_running_loop().create_task(watchdog.run())
        latencies: list[float] = []
        failures = 0
        transports: list[Any] = []
        done = asyncio.Event()
        left = len(arrivals)

        def finished() -> None:
            nonlocal left
            left -= 1
            if left == 0:
                done.set()

        lost = 0
        stuck = 0

        class Member(WSListener):  # type: ignore[misc]
            def __init__(self) -> None:
                self.came = time.perf_counter()
                self.admitted = False

            def on_ws_connected(self, transport: Any) -> None:
                transports.append(transport)

            def on_ws_disconnected(self, transport: Any) -> None:
                nonlocal lost
                if not self.admitted and not done.is_set():  # closed before its attempt
                    lost += 1
                    self.admitted = True
                    finished()

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type is not WSMsgType.TEXT:
                    return
                payload = frame.get_payload_as_bytes()
                if payload.startswith(b'{"type":"welcome"'):
                    transport.send(WSMsgType.TEXT, b'{"type":"start_attempt"}')
                elif payload.startswith(b'{"type":"attempt"') and not self.admitted:
                    self.admitted = True
                    latencies.append((time.perf_counter() - self.came) * 1000.0)
                    finished()

        source = loopback_source(index)

        def give_up(member: Member) -> None:
            nonlocal stuck
            if not member.admitted and not done.is_set():
                member.admitted = True
                stuck += 1
                finished()

        async def arrive() -> None:
            nonlocal failures
            member = Member()
            loop.call_later(MEMBER_WAIT, give_up, member)
            try:
                await ws_connect(
                    lambda: member,
                    f"ws://127.0.0.1:{port}/ws/storm?token={TOKEN}",
                    websocket_handshake_timeout=60,
                    local_addr=(source, 0),
                )
            except Exception:
                failures += 1
                finished()

        loop = asyncio.get_running_loop()
        offset = loop.time() - time.time()
        tasks: set[asyncio.Task[None]] = set()

        def spawn() -> None:
            task = loop.create_task(arrive())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        for at in arrivals:
            loop.call_at(go + at + offset, spawn)
        if arrivals:
            await done.wait()
        for transport in transports:
            transport.disconnect()
        out.put((latencies, failures + lost, stuck, time.process_time()))

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


def run(members: int, storm_seconds: float, servers: int, clients: int, timeout: float) -> None:
    import multiprocessing

    from engine.cli.serve import _free_port

    rng = random.Random(1)
    procs = max(clients, math.ceil(members / PER_PROCESS))
    slices: list[list[float]] = [[] for _ in range(procs)]
    for i in range(members):
        slices[i % procs].append(rng.uniform(0.0, storm_seconds))
    port = _free_port("127.0.0.1")
    print(f"load average before: {load_average()}")
    with ServerGroup(servers, bare_window_process, port) as group:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        go = time.time() + 3.0
        overflows = _nstat()
        cpu0 = sum(_cpu_s(pid) for pid in group.pids)
        workers = [
            ctx.Process(target=client_process, args=(i, port, slices[i], go, timeout, out))
            for i in range(procs)
        ]
        for w in workers:
            w.start()
        results = [take(out, workers, wait=timeout) for _ in workers]
        server_cpu = sum(_cpu_s(pid) for pid in group.pids) - cpu0
        overflowed = _nstat() - overflows if overflows >= 0 else -1
        for w in workers:
            w.join(30)
    latencies = [x for r in results for x in r[0]]
    failures = sum(r[1] for r in results)
    stuck = sum(r[2] for r in results)
    client_cpu = sum(r[3] for r in results)
    print(
        f"bare storm: {members:,} members in {storm_seconds:g} s, {servers} server process(es), "
        f"{procs} client process(es)"
    )
    print(
        f"arrival to attempt latency: p50 {percentile(latencies, 50):.0f} ms, "
        f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies, default=math.nan):.0f} ms"
    )
    print(
        f"admitted {len(latencies):,}, failed (connect failed or closed first) {failures}, "
        f"no attempt within {MEMBER_WAIT:g} s {stuck}"
    )
    print(f"listen overflows during the run: {overflowed} (system-wide counter)")
    print(f"CPU s: servers {server_cpu:.1f}, clients {client_cpu:.1f}")
    print(f"load average after: {load_average()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm_floor", description=__doc__)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--storm-seconds", type=float, default=20.0)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if not 0 < args.members <= 200_000:
        parser.error("--members must be between 1 and 200,000")
    run(args.members, args.storm_seconds, args.servers, args.clients, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
