"""The swarm: very many members in one live show, measured end to end.

::

    python -m loadtest.swarm --members 100000 --workers 7 --procs 7 --questions 3
    python -m loadtest.swarm --members 25000 --server-cpus 0 --client-cpus 1

It starts ``contest serve --workers W`` (embedded Redis, loopback only), loads the sample
bank, creates a live show, gets every member's token from ``contest token``, and spreads
the members over P client processes (:mod:`loadtest.swarm_client`), each with its own
loopback source address (127.0.0.2, 127.0.0.3, ...) so no address pair runs out of
ephemeral ports, and each within the 20,000 open files a process may hold here. When every
member is connected it starts the show; members answer each question after a log-normal
delay (most in the first seconds).

It prints progress every second and, at the end, a table:

* time to connect everyone; connect latency p50/p99;
* per question, broadcast delivery from release (``sent_at``) to each member: p50, p99 and
  max (the last member);
* answer acks p50/p99 and answers per second;
* lost answers: accepted acks compared with the audit stream (must be 0).

Everything is bounded: ``--members`` at most 200,000, the whole run by ``--timeout``
seconds (processes stop themselves past it), and all traffic goes to 127.0.0.1.
Results are also written as JSON (``--out``) for ``bench/plot.py``.

``--server-cpus LIST`` and ``--client-cpus LIST`` (``0``, ``0,1``, ``0-3``) pin the two
sides of a live show: ``contest serve`` with its workers and its embedded redis-server,
and the client processes with this one (:func:`clients_on`); the CPUs read back from the
running processes are printed and kept in the JSON (``affinity``).

``--mode window`` runs a window round's self-paced attempts instead (:mod:`loadtest.window`).
:mod:`loadtest.faults` runs this same show with faults injected, through :class:`ShowHooks`.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import queue
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from . import deploy
from .swarm_client import ClientJob, ClientReport, lift_nofile_limit, run_client

__all__ = [
    "ShowHooks",
    "affinity_line",
    "clients_on",
    "drain",
    "main",
    "peak_rate",
    "per_member_question",
    "percentile",
    "run",
    "serve_for",
    "stop_clients",
]

MAX_MEMBERS = 200_000
PER_PROCESS = 18_000
"""Members per client process: below the 20,000 open files a process may hold here."""


def percentile(values: list[float], q: float) -> float:
    """The *q*-quantile (0..1) of *values* by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def drain(results: Any) -> list[Any]:
    """The reports waiting in the *results* queue now."""
    found = []
    while True:
        try:
            found.append(results.get_nowait())
        except queue.Empty:
            return found


class ShowHooks:
    """What a caller of :func:`run` may change in the show and do during it (the defaults
    make the plain swarm run). :mod:`loadtest.faults` injects its faults through these."""

    def __init__(self) -> None:
        self.serve_env: dict[str, str] = {}
        """More environment for ``contest serve``."""
        self.job_options: dict[str, Any] = {}
        """More :class:`~loadtest.swarm_client.ClientJob` fields for every client process."""
        self.same_seed = False
        """Every client process gets the seed itself (not seed + its index)."""

    def spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The show's contest spec, as the swarm would create it: changed or not."""
        return spec

    def before_start(self, target: deploy.Target, contest: str) -> None:
        """Everyone is connected; the show starts right after this returns."""

    def during(self, target: deploy.Target) -> None:
        """Called about every half second while the show runs; must return quickly."""

    def after(
        self,
        target: deploy.Target,
        contest: str,
        reports: list[ClientReport],
        summary: Any,
        audit: set[tuple[str, str]],
    ) -> None:
        """The show is over, *summary* complete and *audit* read (every (member, question)
        in the audit stream); the server still runs."""


@contextmanager
def serve_for(
    members: int,
    workers: int,
    timeout: float,
    extra: dict[str, str] | None = None,
    cpus: list[int] | None = None,
) -> Iterator[deploy.Target]:
    """``contest serve --workers W`` sized for *members* connections, idle for up to
    *timeout* seconds, with this process's open-file limit lifted for its clients;
    *extra*: more environment for it; *cpus*: the CPUs it runs on, with its workers and
    its embedded redis-server (:func:`deploy.serve`)."""
    lift_nofile_limit()
    extra_env = {
        "CONTEST_MAX_CONNECTIONS": str(math.ceil(members / workers * 1.5) + 100),
        "CONTEST_IDLE_TIMEOUT": str(timeout),
        **(extra or {}),
    }
    with deploy.serve(workers=workers, extra_env=extra_env, cpus=cpus) as target:
        print(f"engine up: {target.ws_url} with {workers} worker(s)", flush=True)
        yield target


def stop_clients(
    workers: list[Any], results: Any, stop: Any, *, missing: int | None = None
) -> list[Any]:
    """Tell the client processes to stop and return the reports they put in *results* that
    were not read yet (*missing*: how many; default one per worker), then wait for them.

    The reports are read before joining: a report larger than a pipe holds keeps its
    process from exiting until it is read (joining first, then terminating it, cut the
    message and left the reader blocked for good). Past 60 s without every report, and
    after 30 s more for the processes to end, the stragglers are terminated."""
    stop.set()
    want = len(workers) if missing is None else missing
    late: list[Any] = []
    deadline = time.monotonic() + 60.0
    while len(late) < want and time.monotonic() < deadline:
        try:
            late.append(results.get(timeout=1))
        except queue.Empty:
            if not any(w.is_alive() for w in workers):
                break
    for w in workers:
        w.join(30)
        if w.is_alive():
            w.terminate()
    return late


@contextmanager
def clients_on(cpus: list[int] | None) -> Iterator[None]:
    """This process on *cpus* while the context lasts, so that every client process it
    starts runs there too (they inherit it); its former CPUs are given back after."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _cpu_list(cpus: list[int] | None) -> str:
    return "any" if cpus is None else ",".join(map(str, cpus))


def affinity_line(affinity: dict[str, Any]) -> str:
    """The CPUs asked for each side and those read back from its running processes."""

    def read(back: dict[str, list[int]]) -> str:
        return ", ".join(f"{comm} {_cpu_list(cpus)}" for comm, cpus in back.items()) or "-"

    return (
        f"affinity: server (contest serve, its workers, redis-server) on CPUs "
        f"{_cpu_list(affinity['server_cpus'])} (read back: {read(affinity['server_read_back'])});"
        f" clients (and the swarm) on CPUs {_cpu_list(affinity['client_cpus'])}"
        f" (read back: {read(affinity['client_read_back'])})"
    )


def _affinity(
    target: deploy.Target,
    workers: list[Any],
    server: list[int] | None,
    client: list[int] | None,
    own_engine: bool,
) -> dict[str, Any]:
    """What :func:`affinity_line` prints, read while every process runs (*own_engine*: the
    swarm started ``contest serve``, and with it redis-server, itself)."""
    clients: dict[str, set[int]] = {"swarm": os.sched_getaffinity(0)}  # this process
    for w in workers:
        if w.pid:
            for comm, cpus in deploy.tree_affinity(w.pid).items():
                clients.setdefault(comm, set()).update(cpus)
    return {
        "server_cpus": server,
        "client_cpus": client,
        "redis": "server" if own_engine else "not started by the swarm",
        "server_read_back": deploy.tree_affinity(target.pid),
        "client_read_back": {comm: sorted(c) for comm, c in sorted(clients.items())},
    }


def _show_spec(questions: int, question_seconds: int, reveal_seconds: int) -> dict[str, Any]:
    return {
        "title": "Swarm live show",
        "mode": "live",
        "bank": "loadtest-bank",
        "draw": {"count": questions, "kinds": ["single", "true_false"]},
        "live": {
            "starts_at": int(time.time() * 1000) + 24 * 3600 * 1000,
            "question_seconds": question_seconds,
            "reveal_seconds": reveal_seconds,
        },
        "scoring": {"speed": True},
    }


def peak_rate(times: list[float], window: float = 1.0) -> float:
    """Accepted answers per second in the busiest *window* seconds of sorted *times*."""
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best / window


def _progress_line(
    state: dict[int, tuple[Any, ...]], joined: dict[int, int], total: int, started: float
) -> str:
    """One line of progress: while connecting, members connected (processes already
    playing count with what they connected); during the show, question frames received,
    answers accepted and refused, and members still playing."""
    at = f"[{time.monotonic() - started:6.1f}s]"
    phases = Counter(v[0] for v in state.values())
    if all(v[0] == "play" for v in state.values()) and state:
        accepted = sum(v[1] for v in state.values())
        playing = sum(v[2] for v in state.values())
        frames = sum(v[3] for v in state.values())
        refused = sum(v[4] for v in state.values())
        return (
            f"{at} playing: {playing} members; question frames received {frames}; "
            f"answers accepted {accepted}, refused {refused}"
        )
    connected = sum(
        v[1] if v[0] in ("connect", "connected") else joined.get(i, 0) for i, v in state.items()
    )
    failed = sum(v[2] for v in state.values() if v[0] in ("connect", "connected"))
    return f"{at} connected {connected}/{total} (failed {failed}; {dict(phases)})"


def _merge(reports: list[ClientReport]) -> dict[str, Any]:
    connect_ms = [x for r in reports for x in r.connect_ms]
    ack_ms = [x for r in reports for x in r.ack_ms]
    delivery: dict[str, list[float]] = {}
    for r in reports:
        for q, values in r.delivery_ms.items():
            delivery.setdefault(q, []).extend(values)
    refused: Counter[str] = Counter()
    for r in reports:
        refused.update(r.refused)
    times = sorted(t for r in reports for t in r.answer_times)
    every = [x for values in delivery.values() for x in values]
    return {
        "connected": sum(r.connected for r in reports),
        "failed": sum(r.failed for r in reports),
        "connect_retries": sum(r.retries for r in reports),
        "connect_p50_ms": percentile(connect_ms, 0.5),
        "connect_p99_ms": percentile(connect_ms, 0.99),
        "questions": {
            q: {
                "n": len(v),
                "p50_ms": percentile(v, 0.5),
                "p99_ms": percentile(v, 0.99),
                "max_ms": max(v),
            }
            for q, v in delivery.items()
        },
        "delivery_p50_ms": percentile(every, 0.5),
        "delivery_p99_ms": percentile(every, 0.99),
        "acks": len(ack_ms),
        "ack_p50_ms": percentile(ack_ms, 0.5),
        "ack_p99_ms": percentile(ack_ms, 0.99),
        "answers_per_second": peak_rate(times),
        "accepted": sum(len(r.accepted) for r in reports),
        "refused": dict(refused),
        "unanswered": sum(r.unanswered for r in reports),
        "closed_early": sum(r.closed_early for r in reports),
        "confirmed": sum(len(r.confirmed) for r in reports),
        "reconnects": sum(r.reconnects for r in reports),
        "retried": sum(r.retried for r in reports),
        "touched": sum(len(r.touched) for r in reports),
        "repeated_questions": sum(r.repeated for r in reports),
        "errors": [e for r in reports for e in r.errors][:20],
    }


def per_member_question(summary: dict[str, Any], questions: int) -> dict[str, Any]:
    """The figures of the members curve (``python -m bench.plot --curve``): the answers the
    show expected (every connected member answers every question), the share of them
    accepted in time (the server refuses a late one), and the gateway CPU (every ``contest
    serve`` process but Redis) per member and question."""
    expected = summary["connected"] * questions
    gateways = (summary.get("show_cpu_s") or {}).get("gateways")
    return {
        "questions_planned": questions,
        "answers_expected": expected,
        "accepted_in_time_pct": 100 * summary["accepted"] / expected if expected else None,
        "gateway_us_per_member_question": (
            gateways / expected * 1e6 if expected and gateways is not None else None
        ),
    }


def _cpu(target: deploy.Target, clients: list[Any]) -> dict[str, float]:
    """CPU seconds so far: ``redis-server``, ``gateways`` (serve and its workers), ``clients``."""
    found = deploy.tree_cpu(target.pid)
    redis = found.pop("redis-server", 0.0)
    client = sum(sum(deploy.tree_cpu(w.pid).values()) for w in clients if w.pid)
    return {"redis-server": redis, "gateways": sum(found.values()), "clients": client}


def _commandstats(target: deploy.Target) -> dict[str, int]:
    """Redis's ``INFO commandstats``: command -> microseconds spent so far."""
    import redis

    url = target.redis_url()
    if url is None:
        return {}
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {k.removeprefix("cmdstat_"): int(v["usec"]) for k, v in stats.items()}


def _top_commands(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Microseconds Redis spent per command between *before* and *after*, the top 8."""
    spent = {k: v - before.get(k, 0) for k, v in after.items()}
    top = sorted(spent.items(), key=lambda kv: -kv[1])[:8]
    return {k: v for k, v in top if v > 0}


def _log_warnings(path: Path, keep: int = 10) -> dict[str, Any]:
    """How many WARNING/ERROR lines ``contest serve`` logged, and the first few."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"count": 0, "first": []}
    found = [ln for ln in lines if " WARNING " in ln or " ERROR " in ln or "Traceback" in ln]
    return {"count": len(found), "first": found[:keep]}


def run(
    args: argparse.Namespace,
    hooks: ShowHooks | None = None,
    target: deploy.Target | None = None,
    during: Callable[[str, float, int], None] | None = None,
) -> dict[str, Any]:
    """One live show of ``args.members`` members (``main``'s options); *hooks* change it.
    *target*: an engine already running (several hosts: the client processes spread over its
    gateways and a dropped member rejoins another one); default: one started here. *during*
    is called about every half second of the show with the contest id, the seconds since its
    start and the answers accepted so far (the rehearsal kills processes from it)."""
    hooks = hooks or ShowHooks()
    members = min(args.members, MAX_MEMBERS)
    procs = max(args.procs, math.ceil(members / PER_PROCESS))
    seed = getattr(args, "seed", 0)
    started = time.monotonic()
    server_cpus = getattr(args, "server_cpus", None)
    client_cpus = getattr(args, "client_cpus", None)
    if target is not None and server_cpus is not None:
        raise ValueError("server CPUs apply to an engine the swarm starts itself")
    serve_cpus = server_cpus
    if client_cpus is not None and server_cpus is None:
        serve_cpus = sorted(os.sched_getaffinity(0))  # not the clients' CPUs it would inherit
    own_engine = target is None
    given = nullcontext(target) if target is not None else None
    with (
        clients_on(client_cpus),
        given
        or serve_for(members, args.workers, args.timeout, hooks.serve_env, serve_cpus) as target,
    ):
        if server_cpus is not None or client_cpus is not None:
            print(
                f"affinity: server (contest serve, its workers, redis-server) on CPUs "
                f"{_cpu_list(server_cpus)}; clients (and the swarm) on CPUs "
                f"{_cpu_list(client_cpus)}",
                flush=True,
            )
        target.upload_bank()
        spec = hooks.spec(_show_spec(args.questions, args.question_seconds, 2))
        contest = target.create_contest(spec)
        cid = contest["id"]
        target.action(cid, "schedule")
        rows = deploy.tokens(target, cid, members, prefix="s")
        print(
            f"{len(rows)} tokens for contest {cid} in {time.monotonic() - started:.1f}s", flush=True
        )

        idle_rss, gateway_procs = target.gateway_rss()
        ctx = multiprocessing.get_context("spawn")
        progress: Any = ctx.Queue()
        results: Any = ctx.Queue()
        stop = ctx.Event()
        chunk = math.ceil(len(rows) / procs)
        jobs = [
            ClientJob(
                index=i,
                url=f"{target.ws_url_for(i)}/ws/{cid}",
                members=[(r["member"], r["token"]) for r in rows[i * chunk : (i + 1) * chunk]],
                source=target.source_for(i),
                connect_concurrency=args.connect_concurrency,
                deadline_s=args.timeout,
                seed=seed if hooks.same_seed else seed + i,
                **hooks.job_options,
                failover_urls=(
                    [f"{u}/ws/{cid}" for u in target.ws_urls] if len(target.ws_urls) > 1 else []
                ),
            )
            for i in range(procs)
        ]
        workers = [
            ctx.Process(target=run_client, args=(job, progress, results, stop)) for job in jobs
        ]
        for w in workers:
            w.start()
        state: dict[int, tuple[Any, ...]] = {}
        joined: dict[int, int] = {}
        show_started = False
        show_began = 0.0
        summary_affinity: dict[str, Any] | None = None
        connected_rss = idle_rss
        connect_done_at: float | None = None
        reports: list[ClientReport] = []
        deadline = time.monotonic() + args.timeout
        last_print = 0.0
        while len(reports) < len(workers) and time.monotonic() < deadline:
            try:
                phase, index, *counts = progress.get(timeout=0.5)
                if phase == "play" and index in state and state[index][0] != "play":
                    joined[index] = state[index][1]  # its connected count, kept for display
                state[index] = (phase, *counts)
            except queue.Empty:
                pass
            reports.extend(drain(results))
            if (
                not show_started
                and len(state) == len(workers)
                and all(v[0] in ("connected", "play") for v in state.values())
            ):
                connect_done_at = time.monotonic()
                time.sleep(1.0)  # let the gateways finish their joins before reading memory
                connected_rss, _ = target.gateway_rss()
                print(
                    f"all connected in {connect_done_at - started:.1f}s; starting the show",
                    flush=True,
                )
                summary_affinity = _affinity(target, workers, server_cpus, client_cpus, own_engine)
                print(affinity_line(summary_affinity), flush=True)
                cpu_at_start = _cpu(target, workers)
                redis_at_start = _commandstats(target)
                hooks.before_start(target, cid)
                target.action(cid, "start")
                show_started = True
                show_began = time.monotonic()
            if show_started:
                hooks.during(target)
                if during is not None:
                    accepted_now = sum(v[1] for v in state.values() if v[0] == "play")
                    during(cid, time.monotonic() - show_began, accepted_now)
            if time.monotonic() - last_print >= 1.0:
                print(_progress_line(state, joined, len(rows), started), flush=True)
                last_print = time.monotonic()
        cpu_at_end = _cpu(target, workers)
        redis_at_end = _commandstats(target)
        reports.extend(stop_clients(workers, results, stop, missing=len(workers) - len(reports)))
        summary = _merge(reports)
        summary["members"] = len(rows)
        summary["affinity"] = summary_affinity or _affinity(
            target, workers, server_cpus, client_cpus, own_engine
        )
        summary["workers"] = args.workers
        summary["client_processes"] = procs
        summary["connect_all_s"] = (connect_done_at - started) if connect_done_at else None
        summary["gateway_processes"] = gateway_procs
        summary["gateway_rss_idle_mib"] = idle_rss / 2**20
        summary["gateway_rss_connected_mib"] = connected_rss / 2**20
        summary["gateway_kib_per_connection"] = (
            (connected_rss - idle_rss) / 1024 / summary["connected"]
            if summary["connected"]
            else None
        )
        if show_started:
            summary["show_cpu_s"] = {
                k: round(v - cpu_at_start.get(k, 0.0), 2) for k, v in cpu_at_end.items()
            }
            summary["show_redis_usec"] = _top_commands(redis_at_start, redis_at_end)
        summary.update(per_member_question(summary, args.questions))
        summary["serve_log_warnings"] = _log_warnings(target.log_file)
        audit = set(deploy.audit_pairs(target, cid))
        accepted = {pair for r in reports for pair in (*r.accepted, *r.confirmed)}
        summary["lost_answers"] = len(accepted - audit)
        summary["audit_entries"] = len(audit)
        summary["audit_not_acked"] = len(audit - accepted)
        summary["contest"] = cid
        summary["rejoins"] = sum(r.reconnects for r in reports)
        summary["rejoin_p50_ms"] = percentile([x for r in reports for x in r.rejoin_ms], 0.5)
        summary["rejoin_max_ms"] = max((x for r in reports for x in r.rejoin_ms), default=0.0)
        summary["in_flight_lost"] = sum(r.in_flight_lost for r in reports)
        summary["answer_times"] = sorted(t for r in reports for t in r.answer_times)
        hooks.after(target, cid, reports, summary, audit)
    return summary


def print_summary(s: dict[str, Any]) -> None:
    print()
    print(
        f"members {s['members']}  connected {s['connected']}  failed {s['failed']}  "
        f"(retried {s['connect_retries']})  "
        f"gateway workers {s['workers']}  client processes {s['client_processes']}"
    )
    if s.get("affinity"):
        print(affinity_line(s["affinity"]))
    print(
        f"connect everyone: {s['connect_all_s']}s; connect p50 {s['connect_p50_ms']:.0f} ms, "
        f"p99 {s['connect_p99_ms']:.0f} ms"
    )
    if s.get("gateway_kib_per_connection") is not None:
        print(
            f"gateway memory: {s['gateway_rss_idle_mib']:.0f} MiB idle -> "
            f"{s['gateway_rss_connected_mib']:.0f} MiB with everyone connected "
            f"({s['gateway_processes']} processes): "
            f"{s['gateway_kib_per_connection']:.1f} KiB per connection"
        )
    print(f"{'question':<16}{'delivered':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for q, d in s["questions"].items():
        print(f"{q:<16}{d['n']:>10}{d['p50_ms']:>10.0f}{d['p99_ms']:>10.0f}{d['max_ms']:>10.0f}")
    print(
        f"answers acked {s['acks']}: p50 {s['ack_p50_ms']:.1f} ms, p99 {s['ack_p99_ms']:.1f} ms,"
        f" busiest second {s['answers_per_second']:.0f}/s;"
        f" accepted {s['accepted']}, refused {s['refused']}"
    )
    print(
        f"lost answers (accepted acks missing from the audit stream): {s['lost_answers']}"
        f"  (audit entries {s['audit_entries']})"
    )
    if s.get("repeated_questions"):
        print(
            f"question frames received twice (re-published after a takeover): "
            f"{s['repeated_questions']}"
        )
    if s.get("gateway_us_per_member_question") is not None:
        print(
            f"per member and question: gateway CPU {s['gateway_us_per_member_question']:.0f} us;"
            f" accepted in time {s['accepted_in_time_pct']:.2f}% of {s['answers_expected']};"
            f" question delivery p99 (every question) {s['delivery_p99_ms']:.0f} ms"
        )
    if s.get("show_cpu_s"):
        cpu = ", ".join(f"{k} {v:.1f} s" for k, v in s["show_cpu_s"].items())
        print(f"CPU during the show: {cpu}")
        top = ", ".join(f"{k} {v / 1e6:.2f} s" for k, v in s["show_redis_usec"].items())
        print(f"Redis time by command during the show: {top}")
    warnings = s.get("serve_log_warnings") or {}
    if warnings.get("count"):
        print(f"contest serve logged {warnings['count']} warning(s)/error(s), first:")
        print(*warnings["first"][:5], sep="\n  ")
    if s["errors"]:
        print("first errors:", *s["errors"][:5], sep="\n  ")


def _cpus_arg(text: str) -> list[int]:
    try:
        return deploy.parse_cpus(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.swarm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--members", type=int, default=int(os.environ.get("SWARM_MEMBERS", 20000)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SWARM_WORKERS", 2)))
    parser.add_argument("--procs", type=int, default=int(os.environ.get("SWARM_PROCS", 2)))
    parser.add_argument(
        "--mode",
        choices=("live", "window"),
        default="live",
        help="live: one live show (default); window: a window round's attempts",
    )
    parser.add_argument(
        "--questions", type=int, default=None, help="per show (default 3) or attempt (10)"
    )
    parser.add_argument("--question-seconds", type=int, default=10)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="the whole run stops by itself after this many seconds",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the summary as JSON here")
    parser.add_argument(
        "--server-cpus",
        type=_cpus_arg,
        default=None,
        metavar="LIST",
        help="run contest serve, its workers and its redis-server on these CPUs (0 or 0,1)",
    )
    parser.add_argument(
        "--client-cpus",
        type=_cpus_arg,
        default=None,
        metavar="LIST",
        help="run the client processes (and this one) on these CPUs (0 or 0,1)",
    )
    from . import window

    window.add_arguments(parser.add_argument_group("window mode"))
    args = parser.parse_args(argv)
    if args.mode == "window" and (args.server_cpus or args.client_cpus):
        parser.error("--server-cpus and --client-cpus apply to live shows (--mode live) only")
    if args.mode == "window":
        args.questions = args.questions or 10
        return window.main(args)
    args.questions = args.questions or 3
    summary = run(args)
    print_summary(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))
    return 0 if summary["lost_answers"] == 0 and summary["connected"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
