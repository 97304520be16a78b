"""The rehearsal's Redis Cluster across namespaces (loadtest.rehearsal): 3 primaries + 3
replicas on three hosts, each replica on another host than its primary, AOF on, reachable
through its cluster URL from the root namespace; the primary of a contest's slot is found.
Skipped without root, ``ip`` or a redis-server that can run a cluster."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import redis
import redis.cluster

from loadtest import rehearsal
from loadtest.netns import Network, NetworkUnavailable, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


def test_cluster_of_three_hosts() -> None:
    try:
        net = Network(hosts=3, clients=1)
    except NetworkUnavailable as exc:
        pytest.skip(str(exc))
    with net, tempfile.TemporaryDirectory() as work:
        run = rehearsal.Rehearsal(net=net, work=Path(work), redis_mode="cluster")
        try:
            rehearsal.start_redis(run)
        except (TimeoutError, redis.RedisError) as exc:  # e.g. a server without cluster mode
            pytest.skip(f"no Redis Cluster here: {exc}")
        primaries = [n for n in run.nodes if n.primary]
        replicas = [n for n in run.nodes if not n.primary]
        assert len(primaries) == 3 and len(replicas) == 3
        assert run.redis_url == "redis+cluster://" + ",".join(
            f"{n.address}:{n.port}" for n in primaries
        )
        hosts = {n.node_id: n.host.index for n in run.nodes}
        for replica in replicas:
            with replica.client() as client:
                info = client.info("replication")
                assert info["role"] == "slave" and info["master_link_status"] == "up"
                assert client.config_get("appendonly")["appendonly"] == "yes"
                master = (info["master_host"], int(info["master_port"]))
            primary = next(n for n in primaries if (n.address, n.port) == master)
            assert hosts[primary.node_id] != replica.host.index  # never on its primary's host
        client = redis.cluster.RedisCluster(host=primaries[0].address, port=primaries[0].port)
        try:
            client.set("ce:{c-42}:meta", "x")
            holder = client.get_node_from_key("ce:{c-42}:meta")
            primary, replica, slot = rehearsal._slot_primary(run, "c-42")
            assert (primary.address, primary.port) == (holder.host, holder.port)
            assert slot == client.keyslot("ce:{c-42}:meta")
            assert replica is not None and not replica.primary
        finally:
            client.close()
    assert net.leftovers() == []
