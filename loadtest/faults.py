"""Fault scenarios of a live show, each beside a run without faults with the same seed.

::

    python -m loadtest.faults --members 10000            # make faults
    python -m loadtest.faults --members 100 --questions 1 --question-seconds 4 --scenarios worker

Each run is the swarm's show (:func:`loadtest.swarm.run`: ``contest serve --workers W``
with an embedded Redis, members spread over client processes, everything on loopback),
with members that behave as an app does when something fails (reconnect and resume, send
an answer again after ``unavailable``: ``ClientJob.resume``) and whose answers and delays
come from (seed, member, question) alone (``ClientJob.seed_per_member``), in a show of a
fixed id, without speed points: two runs with one seed then give each member the same
score unless a fault changed what the member could do. First a run without faults, then
one run per scenario, each fault injected in question 2 (the last question if fewer):

``worker``     kill -9 of the ``gateway-0`` worker process 1 s into the question: its
               members lose their sockets, reconnect to the other worker (or the one the
               supervisor restarts) and resume;
``conductor``  kill -9 of the conductor process 1 s before the question's deadline: the
               supervisor starts another, which takes the show over once the dead one's
               lease expires; the takeover time is how long after the kill the show's next
               frame reached a member (and how late that was against the deadline);
``redis``      kill -9 of the embedded redis-server 1 s into the question; ``contest serve``
               starts it again on its AOF; answers get ``unavailable`` meanwhile and are
               sent again;
``flood``      from the show's start to its end, extra sockets (beside the honest members,
               from their own loopback address) send bad frames: malformed JSON, wrong
               types, frames over the size limit, unknown types, binary frames; half of
               them joined with a token of their own, half never joined.

For each scenario it prints the answers the members had acknowledged (acks accepted, and
answers whose ack was lost and that the server confirmed later) against the audit stream
(``contest audit``): equal, or what differs; the takeover or recovery time; and the honest
members' scores against the run without faults: equal for every member the fault did not
reach, and for those it reached, why theirs differ. A summary table closes the run.

Only processes this run started are killed, by pid (each checked to be a descendant of its
own ``contest serve``); every run is bounded by ``--timeout`` and stops by itself. Exit
status 0 when every scenario passed: no acknowledged answer missing from the audit stream,
no honest member untouched by the fault with a changed score, and (``conductor``) a takeover.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import re
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.core import messages as m

from . import deploy, swarm
from .swarm_client import ClientReport

__all__ = ["SCENARIOS", "main", "run_all"]

SCENARIOS = ("worker", "conductor", "redis", "flood")
CONTEST_ID = "faults-show"
"""One id for every run: a live show's questions are drawn with the contest id as seed."""

_BAD_FRAMES: list[tuple[str, str | bytes]] = [
    ("malformed_json", '{"type": "answer", "question": '),
    ("wrong_types", '{"type":"answer","question":42,"answer":{"x":[1]},"seq":"one"}'),
    ("unknown_type", '{"type":"launch","target":"moon"}'),
    ("not_an_object", "[1, 2, 3]"),
    ("binary", b"\x00\xff" * 64),
    ("oversize", '{"type":"answer","question":"q","answer":"' + "x" * 8192 + '"}'),
]
"""What a flood socket sends, in turn (the last one is over the 4 KiB frame limit)."""


# -- watching the show from one more member ------------------------------------------------


class Observer:
    """One more member (it never answers) that records when each show frame arrives, on
    a thread of its own; it reconnects when its socket is lost."""

    def __init__(self, url: str, until: float) -> None:
        self.url = url
        self.until = until
        self.frames: list[tuple[float, str, int]] = []
        """(arrival, wall-clock seconds; frame type; question index or -1)."""
        self.questions: dict[int, m.Question] = {}
        self.closed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="observer", daemon=True)

    def start(self) -> Observer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        while not self._stop.is_set() and not self.closed.is_set() and time.time() < self.until:
            try:
                with connect(self.url, open_timeout=30, close_timeout=1) as ws:
                    while not self._stop.is_set() and time.time() < self.until:
                        try:
                            frame = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        self._received(frame)
                        if self.closed.is_set():
                            return
            except (OSError, WebSocketException):
                time.sleep(0.3)

    def _received(self, frame: str | bytes) -> None:
        at = time.time()
        msg = m.decode_server(frame)
        index = getattr(msg, "index", -1)
        if isinstance(msg, m.Question):
            self.questions.setdefault(msg.index, msg)
        self.frames.append(
            (at, type(msg).__name__.lower(), index if isinstance(index, int) else -1)
        )
        if isinstance(msg, m.Closed):
            self.closed.set()


# -- the flood of bad frames -----------------------------------------------------------------


@dataclass
class FloodJob:
    url: str
    """``ws://127.0.0.1:PORT/ws/CONTEST``."""
    tokens: list[str]
    """One per socket that joins; as many more sockets never join."""
    seconds: float
    rate: float
    """Frames per second per socket."""
    source: str


def _flood_process(job: FloodJob, results: Any) -> None:
    """Process entry point: run the flood, put its counts in *results*."""
    results.put(asyncio.run(_flood(job)))


async def _flood(job: FloodJob) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, WebSocketException

    sent: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    failed = connects = 0
    until = time.monotonic() + job.seconds

    async def drain(ws: Any) -> None:
        async for frame in ws:
            try:
                msg = m.decode_server(frame)
            except Exception:
                errors["undecodable"] += 1
                continue
            if isinstance(msg, m.Error):
                errors[msg.code] += 1

    async def one(url: str, turn: int) -> None:
        nonlocal failed, connects
        while time.monotonic() < until:
            try:
                async with connect(
                    url,
                    open_timeout=10,
                    close_timeout=1,
                    max_size=2**20,
                    local_addr=(job.source, 0),
                ) as ws:
                    connects += 1
                    reader = asyncio.create_task(drain(ws))
                    try:
                        while time.monotonic() < until:
                            kind, frame = _BAD_FRAMES[turn % len(_BAD_FRAMES)]
                            await ws.send(frame)  # a closed socket: this one goes on the next
                            turn += 1
                            sent[kind] += 1
                            await asyncio.sleep(1.0 / job.rate)
                    finally:
                        reader.cancel()
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else "none"
                closes[str(code)] += 1
            except (OSError, TimeoutError, WebSocketException):
                failed += 1
            await asyncio.sleep(0.2)

    base = job.url
    urls = [f"{base}?token={t}" for t in job.tokens] + [base] * len(job.tokens)
    await asyncio.gather(*(one(url, i) for i, url in enumerate(urls)))
    return {
        "sockets": len(urls),
        "connects": connects,
        "failed_connects": failed,
        "frames_sent": dict(sent),
        "errors_received": dict(errors),
        "closes": dict(closes),
    }


# -- one run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    scenario: str
    """``none`` for the run without faults."""
    summary: dict[str, Any]
    acked: set[tuple[str, str]]
    audit: set[tuple[str, str]]
    scores: dict[str, int]
    touched: set[str]
    unresolved: int
    rejoin_ms: list[float]
    answer_times: list[float]
    fault: dict[str, Any] = field(default_factory=dict)
    frames: list[tuple[float, str, int]] = field(default_factory=list)
    """What the observer received: (arrival, frame type, question index)."""
    deadlines: dict[int, float] = field(default_factory=dict)
    """Question index -> its deadline (wall-clock seconds; one clock on this machine)."""

    def first_after(self, when: float) -> tuple[float, str] | None:
        """The first show frame (not ``welcome``/``pong``) the observer got after *when*."""
        for at, kind, _ in self.frames:
            if at > when and kind not in ("welcome", "pong"):
                return at, kind
        return None


def _log_time(line: str) -> float | None:
    """Wall-clock seconds of a ``contest serve`` log line (``2026-12-07 05:45:40,123 ...``)."""
    found = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", line)
    if found is None:
        return None
    stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
    return stamp + int(found.group(2)) / 1000.0


def _log_pids(target: deploy.Target, pattern: str) -> list[tuple[int, float | None]]:
    """(pid, logged at) of every serve log line matching *pattern* (one group: the pid)."""
    try:
        text = target.log_file.read_text(errors="replace")
    except OSError:
        return []
    return [
        (int(found.group(1)), _log_time(line))
        for line in text.splitlines()
        if (found := re.search(pattern, line))
    ]


class FaultHooks(swarm.ShowHooks):
    """One run of :func:`loadtest.swarm.run`: the fixed show, app-like members, the observer,
    and the fault of *scenario* (``none``: no fault)."""

    KILLS = {
        "worker": r"gateway-0 \(pid (\d+)\) started",
        "conductor": r"conductor \(pid (\d+)\) started",
    }
    """The serve log's line naming each process (its last one is the one running)."""
    RESTARTS = {**KILLS, "redis": r"embedded redis-server \(pid (\d+)\) restarted"}

    def __init__(self, scenario: str, args: argparse.Namespace) -> None:
        super().__init__()
        self.scenario = scenario
        self.args = args
        self.same_seed = True
        self.job_options = {"resume": True, "seed_per_member": True}
        if args.lease_ms:
            self.serve_env = {"CONTEST_CONDUCTOR_LEASE_MS": str(args.lease_ms)}
        self.fault_index = min(1, args.questions - 1)
        self.observer: Observer | None = None
        self.fault: dict[str, Any] = {}
        self.fired_at: float | None = None
        self.flood: Any = None
        self.flood_results: Any = None
        self.result: RunResult | None = None
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {self.scenario}: {text}", flush=True)

    def spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {**spec, "id": CONTEST_ID, "scoring": {"speed": False}}

    def before_start(self, target: deploy.Target, contest: str) -> None:
        (row,) = deploy.tokens(target, contest, 1, prefix="observer")
        url = f"{target.ws_url}/ws/{contest}"
        self.observer = Observer(f"{url}?token={row['token']}", time.time() + self.args.timeout)
        self.observer.start()
        if self.scenario == "flood":
            self._start_flood(target, contest, url)

    def _start_flood(self, target: deploy.Target, contest: str, url: str) -> None:
        joined = max(1, self.args.flood_sockets // 2)
        rows = deploy.tokens(target, contest, joined, prefix="flood")
        ctx = multiprocessing.get_context("spawn")
        self.flood_results = ctx.Queue()
        seconds = self.args.questions * (self.args.question_seconds + 2) + 2
        job = FloodJob(
            url=url,
            tokens=[r["token"] for r in rows],
            seconds=seconds,
            rate=self.args.flood_rate,
            source="127.0.0.250",
        )
        self.flood = ctx.Process(target=_flood_process, args=(job, self.flood_results))
        self.flood.start()
        self.fault = {"what": f"{2 * joined} flood sockets for {seconds} s", "pid": self.flood.pid}
        self.say(f"{2 * joined} sockets x {self.args.flood_rate:g} bad frames/s started")

    def during(self, target: deploy.Target) -> None:
        if self.fired_at is not None:
            self._watch_recovery(target)
            return
        if self.scenario in ("none", "flood") or self.observer is None:
            return
        question = self.observer.questions.get(self.fault_index)
        if question is None:
            return
        if self.scenario == "conductor":
            at = question.deadline / 1000.0 - 1.0
        else:
            at = question.opens / 1000.0 + 1.0
        if time.time() >= at:
            self._fire(target)

    def _victim(self, target: deploy.Target) -> int | None:
        if self.scenario == "redis":
            found = deploy.descendants(target.pid, "redis-server")
            return found[0] if found else None
        pids = _log_pids(target, self.KILLS[self.scenario])
        return pids[-1][0] if pids else None

    def _fire(self, target: deploy.Target) -> None:
        victim = self._victim(target)
        self.fired_at = time.time()
        if victim is None or victim not in deploy.descendants(target.pid):
            self.fault = {"what": f"no {self.scenario} process to kill", "pid": None}
            self.say(self.fault["what"])
            return
        os.kill(victim, signal.SIGKILL)
        self.fault = {
            "what": f"kill -9 of the {self.scenario} process (pid {victim})",
            "pid": victim,
            "question": self.fault_index + 1,
            "at": self.fired_at,
        }
        self.say(f"kill -9 pid {victim} ({self.scenario}) in question {self.fault_index + 1}")

    def _watch_recovery(self, target: deploy.Target) -> None:
        if self.scenario not in self.RESTARTS or "restarted_s" in self.fault:
            return
        assert self.fired_at is not None
        for pid, at in _log_pids(target, self.RESTARTS[self.scenario]):
            if pid != self.fault.get("pid") and at is not None and at >= self.fired_at - 1:
                self.fault["restarted_s"] = round(at - self.fired_at, 2)
                self.fault["new_pid"] = pid
                self.say(f"restarted as pid {pid}, {at - self.fired_at:.1f} s after the kill")
                return

    def after(
        self,
        target: deploy.Target,
        contest: str,
        reports: list[ClientReport],
        summary: Any,
        audit: set[tuple[str, str]],
    ) -> None:
        if self.observer is not None:
            self.observer.closed.wait(10)
            self.observer.stop()
        if self.flood is not None:
            try:
                self.fault["flood"] = self.flood_results.get(timeout=60)
            except queue.Empty:
                self.fault["flood"] = {}
            self.flood.join(10)
            if self.flood.is_alive():
                self.flood.terminate()
                self.flood.join()
        self.result = RunResult(
            scenario=self.scenario,
            summary=summary,
            acked={pair for r in reports for pair in (*r.accepted, *r.confirmed)},
            audit=audit,
            scores={k: v for r in reports for k, v in r.scores.items()},
            touched={mid for r in reports for mid in r.touched},
            unresolved=sum(r.unanswered for r in reports),
            rejoin_ms=[x for r in reports for x in r.rejoin_ms],
            answer_times=sorted(t for r in reports for t in r.answer_times),
            fault=self.fault,
            frames=self.observer.frames if self.observer else [],
            deadlines={
                i: q.deadline / 1000.0
                for i, q in (self.observer.questions.items() if self.observer else ())
            },
        )


def run_one(scenario: str, args: argparse.Namespace) -> RunResult:
    print(f"\n=== {scenario}: {args.members} members ===", flush=True)
    hooks = FaultHooks(scenario, args)
    summary = swarm.run(args, hooks)
    swarm.print_summary(summary)
    assert hooks.result is not None, "the show ended before its results were read"
    return hooks.result


# -- comparing a run with the run without faults -------------------------------------------


def compare(base: RunResult, run: RunResult) -> dict[str, Any]:
    """What the scenario *run* changed against *base*: audit check, recovery, scores."""
    lost = run.acked - run.audit
    unacked = run.audit - run.acked
    row: dict[str, Any] = {
        "scenario": run.scenario,
        "fault": run.fault.get("what", ""),
        "members": run.summary["members"],
        "acked": len(run.acked),
        "confirmed": run.summary.get("confirmed", 0),
        "audit": len(run.audit),
        "lost": len(lost),
        "unacked_in_audit": len(unacked),
        "unresolved": run.unresolved,
        "reconnects": run.summary.get("reconnects", 0),
        "retried": run.summary.get("retried", 0),
        "refused": run.summary.get("refused", {}),
        "ack_p99_ms": run.summary.get("ack_p99_ms"),
        "base_ack_p99_ms": base.summary.get("ack_p99_ms"),
    }
    at = run.fault.get("at")
    if run.scenario == "conductor" and at is not None:
        index = run.fault["question"] - 1
        nxt = run.first_after(at)
        due, base_due = run.deadlines.get(index), base.deadlines.get(index)
        base_next = base.first_after(base_due) if base_due is not None else None
        row["takeover_s"] = round(nxt[0] - at, 2) if nxt else None
        row["late_s"] = round(nxt[0] - due, 2) if nxt and due else None
        row["base_late_s"] = round(base_next[0] - base_due, 2) if base_next and base_due else None
        row["next_frame"] = nxt[1] if nxt else None
    if run.scenario in ("worker", "redis") and at is not None:
        row["restarted_s"] = run.fault.get("restarted_s")
        again = [t for t in run.answer_times if t > at + 0.05]
        row["accepting_again_s"] = round(again[0] - at, 2) if again else None
        if run.rejoin_ms:
            row["rejoin_p50_s"] = round(swarm.percentile(run.rejoin_ms, 0.5) / 1000, 2)
            row["rejoin_max_s"] = round(max(run.rejoin_ms) / 1000, 2)
    if run.scenario == "flood":
        row["flood"] = run.fault.get("flood", {})
    # Honest members: everyone with a final score in either run.
    members = set(base.scores) | set(run.scores)
    differ = {mid for mid in members if base.scores.get(mid) != run.scores.get(mid)}
    row["scores_compared"] = len(members)
    row["scores_equal"] = len(members) - len(differ)
    row["differ_touched"] = len(differ & run.touched)
    row["differ_untouched"] = sorted(differ - run.touched)[:20]
    row["differ_untouched_count"] = len(differ - run.touched)
    row["touched"] = len(run.touched)
    row["no_final_score"] = len(members - set(run.scores))
    row["ok"] = (
        not lost
        and row["differ_untouched_count"] == 0
        and len(unacked) <= run.unresolved
        and (run.scenario != "conductor" or row.get("takeover_s") is not None)
        and (run.scenario == "flood" or run.fault.get("pid") is not None)
    )
    return row


def print_row(row: dict[str, Any]) -> None:
    verdict = "PASS" if row["ok"] else "FAIL"
    print(f"\n--- {row['scenario']}: {row['fault']} [{verdict}]")
    equal = "equal" if row["acked"] == row["audit"] and row["lost"] == 0 else "NOT equal"
    print(
        f"acknowledged answers {row['acked']} (of which confirmed after a lost ack "
        f"{row['confirmed']}) vs audit stream {row['audit']}: {equal}; "
        f"acknowledged but missing from the audit stream: {row['lost']}; "
        f"in the audit stream, never acknowledged: {row['unacked_in_audit']} "
        f"(answers whose fate the member never learned: {row['unresolved']})"
    )
    if "takeover_s" in row:
        print(
            f"takeover: the show's next frame ({row['next_frame']}) reached members "
            f"{row['takeover_s']} s after the kill, {row['late_s']} s after the deadline "
            f"(without the fault: {row['base_late_s']} s after it)"
        )
    if "accepting_again_s" in row:
        rejoined = (
            f"{row['reconnects']} sockets lost and opened again (rejoin p50 "
            f"{row['rejoin_p50_s']} s, max {row['rejoin_max_s']} s); "
            if row["reconnects"]
            else "no socket lost; "
        )
        print(
            f"recovery: {row['scenario']} process restarted {row['restarted_s']} s after the "
            f"kill; an answer accepted again {row['accepting_again_s']} s after it; "
            f"{rejoined}{row['retried']} answers sent again (after a lost socket or "
            f"'unavailable')"
        )
    if "flood" in row:
        flood = row["flood"]
        sent = sum(flood.get("frames_sent", {}).values())
        print(
            f"flood: {flood.get('sockets')} sockets, {flood.get('connects')} connects, "
            f"{sent} bad frames sent {flood.get('frames_sent')}; errors back "
            f"{flood.get('errors_received')}; closes {flood.get('closes')}; honest ack p99 "
            f"{row['ack_p99_ms']:.0f} ms (without the flood {row['base_ack_p99_ms']:.0f} ms)"
        )
    print(
        f"honest members' scores vs the run without faults: {row['scores_equal']} of "
        f"{row['scores_compared']} equal; {row['touched']} members reached by the fault, "
        f"{row['differ_touched']} of them with another score (refused {row['refused']}, "
        f"unresolved {row['unresolved']}); members not reached with another score: "
        f"{row['differ_untouched_count']} {row['differ_untouched'][:5]}"
    )


def print_table(base: RunResult, rows: list[dict[str, Any]]) -> None:
    print("\nsummary (every scenario beside the run without faults, same seed)")
    head = (
        f"{'scenario':<11}{'members':>8}{'acked':>8}{'audit':>8}{'lost':>6}{'unacked':>8}"
        f"{'takeover/recovery s':>21}{'scores equal':>14}{'differ t/u':>11}  verdict"
    )
    print(head)
    print(
        f"{'none':<11}{base.summary['members']:>8}{len(base.acked):>8}{len(base.audit):>8}"
        f"{len(base.acked - base.audit):>6}{len(base.audit - base.acked):>8}{'-':>21}"
        f"{len(base.scores):>14}{'-':>11}  reference"
    )
    for row in rows:
        recovery = (
            row.get("takeover_s") or row.get("rejoin_max_s") or row.get("accepting_again_s", "-")
        )
        print(
            f"{row['scenario']:<11}{row['members']:>8}{row['acked']:>8}{row['audit']:>8}"
            f"{row['lost']:>6}{row['unacked_in_audit']:>8}{recovery!s:>21}"
            f"{row['scores_equal']:>14}"
            f"{str(row['differ_touched']) + '/' + str(row['differ_untouched_count']):>11}"
            f"  {'PASS' if row['ok'] else 'FAIL'}"
        )


def run_all(args: argparse.Namespace) -> tuple[RunResult, list[dict[str, Any]]]:
    base = run_one("none", args)
    rows = []
    for scenario in args.scenarios:
        rows.append(compare(base, run_one(scenario, args)))
        print_row(rows[-1])
    return base, rows


def _scenarios(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {unknown}; known: {SCENARIOS}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--members", type=int, default=int(os.environ.get("FAULTS_MEMBERS", 10000)))
    parser.add_argument("--workers", type=int, default=2, help="gateway workers (at least 2)")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--question-seconds", type=int, default=10)
    parser.add_argument("--scenarios", type=_scenarios, default=list(SCENARIOS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lease-ms", type=int, default=0, help="conductor lease (default serve's)")
    parser.add_argument("--flood-sockets", type=int, default=None, help="default members/100")
    parser.add_argument("--flood-rate", type=float, default=20.0, help="frames/s per socket")
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="each run stops by itself after this"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("--workers must be at least 2 (a worker is killed)")
    if args.flood_sockets is None:
        args.flood_sockets = max(10, min(200, args.members // 100))
    args.members = min(args.members, swarm.MAX_MEMBERS)
    base, rows = run_all(args)
    print_table(base, rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"base": base.summary, "scenarios": rows}, indent=2, default=str)
        )
    return 0 if rows and all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
