"""``python -m loadtest.faults`` (``make faults``) at small scale, end to end.

A real ``contest serve --workers 2`` with its embedded Redis, 100 members in one-question
shows: a run without faults, then kill -9 of a gateway worker, of the conductor process and
of the redis-server mid-question, and a flood of bad frames. Fails if an acknowledged answer
is missing from the audit stream, if the conductor was not taken over, if the killed
worker's members did not reconnect, or if an honest member the fault did not reach ended
with another score than without the fault.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import timeout

pytestmark = pytest.mark.slow


def test_fault_scenarios_lose_no_acknowledged_answer(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.faults",
            "--members",
            "100",
            "--questions",
            "1",
            "--question-seconds",
            "4",
            "--flood-sockets",
            "10",
            "--timeout",
            "90",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=timeout(280),
    )
    report = result.stdout[-4000:] + result.stderr[-3000:]
    assert out.exists(), report
    found = json.loads(out.read_text())
    base = found["base"]
    assert base["connected"] == 100 and base["accepted"] > 0 and base["lost_answers"] == 0
    rows = {row["scenario"]: row for row in found["scenarios"]}
    assert set(rows) == {"worker", "conductor", "redis", "flood"}
    for name, row in rows.items():
        assert row["lost"] == 0, (name, report)
        assert row["unacked_in_audit"] <= row["unresolved"], (name, report)
        assert row["differ_untouched_count"] == 0, (name, report)
        assert row["scores_compared"] == 100, (name, report)
        assert row["ok"], (name, report)
    worker = rows["worker"]
    assert worker["reconnects"] > 0 and worker["touched"] > 0, report
    conductor = rows["conductor"]
    assert conductor["takeover_s"] is not None and conductor["takeover_s"] > 0, report
    assert conductor["next_frame"] not in (None, "question"), report
    redis = rows["redis"]
    assert redis["restarted_s"] is not None, report
    flood = rows["flood"]["flood"]
    assert sum(flood["frames_sent"].values()) > 0 and flood["errors_received"], report
    assert result.returncode == 0, report
    assert "summary (every scenario beside the run without faults" in result.stdout
