"""The swarm against an engine of two "hosts" (two ``contest serve`` on one Redis, on
loopback): client processes spread over both gateways, one gateway killed (SIGKILL, by PID)
mid-show, its members rejoin the other one and play on; nothing acknowledged is lost. This
is the rehearsal's client side (``loadtest.rehearsal``) without namespaces."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from loadtest import deploy, swarm
from tests.utils import timeout

pytestmark = pytest.mark.slow


def _serve(env: dict[str, str], data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    ws_port, http_port = deploy._free_port(), deploy._free_port()
    env = {
        **env,
        "CONTEST_WS_PORT": str(ws_port),
        "CONTEST_HTTP_PORT": str(http_port),
        "CONTEST_DATA_DIR": str(data),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*deploy.contest_cli(), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    http = f"http://127.0.0.1:{http_port}"
    deploy._wait_ready(http, process, timeout(60))
    return process, f"ws://127.0.0.1:{ws_port}", http


def test_members_rejoin_another_gateway_when_theirs_dies(redis_url: str, tmp_path: Path) -> None:
    key = "t-" + secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTEST_")}
    env.update(
        {
            "CONTEST_REDIS_URL": redis_url,
            "CONTEST_KEY_PREFIX": "sf" + secrets.token_hex(4),
            "CONTEST_TOKEN_SECRET": "swarm-failover-" + secrets.token_hex(24),
            "CONTEST_API_KEYS": f"central:{key}",
            "CONTEST_HOST": "127.0.0.1",
            "CONTEST_WORKERS": "1",
            "CONTEST_MAX_UNJOINED_PER_ADDRESS": "0",
        }
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, a_ws, a_http = _serve(env, tmp_path / "a", tmp_path / "a.log")
    b: subprocess.Popen[bytes] | None = None
    try:
        b, b_ws, _ = _serve(env, tmp_path / "b", tmp_path / "b.log")
        target = deploy.Target(
            ws_url=a_ws,
            http_url=a_http,
            api_key=key,
            data_dir=tmp_path,
            env=env,
            pid=a.pid,
            log_path=tmp_path / "a.log",
            ws_urls=[a_ws, b_ws],  # client process 0 on a, 1 on b
        )
        killed: list[float] = []

        def kill_b(contest: str, elapsed: float, accepted: int) -> None:
            if not killed and elapsed >= 4.0 and b is not None:
                os.kill(b.pid, signal.SIGKILL)
                killed.append(elapsed)

        args: Any = argparse.Namespace(
            members=60,
            workers=1,
            procs=2,
            questions=3,
            question_seconds=4,
            connect_concurrency=50,
            timeout=timeout(120),
        )
        summary = swarm.run(args, target=target, during=kill_b)
    finally:
        for process in (a, b):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)
    assert killed, "the show ended before the kill"
    assert summary["connected"] == 60 and summary["failed"] == 0
    assert summary["rejoins"] == 30  # every member of b, once
    assert summary["closed_early"] == 0
    assert summary["lost_answers"] == 0
    # every question reached all 60 (b's members got the later ones on a)
    assert [q["n"] for q in summary["questions"].values()] == [60, 60, 60]
    # what was acknowledged is in the audit stream, and an answer in flight on b when it
    # died is either in the audit stream without an ack or not there at all
    assert summary["audit_entries"] == summary["accepted"] + summary["audit_not_acked"]
    assert summary["audit_not_acked"] <= summary["in_flight_lost"]
