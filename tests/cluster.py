"""A real 3-node Redis Cluster for tests: three ``redis-server --cluster-enabled yes`` on
free loopback ports (cluster bus ports chosen free as well), joined with
``redis-cli --cluster create ... --cluster-replicas 0``, and stopped afterwards.

Test modules import the fixtures ``cluster_nodes`` (one cluster per module; the module is
skipped when no cluster can be started) and ``cluster`` (a ``RedisCluster`` client on it)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio.cluster

from scoring.redis_server import RedisServer, find_redis_server, free_port

__all__ = ["ClusterUnavailable", "cluster", "cluster_nodes", "redis_cluster"]


class ClusterUnavailable(Exception):
    """The cluster cannot be started here; the message says exactly why."""


def _redis_cli() -> str:
    beside = shutil.which("redis-cli", path=str(find_redis_server()).rsplit("/", 1)[0])
    found = beside or shutil.which("redis-cli")
    if found is None:
        raise ClusterUnavailable("redis-cli not found (needed for --cluster create)")
    return found


@contextmanager
def redis_cluster(nodes: int = 3, timeout: float = 30.0) -> Iterator[list[RedisServer]]:
    """Start *nodes* cluster-enabled servers, create the cluster, yield the servers."""
    cli = _redis_cli()
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
            servers.append(server.start())
        addresses = [f"{s.host}:{s.port}" for s in servers]
        created = subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if created.returncode != 0:
            raise ClusterUnavailable(f"redis-cli --cluster create failed: {created.stdout}")
        deadline = time.monotonic() + timeout
        for server in servers:
            with redis.Redis(host=server.host, port=server.port) as client:
                while client.cluster("INFO").get("cluster_state") != "ok":
                    if time.monotonic() > deadline:
                        raise ClusterUnavailable("cluster_state did not become ok")
                    time.sleep(0.05)
        yield servers
    finally:
        for server in servers:
            server.stop()


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
