"""How the CLI and the server get a Redis client from :class:`~engine.core.settings.Settings`.

Rule: ``settings.redis_url`` if it is set; otherwise the *embedded* redis-server that keeps
its AOF in ``settings.data_dir``:

* if one is already running for that folder (its URL and pid are recorded in
  ``<data_dir>/redis.json``; it must answer PING and report that folder as its ``dir``),
  use it and leave it running;
* else start one (:class:`scoring.redis_server.RedisServer` with ``appendonly=True``),
  record it in ``redis.json``, and stop it when the context exits (SIGTERM: the AOF is
  flushed), unless the caller passes ``keep=True``: then the server is started as a
  daemon that outlives this process, for the next command to find (stop it with
  :func:`stop_embedded`).

A server that cannot start raises :class:`engine.core.errors.BackendError`. A lock file
(``<data_dir>/redis.lock``) serialises the check-and-start, so two commands
started together share one server.

API (all context managers yield once and clean up on exit)::

    with redis_url(settings, keep=False) as url: ...               # str
    with embedded_server(settings) as (url, server): ...           # server: RedisServer | None
    restart_embedded(server)               # start a dead embedded server again on its AOF
    with sync_client(settings, keep=False) as client: ...          # redis.Redis
    async with async_client(settings, keep=False) as client: ...   # redis.asyncio.Redis
    running_url(data_dir) -> str | None    # URL of a live embedded server for that folder
    stop_embedded(data_dir) -> bool        # shut a kept server down (True if one was running)
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import redis
import redis.asyncio

from engine.core.errors import BackendError
from engine.core.settings import Settings
from scoring.redis_server import RedisServer

__all__ = [
    "STATE_FILE",
    "async_client",
    "embedded_server",
    "redis_url",
    "restart_embedded",
    "running_url",
    "stop_embedded",
    "sync_client",
]

STATE_FILE = "redis.json"
"""Name of the file, inside ``data_dir``, recording the embedded server's URL and pid."""
_LOCK_FILE = "redis.lock"


def _answers(url: str, data_dir: Path) -> bool:
    """True if a Redis at *url* answers and keeps its files in *data_dir*."""
    try:
        with redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0) as client:
            served: str = client.config_get("dir").get("dir", "")
    except (redis.RedisError, OSError):
        return False
    return Path(served).resolve() == data_dir.resolve()


def running_url(data_dir: str | Path) -> str | None:
    """URL of the embedded server recorded for *data_dir*, if it is running and answers."""
    state = Path(data_dir) / STATE_FILE
    try:
        url = json.loads(state.read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(url, str) and _answers(url, Path(data_dir)):
        return url
    return None


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / _LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _record(data_dir: Path, url: str, pid: int, kept: bool) -> None:
    state = {"url": url, "pid": pid, "kept": kept, "started_ms": int(time.time() * 1000)}
    tmp = data_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, data_dir / STATE_FILE)


def _start_daemon(data_dir: Path, timeout: float = 10.0) -> str:
    """Start a daemonised redis-server for *data_dir* (it outlives us); return its URL."""
    server = RedisServer(data_dir=data_dir, appendonly=True)
    pidfile = data_dir / "redis.pid"
    command = [*server.command(), "--daemonize", "yes", "--pidfile", str(pidfile)]
    # redis-server forks and its first process exits at once; the daemon is not our child.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(server.url, data_dir):
            pid = int(pidfile.read_text().strip()) if pidfile.exists() else 0
            _record(data_dir, server.url, pid, kept=True)
            return server.url
        time.sleep(0.02)
    raise TimeoutError(f"embedded redis-server in {data_dir} did not answer in {timeout}s")


@contextmanager
def redis_url(settings: Settings, *, keep: bool = False) -> Iterator[str]:
    """URL of the Redis to use; starts (and later stops) an embedded one if needed."""
    with embedded_server(settings, keep=keep) as (url, _server):
        yield url


@contextmanager
def embedded_server(
    settings: Settings, *, keep: bool = False
) -> Iterator[tuple[str, RedisServer | None]]:
    """:func:`redis_url` with the :class:`RedisServer` this call started and will stop:
    ``None`` when ``settings.redis_url`` is set, when another process's embedded server was
    found running for the folder, or with ``keep`` (``contest serve`` watches the one it
    started and restarts it with :func:`restart_embedded`)."""
    if settings.redis_url:
        yield settings.redis_url, None
        return
    data_dir = Path(settings.data_dir).resolve()
    server: RedisServer | None = None
    with _locked(data_dir):
        url = running_url(data_dir)
        if url is None:
            try:
                if keep:
                    url = _start_daemon(data_dir)
                else:
                    server = RedisServer(data_dir=data_dir, appendonly=True, new_session=True)
                    server.start()
                    assert server.process is not None
                    url = server.url
                    _record(data_dir, url, server.process.pid, kept=False)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                raise BackendError(
                    f"cannot start the embedded redis-server in {data_dir}: {exc}"
                ) from exc
    try:
        yield url, server
    finally:
        if server is not None:
            with _locked(data_dir):
                server.stop()
                if running_url(data_dir) is None:
                    (data_dir / STATE_FILE).unlink(missing_ok=True)


def restart_embedded(server: RedisServer, timeout: float = 10.0) -> int:
    """Start *server* (from :func:`embedded_server`), which died, again on the same port and
    folder, so it reads its AOF back; record it in ``redis.json``; return its pid. Raises
    :class:`RuntimeError` or :class:`OSError` if it cannot start."""
    with _locked(server.data_dir):
        server.restart(timeout)
        assert server.process is not None
        _record(server.data_dir, server.url, server.process.pid, kept=False)
        return server.process.pid


def stop_embedded(data_dir: str | Path) -> bool:
    """Shut down the embedded server of *data_dir* (saving nothing more than its AOF)."""
    data_dir = Path(data_dir).resolve()
    with _locked(data_dir):
        url = running_url(data_dir)
        if url is None:
            return False
        with redis.Redis.from_url(url) as client:
            try:
                client.shutdown(nosave=True)
            except redis.ConnectionError:
                pass  # the server closes the connection as it exits
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and _answers(url, data_dir):
            time.sleep(0.02)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        return True


@contextmanager
def sync_client(settings: Settings, *, keep: bool = False) -> Iterator[redis.Redis]:
    """A synchronous client of the Redis :func:`redis_url` chooses; closed on exit."""
    with redis_url(settings, keep=keep) as url, redis.Redis.from_url(url) as client:
        yield client


@asynccontextmanager
async def async_client(
    settings: Settings, *, keep: bool = False
) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client of the Redis :func:`redis_url` chooses; closed on exit.

    Starting and stopping an embedded server blocks, so it runs in a worker thread.
    """
    manager = redis_url(settings, keep=keep)
    url = await asyncio.to_thread(manager.__enter__)
    try:
        client = redis.asyncio.Redis.from_url(url)
        try:
            yield client
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)
