"""The window swarm: a weekly round's self-paced attempts at national scale, end to end.

::

    python -m loadtest.swarm --mode window --members 20000 --storm-seconds 20

It starts ``contest serve --workers W`` (embedded Redis, loopback only), loads the sample
bank, reads its answer key back (``GET /api/banks/ID``), creates a window round open now
(one attempt each, ``--questions`` single-choice and true/false questions, a prediction
question; ``--board-updates`` its ``window.board_updates``, ``answer`` or ``attempt``) and
gets every member's token from ``contest token``. Members arrive by a profile: all
``--members`` within the first ``--storm-seconds`` (the opening storm), then
``--steady-rate`` more per second for ``--duration`` seconds. Each starts an attempt,
answers every question after a log-normal think time, and submits with a prediction; a
share drops its connection mid-attempt and resumes on a new one (``--drop-share``), a share
lets the attempt run out (``--expire-share``). The members are spread over P client
processes (:mod:`loadtest.window_client`), each with its own loopback source address.

When every member is done it closes and finalizes the round through the organiser HTTP API
(timing the finalize), compares the acked answers with the audit stream, and prints a
table: start latency, ack latency, answers per second, resumes, expiries, errors by code,
lost answers, finalize time and CPU seconds by process. Bounded: ``--members`` plus the
steady arrivals at most 200,000; the whole run by ``--timeout``; loopback only.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import multiprocessing
import queue
import random
import time
from collections import Counter
from contextlib import nullcontext
from typing import Any

from . import deploy
from .swarm import (
    MAX_MEMBERS,
    PER_PROCESS,
    _commandstats,
    _cpu,
    _log_warnings,
    _top_commands,
    drain,
    peak_rate,
    percentile,
    serve_for,
    stop_clients,
)
from .window_client import AnswerKey, WindowJob, WindowReport, run_window_client

__all__ = ["add_arguments", "answer_key", "arrivals", "print_summary", "run"]

BANK = "loadtest-bank"
PREDICTION_QUESTION = "du-doan-01"


def arrivals(
    storm: int, storm_seconds: float, rate: float, duration: float, rng: random.Random
) -> list[float]:
    """Arrival offsets (seconds, sorted): *storm* members uniformly within *storm_seconds*,
    then *rate* per second, evenly, for *duration* seconds after the storm."""
    times = [rng.uniform(0.0, storm_seconds) for _ in range(storm)]
    steady = int(rate * duration)
    times.extend(storm_seconds + (i + 0.5) / rate for i in range(steady))
    return sorted(times)


def answer_key(bank: dict[str, Any]) -> AnswerKey:
    """(a right answer, a wrong answer) for each single-choice and true/false question of
    *bank* (the bank as ``GET /api/banks/ID`` returns it)."""
    key: AnswerKey = {}
    for q in bank["questions"]:
        if q["kind"] == "single":
            options = sorted(q["options"], key=lambda o: -float(o.get("weight", 0.0)))
            if len(options) >= 2:
                key[q["id"]] = (options[0]["id"], options[-1]["id"])
        elif q["kind"] == "true_false":
            key[q["id"]] = (bool(q["answer"]), not q["answer"])
    return key


def _round_spec(
    questions: int, attempt_seconds: int, timeout: float, board_updates: str = "answer"
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "title": "Swarm window round",
        "mode": "window",
        "bank": BANK,
        "draw": {"count": questions, "kinds": ["single", "true_false"]},
        "window": {
            "opens_at": now,
            "closes_at": now + int((timeout + 3600) * 1000),
            "attempt_seconds": attempt_seconds,
            "attempts_allowed": 1,
            "prediction_question": PREDICTION_QUESTION,
            "board_updates": board_updates,
        },
    }


def _progress_line(state: dict[int, tuple[int, ...]], total: int, started: float) -> str:
    at = f"[{time.monotonic() - started:6.1f}s]"
    (arrived, active, attempts, answers, submitted, expired, drops, resumes, errors) = (
        sum(v[i] for v in state.values()) for i in range(9)
    )
    return (
        f"{at} arrived {arrived}/{total}, in attempt {active}, started {attempts}, "
        f"answers {answers}, submitted {submitted}, expired {expired}, "
        f"drops {drops}, resumes {resumes}, errors {errors}"
    )


TIMELINE_SECONDS = 5
"""The width of one bucket of the curves over time (``timeline`` in the JSON summary)."""


def timeline(
    reports: list[WindowReport], go: float, width: float = TIMELINE_SECONDS
) -> list[dict[str, float]]:
    """Per *width*-second bucket from *go*: attempts started per second and the p50/p99 of
    arrival → attempt for them; acks per second and their p50/p99 (for ``bench.plot``)."""
    admitted = sorted((t, ms) for r in reports for t, ms, _ in r.admitted)
    acks = sorted((t, ms) for r in reports for t, ms in zip(r.ack_at, r.ack_ms, strict=True))
    end = max([t for t, _ in admitted[-1:]] + [t for t, _ in acks[-1:]] + [go])
    buckets = []
    for i in range(math.floor((end - go) / width) + 1):
        lo, hi = go + i * width, go + (i + 1) * width
        starts = [
            ms
            for _, ms in admitted[
                bisect.bisect_left(admitted, (lo,)) : bisect.bisect_left(admitted, (hi,))
            ]
        ]
        answered = [
            ms for _, ms in acks[bisect.bisect_left(acks, (lo,)) : bisect.bisect_left(acks, (hi,))]
        ]
        buckets.append(
            {
                "t": i * width,
                "starts_per_s": len(starts) / width,
                "admit_p50_ms": percentile(starts, 0.5),
                "admit_p99_ms": percentile(starts, 0.99),
                "acks_per_s": len(answered) / width,
                "ack_p50_ms": percentile(answered, 0.5),
                "ack_p99_ms": percentile(answered, 0.99),
            }
        )
    return buckets


def phases(reports: list[WindowReport], go: float, storm_seconds: float) -> dict[str, float]:
    """Arrival → attempt and ack latencies of the opening storm (the
    members who arrived within *storm_seconds* of *go*) and of the steady arrivals
    after it (acks from then on)."""
    storm = [ms for r in reports for _, ms, at in r.admitted if at < storm_seconds]
    steady = [ms for r in reports for _, ms, at in r.admitted if at >= storm_seconds]
    storm_end = go + storm_seconds
    steady_acks = [
        ms for r in reports for t, ms in zip(r.ack_at, r.ack_ms, strict=True) if t >= storm_end
    ]
    return {
        "storm_admit_p50_ms": percentile(storm, 0.5),
        "storm_admit_p99_ms": percentile(storm, 0.99),
        "steady_starts": float(len(steady)),
        "steady_admit_p50_ms": percentile(steady, 0.5),
        "steady_admit_p99_ms": percentile(steady, 0.99),
        "steady_acks": float(len(steady_acks)),
        "steady_ack_p50_ms": percentile(steady_acks, 0.5),
        "steady_ack_p99_ms": percentile(steady_acks, 0.99),
    }


def _merge(reports: list[WindowReport]) -> dict[str, Any]:
    def pooled(name: str) -> list[float]:
        return [x for r in reports for x in getattr(r, name)]

    start_ms, ack_ms, join_ms, resume_ms = (
        pooled(n) for n in ("start_ms", "ack_ms", "join_ms", "resume_ms")
    )
    admit_ms = [ms for r in reports for _, ms, _ in r.admitted]
    errors: Counter[str] = Counter()
    for r in reports:
        errors.update(r.errors)
    times = sorted(pooled("answer_times"))
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    total = {
        k: sum(getattr(r, k) for r in reports)
        for k in ("members", "arrived", "joined", "started", "submitted", "expired")
    }
    return {
        **total,
        "drops": sum(r.drops for r in reports),
        "resumes": sum(r.resumes for r in reports),
        "join_p50_ms": percentile(join_ms, 0.5),
        "join_p99_ms": percentile(join_ms, 0.99),
        "start_p50_ms": percentile(start_ms, 0.5),
        "start_p99_ms": percentile(start_ms, 0.99),
        "start_max_ms": max(start_ms, default=math.nan),
        "admit_p50_ms": percentile(admit_ms, 0.5),
        "admit_p99_ms": percentile(admit_ms, 0.99),
        "admit_max_ms": max(admit_ms, default=math.nan),
        "resume_p50_ms": percentile(resume_ms, 0.5),
        "resume_p99_ms": percentile(resume_ms, 0.99),
        "acks": len(ack_ms),
        "ack_p50_ms": percentile(ack_ms, 0.5),
        "ack_p99_ms": percentile(ack_ms, 0.99),
        "accepted": sum(len(r.accepted) for r in reports),
        "wrong_sent": sum(r.wrong_sent for r in reports),
        "answers_per_second_peak": peak_rate(times),
        "answers_per_second_mean": len(times) / span if span > 0 else math.nan,
        "errors": dict(errors),
        "error_samples": [e for r in reports for e in r.samples][:20],
    }


def run(args: argparse.Namespace, target: deploy.Target | None = None) -> dict[str, Any]:
    """Play the round on *target* (an engine already running; its client processes spread
    over its gateways), or on one started here."""
    rng = random.Random(args.seed)
    offsets = arrivals(args.members, args.storm_seconds, args.steady_rate, args.duration, rng)
    offsets = offsets[:MAX_MEMBERS]
    total = len(offsets)
    procs = max(args.procs, math.ceil(total / PER_PROCESS))
    started = time.monotonic()
    given = nullcontext(target) if target is not None else None
    with given or serve_for(total, args.workers, args.timeout) as target:
        target.upload_bank(bank_id=BANK)
        key = answer_key(target.call("GET", f"/api/banks/{BANK}"))
        contest = target.create_contest(
            _round_spec(
                args.questions,
                args.attempt_seconds,
                args.timeout,
                # Callers building their own arguments (loadtest.rehearsal) leave it out.
                getattr(args, "board_updates", "answer"),
            )
        )
        cid = contest["id"]
        target.action(cid, "schedule")
        target.action(cid, "start")
        rows = deploy.tokens(target, cid, total, prefix="w")
        print(
            f"{len(rows)} tokens for window round {cid} in {time.monotonic() - started:.1f}s",
            flush=True,
        )
        ctx = multiprocessing.get_context("spawn")
        progress: Any = ctx.Queue()
        results: Any = ctx.Queue()
        stop = ctx.Event()
        go = ctx.Value("d", 0.0)
        slices: list[list[tuple[str, str, float]]] = [[] for _ in range(procs)]
        for i, (row, at) in enumerate(zip(rows, offsets, strict=True)):
            slices[i % procs].append((row["member"], row["token"], at))
        jobs = [
            WindowJob(
                index=i,
                url=f"{target.ws_url_for(i)}/ws/{cid}",
                members=slices[i],
                source=target.source_for(i),
                key=key,
                think_ms=args.think_ms,
                wrong_share=args.wrong_share,
                drop_share=args.drop_share,
                expire_share=args.expire_share,
                max_prediction=total,
                reply_timeout_s=args.reply_timeout,
                deadline_s=args.timeout,
                seed=args.seed * 1000 + i,
            )
            for i in range(procs)
        ]
        workers = [
            ctx.Process(target=run_window_client, args=(job, go, progress, results, stop))
            for job in jobs
        ]
        for w in workers:
            w.start()
        state: dict[int, tuple[int, ...]] = {}
        reports: list[WindowReport] = []
        deadline = time.monotonic() + args.timeout
        last_print = 0.0
        cpu_before: dict[str, float] = {}
        redis_before: dict[str, int] = {}
        while len(reports) < len(workers) and time.monotonic() < deadline:
            try:
                phase, index, *counts = progress.get(timeout=0.5)
                state[index] = tuple(counts)
                if phase == "ready" and len(state) == len(workers) and go.value == 0.0:
                    cpu_before = _cpu(target, workers)
                    redis_before = _commandstats(target)
                    go.value = time.time() + 1.0
                    print(f"{len(workers)} client processes ready; arrivals begin", flush=True)
            except queue.Empty:
                pass
            reports.extend(drain(results))
            if go.value and time.monotonic() - last_print >= 1.0:
                print(_progress_line(state, total, started), flush=True)
                last_print = time.monotonic()
        cpu_after = _cpu(target, workers)
        redis_after = _commandstats(target)
        reports.extend(stop_clients(workers, results, stop, missing=len(workers) - len(reports)))
        summary = _merge(reports)
        summary.update(
            members=total,
            workers=args.workers,
            client_processes=procs,
            client_reports=len(reports),
            run_cpu_s={k: round(v - cpu_before.get(k, 0.0), 2) for k, v in cpu_after.items()},
            run_redis_usec=_top_commands(redis_before, redis_after),
            storm_seconds=args.storm_seconds,
            steady_rate=args.steady_rate,
            duration=args.duration,
            timeline=timeline(reports, go.value),
            **phases(reports, go.value, args.storm_seconds),
        )
        began = time.monotonic()
        target.action(cid, "close")
        target.action(cid, "finalize")
        summary["finalize_s"] = time.monotonic() - began
        summary["ranked"] = len(target.call("GET", f"/api/contests/{cid}/results"))
        audit = deploy.audit_pairs(target, cid)
        accepted = {pair for r in reports for pair in r.accepted}
        summary["lost_answers"] = len(accepted - set(audit))
        summary["audit_entries"] = len(audit)
        summary["audit_not_acked"] = len(set(audit) - accepted)
        summary["contest"] = cid
        summary["serve_log_warnings"] = _log_warnings(target.log_file)
    return summary


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f}"


def print_summary(s: dict[str, Any]) -> None:
    errors = sum(s["errors"].values())
    redis_top = [(k, v) for k, v in s["run_redis_usec"].items() if v >= 5000]
    rows = [
        ("members", f"{s['members']} (arrived {s['arrived']}, joined {s['joined']})"),
        ("attempts started", s["started"]),
        ("submitted", s["submitted"]),
        ("expired", s["expired"]),
        ("drops / resumes", f"{s['drops']} / {s['resumes']}"),
        ("join p50 / p99", f"{_ms(s['join_p50_ms'])} / {_ms(s['join_p99_ms'])} ms"),
        (
            "start p50 / p99 / max",
            f"{_ms(s['start_p50_ms'])} / {_ms(s['start_p99_ms'])} / {_ms(s['start_max_ms'])} ms",
        ),
        (
            "arrival → attempt",
            f"p50 {_ms(s['admit_p50_ms'])} / p99 {_ms(s['admit_p99_ms'])} / max "
            f"{_ms(s['admit_max_ms'])} ms (storm p99 {_ms(s['storm_admit_p99_ms'])}, steady "
            f"p99 {_ms(s['steady_admit_p99_ms'])} ms of {s['steady_starts']:.0f})",
        ),
        ("resume p50 / p99", f"{_ms(s['resume_p50_ms'])} / {_ms(s['resume_p99_ms'])} ms"),
        ("ack p50 / p99", f"{s['ack_p50_ms']:.1f} / {s['ack_p99_ms']:.1f} ms"),
        (
            "ack after the storm",
            f"p50 {s['steady_ack_p50_ms']:.1f} / p99 {s['steady_ack_p99_ms']:.1f} ms "
            f"({s['steady_acks']:.0f} acks)",
        ),
        (
            "answers accepted",
            f"{s['accepted']} (sent wrong {s['wrong_sent']}; audit entries {s['audit_entries']})",
        ),
        (
            "answers/s peak / mean",
            f"{s['answers_per_second_peak']:.0f} / {s['answers_per_second_mean']:.0f}",
        ),
        ("errors by code", json.dumps(s["errors"], sort_keys=True) if s["errors"] else "none"),
        ("finalize", f"{s['finalize_s']:.2f} s ({s['ranked']} ranked)"),
        ("CPU s", ", ".join(f"{k} {v:.1f}" for k, v in s["run_cpu_s"].items())),
        ("Redis s by command", ", ".join(f"{k} {v / 1e6:.2f}" for k, v in redis_top)),
        (
            "processes",
            f"{s['workers']} gateway worker(s), {s['client_processes']} client process(es)",
        ),
    ]
    print()
    for name, value in rows:
        print(f"{name:<24}{value}")
    warnings = s.get("serve_log_warnings") or {}
    if warnings.get("count"):
        print(f"contest serve logged {warnings['count']} warning(s)/error(s), first:")
        print(*warnings["first"][:5], sep="\n  ")
    if s["error_samples"]:
        print("first errors:", *s["error_samples"][:5], sep="\n  ")
    print(f"start latency: p50 {_ms(s['start_p50_ms'])} ms, p99 {_ms(s['start_p99_ms'])} ms")
    print(
        f"arrival to attempt latency: p50 {_ms(s['admit_p50_ms'])} ms, "
        f"p99 {_ms(s['admit_p99_ms'])} ms"
    )
    print(f"ack latency: p50 {s['ack_p50_ms']:.1f} ms, p99 {s['ack_p99_ms']:.1f} ms")
    print(f"errors: {errors}")
    print(f"lost answers: {s['lost_answers']}")


def add_arguments(parser: Any) -> None:
    """The window mode's options (``--members``, ``--workers``, ``--procs``, ``--timeout``
    and ``--out`` are shared with the live mode)."""
    parser.add_argument("--storm-seconds", type=float, default=20.0)
    parser.add_argument(
        "--steady-rate", type=float, default=0.0, help="arrivals per second after the storm"
    )
    parser.add_argument("--duration", type=float, default=0.0, help="seconds of steady arrivals")
    parser.add_argument("--attempt-seconds", type=int, default=120)
    parser.add_argument("--think-ms", type=float, default=3000.0)
    parser.add_argument("--wrong-share", type=float, default=0.3)
    parser.add_argument("--drop-share", type=float, default=0.1)
    parser.add_argument("--expire-share", type=float, default=0.05)
    parser.add_argument(
        "--reply-timeout",
        type=float,
        default=60.0,
        help="a member gives up after waiting this long for a reply (error no_reply_<step>)",
    )
    parser.add_argument(
        "--board-updates",
        choices=("answer", "attempt"),
        default="answer",
        help="the round's window.board_updates: write the best attempt and boards on every "
        "answer (answer) or once when the attempt ends (attempt)",
    )
    parser.add_argument("--seed", type=int, default=1)


def main(args: argparse.Namespace) -> int:
    summary = run(args)
    print_summary(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))
    ok = (
        summary["lost_answers"] == 0
        and not summary["errors"]
        and summary["started"] == summary["members"]
    )
    return 0 if ok else 1
