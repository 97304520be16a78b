"""A real 3-node Redis Cluster for tests: three ``redis-server --cluster-enabled yes`` on
free loopback ports (cluster bus ports chosen free as well), joined with
``CLUSTER ADDSLOTSRANGE`` and ``CLUSTER MEET``, and stopped afterwards; optionally with
replicas (``CLUSTER REPLICATE``) and an AOF on every node, for failover tests.

Test modules import the fixtures ``cluster_nodes`` (one cluster per module; the module is
skipped when no cluster can be started) and ``cluster`` (a ``RedisCluster`` client on it)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio.cluster

from engine.runtime.redisconn import AsyncRedis, connect
from scoring.redis_server import RedisServer, free_port

__all__ = ["ClusterUnavailable", "cluster", "cluster_nodes", "cluster_url", "redis_cluster"]


class ClusterUnavailable(Exception):
    """The cluster cannot be started here; the message says exactly why."""


SLOTS = 16_384


def _settled(client: redis.Redis, nodes: int) -> bool:
    """The node sees the cluster whole: state ok, and every node known and connected."""
    if client.cluster("INFO").get("cluster_state") != "ok":
        return False
    lines = client.execute_command("CLUSTER", "NODES")
    text = lines.decode() if isinstance(lines, bytes) else str(lines)
    known = [line for line in text.splitlines() if line.strip()]
    return len(known) == nodes and all(
        " connected" in line and "handshake" not in line and "noaddr" not in line for line in known
    )


@contextmanager
def redis_cluster(
    nodes: int = 3,
    timeout: float = 30.0,
    *,
    replicas: int = 0,
    appendonly: bool = False,
    node_timeout_ms: int = 5000,
) -> Iterator[list[RedisServer]]:
    """Start *nodes* cluster-enabled primaries (and *replicas* replicas of each), join them
    into one cluster, yield the servers: the primaries first, then the replicas of primary
    0, 1, ... (``servers[nodes + i * replicas + j]`` is replica j of primary i).

    The cluster is made with plain commands (``CLUSTER ADDSLOTSRANGE`` for an even share of
    the 16,384 slots on each primary, ``CLUSTER MEET``, then ``CLUSTER REPLICATE`` on each
    replica), so it needs no ``redis-cli`` (the pip-installed Valkey ships none).
    *appendonly* keeps an AOF on every node (``appendfsync always``); *node_timeout_ms* is
    ``cluster-node-timeout``: how long a primary may not answer before its replica takes
    over."""
    servers: list[RedisServer] = []
    total = nodes * (1 + replicas)
    try:
        for _ in range(total):
            server = RedisServer(
                appendonly=appendonly,
                appendfsync="always",
                extra={
                    "cluster-enabled": "yes",
                    "cluster-port": str(free_port()),
                    "cluster-node-timeout": str(node_timeout_ms),
                    "cluster-config-file": "nodes.conf",
                },
            )
            try:
                servers.append(server.start())
            except (RuntimeError, TimeoutError, OSError) as exc:
                raise ClusterUnavailable(f"a cluster-enabled server did not start: {exc}") from exc
        share = SLOTS // nodes
        for i, server in enumerate(servers[:nodes]):
            first, last = i * share, SLOTS - 1 if i == nodes - 1 else (i + 1) * share - 1
            with redis.Redis(host=server.host, port=server.port) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with redis.Redis(host=servers[0].host, port=servers[0].port) as client:
            for server in servers[1:]:
                bus = server.extra["cluster-port"]  # not port + 10000: chosen free above
                client.execute_command("CLUSTER", "MEET", server.host, server.port, bus)
        deadline = time.monotonic() + timeout
        if replicas:
            _wait(lambda: all(_knows(s, total) for s in servers), deadline, "nodes to meet")
            for i in range(nodes):
                primary_id = _node_id(servers[i])
                for j in range(replicas):
                    replica = servers[nodes + i * replicas + j]
                    with redis.Redis(host=replica.host, port=replica.port) as client:
                        client.execute_command("CLUSTER", "REPLICATE", primary_id)
            _wait(lambda: all(_synced(s) for s in servers[nodes:]), deadline, "replicas to sync")
        for server in servers:
            with redis.Redis(host=server.host, port=server.port) as client:
                _wait(lambda: _settled(client, total), deadline, "cluster_state to become ok")
        yield servers
    finally:
        for server in servers:
            server.stop()


def _wait(ready: Callable[[], bool], deadline: float, what: str) -> None:
    while not ready():
        if time.monotonic() > deadline:
            raise ClusterUnavailable(f"timed out waiting for {what}")
        time.sleep(0.05)


def _node_id(server: RedisServer) -> str:
    with redis.Redis(host=server.host, port=server.port) as client:
        return str(client.execute_command("CLUSTER", "MYID").decode())


def _knows(server: RedisServer, total: int) -> bool:
    with redis.Redis(host=server.host, port=server.port) as client:
        text = client.execute_command("CLUSTER", "NODES").decode()
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) == total and all("handshake" not in line for line in lines)


def _synced(server: RedisServer) -> bool:
    """A replica whose link to its primary is up and whose first sync is done."""
    with redis.Redis(host=server.host, port=server.port) as client:
        info = client.info("replication")
    return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")


def cluster_url(servers: list[RedisServer]) -> str:
    """The engine's URL of the cluster: ``redis+cluster://`` and every node."""
    return "redis+cluster://" + ",".join(f"{s.host}:{s.port}" for s in servers)


@pytest.fixture(scope="module")
def cluster_nodes() -> Iterator[list[RedisServer]]:
    try:
        with redis_cluster() as servers:
            yield servers
    except ClusterUnavailable as exc:
        pytest.skip(f"no Redis Cluster: {exc}")


@pytest.fixture
async def cluster(
    cluster_nodes: list[RedisServer],
) -> AsyncIterator[redis.asyncio.cluster.RedisCluster]:
    client = redis.asyncio.cluster.RedisCluster(
        host=cluster_nodes[0].host, port=cluster_nodes[0].port
    )
    try:
        yield client
    finally:
        await client.aclose()


# The engine's own view of the cluster, for modules that run one-Redis tests on it: bind
# ``redis_url = cluster_support.engine_url`` and ``redis_client = cluster_support.engine_client``
# to override the one-Redis fixtures of tests/conftest.py.
@pytest.fixture
def engine_url(cluster_nodes: list[RedisServer]) -> str:
    """The cluster's URL as the engine takes it (``redis+cluster://``, every node)."""
    return cluster_url(cluster_nodes)


@pytest.fixture
async def engine_client(redis_url: str) -> AsyncIterator[AsyncRedis]:
    """A ``RedisCluster`` client on *redis_url*, made as the engine makes its own."""
    client = connect(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
