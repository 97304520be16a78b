"""End-to-end test helpers: real servers on real ports, real WebSocket members.

* :func:`worker` runs one ``contest serve`` worker (gateway, HTTP API, scheduler and
  conductors) inside the test's event loop, on free ports; :func:`pause_scheduler` stops
  its timed transitions (and waits until a round under way has ended);
* :class:`ServerProcess` runs ``contest serve`` as a child process (to split members over
  two processes, or to kill one with SIGKILL mid-show);
* :class:`Member` is a websockets client that joins with a signed token and records every
  message it receives, decoded with the protocol's own decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx
import msgspec
import redis.asyncio
import websockets
from websockets.asyncio.client import ClientConnection, connect

from engine.cli.serve import run_worker
from engine.core import messages
from engine.core.settings import Settings
from engine.directory import tokens
from scoring.keys import GlobalKeys
from scoring.redis_server import free_port
from tests.utils import timeout

__all__ = ["SECRET", "Member", "ServerProcess", "pause_scheduler", "settings_for", "worker"]

SECRET = "e2e-secret-of-at-least-thirty-two-bytes!"
M = TypeVar("M", bound=messages.ServerMessage)


def settings_for(redis_url: str, prefix: str, **overrides: Any) -> Settings:
    """Settings of a test server: the test's Redis and key prefix, free ports, short lease."""
    fields: dict[str, Any] = {
        "redis_url": redis_url,
        "key_prefix": prefix,
        "ws_port": free_port(),
        "http_port": free_port(),
        "token_secret": SECRET,
        "conductor_lease_ms": 1500,
    }
    fields.update(overrides)
    return Settings(**fields)


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[Settings]:
    """One worker serving in this event loop until the block ends."""
    assert settings.redis_url is not None
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, settings.redis_url, stop, ready=ready.set))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], timeout=timeout(15), return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        stop.set()
        await task  # raises what made the worker fail
        raise RuntimeError("worker did not start")
    try:
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout(15))


async def _standby_ticks(http: httpx.AsyncClient) -> float:
    """``contest_scheduler_ticks_total{lease="standby"}`` of the worker's ``/metrics``."""
    text = (await http.get("/metrics")).raise_for_status().text
    for line in text.splitlines():
        if line.startswith('contest_scheduler_ticks_total{lease="standby"} '):
            return float(line.split()[-1])
    return 0.0


async def pause_scheduler(
    settings: Settings, redis_client: redis.asyncio.Redis, *, ms: int = 120_000
) -> None:
    """Hold the scheduler's lease for *ms* as a holder of the test's own, so that the
    worker's scheduler fires no transition meanwhile; return once the worker has ended a
    round without the lease (its ``contest_scheduler_ticks_total{lease="standby"}`` went
    up), so a round that was under way when the lease was taken has ended too
    (:mod:`engine.scheduling.scheduler`). One worker only: with several, wait for each."""
    base = f"http://{settings.host}:{settings.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=timeout(10)) as http:
        await redis_client.set(GlobalKeys(settings.key_prefix).lease("scheduler"), "test", px=ms)
        before = await _standby_ticks(http)
        async with asyncio.timeout(timeout(10)):
            while await _standby_ticks(http) == before:
                await asyncio.sleep(0.05)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class ServerProcess:
    """``contest serve`` (one worker) as a child process with *settings*."""

    def __init__(self, settings: Settings, log: str | None = None) -> None:
        self.settings = settings
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "CONTEST_KEY_PREFIX": s.key_prefix,
                "CONTEST_TOKEN_SECRET": s.token_secret,
                "CONTEST_CONDUCTOR_LEASE_MS": str(s.conductor_lease_ms),
            }
        )
        assert s.redis_url is not None
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from engine.cli import main; sys.exit(main())",
                "serve",
                "--workers",
                "1",
                "--redis-url",
                s.redis_url,
                "--ws-port",
                str(s.ws_port),
                "--http-port",
                str(s.http_port),
            ],
            env=env,
            stdout=out,
            stderr=out,
        )
        if not isinstance(out, int):
            out.close()  # the child has its own copy
        deadline = time.monotonic() + timeout(20)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"contest serve exited with {self.process.returncode}")
            if _listening(s.host, s.ws_port) and _listening(s.host, s.http_port):
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError("contest serve did not start listening")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, as a crash: no clean-up, leases left to expire."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout(15))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def ws_url(settings: Settings, contest: str) -> str:
    return f"ws://{settings.host}:{settings.ws_port}/ws/{contest}"


class Member:
    """A member's app: joins *contest* with a signed token, records what it receives."""

    def __init__(
        self,
        settings: Settings,
        contest: str,
        member: str,
        *,
        name: str = "",
        province: str = "hanoi",
        unit: str = "u1",
    ) -> None:
        self.settings = settings
        self.contest = contest
        self.id = member
        self.token = tokens.issue(
            SECRET,
            contest=contest,
            member=member,
            name=name or member.upper(),
            province=province,
            unit=unit,
        )
        self.received: list[messages.ServerMessage] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self._seq = 0

    async def connect(self) -> messages.Welcome:
        self._ws = await connect(f"{ws_url(self.settings, self.contest)}?token={self.token}")
        self._reader = asyncio.create_task(self._read(self._ws))
        return await self.wait(messages.Welcome)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self.received.append(messages.decode_server(frame))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            self._changed.set()

    async def send(self, message: msgspec.Struct) -> None:
        assert self._ws is not None
        await self._ws.send(messages.encode_text(message))

    async def answer(self, question: str, value: messages.AnswerValue) -> messages.Ack:
        self._seq += 1
        seq = self._seq
        await self.send(messages.Answer(question=question, answer=value, seq=seq))
        return await self.wait(messages.Ack, lambda a: a.seq == seq)

    async def wait(
        self,
        kind: type[M],
        predicate: Callable[[M], bool] = lambda _: True,
        seconds: float = 10.0,
    ) -> M:
        """The first message of *kind* matching *predicate* not returned before."""
        async with asyncio.timeout(timeout(seconds)):
            while True:
                for i, message in enumerate(self.received):
                    if i not in self._taken and isinstance(message, kind) and predicate(message):
                        self._taken.add(i)
                        return message
                if self._reader is not None and self._reader.done():
                    raise ConnectionError(f"{self.id}: connection closed ({self.close_code})")
                self._changed.clear()
                await self._changed.wait()

    def of(self, kind: type[M]) -> list[M]:
        """Every message of *kind* received so far, in order."""
        return [m for m in self.received if isinstance(m, kind)]

    async def drop(self) -> None:
        """Drop the connection (as a phone losing its network would, but cleanly)."""
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._ws = None
        self._reader = None
