"""The window swarm (``python -m loadtest.swarm --mode window``), run for real.

A small round end to end against a real ``contest serve`` it starts: 60 members arrive
within 2 s, take a 5-question attempt with fast think times, some drop and resume, some let
the attempt run out (10 s, the shortest an attempt may be); the round is closed and
finalized. The figures are not asserted (speed belongs in benchmarks), only that every
member is accounted for, nothing acknowledged is lost and the closing lines scripts read
are there.
"""

import json
import multiprocessing
import random
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from loadtest.swarm import stop_clients
from loadtest.window import TIMELINE_SECONDS, answer_key, arrivals
from tests.utils import timeout


def test_arrivals_storm_then_steady_rate() -> None:
    times = arrivals(100, 5.0, 20.0, 3.0, random.Random(3))
    assert len(times) == 100 + 60 and times == sorted(times)
    assert all(0.0 <= t <= 5.0 for t in times[:100])
    steady = times[100:]
    assert 5.0 < steady[0] < 5.1 and 7.9 < steady[-1] < 8.0
    assert arrivals(10, 2.0, 0.0, 30.0, random.Random(3))[-1] <= 2.0  # no steady phase


def test_answer_key_right_and_wrong() -> None:
    bank = {
        "questions": [
            {
                "id": "q1",
                "kind": "single",
                "options": [{"id": "a"}, {"id": "b", "weight": 1.0}, {"id": "c"}],
            },
            {"id": "q2", "kind": "true_false", "answer": False},
            {"id": "q3", "kind": "numeric", "answers": [{"value": 3}]},
        ]
    }
    key = answer_key(bank)
    assert key["q1"][0] == "b" and key["q1"][1] in ("a", "c")
    assert key["q2"] == (False, True)
    assert "q3" not in key  # drawn only from single and true/false questions


CLOSING = {
    "start": re.compile(r"^start latency: p50 \d+ ms, p99 \d+ ms$", re.M),
    "admit": re.compile(r"^arrival to attempt latency: p50 \d+ ms, p99 \d+ ms$", re.M),
    "ack": re.compile(r"^ack latency: p50 [\d.]+ ms, p99 [\d.]+ ms$", re.M),
    "errors": re.compile(r"^errors: (\d+)$", re.M),
    "lost": re.compile(r"^lost answers: (\d+)$", re.M),
}


@pytest.mark.slow
def test_window_swarm_small_round_accounts_for_everyone(tmp_path: Path) -> None:
    out = tmp_path / "window.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.swarm",
            "--mode",
            "window",
            "--members",
            "60",
            "--storm-seconds",
            "2",
            "--steady-rate",
            "10",
            "--duration",
            "2",
            "--questions",
            "5",
            "--attempt-seconds",
            "10",
            "--think-ms",
            "100",
            "--drop-share",
            "0.2",
            "--expire-share",
            "0.15",
            "--workers",
            "2",
            "--procs",
            "2",
            "--timeout",
            "150",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=timeout(300),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = result.stdout
    found = {name: pattern.findall(text) for name, pattern in CLOSING.items()}
    assert all(len(v) == 1 for v in found.values()), found
    assert found["errors"] == ["0"] and found["lost"] == ["0"]
    assert re.search(r"^\[ *\d+\.\ds\] arrived \d+/80", text, re.M)  # progress lines

    s = json.loads(out.read_text())
    # 60 in the 2 s storm, then 10 a second for 2 s
    assert s["members"] == s["arrived"] == s["joined"] == s["started"] == 80
    assert s["submitted"] + s["expired"] == 80
    assert s["steady_starts"] == 20 and s["steady_acks"] > 0
    assert s["admit_p99_ms"] >= s["start_p99_ms"] > 0  # the arrival includes the start
    # a quick box finishes every ack within the first bucket, so the width is the module's,
    # not the distance between two buckets that may not both exist
    width = TIMELINE_SECONDS
    assert [b["t"] for b in s["timeline"]] == [i * width for i in range(len(s["timeline"]))]
    assert round(sum(b["starts_per_s"] for b in s["timeline"]) * width) == 80
    assert round(sum(b["acks_per_s"] for b in s["timeline"]) * width) == s["acks"]
    assert s["expired"] > 0 and s["submitted"] > 0
    assert s["resumes"] == s["drops"] > 0
    assert s["errors"] == {} and s["lost_answers"] == 0
    # every acked answer is in the audit stream, and nothing else is
    assert s["audit_entries"] == s["accepted"] > 0
    assert 0 < s["wrong_sent"] < s["accepted"]
    assert s["ranked"] == 80  # finalized: everyone who started is ranked
    assert set(s["run_cpu_s"]) == {"redis-server", "gateways", "clients"}
    assert s["serve_log_warnings"]["count"] == 0, s["serve_log_warnings"]


def _late_reporter(stop: Any, results: Any) -> None:
    """A client process that reports only when told to stop, with a report larger than a
    pipe holds (as a swarm client with 50,000 accepted answers does)."""
    stop.wait(30)
    results.put(b"x" * 4_000_000)


def test_stop_clients_reads_reports_larger_than_a_pipe() -> None:
    # Joining a process before reading what it puts in a queue deadlocks once the report
    # is larger than the pipe: the child cannot exit, is terminated mid-message, and
    # reading the rest then blocks forever.
    ctx = multiprocessing.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_late_reporter, args=(stop, results)) for _ in range(2)]
    for w in workers:
        w.start()
    done: list[list[Any]] = []
    reader = threading.Thread(
        target=lambda: done.append(stop_clients(workers, results, stop)), daemon=True
    )
    reader.start()
    reader.join(timeout(20))
    for w in workers:
        if w.is_alive():
            w.kill()
    assert done, "stop_clients did not return"
    assert [len(r) for r in done[0]] == [4_000_000, 4_000_000]
    assert all(w.exitcode == 0 for w in workers)
