"""The server clock: this host's clock corrected to Redis's ``TIME``.

Every deadline the scoring scripts check is on Redis's clock, so what the gateway tells
members (``Welcome.server_time``, ``Pong.server_time``) must be on it too, or a member's
countdown would disagree with the script that refuses a late answer. :class:`ServerClock`
measures the offset once (and again on :meth:`sync`), taking the midpoint of the round
trip, and then reads the local clock with the offset added: no Redis call per read.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio.cluster import ClusterNode, RedisCluster

from engine.runtime.redisconn import AsyncRedis

__all__ = ["ServerClock", "local_ms"]


def local_ms() -> int:
    """This host's clock in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class ServerClock:
    """Milliseconds on Redis's clock, read locally.

    On a Redis Cluster each primary has its own clock, and a contest's scripts read the
    clock of the node holding the contest's slot; :meth:`sync` then measures every
    primary's offset too, and :meth:`of` gives the clock of one key's node (falling back to
    the one offset, measured on any node, until a sync has seen that node)."""

    __slots__ = ("_cluster", "node_offsets", "offset")

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset
        self.node_offsets: dict[str, int] = {}
        """Offset (ms) of each cluster primary's clock, by node name (``host:port``)."""
        self._cluster: RedisCluster | None = None

    async def sync(self, redis_client: AsyncRedis) -> int:
        """Measure the offset to Redis ``TIME`` (and to each primary's, on a cluster);
        returns the first one (ms)."""
        self.offset = await _offset(redis_client)
        if isinstance(redis_client, RedisCluster):
            self._cluster = redis_client
            for node in redis_client.get_primaries():
                self.node_offsets[node.name] = await _offset(redis_client, node)
        return self.offset

    def __call__(self) -> int:
        return local_ms() + self.offset

    def of(self, key: str) -> Callable[[], int]:
        """The clock of the node holding *key*'s slot (this clock itself with one Redis)."""
        cluster = self._cluster
        if cluster is None:
            return self

        def node_clock() -> int:
            node = cluster.get_node_from_key(key)
            offset = self.offset if node is None else self.node_offsets.get(node.name, self.offset)
            return local_ms() + offset

        return node_clock


async def _offset(client: AsyncRedis, node: ClusterNode | None = None) -> int:
    """Redis ``TIME`` (of *node*, on a cluster) minus the midpoint of the round trip."""
    before = local_ms()
    if node is not None:
        assert isinstance(client, RedisCluster)
        seconds, micros = await client.time(target_nodes=node)
    else:
        seconds, micros = await client.time()
    after = local_ms()
    server = int(seconds) * 1000 + int(micros) // 1000
    return server - (before + after) // 2
