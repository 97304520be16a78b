"""``contest demo`` as a user runs it: a child process on an embedded redis-server, whose
printed URLs and tokens work with a real WebSocket client, stopped with Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("question_bank.draws")  # contests need it (being written)

import httpx
from websockets.asyncio.client import connect

from engine.cli.demo import SAMPLE_BANK
from engine.core import messages
from question_bank.formats import dumps
from scoring.redis_server import free_port
from tests.contest_helpers import make_bank
from tests.utils import timeout

pytestmark = pytest.mark.slow

MAIN = "import sys; from engine.cli import main; sys.exit(main())"


class Demo:
    """``contest demo`` in a child process; :attr:`lines` is what it printed so far."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.ws_port, self.http_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTEST_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, "-c", MAIN, "demo", "--data-dir", str(data_dir)]
            + ["--ws-port", str(self.ws_port), "--http-port", str(self.http_port), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, seconds: float = 60) -> None:
        """Read output until a line containing *text*."""
        while True:
            try:
                line = self._queue.get(timeout=timeout(seconds))
            except queue.Empty:
                raise TimeoutError(f"no {text!r} in {self.lines}") from None
            if line is None:
                raise RuntimeError(f"demo exited ({self.process.poll()}): {self.lines}")
            self.lines.append(line)
            if text in line:
                return

    def interrupt(self) -> int:
        """Ctrl-C; the exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout(30))
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._reader.join(timeout(5))
            if self.process.stdout is not None:
                self.process.stdout.close()
        return code

    def find(self, pattern: str) -> list[str]:
        return [m.group(1) for line in self.lines for m in [re.search(pattern, line)] if m]


@pytest.fixture
def demo_bank(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "bank.yaml"
    path.write_text(dumps(make_bank(questions=12), "yaml").text, encoding="utf-8")
    yield path


async def check_demo(demo: Demo) -> None:
    demo.wait_for("Ctrl-C stops the engine")
    (key,) = demo.find(r"Organiser key\s+(\S+)")
    window_urls = demo.find(r"window\s+(ws://\S+)")
    live_urls = demo.find(r"live\s+(ws://\S+)")
    assert len(window_urls) == len(live_urls) == 2
    assert all(f":{demo.ws_port}/ws/demo-window-" in url for url in window_urls)

    # The organiser key works on the HTTP API.
    async with httpx.AsyncClient() as http:
        reply = await http.get(
            f"http://127.0.0.1:{demo.http_port}/api/banks",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert reply.status_code == 200, reply.text

    # A member takes the window round (open now: the scheduler opens it within a second).
    async with connect(window_urls[0]) as ws:
        welcome = messages.decode_server(await ws.recv())
        assert isinstance(welcome, messages.Welcome) and welcome.member.id == "member-1"
        assert welcome.contest.mode == "window"
        attempt: messages.ServerMessage | None = None
        for _ in range(20):
            await ws.send(messages.encode_text(messages.StartAttempt()))
            reply_frame = messages.decode_server(await ws.recv())
            if isinstance(reply_frame, messages.AttemptState):
                attempt = reply_frame
                break
            assert isinstance(reply_frame, messages.Error | messages.StateChanged)
            await asyncio.sleep(0.25)
        assert isinstance(attempt, messages.AttemptState)
        assert attempt.state == "open" and len(attempt.questions) == 10

    # The live show is scheduled a minute ahead.
    async with connect(live_urls[1]) as ws:
        welcome = messages.decode_server(await ws.recv())
        assert isinstance(welcome, messages.Welcome) and welcome.member.id == "member-2"
        assert welcome.contest.mode == "live" and welcome.contest.state == "scheduled"
        assert welcome.contest.starts_at is not None
        assert 50_000 < welcome.contest.starts_at - welcome.server_time <= 60_000


async def test_demo_with_a_bank_file(tmp_path: Path, demo_bank: Path) -> None:
    demo = Demo(tmp_path / "var", "--members", "2", "--bank", str(demo_bank))
    try:
        await check_demo(demo)
    finally:
        code = demo.interrupt()
    assert code == 0, demo.lines
    assert (tmp_path / "var").is_dir()  # the embedded Redis kept its AOF there


@pytest.mark.skipif(not SAMPLE_BANK.exists(), reason="the sample bank is being written")
async def test_demo_with_the_sample_bank(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "var", "--members", "2")
    try:
        await check_demo(demo)
    finally:
        code = demo.interrupt()
    assert code == 0, demo.lines
