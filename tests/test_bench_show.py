"""bench.show: one live show against the engine, a bare show and a bare show with Redis.

The run is real and small (200 members, 2 questions); its figures are not asserted (speed
belongs in benchmarks), only that the three servers played the whole show and that the
bare servers sent each member what the engine sent: frame counts by type, and sizes.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.show import PLANNED, Plan, SideResult, bare_show_process, frames_match, pad
from engine.core import messages as m
from loadtest.swarm_client import frame_type
from tests.utils import timeout

MEMBERS = 200
QUESTIONS = 2


def test_frame_type_reads_the_tag_of_every_server_message() -> None:
    frames = {
        "ack": m.Ack(question="q1", seq=3, accepted=True),  # type: ignore[arg-type]
        "state": m.StateChanged(state="running"),
        "closed": m.Closed(rank=2),
        "result": m.Result(question="q1", points=1, total=2, rank=None),  # type: ignore[arg-type]
    }
    for kind, message in frames.items():
        assert frame_type(memoryview(m.encode(message))) == kind
    assert frame_type(memoryview(b'{"question":"q1","type":"ack"}')) == "?"


def test_pad_grows_a_frame_to_the_size_and_clients_still_decode_it() -> None:
    frame = m.encode(m.Ack(question="q1", seq=3, accepted=True))  # type: ignore[arg-type]
    padded = pad(frame, len(frame) + 40)
    assert len(padded) == len(frame) + 40
    assert m.decode_server(padded) == m.decode_server(frame)
    assert pad(frame, len(frame) - 1) == frame  # never shortened


def test_frames_match_names_a_type_sent_a_different_number_of_times() -> None:
    engine = SideResult("engine", 10, 2, connected=10, frames={"question": 20, "ack": 20})
    same = SideResult("bare", 10, 2, connected=10, frames={"question": 20, "ack": 20})
    fewer = SideResult("bare", 10, 2, connected=10, frames={"question": 20, "ack": 10})
    assert frames_match(engine, same) == []
    assert frames_match(engine, fewer) == ["ack 2.00 vs 1.00"]


def run_show(out: Path, questions: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m bench.show`` at the test's size (2 servers, 2 s questions), *extra*
    options added; fails the test unless it exits 0."""
    command = [
        sys.executable, "-m", "bench.show", "--members", str(MEMBERS), "--questions",
        str(questions), "--question-seconds", "2", "--reveal-seconds", "1", "--workers", "2",
        "--timeout", "120", "--out", str(out), *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout(400))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_show_bench_runs_three_servers_and_the_bare_ones_send_what_the_engine_sent(
    tmp_path: Path,
) -> None:
    out = tmp_path / "show.json"
    result = run_show(out, QUESTIONS, "--procs", "1")
    lines = result.stdout.splitlines()
    row = re.compile(r"(engine|bare|bare\+redis)( +[\d.]+){8} +(\d+)/(\d+)")
    rows = [found.group(1) for line in lines if (found := row.fullmatch(line))]
    assert rows == ["engine", "bare", "bare+redis"], result.stdout
    assert not any(line.startswith("join storm") for line in lines)  # no storm asked
    ratios = [line for line in lines if line.startswith("ratio gateway/bare:")]
    assert len(ratios) == 1
    found = re.fullmatch(r"ratio gateway/bare: (\d+\.\d\d)", ratios[0])
    assert found is not None and float(found.group(1)) > 0

    data = json.loads(out.read_text())
    sides = data["sides"]
    engine = sides["engine"]
    for side in sides.values():
        assert side["connected"] == MEMBERS
        assert side["answers"] == MEMBERS * QUESTIONS
        assert side["accepted"] == MEMBERS * QUESTIONS
        assert side["gateway_cpu_s"] > 0 and side["client_cpu_s"] > 0
    assert sides["bare"]["redis_cpu_s"] == 0 and sides["bare+redis"]["redis_cpu_s"] > 0
    # what the engine sent each member: one question, ack and reveal per question; since
    # protocol 2 no result and no leaderboard broadcast (the reveal carries the board)
    for kind in ("question", "ack", "reveal"):
        assert engine["frames"][kind] == MEMBERS * QUESTIONS, (kind, engine["frames"])
    assert "result" not in engine["frames"] and "leaderboard" not in engine["frames"]
    # the bare shows sent the same frames by type, of the same sizes
    for name in ("bare", "bare+redis"):
        bare = sides[name]
        for kind in (*PLANNED, "ack"):
            assert bare["frames"].get(kind, 0) == engine["frames"].get(kind, 0), (name, kind)
            if engine["frames"].get(kind):
                mean_engine = engine["frame_bytes"][kind] / engine["frames"][kind]
                mean_bare = bare["frame_bytes"][kind] / bare["frames"][kind]
                assert abs(mean_bare - mean_engine) <= max(2.0, 0.02 * mean_engine), (name, kind)


@pytest.mark.slow
def test_show_bench_join_storm_every_member_joins_on_every_side(tmp_path: Path) -> None:
    out = tmp_path / "storm.json"
    result = run_show(out, 1, "--procs", "2", "--join-seconds", "3", "--join-timeout", "30")
    line = re.compile(
        r"join storm (engine|bare|bare\+redis): (\d+) of (\d+) joined in ([\d.]+) s, "
        r"p50 (\d+) ms, p99 (\d+) ms, failed (\d+) \(refused (\d+), given up (\d+)\)"
    )
    found = [m for text in result.stdout.splitlines() if (m := line.fullmatch(text))]
    assert [f.group(1) for f in found] == ["engine", "bare", "bare+redis"], result.stdout
    sides = json.loads(out.read_text())["sides"]
    for f in found:
        side = sides[f.group(1)]
        assert int(f.group(2)) == side["connected"] == MEMBERS == int(f.group(3))
        assert side["join_failed"] == side["join_refused"] == side["join_given_up"] == 0
        assert f.group(7) == f.group(8) == f.group(9) == "0"
        # the arrivals were spread over 3 s: the last joined after ~3 s, not at once
        assert 2.5 <= side["join_all_s"] == pytest.approx(float(f.group(4)), abs=0.051)
        assert 0 < side["join_p50_ms"] <= side["join_p99_ms"] <= side["join_max_ms"]
        assert round(side["join_p99_ms"]) == int(f.group(6))
        assert side["join_cpu_s"] > 0 and side["join_seconds"] == 3
        # the show was played after the storm, as without it
        assert side["accepted"] == side["answers"] == MEMBERS


def _listen_backlog(port: int) -> int:
    """The backlog of the socket listening on *port* (``ss``: Send-Q of a listener)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[2])


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_bare_show_servers_listen_with_the_engines_backlog() -> None:
    """A join storm finds the same listen queue on every side (asyncio's default is 100)."""
    import multiprocessing

    from engine.gateway.server import LISTEN_BACKLOG
    from loadtest.deploy import _free_port

    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    plan = Plan(counts={}, sizes={}, questions=0, question_ms=0, reveal_ms=0)
    t0, go, ready, stop = ctx.Value("d", 0.0), ctx.Event(), ctx.Queue(), ctx.Event()
    server = ctx.Process(target=bare_show_process, args=(port, plan, None, t0, go, ready, stop))
    server.start()
    try:
        ready.get(timeout=timeout(60))
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
        assert _listen_backlog(port) == min(LISTEN_BACKLOG, somaxconn) > 100
    finally:
        go.set()  # it waits for its show (of no question) before it can stop
        stop.set()
        server.join(timeout(30))
        if server.is_alive():
            server.kill()
