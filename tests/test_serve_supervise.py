"""``contest serve`` keeps itself running: fault runs with real processes and real ports.

* A gateway worker killed with SIGKILL is restarted (a new process on the same ports)
  while the other worker keeps serving, and a live show going on goes on to its end.
* The conductor process killed mid-show is restarted and takes the show over from its
  state in Redis once the dead process's lease expires.
* A process that keeps dying is restarted ``restart_limit`` times in ``restart_window``
  seconds, then serve stops and exits 1 saying so.
* The embedded redis-server killed with SIGKILL is restarted on its AOF (same folder,
  same port): acknowledged data is still there and the workers serve again.
* At start serve logs Redis's persistence findings and warns about the development token
  secret; with an external Redis or a non-loopback address it refuses that secret unless
  told ``--insecure-dev-secret``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("question_bank.draws")  # contests need it

import redis.asyncio

from engine.contests.store import ContestStore
from engine.core import messages
from engine.core.contest import LiveTiming, ScoringRules
from engine.core.settings import Settings
from engine.live.conductor import conductor_lease_key
from engine.runtime.redisconn import STATE_FILE, running_url, stop_embedded
from question_bank.draws import DrawRules
from question_bank.ids import OrgId
from question_bank.models import Bank
from scoring.redis_server import free_port
from tests.contest_helpers import live_spec, make_bank, now_ms, setup_org
from tests.e2e import SECRET, Member, settings_for
from tests.gateway_support import SECRET as GATEWAY_SECRET
from tests.gateway_support import create_contest, token
from tests.test_e2e_live import right
from tests.utils import timeout

pytestmark = pytest.mark.slow

CONTEST_BIN = Path(sys.executable).parent / "contest"


class Serve:
    """``contest serve`` as a child process, its output (stdout and stderr) in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(CONTEST_BIN), "serve", *args], stdout=out, stderr=subprocess.STDOUT, env=env
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, pattern: str, seconds: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout(seconds)
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise AssertionError(f"serve: no {pattern!r} in {self.output()[-3000:]}")

    async def until(self, what: str, check: Callable[[], Any], seconds: float = 30) -> Any:
        """Poll *check* until it returns something true; that value."""
        deadline = time.monotonic() + timeout(seconds)
        while time.monotonic() < deadline:
            got = check()
            if got:
                return got
            await asyncio.sleep(0.1)
        raise AssertionError(f"{what} within {seconds} s; serve said: {self.output()[-3000:]}")

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.pid).children()

    def gateways(self, port: int) -> set[int]:
        """Pids of serve's children listening on *port*."""
        return {
            child.pid
            for child in self.children()
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in _connections(child)
            )
        }

    def worker_of(self, member: Member) -> int | None:
        """Pid of the child of serve holding *member*'s connection."""
        ws = member._ws
        assert ws is not None
        local = ws.local_address[1]
        for child in self.children():
            if any(c.raddr and c.raddr.port == local for c in _connections(child)):
                return child.pid
        return None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout(30))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _connections(process: psutil.Process) -> list[Any]:
    try:
        return process.net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


@asynccontextmanager
async def serving(args: list[str], tmp_path: Path, **env_vars: str) -> AsyncIterator[Serve]:
    env = dict(os.environ, **env_vars)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = Serve(args, env, tmp_path / "serve.log")
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def two_workers(
    redis_url: str, key_prefix: str, tmp_path: Path, **extra: str
) -> AsyncIterator[tuple[Serve, Settings]]:
    """``contest serve --workers 2`` (and its conductor process) on the test's Redis."""
    settings = settings_for(redis_url, key_prefix)
    args = ["--workers", "2", "--redis-url", redis_url, *ports(settings)]
    async with serving(args, tmp_path, **serve_env(settings, **extra)) as server:
        await server.wait_for(r"2 worker\(s\)")
        yield server, settings


def serve_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "CONTEST_TOKEN_SECRET": SECRET,
        "CONTEST_KEY_PREFIX": settings.key_prefix,
        "CONTEST_CONDUCTOR_LEASE_MS": str(settings.conductor_lease_ms),
        **extra,
    }


def ports(settings: Settings) -> list[str]:
    return ["--ws-port", str(settings.ws_port), "--http-port", str(settings.http_port)]


async def create_show(
    client: redis.asyncio.Redis, prefix: str, contest: str, *, question_seconds: int
) -> Bank:
    """A live show of 4 questions starting in 2 s."""
    bank = make_bank(questions=4)
    await setup_org(client, prefix, "central", bank=bank)
    now = await now_ms(client)
    spec = live_spec(
        now,
        id=contest,
        draw=DrawRules(count=4),
        live=LiveTiming(starts_at=now + 2000, question_seconds=question_seconds, reveal_seconds=1),
        scoring=ScoringRules(speed=False),
    )
    store = ContestStore(client, prefix)
    created = await store.create(OrgId("central"), spec)
    await store.apply(created.id, "schedule")
    return bank


def show_seen(member: Member) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for m in member.received:
        if isinstance(m, messages.Question):
            out.append(("question", m.index))
        elif isinstance(m, messages.Reveal):
            out.append(("reveal", m.index))
    return out


WHOLE_SHOW = [(kind, i) for i in range(4) for kind in ("question", "reveal")]


async def test_a_killed_worker_is_replaced_while_the_other_serves_the_show(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    members: list[Member] = []
    async with two_workers(redis_url, key_prefix, tmp_path) as (server, settings):
        bank = await create_show(redis_client, key_prefix, "kill-worker", question_seconds=6)
        by_id = {q.id: q for q in bank.questions}
        # Members until both workers hold some (the kernel spreads connections at random).
        where: dict[str, int] = {}
        for i in range(40):
            member = Member(settings, "kill-worker", f"m{i}")
            await member.connect()
            members.append(member)
            pid = server.worker_of(member)
            assert pid is not None
            where[member.id] = pid
            if len(set(where.values())) == 2 and i >= 3:
                break
        gateways = server.gateways(settings.ws_port)
        assert set(where.values()) == gateways and len(gateways) == 2

        async def answer_first(member: Member) -> None:
            q = await member.wait(messages.Question, lambda q: q.index == 0, seconds=15)
            assert (await member.answer(q.id, right(by_id[q.id]))).accepted

        await asyncio.gather(*(answer_first(member) for member in members))
        victim = where[members[0].id]
        on_victim = [m for m in members if where[m.id] == victim]
        on_other = [m for m in members if where[m.id] != victim]
        os.kill(victim, signal.SIGKILL)
        for member in on_victim:
            with pytest.raises(ConnectionError):
                await member.wait(messages.Closed, seconds=10)
        # The other worker keeps serving: its members stay connected and get question 1.
        for member in on_other:
            await member.wait(messages.Question, lambda q: q.index == 1, seconds=15)
        # A new process replaces the dead one on the same ports.
        replaced = await server.until(
            "a new worker listening",
            lambda: len(g := server.gateways(settings.ws_port)) == 2 and victim not in g and g,
        )
        (new_pid,) = replaced - {where[on_other[0].id]}
        # The victim's members reconnect; new members until one is on the new process.
        moved = []
        for member in on_victim:
            again = Member(settings, "kill-worker", member.id)
            await again.connect()
            moved.append(again)
            await member.close()
        on_new = None
        for i in range(40):
            fresh = Member(settings, "kill-worker", f"late{i}")
            await fresh.connect()
            if server.worker_of(fresh) == new_pid:
                on_new = fresh
                break
            await fresh.close()
        assert on_new is not None, "no connection reached the new worker"
        members = on_other + moved + [on_new]
        # The show goes on to its end, broadcast by both workers; answers made before the
        # crash count.
        for member in members:
            closed = await member.wait(messages.Closed, seconds=30)
            assert closed.score == (0 if member is on_new else 10), (member.id, closed)
        for member in on_other:
            assert show_seen(member) == WHOLE_SHOW
        assert ("reveal", 3) in show_seen(on_new)
        assert server.proc.poll() is None
        for member in members:
            await member.close()
        assert server.stop() == 0
    assert re.search(rf"gateway-\d \(pid {victim}\) .*restart", server.output())


async def test_a_killed_conductor_process_is_replaced_and_takes_the_show_over(
    redis_client: redis.asyncio.Redis, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    members: list[Member] = []
    async with two_workers(redis_url, key_prefix, tmp_path) as (server, settings):
        await create_show(redis_client, key_prefix, "kill-conductor", question_seconds=2)
        members = [Member(settings, "kill-conductor", f"m{i}") for i in range(4)]
        for member in members:
            await member.connect()
        for member in members:
            await member.wait(messages.Question, lambda q: q.index == 1, seconds=15)
        lease = conductor_lease_key("kill-conductor", key_prefix)

        async def conductor() -> int:
            holder = await redis_client.get(lease)
            assert holder is not None
            return int(holder.decode().split(":")[1])

        victim = await conductor()
        assert victim in {c.pid for c in server.children()}
        assert victim not in server.gateways(settings.ws_port)
        os.kill(victim, signal.SIGKILL)
        # The members' workers are untouched; a new conductor process takes the show over.
        for member in members:
            await member.wait(messages.Question, lambda q: q.index == 2, seconds=20)
        successor = await conductor()
        assert successor != victim
        assert successor in {c.pid for c in server.children()}
        for member in members:
            await member.wait(messages.Closed, seconds=20)
            assert show_seen(member) == WHOLE_SHOW
        for member in members:
            await member.close()
        assert server.stop() == 0
    assert re.search(rf"conductor \(pid {victim}\) .*restart", server.output())


async def test_serve_gives_up_on_a_process_that_keeps_dying(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    killed: list[int] = []
    limits = {"CONTEST_RESTART_LIMIT": "2", "CONTEST_RESTART_WINDOW": "120"}
    async with two_workers(redis_url, key_prefix, tmp_path, **limits) as (server, settings):

        def gateway_0() -> int | None:
            started = re.findall(r"gateway-0 \(pid (\d+)\) started", server.output())
            pid = int(started[-1]) if started else None
            return pid if pid not in killed and pid in server.gateways(settings.ws_port) else None

        for _ in range(2):  # restarted twice
            victim = await server.until("gateway-0 listening", gateway_0)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        victim = await server.until("gateway-0 listening", gateway_0)
        os.kill(victim, signal.SIGKILL)  # a third death within the window: serve stops
        killed.append(victim)
        code = await asyncio.to_thread(server.proc.wait, timeout(60))
    assert code == 1
    out = server.output()
    assert "error: gateway-0 died 3 times in 120 s; stopping" in out, out[-3000:]
    assert not _processes([c for c in killed])
    assert len(re.findall(r"gateway-1 \(pid \d+\) started", out)) == 1  # never restarted


def _processes(pids: list[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        try:
            out.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return [p for p in out if p.status() != psutil.STATUS_ZOMBIE]


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.parametrize("workers", [1, 2])
async def test_the_embedded_redis_is_restarted_on_its_aof(workers: int, tmp_path: Path) -> None:
    settings = Settings(ws_port=free_port(), http_port=free_port(), key_prefix="emb")
    data_dir = tmp_path / "var"
    args = ["--workers", str(workers), *ports(settings), "--data-dir", str(data_dir)]
    env = {"CONTEST_TOKEN_SECRET": GATEWAY_SECRET, "CONTEST_KEY_PREFIX": "emb"}
    async with serving(args, tmp_path, **env) as server:
        url = (await server.wait_for(r"Redis: (redis://\S+)\n")).group(1)
        state = json.loads((data_dir / STATE_FILE).read_text())
        first = state["pid"]
        assert first in {c.pid for c in server.children()}
        client = redis.asyncio.Redis.from_url(url)
        try:
            contest = await create_contest(client, "emb", "window")
            assert await client.set("emb:acknowledged", "yes")
        finally:
            await client.aclose()
        readyz = f"http://127.0.0.1:{settings.http_port}/readyz"
        assert _http_status(readyz) == 200
        os.kill(first, signal.SIGKILL)
        # Restarted on the same folder and port, recorded in redis.json.
        second = await server.until(
            "a new embedded redis-server",
            lambda: (
                (p := json.loads((data_dir / STATE_FILE).read_text())["pid"]) != first
                and running_url(data_dir) == url
                and p
            ),
        )
        assert second in {c.pid for c in server.children()}
        client = redis.asyncio.Redis.from_url(url)
        try:
            assert await client.get("emb:acknowledged") == b"yes"
            assert (await client.config_get("appendonly"))["appendonly"] == "yes"
        finally:
            await client.aclose()
        await server.until("/readyz 200 again", lambda: _http_status(readyz) == 200)
        assert _http_status(f"http://127.0.0.1:{settings.http_port}/healthz") == 200
        # Members join again (the contest is still there).
        from websockets.asyncio.client import connect

        ws_url = f"ws://127.0.0.1:{settings.ws_port}/ws/{contest.id}?token={token(contest.id)}"
        async with connect(ws_url, compression=None) as ws:
            welcome = messages.decode_server(await asyncio.wait_for(ws.recv(), timeout(10)))
            assert isinstance(welcome, messages.Welcome)
        assert server.proc.poll() is None
        assert server.stop() == 0
    assert running_url(data_dir) is None  # the restarted server was stopped on exit
    assert re.search(r"embedded redis-server \(pid \d+\) .*restart", server.output())


async def test_serve_stops_when_the_embedded_redis_keeps_dying(tmp_path: Path) -> None:
    settings = Settings(ws_port=free_port(), http_port=free_port())
    data_dir = tmp_path / "var"
    args = [*ports(settings), "--data-dir", str(data_dir)]
    env = {"CONTEST_TOKEN_SECRET": GATEWAY_SECRET, "CONTEST_RESTART_LIMIT": "0"}
    async with serving(args, tmp_path, **env) as server:
        await server.wait_for(r"1 worker\(s\)")
        pid = json.loads((data_dir / STATE_FILE).read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
        code = await asyncio.to_thread(server.proc.wait, timeout(60))
    assert code == 1
    out = server.output()
    assert "error: the embedded redis-server died once in 60 s; stopping" in out, out
    assert running_url(data_dir) is None and not (data_dir / STATE_FILE).exists()


async def test_serve_logs_durability_and_warns_about_the_dev_secret(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(redis_url, key_prefix)
    env = {"CONTEST_KEY_PREFIX": key_prefix}
    # An external Redis without persistence (the test fixture), the development secret
    # allowed explicitly: serve runs, and says both.
    args = ["--redis-url", redis_url, *ports(settings), "--insecure-dev-secret"]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONTEST_TOKEN_SECRET", raising=False)
        async with serving(args, tmp_path, **env) as server:
            await server.wait_for(r"1 worker\(s\)")
            assert server.stop() == 0
    out = server.output()
    assert re.search(r"ERROR engine\.serve redis durability no_persistence", out), out
    assert "warning: the development token secret is in use" in out, out


async def test_serve_with_an_embedded_redis_warns_about_the_dev_secret(tmp_path: Path) -> None:
    settings = Settings(ws_port=free_port(), http_port=free_port())
    args = [*ports(settings), "--data-dir", str(tmp_path / "var")]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONTEST_TOKEN_SECRET", raising=False)
        async with serving(args, tmp_path) as server:
            await server.wait_for(r"1 worker\(s\)")
            assert server.stop() == 0
    out = server.output()
    assert "warning: the development token secret is in use" in out, out
    assert "redis durability fsync_everysec" in out, out


@pytest.mark.parametrize(
    "args",
    [
        ["--redis-url", "redis://127.0.0.1:1/0"],
        ["--host", "0.0.0.0"],
    ],
    ids=["external-redis", "all-interfaces"],
)
def test_serve_refuses_the_dev_secret_outside_a_local_setup(
    args: list[str], tmp_path: Path
) -> None:
    env = dict(os.environ)
    env.pop("CONTEST_TOKEN_SECRET", None)
    data_dir = tmp_path / "var"
    free = ["--ws-port", "0", "--http-port", "0"]  # serve picks ports free on its --host
    try:
        done = subprocess.run(
            [str(CONTEST_BIN), "serve", *args, *free, "--data-dir", str(data_dir)],
            capture_output=True, text=True, env=env, timeout=timeout(20),
        )  # fmt: skip
    finally:
        stop_embedded(data_dir)  # had serve started one
    assert done.returncode == 1, done
    assert "error: refusing the development token secret" in done.stderr, done.stderr
    assert "CONTEST_TOKEN_SECRET" in done.stderr and "--insecure-dev-secret" in done.stderr
    assert not (data_dir / STATE_FILE).exists()  # nothing was started
    assert done.stdout == ""
