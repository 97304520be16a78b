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

Redis Cluster: a URL ``redis+cluster://[user:password@]HOST:PORT[,HOST:PORT...]`` (or
``rediss+cluster://`` for TLS) names startup nodes of a cluster. :func:`connect` and
:func:`connect_sync` are the one place a URL becomes a client: a
:class:`redis.asyncio.cluster.RedisCluster` (or :class:`redis.cluster.RedisCluster`) for
a cluster URL, a plain client otherwise. Engine code types its client as
:data:`AsyncRedis` (either kind) and keeps every multi-key command, pipeline transaction
and script on one hash slot (:mod:`scoring.keys`)::

    connect(url, *, pool_size=None, blocking=False, timeout=None) -> AsyncRedis
    connect_sync(url, *, timeout=None) -> redis.Redis | redis.cluster.RedisCluster
    is_cluster_url(url) -> bool
    cluster_startup_nodes(url) -> list[tuple[str, int]]   # ValueError if malformed
    await cluster_problem(client) -> str | None   # why a cluster is not usable (None: it is)
    cluster_usable(sync_client) -> str | None     # the same, synchronously (start-up check)
    await publish(client, channel, data) -> int   # SPUBLISH on a cluster, else PUBLISH
    await server_ms(client, key=None) -> int      # TIME of the node holding *key*'s slot
    await on_node(client, key) -> dict            # target_nodes= for a per-node command
    REDIS_ERRORS                                  # what a Redis call of either kind raises
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
from typing import Any, TypeAlias
from urllib.parse import parse_qs, unquote

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.exceptions

from engine.core.errors import BackendError
from engine.core.settings import Settings
from scoring.redis_server import RedisServer
from scoring.scripts import node_time_ms

__all__ = [
    "CLUSTER_NODE_CONNECTIONS",
    "CLUSTER_SCHEMES",
    "STATE_FILE",
    "AsyncRedis",
    "SyncRedis",
    "async_client",
    "cluster_startup_nodes",
    "connect",
    "connect_sync",
    "REDIS_ERRORS",
    "cluster_problem",
    "cluster_usable",
    "is_cluster_url",
    "on_node",
    "publish",
    "server_ms",
    "embedded_server",
    "redis_url",
    "restart_embedded",
    "running_url",
    "stop_embedded",
    "sync_client",
]

AsyncRedis: TypeAlias = "redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster"
"""The engine's asyncio client: one Redis, or a Redis Cluster (same as
:data:`scoring.scripts.AnyRedis`)."""

SyncRedis: TypeAlias = "redis.Redis | redis.cluster.RedisCluster"
"""A synchronous client of either kind (start-up checks, the CLI's blocking helpers)."""

CLUSTER_NODE_CONNECTIONS = 1024
"""Connections a process may open to each cluster node (:func:`connect`): redis-py's
cluster client fails a command beyond its bound rather than waiting, so the bound is high;
connections are opened only as concurrent commands need them. Keep each node's
``maxclients`` above this times the processes that serve."""

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
"""URL schemes of a Redis Cluster, and whether each uses TLS."""

REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.RedisError,
    redis.exceptions.RedisClusterException,  # not a RedisError: SlotNotCovered, Unreachable
)
"""Exceptions a Redis call may raise besides OSError, with one Redis or a cluster."""

STATE_FILE = "redis.json"
"""Name of the file, inside ``data_dir``, recording the embedded server's URL and pid."""
_LOCK_FILE = "redis.lock"


def is_cluster_url(url: str) -> bool:
    """True if *url* names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    scheme, sep, _rest = url.partition("://")
    return bool(sep) and scheme.lower() in CLUSTER_SCHEMES


def _cluster_parts(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """Startup nodes and connection options of a cluster URL; ValueError if malformed."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError(f"not a Redis Cluster URL (redis+cluster://HOST:PORT[,...]): {url!r}")
    options: dict[str, Any] = {}
    if CLUSTER_SCHEMES[scheme.lower()]:
        options["ssl"] = True
    rest, _, query = rest.partition("?")
    rest = rest.rstrip("/")
    if "/" in rest:
        raise ValueError(f"a Redis Cluster URL has no database number or path: {url!r}")
    credentials, at, hosts = rest.rpartition("@")
    if at:
        user, colon, password = credentials.partition(":")
        if user:
            options["username"] = unquote(user)
        if colon:
            options["password"] = unquote(password)
    nodes: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        host = host.strip("[]")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"Redis Cluster node {item!r} is not HOST:PORT in {url!r}")
        nodes.append((host, int(port)))
    for name, values in parse_qs(query).items():
        if name not in ("socket_timeout", "socket_connect_timeout"):
            raise ValueError(f"unknown Redis Cluster URL option {name!r} in {url!r}")
        options[name] = float(values[-1])
    return nodes, options


def cluster_startup_nodes(url: str) -> list[tuple[str, int]]:
    """The ``(host, port)`` startup nodes a cluster URL lists; ValueError if malformed."""
    return _cluster_parts(url)[0]


def connect(
    url: str,
    *,
    pool_size: int | None = None,
    blocking: bool = False,
    timeout: float | None = None,
) -> AsyncRedis:
    """An asyncio client for *url*: :class:`redis.asyncio.cluster.RedisCluster` for a cluster
    URL, else :class:`redis.asyncio.Redis`.

    *pool_size* bounds the connections; with *blocking* a caller waits up to 20 s for a
    free connection instead of failing with ``MaxConnectionsError``. redis-py's cluster
    client cannot wait for one (it raises at its bound, 100 per node by default), so a
    cluster client's bound is :data:`CLUSTER_NODE_CONNECTIONS` per node (opened only as
    concurrent commands need them), or *pool_size* per node when given without *blocking*.
    *timeout*: socket and connect timeout in seconds (start-up checks)."""
    extra: dict[str, Any] = {}
    if timeout is not None:
        extra = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if is_cluster_url(url):
        nodes, options = _cluster_parts(url)
        if pool_size is not None and not blocking:
            options["max_connections"] = pool_size
        else:
            options["max_connections"] = max(pool_size or 0, CLUSTER_NODE_CONNECTIONS)
        return redis.asyncio.cluster.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in nodes],
            **{**options, **extra},
        )
    if blocking:
        return redis.asyncio.Redis.from_pool(
            redis.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=pool_size or 64, timeout=20, **extra
            )
        )
    if pool_size is not None:
        extra["max_connections"] = pool_size
    return redis.asyncio.Redis.from_url(url, **extra)


def connect_sync(url: str, *, timeout: float | None = None) -> SyncRedis:
    """A synchronous client for *url*, of the kind :func:`connect` chooses."""
    extra: dict[str, Any] = {}
    if timeout is not None:
        extra = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if is_cluster_url(url):
        nodes, options = _cluster_parts(url)
        return redis.cluster.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in nodes],  # type: ignore[no-untyped-call]
            **{**options, **extra},
        )
    return redis.Redis.from_url(url, **extra)


def _cluster_state(infos: dict[str, Any]) -> str | None:
    """Why the ``CLUSTER INFO`` replies *infos* (node -> reply) show an unusable cluster."""
    for node, info in infos.items():
        state = info.get("cluster_state") if isinstance(info, dict) else None
        if isinstance(state, bytes):
            state = state.decode()
        if state != "ok":
            return f"node {node} reports cluster_state {state!r}"
    return None


_PLAIN_ON_CLUSTER = (
    "this Redis is a node of a Redis Cluster, reached with a plain URL: every command on "
    "a key of another node fails (MOVED); use redis+cluster://HOST:PORT[,HOST:PORT...]"
)


def _cluster_enabled(info: Any) -> bool:
    return isinstance(info, dict) and str(info.get("cluster_enabled", "0")) == "1"


async def cluster_problem(client: AsyncRedis) -> str | None:
    """Why *client*'s Redis cannot serve every contest now, or ``None``. On a cluster,
    every primary the client knows must answer ``CLUSTER INFO`` with ``cluster_state:ok``
    (all 16,384 slots served); one Redis must not be a cluster node (a plain URL of a
    node of a cluster). Redis errors propagate."""
    if not isinstance(client, redis.asyncio.cluster.RedisCluster):
        try:
            info = await client.info("cluster")
        except redis.exceptions.ResponseError:  # INFO refused (a managed Redis)
            return None
        return _PLAIN_ON_CLUSTER if _cluster_enabled(info) else None
    await client.initialize()
    infos: dict[str, Any] = {}
    for node in client.get_primaries():
        infos[node.name] = await client.cluster_info(target_nodes=node)
    return _cluster_state(infos)


def cluster_usable(client: SyncRedis) -> str | None:
    """:func:`cluster_problem` for a synchronous client."""
    if not isinstance(client, redis.cluster.RedisCluster):
        try:
            info = client.info("cluster")
        except redis.exceptions.ResponseError:
            return None
        return _PLAIN_ON_CLUSTER if _cluster_enabled(info) else None
    infos: dict[str, Any] = {}
    for node in client.get_primaries():  # type: ignore[no-untyped-call]
        infos[node.name] = client.cluster_info(target_nodes=node)
    return _cluster_state(infos)


async def on_node(client: AsyncRedis, key: str) -> dict[str, Any]:
    """Keyword arguments sending a keyless command (``SCAN``) to the node that holds
    *key*'s slot on a cluster (``{}`` for one Redis)."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        await client.initialize()
        return {"target_nodes": client.get_node_from_key(key)}
    return {}


async def server_ms(client: AsyncRedis, key: str | None = None) -> int:
    """Redis's clock (``TIME``) in ms: on a cluster, of the node holding *key*'s slot (the
    clock its scripts read), or of any node without *key*."""
    return await node_time_ms(client, key)


async def publish(client: AsyncRedis, channel: str, data: bytes | str) -> int:
    """Publish *data* on *channel*: ``SPUBLISH`` (sharded pub/sub, Redis 7) on a cluster, so
    only the shard holding the channel's slot carries it, else ``PUBLISH``. Returns the
    number of receivers the server reports."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        return int(await client.spublish(channel, data))
    return int(await client.publish(channel, data))


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


EMBEDDED_CONFIG = {"auto-aof-rewrite-percentage": "400"}
"""What the embedded redis-server is given beyond :class:`RedisServer`'s AOF settings.

``auto-aof-rewrite-percentage 400``: the AOF is rewritten once it has grown to five times
the size it had after the last rewrite (Redis's default is 100: twice). A rewrite forks a
child that writes the whole dataset again, a core for seconds at a national round's size,
and a round's dataset only grows while its answers are written, so at the default the
child ran every ~30 s in the sustained window run, and the gateways it took the core from
answered late (docs/benchmarks.md, tenth session). The cost: up to 5× the dataset on
disk, and a restart replays up to 4× the dataset's worth of commands."""


def _start_daemon(data_dir: Path, timeout: float = 10.0) -> str:
    """Start a daemonised redis-server for *data_dir* (it outlives us); return its URL."""
    server = RedisServer(data_dir=data_dir, appendonly=True, extra=EMBEDDED_CONFIG)
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
                    server = RedisServer(
                        data_dir=data_dir,
                        appendonly=True,
                        extra=EMBEDDED_CONFIG,
                        new_session=True,
                    )
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
def sync_client(settings: Settings, *, keep: bool = False) -> Iterator[SyncRedis]:
    """A synchronous client of the Redis :func:`redis_url` chooses; closed on exit."""
    with redis_url(settings, keep=keep) as url:
        client = connect_sync(url)
        try:
            yield client
        finally:
            client.close()


@asynccontextmanager
async def async_client(settings: Settings, *, keep: bool = False) -> AsyncIterator[AsyncRedis]:
    """An asyncio client of the Redis :func:`redis_url` chooses; closed on exit.

    Starting and stopping an embedded server blocks, so it runs in a worker thread.
    """
    manager = redis_url(settings, keep=keep)
    url = await asyncio.to_thread(manager.__enter__)
    try:
        client = connect(url)
        try:
            yield client
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)
