"""The window swarm's curves over time: the timeline buckets and their plot."""

from __future__ import annotations

import json
from pathlib import Path

from bench.plot import plot_window
from loadtest.window import phases, timeline
from loadtest.window_client import WindowReport

GO = 1_000_000.0


def _reports() -> list[WindowReport]:
    one, two = WindowReport(index=0), WindowReport(index=1)
    # attempts began at GO+1 (300 ms after arriving), GO+2, GO+12 (a steady arrival)
    one.admitted = [(GO + 1.0, 300.0, 0.7), (GO + 12.0, 50.0, 11.95)]
    two.admitted = [(GO + 2.0, 1500.0, 0.5)]
    one.ack_at, one.ack_ms = [GO + 3.0, GO + 11.0], [5.0, 7.0]
    two.ack_at, two.ack_ms = [GO + 4.0], [900.0]
    return [one, two]


def test_the_timeline_counts_every_start_and_ack_once_in_its_bucket() -> None:
    line = timeline(_reports(), GO, width=5)
    assert [b["t"] for b in line] == [0, 5, 10]
    assert [b["starts_per_s"] * 5 for b in line] == [2, 0, 1]
    assert [b["acks_per_s"] * 5 for b in line] == [2, 0, 1]
    assert line[0]["admit_p99_ms"] == 1500.0 and line[0]["admit_p50_ms"] == 300.0
    assert line[0]["ack_p99_ms"] == 900.0 and line[2]["ack_p50_ms"] == 7.0


def test_phases_split_the_storm_from_the_steady_arrivals() -> None:
    got = phases(_reports(), GO, storm_seconds=10)
    assert got["storm_admit_p99_ms"] == 1500.0
    assert got["steady_starts"] == 1 and got["steady_admit_p99_ms"] == 50.0
    assert got["steady_acks"] == 1 and got["steady_ack_p99_ms"] == 7.0


def test_plot_window_draws_a_png(tmp_path: Path) -> None:
    summary = {
        "members": 3,
        "storm_seconds": 10,
        "steady_rate": 1,
        "duration": 5,
        "timeline": timeline(_reports(), GO, width=5),
    }
    src = tmp_path / "w.json"
    src.write_text(json.dumps(summary))
    out = tmp_path / "w.png"
    plot_window([src, src], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
