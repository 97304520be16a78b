"""The whole engine on a real 3-node Redis Cluster, reached through a ``redis+cluster://`` URL.

The URL becomes a ``RedisCluster`` client everywhere (:func:`engine.runtime.redisconn.connect`);
before it, ``contest demo`` crashed with ``MovedError`` in ``OrgStore.ensure`` and ``contest
serve`` answered ``POST /api/banks`` and ``GET /public/contests`` with 500 while ``/readyz``
said ready.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis.asyncio.cluster
from hypothesis import given
from hypothesis import strategies as st

from engine.cli.demo import set_up
from engine.core.settings import Settings
from engine.runtime import redisconn
from scoring.redis_server import RedisServer
from tests import cluster as cluster_support
from tests.contest_helpers import make_bank
from tests.e2e import settings_for, worker
from tests.test_http_banks import yaml_of
from tests.utils import timeout

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

cluster_nodes = cluster_support.cluster_nodes


@pytest.fixture
def url(cluster_nodes: list[RedisServer]) -> str:
    return cluster_support.cluster_url(cluster_nodes)


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


def test_plain_urls_are_not_cluster_urls() -> None:
    assert not redisconn.is_cluster_url("redis://127.0.0.1:6379/0")
    assert not redisconn.is_cluster_url("rediss://h:1")
    assert redisconn.is_cluster_url("rediss+cluster://u:p@h:1,h:2")


async def test_connect_builds_a_cluster_client_with_credentials(url: str) -> None:
    client = redisconn.connect(url)
    try:
        assert isinstance(client, redis.asyncio.cluster.RedisCluster)
        assert await client.ping()
        assert await redisconn.cluster_problem(client) is None
    finally:
        await client.aclose()
    plain = redisconn.connect("redis://127.0.0.1:1/0")
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
