"""The load-test tools run end to end against a real `contest serve` they start.

Both are bounded (a few hundred members, seconds of traffic, loopback only) and stop by
themselves; the figures they print are not asserted here (speed belongs in benchmarks),
only that nothing acknowledged is lost and the reports exist.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import timeout

pytestmark = pytest.mark.slow


def test_swarm_small_live_show_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "swarm.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.swarm",
            "--members",
            "300",
            "--workers",
            "2",
            "--procs",
            "2",
            "--questions",
            "2",
            "--question-seconds",
            "2",
            "--timeout",
            "90",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=timeout(240),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["connected"] == 300 and summary["failed"] == 0
    assert len(summary["questions"]) == 2
    assert all(q["n"] == 300 for q in summary["questions"].values())
    assert summary["accepted"] == 600 and summary["refused"] == {}
    assert summary["lost_answers"] == 0 and summary["audit_entries"] == 600
    assert "lost answers" in result.stdout
    # the run's own diagnostics: CPU per kind of process, Redis time per command (600
    # accepted answers ran the accept script), a quiet serve log, no question sent twice
    assert set(summary["show_cpu_s"]) == {"redis-server", "gateways", "clients"}
    assert summary["show_cpu_s"]["gateways"] > 0
    assert summary["show_redis_usec"]["evalsha"] > 0
    assert summary["serve_log_warnings"]["count"] == 0, summary["serve_log_warnings"]
    assert summary["repeated_questions"] == 0


def test_make_loadtest_small_run_checks_acks_against_audit(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.run",
            "--users",
            "8",
            "--time",
            "20",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=timeout(240),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "loadtest check: PASSED" in result.stdout
    assert (tmp_path / "loadtest.html").stat().st_size > 0
    stats = (tmp_path / "loadtest_stats.csv").read_text()
    assert "join" in stats and "answer" in stats
