"""When the Redis Cluster cannot serve: readiness says so, and the scheduler does not log a
failed tick every second.

Before: ``contest serve`` given a plain URL of a cluster node answered every request that
touched another node's keys with 500 while ``/readyz`` said ready, and the scheduler logged
``scheduler tick failed: 15409 127.0.0.1:18312`` (a MOVED reply) every second; with a cluster
client and a primary down the same happened. The last test stops a node of this module's
cluster (it is not used afterwards).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio.cluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.cluster import key_slot
from redis.exceptions import ClusterDownError, RedisClusterUnreachableError, SlotNotCoveredError

from engine.cli.serve import _cannot_reach
from engine.core.settings import Settings
from engine.http.app import create_app
from engine.runtime.redisconn import AsyncRedis, connect
from engine.scheduling.scheduler import Scheduler
from scoring.errors import RedisUnavailable, map_redis_errors
from scoring.redis_server import RedisServer
from tests import cluster as cluster_support
from tests.http_server import serve_app
from tests.utils import timeout

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

cluster_nodes = cluster_support.cluster_nodes


@pytest.fixture
async def client(cluster_nodes: list[RedisServer]) -> AsyncIterator[AsyncRedis]:
    client = connect(cluster_support.cluster_url(cluster_nodes))
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def ready(client: AsyncRedis) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the engine's app on *client*: GET /readyz."""
    async with serve_app(create_app(Settings(), client)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=timeout(10)) as http:
            yield http


def prefix_on(slots: range, names: tuple[str, ...] = ("contests:active", "lease:scheduler")) -> str:
    """A key prefix whose keys *names* (default: the scheduler's index and lease) all hash
    into *slots*."""
    for i in range(100_000):
        prefix = f"out{i}"
        if all(key_slot(f"{prefix}:{name}".encode()) in slots for name in names):
            return prefix
    raise AssertionError("no such prefix")


async def test_a_plain_url_of_a_cluster_node_is_not_ready(
    cluster_nodes: list[RedisServer],
) -> None:
    node = cluster_nodes[0]
    plain = connect(node.url)
    try:
        async with serve_app(create_app(Settings(), plain)) as base:
            async with httpx.AsyncClient(base_url=base, timeout=timeout(10)) as http:
                response = await http.get("/readyz")
        assert response.status_code == 503
        assert "redis+cluster://" in response.json()["error"]["message"]
    finally:
        await plain.aclose()
    problem = _cannot_reach(node.url)
    assert problem is not None and "redis+cluster://" in problem
    assert _cannot_reach(cluster_support.cluster_url(cluster_nodes)) is None


async def test_ready_on_a_whole_cluster(ready: httpx.AsyncClient) -> None:
    response = await ready.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


async def test_a_primary_down_not_ready_and_one_log_line_for_many_failed_ticks(
    cluster_nodes: list[RedisServer],
    client: AsyncRedis,
    ready: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Last in the module: stops the node serving the top third of the slots, then all."""
    down = cluster_nodes[-1]
    prefix = prefix_on(range(2 * (16384 // 3), 16384))
    assert (await ready.get("/readyz")).status_code == 200
    down.stop()
    response = await ready.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"

    # A client that gives up at once (the engine's waits out a failover, ~5 s a command),
    # so that the test sees many failed ticks in little time.
    hasty = redis.asyncio.cluster.RedisCluster(
        startup_nodes=[redis.asyncio.cluster.ClusterNode(n.host, n.port) for n in cluster_nodes],
        retry=Retry(NoBackoff(), 0),
    )
    scheduler = Scheduler(hasty, prefix=prefix, tick_ms=100)
    ticks = 0
    original = scheduler.tick

    async def counted() -> int:
        nonlocal ticks
        ticks += 1
        return await original()

    scheduler.tick = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="engine.scheduling.scheduler"):
        running = asyncio.create_task(scheduler.run(stop))
        while ticks < 6:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(running, timeout(30))
    # An HTTP request that needs the missing node: 503 unavailable, not 500.
    contests_key = prefix_on(range(2 * (16384 // 3), 16384), names=("contests",))
    async with serve_app(create_app(Settings(key_prefix=contests_key), hasty)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=timeout(10)) as http:
            public = await http.get("/public/contests")
    assert public.status_code == 503, public.text
    assert public.json()["error"]["code"] == "unavailable"
    # Every node gone: redis-py raises RedisClusterUnreachableError, which is no RedisError.
    for node in cluster_nodes:
        node.stop()
    async with serve_app(create_app(Settings(key_prefix=contests_key), hasty)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=timeout(10)) as http:
            public = await http.get("/public/contests")
    assert public.status_code == 503, public.text
    await hasty.aclose()
    failed = [r for r in caplog.records if "scheduler tick" in r.getMessage()]
    assert ticks >= 6
    assert len(failed) == 1, [r.getMessage() for r in failed]
    assert failed[0].levelno == logging.WARNING


@pytest.mark.parametrize(
    "exc",
    [
        RedisClusterUnreachableError("no node answers"),
        SlotNotCoveredError("slot 7 is not covered"),
        ClusterDownError("CLUSTERDOWN"),
    ],
)
def test_cluster_errors_are_unavailable_in_the_scoring_core(exc: Exception) -> None:
    """A cluster that cannot serve is ``RedisUnavailable`` (members: ``unavailable``), also
    for redis-py's cluster exceptions that are no ``RedisError``."""
    with pytest.raises(RedisUnavailable):
        with map_redis_errors():
            raise exc
