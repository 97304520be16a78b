"""``contest serve`` as a real command: N workers on one WebSocket port and one HTTP port,
the embedded redis-server started with AOF in the data folder and stopped on exit,
SIGTERM closing members with 4000 ("reconnect")."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import redis.asyncio

from engine.core import messages as m
from engine.runtime.redisconn import running_url
from scoring.redis_server import free_port
from tests.gateway_support import SECRET, create_contest, token
from tests.utils import timeout

CONTEST_BIN = Path(sys.executable).parent / "contest"


def _reap(proc: subprocess.Popen[str]) -> None:
    """Kill *proc* if it still runs, wait for it, close its output pipe."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def wait_for_line(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"serve exited without {pattern!r}: {''.join(lines)[-2000:]}")


@pytest.mark.slow
async def test_serve_two_workers_on_one_port_with_embedded_redis(tmp_path: Path) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ws_port, http_port = free_port(), free_port()
    data_dir = tmp_path / "var"
    env = dict(os.environ, CONTEST_TOKEN_SECRET=SECRET, CONTEST_KEY_PREFIX="srv")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [str(CONTEST_BIN), "serve", "--workers", "2", "--ws-port", str(ws_port),
         "--http-port", str(http_port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        found = await asyncio.wait_for(
            asyncio.to_thread(wait_for_line, proc, r"Redis: (redis://\S+)\n"), timeout(60)
        )
        url = found.group(1)
        assert running_url(data_dir) == url  # the embedded server, AOF in the data folder
        client = redis.asyncio.Redis.from_url(url)
        try:
            assert (await client.config_get("appendonly"))["appendonly"] == "yes"
            contest = await create_contest(client, "srv", "live")
        finally:
            await client.aclose()
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=10) as r:
            assert r.status == 200
        conns = []
        for i in range(6):
            ws = await connect(
                f"ws://127.0.0.1:{ws_port}/ws/{contest.id}?token={token(contest.id, f'm{i}')}",
                compression=None,
            )
            conns.append(ws)
            assert isinstance(m.decode_server(await ws.recv()), m.Welcome)
        proc.send_signal(signal.SIGTERM)
        codes = []
        for ws in conns:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), timeout(20))
            codes.append(ws.close_code)
        assert set(codes) == {4000}
        assert await asyncio.to_thread(proc.wait, timeout(30)) == 0
        assert running_url(data_dir) is None  # the embedded redis-server was stopped
        assert (data_dir / "appendonlydir").is_dir() or list(data_dir.glob("*.aof"))
    finally:
        _reap(proc)


async def test_serve_one_worker_in_process_on_an_external_redis(
    redis_url: str, redis_client: redis.asyncio.Redis, key_prefix: str, tmp_path: Path
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    contest = await create_contest(redis_client, key_prefix, "window")
    ws_port, http_port = free_port(), free_port()
    env = dict(os.environ, CONTEST_TOKEN_SECRET=SECRET, CONTEST_KEY_PREFIX=key_prefix)
    proc = subprocess.Popen(
        [str(CONTEST_BIN), "serve", "--redis-url", redis_url, "--ws-port", str(ws_port),
         "--http-port", str(http_port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        found = await asyncio.wait_for(
            asyncio.to_thread(wait_for_line, proc, r"(\d+) worker\(s\).*Redis: (\S+)"),
            timeout(60),
        )
        assert found.groups() == ("1", redis_url)
        url = f"ws://127.0.0.1:{ws_port}/ws/{contest.id}?token={token(contest.id)}"
        async with connect(url, compression=None) as ws:
            welcome = m.decode_server(await ws.recv())
            assert isinstance(welcome, m.Welcome) and welcome.contest.state == "open"
            proc.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), timeout(20))
            assert ws.close_code == 4000
        assert await asyncio.to_thread(proc.wait, timeout(30)) == 0
        assert await redis_client.ping()  # an external Redis is left running
    finally:
        _reap(proc)


def test_the_announced_redis_url_hides_its_password() -> None:
    from engine.cli.serve import redacted

    assert redacted("redis://:s3cret@10.0.0.5:6380/0") == "redis://:***@10.0.0.5:6380/0"
    assert redacted("redis://user:pw@h:1/2") == "redis://user:***@h:1/2"
    assert redacted("redis://127.0.0.1:5000/0") == "redis://127.0.0.1:5000/0"


@pytest.mark.slow
async def test_serve_workers_run_a_live_show_from_the_conductor_process(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """With --workers 2 the show is conducted by a process that holds no sockets: it holds
    the conductor lease, and members on both workers get every question and reveal."""
    from engine.core import messages
    from engine.live.conductor import conductor_lease_key
    from question_bank.ids import ContestId
    from tests.e2e import SECRET as E2E_SECRET
    from tests.e2e import Member, settings_for
    from tests.test_e2e_live import create_show, right

    settings = settings_for(redis_url, key_prefix)
    env = dict(os.environ, CONTEST_TOKEN_SECRET=E2E_SECRET, CONTEST_KEY_PREFIX=key_prefix)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [str(CONTEST_BIN), "serve", "--workers", "2", "--redis-url", redis_url,
         "--ws-port", str(settings.ws_port), "--http-port", str(settings.http_port),
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    members: list[Member] = []
    try:
        await asyncio.wait_for(
            asyncio.to_thread(wait_for_line, proc, r"2 worker\(s\)"), timeout(60)
        )
        assert proc.stdout is not None
        drain = threading.Thread(target=proc.stdout.read, daemon=True)  # logs: never block
        drain.start()
        contest = ContestId("served-show")
        bank = await create_show(redis_client, key_prefix, contest, starts_in_ms=2000, count=2)
        by_id = {q.id: q for q in bank.questions}
        members = [Member(settings, contest, f"m{i}") for i in range(6)]
        for member in members:
            await member.connect()
        for index in range(2):
            for member in members:
                q = await member.wait(messages.Question, lambda x, i=index: x.index == i)
                assert (await member.answer(q.id, right(by_id[q.id]))).accepted
            for member in members:
                reveal = await member.wait(messages.Reveal, lambda x, i=index: x.index == i)
                assert reveal.answered == 6
        holder = (await redis_client.get(conductor_lease_key(contest, key_prefix))).decode()
        pid = int(holder.split(":")[1])
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        listening = {int(child): _listens_on(int(child), settings.ws_port) for child in children}
        assert listening.get(pid) is False  # a child of serve, on no member socket
        assert sum(listening.values()) == 2  # the two workers hold the port
        for member in members:
            closed = await member.wait(messages.Closed, seconds=15)
            assert closed.score > 0
    finally:
        for member in members:
            await member.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout(30))
        finally:
            _reap(proc)


def _listens_on(pid: int, port: int) -> bool:
    """Whether process *pid* holds a socket listening on TCP *port* (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[8:-1])
    return bool(inodes & held)


async def test_a_worker_caps_its_members_within_its_open_file_limit(
    redis_url: str, redis_client: redis.asyncio.Redis, key_prefix: str, tmp_path: Path
) -> None:
    """``max_connections`` above what the process's open files allow (here 1,030: 30 after
    the reserve) is lowered, with a warning: the member past it is refused with 4001 and
    the members already in still get their answers acked (before, the worker accepted
    sockets until Redis connections failed with EMFILE)."""
    import resource

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from engine.core.limits import OPEN_FILES_RESERVE

    contest = await create_contest(redis_client, key_prefix, "window")
    ws_port, http_port = free_port(), free_port()
    env = dict(
        os.environ,
        CONTEST_TOKEN_SECRET=SECRET,
        CONTEST_KEY_PREFIX=key_prefix,
        CONTEST_MAX_CONNECTIONS="5000",
        CONTEST_MAX_UNJOINED_PER_ADDRESS="0",
    )
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = OPEN_FILES_RESERVE + 30

    def lower_the_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    proc = subprocess.Popen(
        [str(CONTEST_BIN), "serve", "--redis-url", redis_url, "--ws-port", str(ws_port),
         "--http-port", str(http_port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        preexec_fn=lower_the_limit,
    )  # fmt: skip
    conns = []
    try:
        warned = await asyncio.wait_for(
            asyncio.to_thread(wait_for_line, proc, r"max_connections 5000 .* using (\d+)"),
            timeout(60),
        )
        assert warned.group(1) == "30"
        base = f"ws://127.0.0.1:{ws_port}/ws/{contest.id}?token="
        for i in range(30):
            ws = await connect(base + token(contest.id, f"m{i}"), compression=None)
            conns.append(ws)
            assert isinstance(m.decode_server(await ws.recv()), m.Welcome)
        async with connect(base + token(contest.id, "m30"), compression=None) as extra:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(extra.recv(), timeout(20))
            assert extra.close_code == 4001
        ws = conns[0]
        await ws.send(m.encode(m.StartAttempt()).decode())
        attempt = m.decode_server(await asyncio.wait_for(ws.recv(), timeout(20)))
        assert isinstance(attempt, m.AttemptState) and attempt.state == "open"
    finally:
        for ws in conns:
            await ws.close()
        _reap(proc)
