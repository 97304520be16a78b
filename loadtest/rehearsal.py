"""The three-host rehearsal: the engine on three "hosts" (network namespaces) and a Redis
Cluster, a window round and a live show played through them, one host's gateways and one
Redis primary killed mid-show.

::

    sudo python -m loadtest.rehearsal                 # make rehearsal
    sudo python -m loadtest.rehearsal --redis single  # one Redis, no cluster: gateways only

1. Three namespaces on a bridge (:mod:`loadtest.netns`), each with an address of its own.
2. Redis: a cluster of 3 primaries + 3 replicas, two nodes per host, each replica on another
   host than its primary, AOF on (``appendfsync everysec``), made with plain commands
   (``CLUSTER ADDSLOTSRANGE``, ``CLUSTER MEET``, ``CLUSTER REPLICATE``: no ``redis-cli``).
   ``--redis single``: one Redis on host 1 instead (no failover to measure).
3. ``contest serve --workers N`` on each host, all on the cluster URL
   (``redis+cluster://h1:7001,h2:7001,h3:7001``).
4. A window round (:func:`loadtest.window.run`): the swarm's client processes, in the root
   namespace, spread over the three hosts' gateways.
5. A live show (:func:`loadtest.swarm.run`) likewise; once it has run ``--kill-after``
   seconds the rehearsal SIGKILLs, by PID, host 2's ``contest serve`` and its children
   (its members rejoin another host, as an app behind a load balancer does) and the Redis
   primary holding the show's slot (its replica is promoted). A probe writes a key on the
   show's slot every 20 ms to time the gap in writes; the replica's ``ROLE`` is polled to
   time the promotion.
6. A table: acknowledged answers against the audit stream for both contests (an
   acknowledged answer missing from the audit stream is a lost answer: must be 0), members
   rejoined, the failover gaps, and the outcome.

Bounded: the whole run stops after ``--timeout`` seconds (everything is torn down), members
are few (``--members``, ``--window-members``), traffic stays inside the namespaces and the
bridge. Everything it started is stopped by PID and the namespaces and bridge deleted, also
on failure, Ctrl-C or SIGTERM. Needs root (``ip netns``) and Redis 7 (``CLUSTER
ADDSLOTSRANGE``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.cluster

from . import deploy, swarm, window
from .netns import Host, Network, NetworkUnavailable, unavailable_reason

__all__ = ["ClusterNode", "build_cluster", "cluster_url", "main", "serve_env"]

SLOTS = 16_384
PRIMARY_PORT = 7001
REPLICA_PORT = 7002
WS_PORT = 8765
HTTP_PORT = 8080
NODE_TIMEOUT_MS = 2000
"""``cluster-node-timeout``: a primary unreachable this long is failed over (5000 in
deploy/redis/node.conf.example; lower here so the rehearsal's gap is short)."""


@dataclass
class ClusterNode:
    host: Host
    port: int
    process: Any
    primary: bool
    node_id: str = ""

    @property
    def address(self) -> str:
        return self.host.address

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(
            host=self.address, port=self.port, socket_timeout=timeout, socket_connect_timeout=2
        )


@dataclass
class Rehearsal:
    """What one run started and measured."""

    net: Network
    work: Path
    redis_mode: str
    nodes: list[ClusterNode] = field(default_factory=list)
    serves: list[Any] = field(default_factory=list)
    redis_url: str = ""
    events: dict[str, float] = field(default_factory=dict)
    killed: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)


def say(text: str) -> None:
    print(f"[rehearsal {time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- Redis


def _redis_argv(address: str, port: int, folder: Path, cluster: bool) -> list[str]:
    argv = [
        os.environ.get("REDIS_SERVER", "redis-server"),
        "--bind",
        address,
        "--port",
        str(port),
        "--dir",
        str(folder),
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--maxmemory-policy",
        "noeviction",
        "--repl-diskless-sync-delay",  # a replica's first sync starts at once (default 5 s)
        "0",
    ]
    if cluster:
        argv += [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
        ]
    return argv


def _wait(predicate: Any, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:g} s")
        time.sleep(every)


def start_redis(run: Rehearsal) -> None:
    """Start the nodes: one per host (single) or a primary and a replica per host."""
    cluster = run.redis_mode == "cluster"
    layout = (
        [(h, port) for h in run.net.hosts for port in (PRIMARY_PORT, REPLICA_PORT)]
        if cluster
        else [(run.net.hosts[0], PRIMARY_PORT)]
    )
    for host, port in layout:
        folder = run.work / f"redis-{host.index + 1}-{port}"
        folder.mkdir(parents=True)
        process = host.popen(
            _redis_argv(host.address, port, folder, cluster), log=folder / "redis.log"
        )
        run.nodes.append(ClusterNode(host, port, process, primary=port == PRIMARY_PORT))
    for node in run.nodes:
        _wait(lambda n=node: n.client().ping(), 20, f"redis-server {n_name(node)} not up")
    if cluster:
        build_cluster(run.nodes)
        run.redis_url = cluster_url(run.nodes)
    else:
        node = run.nodes[0]
        run.redis_url = f"redis://{node.address}:{node.port}/0"


def n_name(node: ClusterNode) -> str:
    return f"{node.address}:{node.port}"


def cluster_url(nodes: list[ClusterNode]) -> str:
    """``redis+cluster://`` with every primary as a startup node."""
    return "redis+cluster://" + ",".join(n_name(n) for n in nodes if n.primary)


def build_cluster(nodes: list[ClusterNode], timeout: float = 60.0) -> None:
    """Join *nodes* into one cluster: the slots split evenly over the primaries, every node
    met, and each replica replicating the primary of the previous host (never its own)."""
    primaries = [n for n in nodes if n.primary]
    replicas = [n for n in nodes if not n.primary]
    for node in nodes:
        with node.client() as client:
            node.node_id = str(client.execute_command("CLUSTER", "MYID").decode())
    share = SLOTS // len(primaries)
    for i, node in enumerate(primaries):
        first, last = i * share, SLOTS - 1 if i == len(primaries) - 1 else (i + 1) * share - 1
        with node.client() as client:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
    with primaries[0].client() as client:
        for node in nodes[1:]:
            client.execute_command("CLUSTER", "MEET", node.address, node.port)

    def everyone_known() -> bool:
        for node in nodes:
            with node.client() as client:
                text = client.execute_command("CLUSTER", "NODES").decode()
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if len(lines) != len(nodes) or "handshake" in text or "noaddr" in text:
                return False
        return True

    _wait(everyone_known, timeout, "the nodes did not all meet")
    count = len(primaries)
    for replica in replicas:
        primary = primaries[(replica.host.index - 1) % count]
        with replica.client() as client:
            client.execute_command("CLUSTER", "REPLICATE", primary.node_id)

    def settled() -> bool:
        for node in nodes:
            with node.client() as client:
                if client.cluster("INFO").get("cluster_state") != "ok":
                    return False
                if not node.primary:
                    info = client.info("replication")
                    if info.get("master_link_status") != "up":
                        return False
                ranges = client.execute_command("CLUSTER", "SLOTS")
                if len(ranges) != len(primaries) or any(len(r) < 4 for r in ranges):
                    return False  # this node does not know every range's replica yet
        return True

    _wait(settled, timeout, "the cluster did not settle (state ok, replicas in sync)")


# -- the engine


def serve_env(run: Rehearsal, host: Host, workers: int, secret: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTEST_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        {
            "CONTEST_REDIS_URL": run.redis_url,
            "CONTEST_TOKEN_SECRET": secret,
            "CONTEST_API_KEYS": f"central:{key}",
            "CONTEST_HOST": host.address,
            "CONTEST_WS_PORT": str(WS_PORT),
            "CONTEST_HTTP_PORT": str(HTTP_PORT),
            "CONTEST_WORKERS": str(workers),
            "CONTEST_DATA_DIR": str(run.work / f"host{host.index + 1}"),
            "CONTEST_MAX_UNJOINED_PER_ADDRESS": "0",
        }
    )
    return env


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_engine(run: Rehearsal, workers: int) -> deploy.Target:
    secret = "rehearsal-" + secrets.token_hex(24)
    key = "rh-" + secrets.token_hex(16)
    env: dict[str, str] = {}
    for host in run.net.hosts:
        env = serve_env(run, host, workers, secret, key)
        Path(env["CONTEST_DATA_DIR"]).mkdir(parents=True)
        log = run.work / f"serve-{host.index + 1}.log"
        run.serves.append(host.popen([*deploy.contest_cli(), "serve"], env=env, log=log))
    for host, process in zip(run.net.hosts, run.serves, strict=True):
        url = f"http://{host.address}:{HTTP_PORT}"

        def up(url: str = url, process: Any = process) -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"contest serve on {url} exited with {process.returncode}")
            return _ready(url)

        _wait(up, 90, f"contest serve not ready at {url}", every=0.2)
    first = run.net.hosts[0]
    cli_env = dict(env)  # contest token / audit from the root namespace: same Redis, secret
    return deploy.Target(
        ws_url=f"ws://{first.address}:{WS_PORT}",
        http_url=f"http://{first.address}:{HTTP_PORT}",
        api_key=key,
        data_dir=run.work,
        env=cli_env,
        pid=run.serves[0].pid,
        log_path=run.work / "serve-1.log",
        ws_urls=[f"ws://{h.address}:{WS_PORT}" for h in run.net.hosts],
        sources=list(run.net.clients),
    )


# -- the faults


def _slot_primary(run: Rehearsal, contest: str) -> tuple[ClusterNode, ClusterNode | None, int]:
    """The primary holding *contest*'s keys (hash tag ``{contest}``), its replica, the slot."""
    probe_node = next(n for n in run.nodes if n.primary)
    with probe_node.client() as client:
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", f"{{{contest}}}"))
        shards = client.execute_command("CLUSTER", "SLOTS")
    for first, last, owner, *copies in shards:
        if int(first) <= slot <= int(last):
            primary = _node_at(run, owner)
            replica = _node_at(run, copies[0]) if copies else None
            return primary, replica, slot
    raise RuntimeError(f"no node serves slot {slot}")


def _node_at(run: Rehearsal, entry: Any) -> ClusterNode:
    address = entry[0].decode() if isinstance(entry[0], bytes) else str(entry[0])
    port = int(entry[1])
    return next(n for n in run.nodes if n.address == address and n.port == port)


class Probe(threading.Thread):
    """Writes a key on the show's slot every 20 ms through a cluster client (which retries
    and follows the new slot map by itself, as the engine's does) and records when each
    write succeeded: the longest interval between two successes is the write gap."""

    def __init__(self, run: Rehearsal, contest: str) -> None:
        super().__init__(name="slot-probe", daemon=True)
        self.run_ = run
        self.key = f"rehearsal:{{{contest}}}:probe"
        self.stop = threading.Event()
        self.successes: list[float] = []
        self.failures = 0

    def run(self) -> None:
        nodes = [
            redis.cluster.ClusterNode(n.address, n.port)  # type: ignore[no-untyped-call]
            for n in self.run_.nodes
        ]
        client = redis.cluster.RedisCluster(
            startup_nodes=nodes, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        try:
            while not self.stop.wait(0.02):
                try:
                    client.incr(self.key)
                except (redis.RedisError, OSError):
                    self.failures += 1  # after the client's own retries
                    continue
                self.successes.append(time.time())
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def gap_after(self, moment: float) -> float:
        """Longest time without a successful write, from the last success before *moment*."""
        times = self.successes
        around = [t for t in times if t >= moment]
        before = [t for t in times if t < moment][-1:]
        points = before + around
        return max((b - a for a, b in zip(points, points[1:], strict=False)), default=0.0)


def _watch_promotion(run: Rehearsal, replica: ClusterNode) -> None:
    """Time until *replica* reports itself a primary (``ROLE``)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError), replica.client(0.5) as client:
            role = client.execute_command("ROLE")
            if role and role[0] in (b"master", "master"):
                run.events["promoted"] = time.time()
                return
        time.sleep(0.02)


class Faults:
    """The kills, done once when the show has run *after* seconds (from the swarm's loop)."""

    def __init__(self, run: Rehearsal, after: float, kill_redis: bool) -> None:
        self.run = run
        self.after = after
        self.kill_redis = kill_redis
        self.done = False
        self.probe: Probe | None = None
        self.watcher: threading.Thread | None = None

    def __call__(self, contest: str, elapsed: float, accepted: int) -> None:
        run = self.run
        if self.probe is None and run.redis_mode == "cluster":
            self.probe = Probe(run, contest)
            self.probe.start()
        if self.done or elapsed < self.after:
            return
        self.done = True
        run.killed["answers_accepted_before"] = accepted
        host = run.net.hosts[1]
        serve = run.serves[1]
        run.events["killed"] = time.time()
        pids = run.net.kill(serve.pid)
        run.killed["gateways"] = f"host 2 ({host.address}): contest serve + children, pids {pids}"
        say(f"killed host 2's contest serve and its children (SIGKILL): pids {pids}")
        if self.kill_redis:
            primary, replica, slot = _slot_primary(run, contest)
            run.net.kill(primary.process.pid)
            run.killed["redis"] = (
                f"primary {n_name(primary)} (host {primary.host.index + 1}, slot {slot} of "
                f"the show), pid {primary.process.pid}"
            )
            say(f"killed Redis primary {n_name(primary)} holding slot {slot} (SIGKILL)")
            if replica is not None:
                run.killed["replica"] = n_name(replica)
                self.watcher = threading.Thread(
                    target=_watch_promotion, args=(run, replica), daemon=True
                )
                self.watcher.start()

    def finish(self) -> None:
        if self.watcher is not None:
            self.watcher.join(60)
        if self.probe is not None:
            self.probe.stop.set()
            self.probe.join(5)
            killed = self.run.events.get("killed", 0.0)
            self.run.probe = {
                "failed_writes": self.probe.failures,
                "gap_s": self.probe.gap_after(killed),
            }


# -- running it


def _live_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        members=args.members,
        workers=args.workers,
        procs=len(args.hosts_list),
        questions=args.questions,
        question_seconds=args.question_seconds,
        connect_concurrency=100,
        timeout=args.phase_timeout,
    )


def _window_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        members=args.window_members,
        workers=args.workers,
        procs=len(args.hosts_list),
        questions=5,
        storm_seconds=5.0,
        steady_rate=0.0,
        duration=0.0,
        attempt_seconds=60,
        think_ms=400.0,
        wrong_share=0.3,
        drop_share=0.1,
        expire_share=0.0,
        reply_timeout=30.0,
        seed=1,
        timeout=args.phase_timeout,
    )


def _first_after(times: list[float], moment: float) -> float | None:
    later = [t for t in times if t >= moment]
    return later[0] - moment if later else None


def outcome_rows(
    run: Rehearsal, live: dict[str, Any], win: dict[str, Any]
) -> list[tuple[str, str]]:
    killed = run.events.get("killed")
    promoted = run.events.get("promoted")
    rows = [
        (
            "hosts",
            f"{len(run.net.hosts)} namespaces: {', '.join(h.address for h in run.net.hosts)}",
        ),
        ("Redis", f"{run.redis_mode}: {run.redis_url}"),
        ("window round: members", f"{win['members']} (submitted {win['submitted']})"),
        ("window round: answers acked", str(win["accepted"])),
        ("window round: audit stream", str(win["audit_entries"])),
        ("window round: acked but not in audit (lost)", str(win["lost_answers"])),
        ("live show: members", f"{live['members']} (connected {live['connected']})"),
        ("live show: answers acked", str(live["accepted"])),
        ("live show: audit stream", str(live["audit_entries"])),
        ("live show: acked but not in audit (lost)", str(live["lost_answers"])),
        (
            "live show: in audit, ack never received",
            f"{live['audit_not_acked']} (of {live['in_flight_lost']} answers in flight on "
            "dropped connections)",
        ),
        (
            "live show: each question delivered to",
            ", ".join(str(q["n"]) for q in live["questions"].values()) + " members",
        ),
        (
            "live show: question frames received again",
            f"{live['repeated_questions']} (a conductor taking the show over re-sends the "
            "current question)",
        ),
        ("killed", "; ".join(str(v) for k, v in run.killed.items() if k in ("gateways", "redis"))),
        (
            "members rejoined another host",
            f"{live['rejoins']} (p50 {live['rejoin_p50_ms']:.0f} ms, "
            f"max {live['rejoin_max_ms']:.0f} ms after losing the connection)",
        ),
    ]
    if killed is not None:
        first = _first_after(live["answer_times"], killed)
        rows.append(
            (
                "first answer accepted after the kill",
                "none" if first is None else f"{first:.2f} s",
            )
        )
    if run.redis_mode == "cluster":
        rows.append(
            (
                "replica promoted after the kill",
                "not seen" if promoted is None or killed is None else f"{promoted - killed:.2f} s",
            )
        )
        if run.probe:
            rows.append(
                (
                    "longest pause in writes to the show's slot",
                    f"{run.probe['gap_s']:.2f} s "
                    f"({run.probe['failed_writes']} probe writes failed after retries)",
                )
            )
    lost = live["lost_answers"] + win["lost_answers"]
    ended = live["connected"] > 0 and win["submitted"] > 0
    rows.append(
        (
            "outcome",
            "PASS: no acknowledged answer lost"
            if lost == 0 and ended
            else f"FAIL: {lost} acknowledged answer(s) lost"
            if lost
            else "FAIL: nothing played",
        )
    )
    return rows


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


class _Timeout(BaseException):
    pass


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise (unwinding every ``with``, so everything is torn down) after *seconds*."""

    def expired(signum: int, frame: object) -> None:
        raise _Timeout(f"the rehearsal ran past {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def rehearse(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="contest-rehearsal-"))
    started = time.monotonic()
    with Network(hosts=3, clients=3) as net:
        run = Rehearsal(net=net, work=work, redis_mode=args.redis)
        say(f"hosts {[h.address for h in net.hosts]} ({net.tag}); logs in {work}")
        start_redis(run)
        say(f"Redis up: {run.redis_url}")
        target = start_engine(run, args.workers)
        say(f"contest serve --workers {args.workers} ready on all three hosts")
        args.hosts_list = net.hosts
        win = window.run(_window_args(args), target)
        say(f"window round done: {win['accepted']} answers acked, lost {win['lost_answers']}")
        faults = Faults(run, args.kill_after, kill_redis=args.redis == "cluster")
        try:
            live = swarm.run(_live_args(args), target=target, during=faults)
        finally:
            faults.finish()
        say(f"live show done: {live['accepted']} answers acked, lost {live['lost_answers']}")
        rows = outcome_rows(run, live, win)
        say(f"tearing down ({time.monotonic() - started:.0f} s so far)")
    print_table(rows)
    live.pop("answer_times", None)
    return {
        "rows": rows,
        "live": live,
        "window": win,
        "killed": run.killed,
        "probe": run.probe,
        "work": str(work),
        "seconds": time.monotonic() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.rehearsal",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--redis", choices=("cluster", "single"), default="cluster")
    parser.add_argument("--workers", type=int, default=2, help="gateway workers per host")
    parser.add_argument("--members", type=int, default=1500, help="live show members")
    parser.add_argument("--window-members", type=int, default=600)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--question-seconds", type=int, default=8)
    parser.add_argument(
        "--kill-after",
        type=float,
        default=13.0,
        help="seconds into the live show at which host 2 and a primary are killed",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="whole run, seconds")
    parser.add_argument("--out", type=Path, default=None, help="write the summary as JSON")
    args = parser.parse_args(argv)
    args.members = min(args.members, 20_000)
    args.window_members = min(args.window_members, 20_000)
    args.phase_timeout = max(60.0, args.timeout / 2 - 30)
    reason = unavailable_reason()
    if reason is not None:
        print(f"error: the rehearsal needs network namespaces: {reason}", file=sys.stderr)
        return 2
    try:
        with bounded(args.timeout):
            summary = rehearse(args)
    except NetworkUnavailable as exc:
        print(f"error: cannot make the namespaces: {exc}", file=sys.stderr)
        return 2
    except _Timeout as exc:
        print(f"error: {exc}; everything it started was stopped", file=sys.stderr)
        return 1
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2, default=str))
    lost = summary["live"]["lost_answers"] + summary["window"]["lost_answers"]
    played = summary["live"]["accepted"] > 0 and summary["window"]["submitted"] > 0
    return 0 if lost == 0 and played else 1


if __name__ == "__main__":
    sys.exit(main())
