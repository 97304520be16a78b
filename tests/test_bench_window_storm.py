"""bench.storm_floor and bench.window_storm: the window round's storm and its floor.

Real and small runs (a few hundred members, a few seconds); their speed is not asserted
(that belongs in benchmarks), only that every member is accounted for on each side, that
the floor's members go through the swarm members' exchange, and that the printed lines and
the JSON agree.
"""

import argparse
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.storm_floor import offsets_for
from bench.window_storm import peak_connected
from loadtest.window import arrivals
from tests.utils import timeout


def _args(**kw: float) -> argparse.Namespace:
    base = dict(members=100, storm_seconds=2.0, steady_rate=20.0, duration=3.0, seed=4,
                think_ms=100.0, questions=3, attempt_seconds=10)  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_the_floor_gets_the_window_swarms_arrivals() -> None:
    args = _args()
    assert offsets_for(args) == arrivals(100, 2.0, 20.0, 3.0, random.Random(4))
    assert len(offsets_for(args)) == 160


def test_peak_connected_counts_the_members_within_one_attempt() -> None:
    # 100 a second, each holding 3 * 0.1 * e^(1/8) + 1 ≈ 1.34 s: about 134 at once
    args = _args(members=1000, storm_seconds=10.0, steady_rate=0.0, duration=0.0)
    offsets = [i / 100 for i in range(1000)]
    assert 130 <= peak_connected(offsets, args) <= 136
    assert peak_connected(offsets, _args(questions=1000, attempt_seconds=10)) == 1000


def run_bench(module: str, *options: str) -> str:
    """``python -m <module> <options>``: its output; fails the test unless it exits 0."""
    command = [sys.executable, "-m", module, *options]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout(400))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def floor(tmp_path: Path, *extra: str) -> dict[str, float]:
    out = tmp_path / "floor.json"
    text = run_bench(
        "bench.storm_floor", "--members", "150", "--storm-seconds", "1", "--steady-rate", "25",
        "--duration", "2", "--think-ms", "50", "--servers", "2", "--clients", "2",
        "--timeout", "60", "--json", str(out), *extra,
    )  # fmt: skip
    assert "arrival to attempt latency: p50 " in text
    data: dict[str, float] = json.loads(out.read_text())
    return data


@pytest.mark.slow
@pytest.mark.parametrize("lib", ["websockets", "picows"])
def test_floor_members_take_the_whole_attempt(tmp_path: Path, lib: str) -> None:
    data = floor(tmp_path, "--questions", "4", "--server-lib", lib)
    assert data["server_lib"] == lib
    assert data["members"] == data["started"] == data["submitted"] == 200
    assert data["failed"] == data["given_up"] == 0
    assert data["acks"] == 200 * 4 and data["steady_starts"] == 50
    assert 0 < data["admit_p50_ms"] <= data["admit_p99_ms"] <= data["admit_max_ms"]
    assert data["steady_acks"] > 0 and data["server_cpu_s"] > 0 and data["client_cpu_s"] > 0


@pytest.mark.slow
def test_floor_without_questions_only_starts(tmp_path: Path) -> None:
    data = floor(tmp_path, "--questions", "0")
    assert data["started"] == 200 and data["submitted"] == data["acks"] == 0
    assert math.isnan(data["ack_p99_ms"])


NUMBER = r"(\d+(?:\.\d)?|n/a)"
FLOOR = re.compile(
    rf"window storm floor: (\d+) of (\d+) started, arrival to attempt p50 {NUMBER} ms, "
    rf"p99 {NUMBER} ms, max {NUMBER} ms, ack p99 {NUMBER} ms, errors (\d+)"
)
ENGINE = re.compile(
    rf"window storm engine: (\d+) of (\d+) started, arrival to attempt p50 {NUMBER} ms, "
    rf"p99 {NUMBER} ms, max {NUMBER} ms, ack p99 {NUMBER} ms, errors (\d+), lost (\d+)"
)
RATIO = re.compile(
    r"ratio engine/floor: arrival to attempt p99 ([\d.]+), ack p99 ([\d.]+), "
    r"server CPU per member ([\d.]+)"
)


def _shown(value: float) -> float:
    return round(value) if value >= 10 else round(value, 1)


@pytest.mark.slow
def test_window_storm_runs_the_floor_and_the_engine_with_the_same_arrivals(
    tmp_path: Path,
) -> None:
    out = tmp_path / "storm.json"
    text = run_bench(
        "bench.window_storm", "--members", "150", "--storm-seconds", "2", "--steady-rate",
        "20", "--duration", "3", "--questions", "3", "--attempt-seconds", "10", "--think-ms",
        "200", "--workers", "2", "--procs", "2", "--timeout", "120", "--out", str(out),
    )  # fmt: skip
    # the swarm's own closing lines, then the side-by-side lines
    assert re.search(r"^arrival to attempt latency: p50 \d+ ms, p99 \d+ ms$", text, re.M)
    assert re.search(r"^lost answers: 0$", text, re.M)
    floor_line, engine_line, ratio_line = (
        [found for line in text.splitlines() if (found := pattern.fullmatch(line))]
        for pattern in (FLOOR, ENGINE, RATIO)
    )
    assert len(floor_line) == len(engine_line) == len(ratio_line) == 1, text
    data = json.loads(out.read_text())
    f, e, ratios = data["floor"], data["engine"], data["ratios"]
    members = 150 + 20 * 3
    assert f["members"] == e["members"] == members
    assert f["started"] == f["submitted"] == e["started"] == members
    assert f["acks"] == members * 3 and f["failed"] == f["given_up"] == 0
    assert e["errors"] == {} and e["lost_answers"] == 0
    assert f["steady_starts"] == e["steady_starts"] == 60  # same arrivals on both sides
    fl, el = floor_line[0], engine_line[0]
    assert (int(fl[1]), int(fl[2]), int(el[1]), int(el[2])) == (members,) * 4
    assert float(fl[4]) == _shown(f["admit_p99_ms"]) and float(el[4]) == _shown(e["admit_p99_ms"])
    assert float(fl[6]) == _shown(f["ack_p99_ms"]) and float(el[6]) == _shown(e["ack_p99_ms"])
    assert fl[7] == el[7] == el[8] == "0"
    assert ratios["admit_p99"] == pytest.approx(e["admit_p99_ms"] / f["admit_p99_ms"])
    assert float(ratio_line[0][1]) == pytest.approx(ratios["admit_p99"], abs=0.006)
    cpu_e, cpu_f = e["cpu_ms_per_member"], f["cpu_ms_per_member"]
    assert cpu_e["servers"] > 0 and cpu_e["redis"] > 0 and cpu_f["servers"] > 0
    assert ratios["server_cpu_per_member"] == pytest.approx(
        (cpu_e["servers"] + cpu_e["redis"]) / cpu_f["servers"]
    )
    # bench.plot --window draws the engine's run of this JSON with the floor beside it
    png = tmp_path / "storm.png"
    drawn = run_bench("bench.plot", "--window", str(out), "--out", str(png))
    assert drawn.strip() == f"wrote {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
