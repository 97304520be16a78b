"""A real 3-node Redis Cluster for tests: three ``redis-server --cluster-enabled yes`` on
free loopback ports (cluster bus ports chosen free as well), joined with
``CLUSTER ADDSLOTSRANGE`` and ``CLUSTER MEET``, and stopped afterwards.

Test modules import the fixtures ``cluster_nodes`` (one cluster per module; the module is
skipped when no cluster can be started) and ``cluster`` (a ``RedisCluster`` client on it)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio.cluster

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
def redis_cluster(nodes: int = 3, timeout: float = 30.0) -> Iterator[list[RedisServer]]:
    """Start *nodes* cluster-enabled servers, join them into one cluster, yield the servers.

    The cluster is made with plain commands (``CLUSTER ADDSLOTSRANGE`` for an even share of
    the 16,384 slots on each node, then ``CLUSTER MEET``), so it needs no ``redis-cli`` (the
    pip-installed Valkey ships none)."""
    servers: list[RedisServer] = []
    try:
        for _ in range(nodes):
            server = RedisServer(
                extra={
                    "cluster-enabled": "yes",
                    "cluster-port": str(free_port()),
                    "cluster-node-timeout": "5000",
                    "cluster-config-file": "nodes.conf",
                }
            )
            try:
                servers.append(server.start())
            except (RuntimeError, TimeoutError, OSError) as exc:
                raise ClusterUnavailable(f"a cluster-enabled server did not start: {exc}") from exc
        share = SLOTS // nodes
        for i, server in enumerate(servers):
            first, last = i * share, SLOTS - 1 if i == nodes - 1 else (i + 1) * share - 1
            with redis.Redis(host=server.host, port=server.port) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with redis.Redis(host=servers[0].host, port=servers[0].port) as client:
            for server in servers[1:]:
                bus = server.extra["cluster-port"]  # not port + 10000: chosen free above
                client.execute_command("CLUSTER", "MEET", server.host, server.port, bus)
        deadline = time.monotonic() + timeout
        for server in servers:
            with redis.Redis(host=server.host, port=server.port) as client:
                while not _settled(client, nodes):
                    if time.monotonic() > deadline:
                        raise ClusterUnavailable("cluster_state did not become ok")
                    time.sleep(0.05)
        yield servers
    finally:
        for server in servers:
            server.stop()


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
