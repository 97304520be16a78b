"""Broadcast delivery: the gateway's relay path vs a bare websockets broadcast, same N.

    python bench/broadcast.py [--members N] [--rounds R] [--servers S] [--clients P]
                              [--out FILE] [--quick]
    python bench/broadcast.py --members 1000 --servers 2 --clients 2 --rounds 3

Each side runs S server processes (uvloop), each listening on a port of its own: the
members are spread over the S ports round robin (member j on port j mod S), which is
simpler than SO_REUSEPORT and splits them exactly evenly. The members are real WebSocket
clients in P separate processes on the same box: picows callbacks, one listener object per
member and no coroutine per member once connected, each process on a loopback source
address of its own (127.0.0.2, 127.0.0.3, ... for the bare side, the next P addresses for
the gateway side) holding at most 18,000 sockets under the 20,000 open-files limit. S and
P are raised to at least ceil(N / 18,000) by themselves, so ``--members 100000`` runs 6
servers of each kind and 6 client processes. Each round a ~300-byte frame carrying its send
time (ns) is broadcast to all N members:

* **gateway**: published once on the contest's Redis channel (as the conductor does); every
  one of the S gateway processes is subscribed, and its :class:`~engine.gateway.relay.Relay`
  relays the frame to its N/S joined members with :func:`engine.gateway.frames.write_text`
  (the frame built once, its bytes written to every socket; ``websockets.broadcast`` before
  the sixth session, when the figures in docs/benchmarks.md were measured);
* **bare**: S bare websockets servers, each with its own ``/control`` connection; the
  frame (send time taken once, before the S sends) goes to every control connection and
  each server broadcasts it to its N/S members with ``websockets.broadcast`` (the floor).

Both sides get the same clients: the same P processes' worth of members, the same split
over S ports, the same connect pacing (bounded concurrency, retries with back-off) and the
same per-round reporting. One untimed warm-up round goes first on both. Reported:
per-delivery latency (send -> received by a member) p50/p99/max, and per round the *last*
delivery (the figure the design targets: release -> last delivery), the gateway's and the
bare servers' resident memory per connection (RSS summed over the S processes, after the
members joined minus before), the gateway / bare ratios of the last delivery and the load
average before and after (the box is shared). ``--out FILE`` writes the same as JSON.
Nothing is asserted.

The client processes end by themselves if the parent is gone, or if connecting, a round
or the final wait overruns its deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._wsbench import (
    CONTEST,
    ServerGroup,
    Watchdog,
    bare_broadcast_process,
    gateway_process,
    load_average,
    loopback_source,
    percentile,
    run_loop,
    setup_contest,
    summary,
    take,
    tokens,
)

FRAME_BYTES = 300
WARM_UP = 1
"""Untimed rounds first, for both servers: the collections that follow the ramp-up of
thousands of connections are not counted as broadcast time."""
PER_PROCESS = 18_000
"""Most sockets one client or server process holds (the open-files limit is 20,000)."""
CONNECT_CONCURRENCY = 64
"""Handshakes under way at once per client process."""
CONNECT_DEADLINE = 900.0
"""Seconds a client process has to connect all its members."""
ROUND_WAIT = 120.0
"""Seconds the parent waits for a round's reports; a client process gives it a bit more."""


def make_frame(sent_ns: int) -> bytes:
    """A question frame of about FRAME_BYTES whose text starts with the send time (ns)."""
    from engine.core import messages as m
    from question_bank.ids import OptionId, QuestionId

    text = f"{sent_ns:019d} " + "x" * 24
    question = m.Question(
        id=QuestionId("q0"), index=0, count=1, kind="single", text=text, points=10,
        options=[m.OptionView(id=OptionId(o), text=t) for o, t in (("a", "right"), ("b", "wrong"))],
        opens=sent_ns // 1_000_000, deadline=sent_ns // 1_000_000 + 10_000,
        sent_at=sent_ns // 1_000_000,
    )  # fmt: skip
    return m.encode(question)


def client_process(
    urls: list[str], with_tokens: bool, offset: int, count: int, rounds: int, index: int,
    source: str, out: Any, go: Any,
) -> None:  # fmt: skip
    """Open *count* member connections (members *offset*... of the benchmark, member j on
    ``urls[j % len(urls)]``) from *source*; after each round report this process's
    latencies once all its members got the frame; close when *go* is set."""

    async def main() -> None:
        import gc

        import msgspec
        from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

        class Peek(msgspec.Struct):
            text: str = ""

        peek = msgspec.json.Decoder(Peek).decode
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(CONNECT_DEADLINE)
        watch = asyncio.create_task(watchdog.run())
        per_round: list[list[float]] = [[] for _ in range(rounds)]
        done = [0] * rounds
        finished: asyncio.Future[None] = loop.create_future()
        round_done: list[asyncio.Future[None]] = [loop.create_future() for _ in range(rounds)]

        class Member(WSListener):
            """One member's socket; picows calls on_ws_frame for each frame, in the loop."""

            def __init__(self) -> None:
                super().__init__()
                self.welcome: asyncio.Future[None] | None = None
                self.attempt: WSTransport | None = None
                """The socket of the connection attempt under way."""
                self.transport: WSTransport | None = None
                """The socket once joined."""
                self.got = 0
                self.closing = False

            def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
                kind = frame.msg_type
                if kind is WSMsgType.TEXT:
                    now = time.time_ns()
                    if self.welcome is not None and not self.welcome.done():
                        payload = frame.get_payload_as_bytes()  # the first frame: welcome
                        if b'"welcome"' in payload:
                            self.welcome.set_result(None)
                        else:
                            self.welcome.set_exception(RuntimeError(f"not welcome: {payload!r}"))
                        return
                    try:
                        text = peek(frame.get_payload_as_memoryview()).text
                    except msgspec.ValidationError:
                        return  # a frame with another kind of "text": not ours
                    if len(text) < 19 or not text[:19].isdigit() or self.got >= rounds:
                        return
                    r = self.got
                    self.got += 1
                    per_round[r].append((now - int(text[:19])) / 1e6)
                    done[r] += 1
                    if done[r] == count:
                        out.put(("round", index, (r, per_round[r])))
                        round_done[r].set_result(None)
                elif kind is WSMsgType.CLOSE:
                    if not self.closing:  # the server closes: answer, and hang up
                        self.closing = True
                        transport.send_close(frame.get_close_code())
                        transport.disconnect()
                    # our close answered: the server drops the TCP connection first, so
                    # the TIME_WAIT stays on its side and our source ports free at once

            def on_ws_connected(self, transport: WSTransport) -> None:
                self.attempt = transport

            def on_ws_disconnected(self, transport: WSTransport) -> None:
                if transport is not self.attempt:
                    return  # an earlier, abandoned attempt
                if self.welcome is not None and not self.welcome.done():
                    self.welcome.set_exception(ConnectionError("closed before welcome"))
                elif self.transport is transport and not self.closing:
                    if not finished.done():
                        finished.set_exception(ConnectionError("a member's socket closed"))

        members = [Member() for _ in range(count)]
        toks = tokens(count, offset) if with_tokens else None
        sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one(i: int) -> None:
            member = members[i]
            url = urls[(offset + i) % len(urls)]
            target = url if toks is None else f"{url}?token={toks[i]}"
            async with sem:
                for attempt in range(20):
                    member.welcome = loop.create_future()
                    transport: WSTransport | None = None
                    try:
                        transport, _ = await ws_connect(
                            lambda: member, target, websocket_handshake_timeout=30,
                            read_buffer_init_size=2048, max_frame_size=2**16,
                            local_addr=(source, 0),
                        )  # fmt: skip
                        await asyncio.wait_for(member.welcome, 30)
                    except Exception:
                        # a busy server drops handshakes past its open_timeout: back off
                        # and retry, as apps do
                        if transport is not None:
                            transport.disconnect()
                        await asyncio.sleep(0.2 * (attempt + 1))
                        continue
                    member.transport = transport
                    return
                raise RuntimeError(f"member {offset + i} could not connect")

        await asyncio.gather(*(open_one(i) for i in range(count)))
        gc.collect()
        gc.freeze()  # the members' objects are not scanned again while measuring
        out.put(("ready", index, None))
        for r in range(rounds):
            watchdog.next_phase(f"round {r}", ROUND_WAIT + 30)
            await asyncio.wait([round_done[r], finished], return_when=asyncio.FIRST_COMPLETED)
            if finished.done():
                finished.result()  # a socket was lost: fail, the parent sees the exit code
        watchdog.next_phase("final wait", ROUND_WAIT + 30)
        await asyncio.to_thread(go.wait, ROUND_WAIT + 20)
        watchdog.next_phase("close", 30)
        for member in members:
            member.closing = True
            if member.transport is not None:
                member.transport.send_close(WSCloseCode.OK)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(
                    *(m.transport.wait_disconnected() for m in members if m.transport),
                    return_exceptions=True,
                ),
                10,
            )
        for member in members:
            if member.transport is not None:
                member.transport.disconnect()
        watch.cancel()

    run_loop(main())


def measure(
    name: str, urls: list[str], trigger: Callable[[], object], memory: Callable[[], int],
    members: int, clients: int, rounds: int, first_source: int, with_tokens: bool,
) -> dict[str, Any]:  # fmt: skip
    """Connect *members* over *clients* processes to *urls*, run the warm-up and *rounds*
    rounds (each started by *trigger*); *memory* gives the servers' summed RSS (KiB)."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    sizes = [members // clients + (1 if i < members % clients else 0) for i in range(clients)]
    offsets = [sum(sizes[:i]) for i in range(clients)]
    rss_before = memory()
    procs = []
    try:
        for i, size in enumerate(sizes):
            proc = ctx.Process(
                target=client_process,
                args=(
                    urls, with_tokens, offsets[i], size, WARM_UP + rounds, i,
                    loopback_source(first_source + i), out, go,
                ),
                daemon=True,
            )  # fmt: skip
            proc.start()
            procs.append(proc)
        started = time.monotonic()
        for _ in procs:
            kind, _, _ = take(out, procs, CONNECT_DEADLINE)
            assert kind == "ready"
        connect_s = time.monotonic() - started
        time.sleep(0.5)
        rss_after = memory()
        deliveries: list[float] = []
        last: list[float] = []
        for r in range(WARM_UP + rounds):
            trigger()
            round_max = 0.0
            for _ in procs:
                kind, _, (got, values) = take(out, procs, ROUND_WAIT)
                assert kind == "round" and got == r
                if r >= WARM_UP:
                    deliveries.extend(values)
                round_max = max(round_max, max(values))
            if r >= WARM_UP:
                last.append(round_max)
            time.sleep(0.2)
        go.set()
        for proc in procs:
            proc.join(60)
    finally:
        go.set()
        for proc in procs:
            if proc.is_alive():
                proc.join(15)
            if proc.is_alive():
                proc.kill()
                proc.join()
    per_conn = (rss_after - rss_before) / max(1, members)
    print(f"{name:8s} deliveries (ms): {summary(deliveries)}")
    print(f"{name:8s} last/round (ms): {summary(last)}")
    print(f"{name:8s} server memory per connection: {per_conn:.1f} KiB")
    return {"last": last, "deliveries": deliveries, "kib": per_conn, "connect_s": connect_s}


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--servers", type=int, default=1,
        help="server processes of each kind (raised to ceil(members / 18000))",
    )  # fmt: skip
    parser.add_argument(
        "--clients", type=int, default=2,
        help="client processes (raised to ceil(members / 18000))",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="write a JSON summary to this file")
    parser.add_argument("--quick", action="store_true", help="500 members, 5 rounds")
    args = parser.parse_args()
    if args.quick:
        args.members, args.rounds = 500, 5
    needed = math.ceil(args.members / PER_PROCESS)
    servers = max(1, args.servers, needed)
    clients = max(1, args.clients, needed)

    import redis
    from websockets.sync.client import connect

    from scoring.keys import GlobalKeys
    from scoring.redis_server import RedisServer

    load_before = load_average()
    print(
        f"broadcast of a {len(make_frame(time.time_ns()))}-byte frame to {args.members} members "
        f"({servers} server processes of each kind, {clients} client processes), "
        f"{args.rounds} rounds; load average {load_before}"
    )
    with RedisServer() as server:
        run_loop(setup_contest(server.url))
        publisher = redis.Redis.from_url(server.url)
        channel = GlobalKeys().channel(CONTEST)  # type: ignore[arg-type]
        with ServerGroup(servers, bare_broadcast_process) as bare, contextlib.ExitStack() as stack:
            controls = [
                stack.enter_context(connect(f"ws://127.0.0.1:{port}/control", compression=None))
                for port in bare.ports
            ]

            def bare_round() -> None:
                frame = make_frame(time.time_ns())
                for control in controls:
                    control.send(frame, text=True)

            bare_result = measure(
                "bare", [f"ws://127.0.0.1:{port}/ws/x" for port in bare.ports], bare_round,
                bare.rss_kib, args.members, clients, args.rounds, 0, with_tokens=False,
            )  # fmt: skip
        with ServerGroup(servers, gateway_process, server.url, {}) as gateways:
            gateway_result = measure(
                "gateway", [f"ws://127.0.0.1:{port}/ws/{CONTEST}" for port in gateways.ports],
                lambda: publisher.publish(channel, make_frame(time.time_ns())),
                gateways.rss_kib, args.members, clients, args.rounds, clients, with_tokens=True,
            )  # fmt: skip
        publisher.close()

    gateway_last, bare_last = stats(gateway_result["last"]), stats(bare_result["last"])
    ratios = {name: gateway_last[name] / bare_last[name] for name in ("p50", "p99", "max")}
    print(f"last delivery gateway / bare: {', '.join(f'{k} {v:.2f}' for k, v in ratios.items())}")
    print(
        f"last delivery p50: gateway / bare = {ratios['p50']:.2f} (target <= 1.25); "
        f"gateway memory per connection {gateway_result['kib']:.1f} KiB (target <= 20)"
    )
    load_after = load_average()
    print(f"load average {load_after} (2 cores, shared)")
    if args.out:
        result = {
            "members": args.members,
            "servers": servers,
            "clients": clients,
            "rounds": args.rounds,
            "frame_bytes": len(make_frame(time.time_ns())),
            "last_ms": {"gateway": gateway_result["last"], "bare": bare_result["last"]},
            "last_stats_ms": {"gateway": gateway_last, "bare": bare_last},
            "deliveries_ms": {
                "gateway": stats(gateway_result["deliveries"]),
                "bare": stats(bare_result["deliveries"]),
            },
            "ratios_last_gateway_over_bare": ratios,
            "kib_per_connection": {"gateway": gateway_result["kib"], "bare": bare_result["kib"]},
            "connect_s": {"gateway": gateway_result["connect_s"], "bare": bare_result["connect_s"]},
            "load_average": {"before": load_before, "after": load_after},
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"summary written to {args.out}")


if __name__ == "__main__":
    main()
