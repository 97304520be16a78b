"""Set up a target for a load test, over the engine's own interfaces only.

A load test talks to the engine the way its users do: it starts ``contest serve`` as a
command, loads a bank and creates contests through the organiser HTTP API, gets members'
tokens from ``contest token``, and reads the audit stream back with ``contest audit``.
Nothing here imports the engine beyond its wire messages.

Every server it starts listens on loopback only and is stopped when the context exits.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Target",
    "audit_pairs",
    "contest_cli",
    "descendants",
    "parse_cpus",
    "pin_tree",
    "serve",
    "tokens",
    "tree_affinity",
]

SAMPLE_BANK = (
    Path(__file__).resolve().parent.parent / "question_bank" / "samples" / "vi-sample.yaml"
)


def contest_cli() -> list[str]:
    """The ``contest`` command of this interpreter's environment."""
    beside = Path(sys.executable).parent / "contest"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "engine.cli"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Target:
    """A running engine to load: where it listens and an organiser key for it."""

    ws_url: str
    """``ws://127.0.0.1:PORT``."""
    http_url: str
    api_key: str
    data_dir: Path
    env: dict[str, str]
    """Environment for ``contest`` commands that must reach the same Redis and secret."""
    pid: int = 0
    """Process id of ``contest serve`` (its workers are its children)."""
    log_path: Path | None = None
    """Where ``contest serve`` writes its output (default: ``serve.log`` in the data folder)."""
    ws_urls: list[str] = field(default_factory=list)
    """Every gateway of a target of several hosts (``ws://HOST:PORT``); empty: ``ws_url``."""
    sources: list[str] = field(default_factory=list)
    """Source addresses for the load's client processes; empty: ``127.0.0.2``, ``.3``..."""

    def gateways(self) -> list[str]:
        """Every gateway's ``ws://HOST:PORT``."""
        return self.ws_urls or [self.ws_url]

    def ws_url_for(self, index: int) -> str:
        """The gateway client process *index* connects to: spread over :meth:`gateways`."""
        urls = self.gateways()
        return urls[index % len(urls)]

    def source_for(self, index: int) -> str:
        """The source address of client process *index*."""
        if self.sources:
            return self.sources[index % len(self.sources)]
        return f"127.0.0.{2 + index % 250}"

    @property
    def log_file(self) -> Path:
        return self.log_path or self.data_dir / "serve.log"

    def redis_url(self) -> str | None:
        """URL of the Redis ``contest serve`` uses, as its start-up line printed it in the
        serve log (``... Redis: redis://127.0.0.1:PORT/0``; passwords are shown as ***)."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return None
        found = re.search(r"Redis: (redis://\S+)\n", text)
        return None if found is None or "***" in found.group(1) else found.group(1)

    def gateway_rss(self) -> tuple[int, int]:
        """(bytes, processes): resident memory of ``contest serve`` and its worker processes,
        without the embedded redis-server (read from /proc; Linux)."""
        return tree_rss(self.pid, exclude=("redis-server",))

    # -- HTTP API

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(
            self.http_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        return json.loads(text) if text else None

    def upload_bank(self, path: Path = SAMPLE_BANK, bank_id: str = "loadtest-bank") -> Any:
        """Upload the bank; one of that id already there (a second run on the same
        target) is kept and returned."""
        try:
            return self.call(
                "POST",
                f"/api/banks?format=yaml&id={bank_id}&filename={path.name}",
                raw=path.read_bytes(),
                content_type="application/yaml",
            )
        except RuntimeError as exc:
            if ": HTTP 409:" not in str(exc):
                raise
            return self.call("GET", f"/api/banks/{bank_id}")

    def create_contest(self, spec: dict[str, Any]) -> dict[str, Any]:
        contest: dict[str, Any] = self.call("POST", "/api/contests", spec)
        return contest

    def action(self, contest: str, action: str) -> Any:
        return self.call("POST", f"/api/contests/{contest}/{action}")

    def stats(self, contest: str) -> Any:
        return self.call("GET", f"/api/contests/{contest}/stats")


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        kids: list[int] = []
        for task in tasks:
            text = (task / "children").read_text().split()
            kids.extend(int(k) for k in text)
        return kids
    except OSError:
        return []


def _tree(pid: int) -> Iterator[int]:
    """*pid* and all its descendants (Linux /proc)."""
    stack = [pid]
    while stack:
        current = stack.pop()
        stack.extend(_children(current))
        yield current


def descendants(pid: int, command: str | None = None) -> list[int]:
    """The processes under *pid* (not itself), only those named *command* if given."""
    found = []
    for current in _tree(pid):
        if current == pid:
            continue
        try:
            comm = Path(f"/proc/{current}/comm").read_text().strip()
        except OSError:
            continue
        if command is None or comm == command:
            found.append(current)
    return found


def tree_rss(pid: int, exclude: tuple[str, ...] = ()) -> tuple[int, int]:
    """Resident bytes of *pid* and all its descendants whose command is not in *exclude*."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = count = 0
    for current in _tree(pid):
        try:
            comm = Path(f"/proc/{current}/comm").read_text().strip()
            resident = int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        if comm in exclude:
            continue
        total += resident
        count += 1
    return total, count


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by *pid* and its descendants, summed by
    command name (``redis-server``, the gateway workers' ``contest``/``python``...)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for current in _tree(pid):
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        found[comm] = found.get(comm, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return found


def parse_cpus(text: str) -> list[int]:
    """The CPUs of a list such as ``0``, ``0,1`` or ``0-3`` (``taskset -c``'s form), sorted;
    :class:`ValueError` with a clear message for bad input or a CPU this process may not
    run on (one this box does not have)."""
    here = sorted(os.sched_getaffinity(0))
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            raise ValueError(f"{text!r} is not a CPU list such as 0 or 0,1 or 0-3")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"{part!r}: the range runs backwards")
        cpus.update(range(first, last + 1))
    missing = sorted(cpus - set(here))
    if missing:
        raise ValueError(
            f"CPU {','.join(map(str, missing))} is not on this box "
            f"(CPUs here: {','.join(map(str, here))})"
        )
    return sorted(cpus)


def _threads(pid: int) -> list[int]:
    try:
        return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


def pin_tree(pid: int, cpus: list[int]) -> None:
    """Every thread of *pid* and of all its descendants on *cpus* (what they start later
    inherits it); a process or thread gone meanwhile is passed over."""
    for current in _tree(pid):
        for tid in _threads(current):
            try:
                os.sched_setaffinity(tid, cpus)
            except (ProcessLookupError, PermissionError):
                continue


def tree_affinity(pid: int) -> dict[str, list[int]]:
    """The CPUs the threads of *pid* and of its descendants may run on, read back from the
    kernel and merged by command name (``redis-server``, ``contest``, ``python``...)."""
    found: dict[str, set[int]] = {}
    for current in _tree(pid):
        try:
            comm = Path(f"/proc/{current}/comm").read_text().strip()
        except OSError:
            continue
        for tid in _threads(current):
            try:
                found.setdefault(comm, set()).update(os.sched_getaffinity(tid))
            except ProcessLookupError:
                continue
    return {comm: sorted(cpus) for comm, cpus in sorted(found.items())}


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"contest serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"contest serve not ready at {url} after {timeout}s")


@contextmanager
def serve(
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 60.0,
    cpus: list[int] | None = None,
) -> Iterator[Target]:
    """Start ``contest serve`` on free loopback ports with an embedded Redis; stop it after.
    *cpus*: the CPUs ``contest serve`` runs on, with all it starts (its workers and the
    embedded redis-server): set as soon as it is started, and again on its whole tree once
    it is ready."""
    data_dir = Path(tempfile.mkdtemp(prefix="contest-loadtest-"))
    api_key = "lt-" + secrets.token_hex(16)
    ws_port, http_port = _free_port(), _free_port()
    env = dict(os.environ)
    env.update(
        {
            "CONTEST_API_KEYS": f"central:{api_key}",
            "CONTEST_TOKEN_SECRET": "loadtest-" + secrets.token_hex(24),
            "CONTEST_DATA_DIR": str(data_dir),
            "CONTEST_HOST": "127.0.0.1",
            "CONTEST_WS_PORT": str(ws_port),
            "CONTEST_HTTP_PORT": str(http_port),
            # Thousands of members connect from a few loopback addresses at once: no cap
            # on sockets that have not joined yet per address.
            "CONTEST_MAX_UNJOINED_PER_ADDRESS": "0",
        }
    )
    env.update(extra_env or {})
    log_file = log_path or data_dir / "serve.log"
    log = log_file.open("wb")
    process = subprocess.Popen(
        [*contest_cli(), "serve", "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    http_url = f"http://127.0.0.1:{http_port}"
    try:
        if cpus is not None:
            pin_tree(process.pid, cpus)
        _wait_ready(http_url, process, ready_timeout)
        if cpus is not None:
            pin_tree(process.pid, cpus)
        target = Target(
            ws_url=f"ws://127.0.0.1:{ws_port}",
            http_url=http_url,
            api_key=api_key,
            data_dir=data_dir,
            env=env,
            pid=process.pid,
            log_path=log_file,
        )
        yield target
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def tokens(target: Target, contest: str, count: int, *, prefix: str = "m") -> list[dict[str, str]]:
    """*count* members' tokens for *contest* from ``contest token --count N --json``,
    spread over provinces and units by the command."""
    out = subprocess.run(
        [
            *contest_cli(),
            "token",
            "--contest",
            contest,
            "--count",
            str(count),
            "--member-prefix",
            prefix,
            "--json",
        ],
        env=target.env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    for row in rows:
        row.setdefault("contest", contest)
    return rows


def audit_pairs(target: Target, contest: str) -> list[tuple[str, str]]:
    """Every (member, question) the audit stream holds for *contest* (``contest audit``)."""
    out = subprocess.run(
        [*contest_cli(), "audit", contest, "--jsonl"],
        env=target.env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pairs = []
    for line in out.splitlines():
        if line.strip():
            row = json.loads(line)
            pairs.append((row["member"], row["question"]))
    return pairs
