"""The members curve (``python -m bench.plot --curve``) from a real, small swarm run.

The swarm writes its summary with ``--out``; the plot reads the curve's figures from it
(answers accepted in time, ack p99, broadcast p99, gateway CPU per member-question) and
draws them beside the old design's recorded figures. Nothing here asserts a speed: only
that the figures are there, consistent with the run, and that the PNG is drawn.
"""

import json
import subprocess
import sys
from pathlib import Path

from bench.plot import OLD_DESIGN, curve, main
from tests.utils import timeout

MEMBERS = 300
QUESTIONS = 2


def test_a_real_swarm_summary_feeds_the_members_curve(tmp_path: Path) -> None:
    out = tmp_path / "swarm-300.json"
    command = [sys.executable, "-m", "loadtest.swarm", "--members", str(MEMBERS)]
    command += ["--questions", str(QUESTIONS), "--question-seconds", "3", "--workers", "1"]
    command += ["--procs", "1", "--timeout", "120", "--out", str(out)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout(300),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "per member and question: gateway CPU" in result.stdout
    summary = json.loads(out.read_text())
    assert summary["connected"] == MEMBERS
    assert summary["questions_planned"] == QUESTIONS
    assert summary["answers_expected"] == MEMBERS * QUESTIONS
    assert summary["accepted_in_time_pct"] == 100 * summary["accepted"] / (MEMBERS * QUESTIONS)
    assert summary["accepted_in_time_pct"] > 90
    cpu = summary["show_cpu_s"]["gateways"] / (MEMBERS * QUESTIONS) * 1e6
    assert summary["gateway_us_per_member_question"] == cpu > 0
    per_question = [q["p99_ms"] for q in summary["questions"].values()]
    assert min(per_question) <= summary["delivery_p99_ms"] <= max(per_question)

    # two runs of one member count are one point, their median
    again = tmp_path / "swarm-300-b.json"
    again.write_text(json.dumps({**summary, "ack_p99_ms": summary["ack_p99_ms"] + 10}))
    (point,) = curve([out, again])
    assert point.members == MEMBERS and point.runs == 2
    assert point.ack_p99_ms == summary["ack_p99_ms"] + 5
    assert point.cpu_us == summary["gateway_us_per_member_question"]
    assert point.broadcast_p99_ms == summary["delivery_p99_ms"]

    png = tmp_path / "curve.png"
    assert main(["--curve", str(out), str(again), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_a_summary_from_before_the_curve_fields_gives_the_same_point(tmp_path: Path) -> None:
    """Older summaries (no curve fields) are read from their other figures."""
    old = {
        "members": 1000,
        "connected": 1000,
        "accepted": 2950,
        "ack_p99_ms": 12.0,
        "questions": {"q1": {"p99_ms": 100.0}, "q2": {"p99_ms": 300.0}, "q3": {"p99_ms": 200.0}},
        "show_cpu_s": {"gateways": 0.9, "clients": 0.5, "redis-server": 0.1},
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    (point,) = curve([path])
    assert round(point.accepted_pct, 6) == round(100 * 2950 / 3000, 6)
    assert point.broadcast_p99_ms == 200.0
    assert round(point.cpu_us, 6) == 300.0


def test_the_old_curve_is_the_recorded_swarm_table() -> None:
    """docs/benchmarks.md, The swarm (second session): 10k-100k, gateways' CPU / (N × 3)."""
    assert [p.members for p in OLD_DESIGN] == [10_000, 20_000, 50_000, 100_000]
    assert round(OLD_DESIGN[0].cpu_us) == 297 and round(OLD_DESIGN[2].cpu_us) == 360
    assert round(OLD_DESIGN[2].accepted_pct, 1) == 94.9 and OLD_DESIGN[3].accepted_pct < 1
    for p in OLD_DESIGN:
        assert p.broadcast_range_ms is not None
        low, high = p.broadcast_range_ms
        assert low <= p.broadcast_p99_ms <= high
