"""The whole engine on a real 3-node Redis Cluster, reached through a ``redis+cluster://`` URL.

The URL becomes a ``RedisCluster`` client everywhere (:func:`engine.runtime.redisconn.connect`);
before it, ``contest demo`` crashed with ``MovedError`` in ``OrgStore.ensure`` and ``contest
serve`` answered ``POST /api/banks`` and ``GET /public/contests`` with 500 while ``/readyz``
said ready.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis.asyncio.cluster
from hypothesis import given
from hypothesis import strategies as st

from engine.cli.demo import set_up
from engine.core import messages
from engine.core.settings import Settings
from engine.runtime import redisconn
from scoring.keys import GlobalKeys
from scoring.redis_server import RedisServer, free_port
from tests import cluster as cluster_support
from tests.contest_helpers import make_bank
from tests.e2e import settings_for, worker
from tests.gateway_support import client as gateway_client
from tests.gateway_support import (
    create_contest,
    make_settings,
    recv,
    recv_until,
    running_gateway,
    token,
)
from tests.test_contest_store import (
    store,
    test_a_missing_meta_state_counts_as_draft,
    test_an_org_cannot_use_another_orgs_bank,
    test_concurrent_moves_happen_once,
    test_create_pins_the_latest_bank_version_and_writes_meta,
    test_delete_hides_and_purges_scoring_data,
    test_due_events_for_the_scheduler,
    test_finalize_measures_the_prediction_question,
    test_generated_ids_and_listing_by_org,
    test_ids_are_never_reused,
    test_illegal_moves_are_refused,
    test_live_meta_has_what_the_scripts_read,
    test_only_drafts_are_edited,
    test_ownership,
    test_provincial_contest_defaults_to_its_province,
    test_the_active_index,
)
from tests.test_http_banks import (
    api,
    test_delete_hides_bank_but_keeps_versions,
    test_organisations_see_only_their_own_banks,
    test_post_existing_id_conflicts,
    test_put_makes_new_version_old_one_kept,
    test_upload_list_get_versions,
    yaml_of,
)
from tests.test_orgs_units import test_concurrent_changes_of_different_fields_all_land
from tests.utils import timeout

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

__all__ = [
    "api",
    "store",
    "test_create_pins_the_latest_bank_version_and_writes_meta",
    "test_generated_ids_and_listing_by_org",
    "test_live_meta_has_what_the_scripts_read",
    "test_provincial_contest_defaults_to_its_province",
    "test_an_org_cannot_use_another_orgs_bank",
    "test_ids_are_never_reused",
    "test_ownership",
    "test_illegal_moves_are_refused",
    "test_concurrent_moves_happen_once",
    "test_only_drafts_are_edited",
    "test_delete_hides_and_purges_scoring_data",
    "test_due_events_for_the_scheduler",
    "test_a_missing_meta_state_counts_as_draft",
    "test_the_active_index",
    "test_finalize_measures_the_prediction_question",
    "test_delete_hides_bank_but_keeps_versions",
    "test_organisations_see_only_their_own_banks",
    "test_post_existing_id_conflicts",
    "test_put_makes_new_version_old_one_kept",
    "test_upload_list_get_versions",
    "test_concurrent_changes_of_different_fields_all_land",
]

cluster_nodes = cluster_support.cluster_nodes


url = cluster_support.engine_url


# The HTTP API's bank tests (upload, versions, organisations' scoping) and the contest
# store's (create, lifecycle, delete and purge, the active index, finalize) and the
# organisation store's concurrent changes on the cluster;
# the store's announcement test subscribes with plain pub/sub, so it stays on one Redis.
redis_url = url


redis_client = cluster_support.engine_client


hosts = st.sampled_from(["127.0.0.1", "localhost", "redis-a.internal", "10.0.0.7"])
ports = st.integers(min_value=1, max_value=65535)


@given(st.lists(st.tuples(hosts, ports), min_size=1, max_size=6))
def test_cluster_url_lists_its_startup_nodes(nodes: list[tuple[str, int]]) -> None:
    url = "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in nodes)
    assert redisconn.is_cluster_url(url)
    assert redisconn.cluster_startup_nodes(url) == nodes


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://",
        "redis+cluster://127.0.0.1",
        "redis+cluster://127.0.0.1:0",
        "redis+cluster://127.0.0.1:70000",
        "redis+cluster://127.0.0.1:7000,",
        "redis+cluster://127.0.0.1:7000/0",
        "redis+cluster://127.0.0.1:7000?db=2",
        "redis://127.0.0.1:7000",
    ],
)
def test_malformed_cluster_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        redisconn.cluster_startup_nodes(url)


async def test_cluster_url_credentials_tls_and_timeouts() -> None:
    url = "rediss+cluster://ops%40site:p%3Aw@10.0.0.1:7000,[::1]:7001?socket_timeout=1.5"
    assert redisconn.cluster_startup_nodes(url) == [("10.0.0.1", 7000), ("::1", 7001)]
    client = redisconn.connect(url)  # no connection until the first command
    try:
        assert isinstance(client, redis.asyncio.cluster.RedisCluster)
        kwargs = client.connection_kwargs
        assert (kwargs["username"], kwargs["password"]) == ("ops@site", "p:w")
        assert kwargs["socket_timeout"] == 1.5
        assert kwargs["connection_class"].__name__ == "SSLConnection"
    finally:
        await client.aclose()


def test_plain_urls_are_not_cluster_urls() -> None:
    assert not redisconn.is_cluster_url("redis://127.0.0.1:6379/0")
    assert not redisconn.is_cluster_url("rediss://h:1")
    assert redisconn.is_cluster_url("rediss+cluster://u:p@h:1,h:2")


async def test_connect_builds_a_cluster_client_or_a_plain_one(
    url: str, redis_server: RedisServer
) -> None:
    client = redisconn.connect(url)
    try:
        assert isinstance(client, redis.asyncio.cluster.RedisCluster)
        assert await client.ping()
        assert await redisconn.cluster_problem(client) is None
    finally:
        await client.aclose()
    plain = redisconn.connect(redis_server.url)
    try:
        assert isinstance(plain, redis.asyncio.Redis)
        assert await redisconn.cluster_problem(plain) is None
    finally:
        await plain.aclose()


async def test_demo_set_up_on_a_cluster(url: str, key_prefix: str, tmp_path: Path) -> None:
    """``contest demo --redis-url redis+cluster://...``: organisation, API key, bank, both
    contests and tokens stored (this crashed in ``OrgStore.ensure`` with MovedError)."""
    settings = Settings(redis_url=url, key_prefix=key_prefix, data_dir=str(tmp_path))
    info = await set_up(url, settings, "ws://127.0.0.1:1/ws/", "http://127.0.0.1:1", members=2)
    client = redisconn.connect(url)
    try:
        from engine.contests.store import ContestStore

        contests = await ContestStore(client, key_prefix).list()
        assert sorted(c.mode for c in contests) == ["live", "window"]
        assert info.api_key
    finally:
        await client.aclose()


async def test_serve_http_api_on_a_cluster(url: str, key_prefix: str) -> None:
    """A worker on the cluster: readiness, a bank upload, the public list (500s before)."""
    client = redisconn.connect(url)
    try:
        from engine.directory.orgs import OrgStore
        from question_bank.ids import OrgId

        orgs = OrgStore(client, key_prefix)
        await orgs.ensure(OrgId("central"))
        key = await orgs.create_key(OrgId("central"))
    finally:
        await client.aclose()
    async with worker(settings_for(url, key_prefix)) as settings:
        base = f"http://{settings.host}:{settings.http_port}"
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, timeout=timeout(10)) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            made = await http.post(
                "/api/banks",
                content=yaml_of(make_bank("cl-bank")),
                params={"format": "yaml"},
                headers=headers,
            )
            assert made.status_code == 201, made.text
            listed = await http.get("/api/banks", headers=headers)
            assert [b["id"] for b in listed.json()["banks"]] == ["cl-bank"]
            public = await http.get("/public/contests")
            assert public.status_code == 200, public.text


async def test_relay_subscribes_to_its_contests_shard_channels_only(
    url: str, key_prefix: str, redis_client: redis.asyncio.cluster.RedisCluster
) -> None:
    """On a cluster a gateway ``SSUBSCRIBE``s to the channels of the contests it has
    members in (no pattern subscription, which every node would carry), hears a broadcast
    published with ``SPUBLISH``, and drops the subscription when its last member leaves;
    a refused join leaves none behind."""
    contest = await create_contest(redis_client, key_prefix, "window")
    channel = GlobalKeys(key_prefix).channel(contest.id)
    await redis_client.initialize()
    node = redis_client.get_node_from_key(channel)

    async def subscribers() -> int:
        reply = await redis_client.pubsub_shardnumsub(channel, target_nodes=node)
        return int(dict(reply)[channel.encode()])

    async def patterns() -> int:
        counts = [
            await redis_client.pubsub_numpat(target_nodes=n) for n in redis_client.get_primaries()
        ]
        return sum(int(c) for c in counts)

    async with running_gateway(make_settings(url, key_prefix)) as gateway:
        assert gateway.relay.sharded and await patterns() == 0
        async with gateway_client(gateway, contest.id, "not-a-token") as ws:
            await recv(ws)  # refused
        assert await subscribers() == 0 and gateway.relay.watched == set()
        async with gateway_client(gateway, contest.id, token(contest.id)) as ws:
            await recv_until(ws, messages.Welcome)
            assert await subscribers() == 1 and gateway.relay.watched == {contest.id}
            frame = messages.encode(messages.StateChanged(state="open", at=1))
            assert await redisconn.publish(redis_client, channel, frame) == 1
            changed = await recv_until(ws, messages.StateChanged)
            assert changed.at == 1
        async with asyncio.timeout(timeout(5)):
            while gateway.rooms.get(contest.id):
                await asyncio.sleep(0.01)
        await gateway._report_presence()
        assert await subscribers() == 0 and gateway.relay.watched == set()
        assert await patterns() == 0


def test_contest_serve_two_workers_and_the_conductor_process_on_a_cluster(
    url: str, tmp_path: Path
) -> None:
    """``contest serve --workers 2 --redis-url redis+cluster://...``: each worker and the
    conductor process build their own cluster client; ready, serving, a clean exit."""
    ws, http = free_port(), free_port()
    env = dict(os.environ, CONTEST_TOKEN_SECRET="s" * 40, CONTEST_DATA_DIR=str(tmp_path))
    command = [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())"]
    args = ["serve", "--workers", "2", "--redis-url", url, "--insecure-dev-secret"]
    process = subprocess.Popen(
        [*command, *args, "--ws-port", str(ws), "--http-port", str(http)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout(30)
        ready = None
        while ready is None and time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{http}/readyz", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, ready
        public = httpx.get(f"http://127.0.0.1:{http}/public/contests", timeout=5)
        assert public.status_code == 200 and public.json() == []
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=timeout(30))[0].decode()
    assert process.returncode == 0, output
    assert "conductor (pid" in output and "redis+cluster://" in output
    assert "Traceback" not in output


async def test_a_join_storm_never_meets_the_cluster_clients_connection_bound(url: str) -> None:
    """The workers' client (``blocking``, as ``run_worker`` builds it): 300 commands at once
    to one node do not fail with ``MaxConnectionsError`` (redis-py's cluster client raises
    at its bound, 100 per node by default, instead of waiting; the serve client's bound is
    ``CLUSTER_NODE_CONNECTIONS``)."""
    client = redisconn.connect(url, pool_size=4, blocking=True)
    try:
        results = await asyncio.gather(*(client.blpop(["{storm}:k"], 0.05) for _ in range(300)))
        assert results == [None] * 300
    finally:
        await client.aclose()
