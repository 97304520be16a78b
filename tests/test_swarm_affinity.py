"""`python -m loadtest.swarm --server-cpus LIST --client-cpus LIST`: the CPU lists are
checked, and a small real show runs with every server process (contest serve, its workers,
redis-server) on the server CPUs and every client process on the client CPUs, as read back
from the kernel while they run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import swarm
from loadtest.deploy import parse_cpus
from tests.utils import timeout

HERE = sorted(os.sched_getaffinity(0))


def test_cpu_lists_are_parsed() -> None:
    first = HERE[0]
    assert parse_cpus(str(first)) == [first]
    assert parse_cpus(",".join(map(str, reversed(HERE)))) == HERE
    assert parse_cpus(f"{first}-{first}") == [first]


@pytest.mark.parametrize("text", ["", "a", "0,", "-1", "1-0", "0;1", "0.5", " "])
def test_bad_cpu_lists_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="CPU list|backwards"):
        parse_cpus(text)


def test_a_cpu_this_box_has_not_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    absent = max(HERE) + 1
    with pytest.raises(ValueError, match=f"CPU {absent} is not on this box"):
        parse_cpus(f"{HERE[0]},{absent}")
    with pytest.raises(SystemExit) as exit_:
        swarm.main(["--client-cpus", str(absent)])
    assert exit_.value.code == 2
    assert f"--client-cpus: CPU {absent} is not on this box" in capsys.readouterr().err


def test_window_mode_refuses_cpu_lists(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        swarm.main(["--mode", "window", "--server-cpus", str(HERE[0])])
    assert "live shows (--mode live) only" in capsys.readouterr().err


@pytest.mark.slow
def test_a_small_show_runs_on_the_cpus_asked(tmp_path: Path) -> None:
    server, client = HERE[0], HERE[-1]  # two CPUs apart where the box has them
    out = tmp_path / "swarm.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.swarm",
            *("--members", "50", "--workers", "2", "--procs", "2"),
            *("--questions", "1", "--question-seconds", "2", "--timeout", "90"),
            *("--server-cpus", str(server), "--client-cpus", str(client), "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=timeout(180),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    affinity = json.loads(out.read_text())["affinity"]
    assert affinity["server_cpus"] == [server] and affinity["client_cpus"] == [client]
    assert affinity["redis"] == "server"
    # read back from every thread of every process while the show was about to start
    assert "redis-server" in affinity["server_read_back"]
    assert set(map(tuple, affinity["server_read_back"].values())) == {(server,)}
    assert affinity["client_read_back"]
    assert set(map(tuple, affinity["client_read_back"].values())) == {(client,)}
    assert f"server (contest serve, its workers, redis-server) on CPUs {server}" in result.stdout
